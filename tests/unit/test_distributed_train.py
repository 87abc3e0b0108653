"""Data-parallel link-prediction training (issue 13, item 5): under torch.distributed
each process trains on its share of the pairs, gradients averaged, so two processes
hold one set of weights, the weights one process trains on all the pairs (up to the
mean of two shares' means against the mean of all). Two real gloo processes on this
machine, rendezvous through a file; no Neo4j (``tests/integration/test_torchrun.py``
runs the command under ``torchrun``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from distill import train as train_module
from distill.artifact import build_model
from distill.config import RunConfig
from distill.data import FeatureEncoder
from distill.tasks import IGNORE, link_snapshots
from distill.train import _steps, average_gradients, score_snapshot, train_link_model
from tests.support.tiny import planted_frame


def _snapshots():
    frame = planted_frame(customers=30, products=60, days=5)
    config = RunConfig()
    encoder = FeatureEncoder.fit(frame)
    kd = replace(config.kd, candidates_per_pair=0)  # no teacher: labelled pairs only
    snaps = link_snapshots(
        frame, encoder, replace(config.task, snapshots=3), kd, np.random.default_rng(0)
    )
    return frame, encoder, snaps


def _train(
    rank: int, world: int, rendezvous: str, out: str, rank_loss: str, minibatch: str = "off"
) -> None:
    """One process: the default student, 3 epochs on the snapshots but the last,
    validated on the last (``minibatch``: ``[train] minibatch``, in batches of 6 pairs);
    its weights and validation logits saved under ``out``."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    frame, encoder, snaps = _snapshots()
    config = RunConfig()
    student = config.student(config.eval.default_student)
    model = build_model(student.spec(), encoder, frame.num_customers, frame.num_products)
    train = replace(
        config.train,
        rank_loss=rank_loss,
        progress=False,
        eval_every=1,
        minibatch=minibatch,
        batch_size=6,
    )
    result = train_link_model(
        model, snaps[:-1], snaps[-1], lr=0.01, weight_decay=0.0, epochs=3, train=train
    )
    torch.save(
        {
            "state": model.state_dict(),
            "val_logits": score_snapshot(model, snaps[-1]),
            "curve": result.curve,
        },
        Path(out) / f"world{world}_rank{rank}.pt",
    )
    if world > 1:
        dist.destroy_process_group()


def _run(tmp_path: Path, world: int, rank_loss: str, minibatch: str = "off") -> list[dict]:
    rendezvous = f"file://{tmp_path / f'rendezvous{world}{rank_loss}{minibatch}'}"
    if world == 1:
        _train(0, 1, rendezvous, str(tmp_path), rank_loss, minibatch)
    else:
        mp.start_processes(
            _train,
            args=(world, rendezvous, str(tmp_path), rank_loss, minibatch),
            nprocs=world,
            start_method="spawn",
        )
    return [
        torch.load(tmp_path / f"world{world}_rank{r}.pt", weights_only=True) for r in range(world)
    ]


def test_two_processes_train_one_set_of_weights_as_one_process_does(tmp_path):
    (alone,) = _run(tmp_path, 1, "none")
    first, second = _run(tmp_path, 2, "none")
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name  # one set of weights
    # stopped alike, on one validation figure (the loss column is each one's share's)
    assert [(e, v) for e, _, v in first["curve"]] == [(e, v) for e, _, v in second["curve"]]
    # the shares' gradients averaged are the whole batch's (up to the shares' sizes)
    gap = (first["val_logits"] - alone["val_logits"]).abs().max()
    moved = (alone["val_logits"] - _untrained_logits()).abs().max()
    assert gap < 1e-3 * moved
    assert first["curve"][-1][2] == pytest.approx(alone["curve"][-1][2], abs=0.01)


def _untrained_logits():
    frame, encoder, snaps = _snapshots()
    config = RunConfig()
    student = config.student(config.eval.default_student)
    model = build_model(student.spec(), encoder, frame.num_customers, frame.num_products)
    train_module.seed_everything(config.train.seed)
    model.reset_parameters()
    return score_snapshot(model, snaps[-1])


def test_with_the_ranking_loss_the_processes_still_agree(tmp_path):
    """Each process draws its ranking grid from its own positives: the weights stay one."""
    first, second = _run(tmp_path, 2, "softmax")
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name


def test_in_mini_batches_the_processes_step_together_and_agree(tmp_path):
    """Shares one pair apart may need a different number of batches (here 19, 19 and 18
    of 6 pairs): each process takes as many steps as the one with the most (an
    all-reduce each), so none waits forever, and the weights stay one."""
    _, _, snaps = _snapshots()
    sizes = [int((s.pairs.labels != IGNORE).sum()) for s in snaps[:-1]]
    assert any(-(-(n // 3) // 6) != -(-(n // 3 + 1) // 6) for n in sizes if n % 3)
    ranks = _run(tmp_path, 3, "softmax", "on")
    for other in ranks[1:]:
        for name, value in ranks[0]["state"].items():
            assert torch.equal(value, other["state"][name]), name
        assert [v for _, _, v in ranks[0]["curve"]] == [v for _, _, v in other["curve"]]


def _average(rank: int, world: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    model = torch.nn.ModuleDict(
        {
            "both": torch.nn.Linear(2, 3),
            "first": torch.nn.Linear(1, 1),
            "none": torch.nn.Linear(1, 1),
        }
    )
    for p in model["both"].parameters():
        p.grad = torch.full_like(p, float(rank + 1))
    if rank == 0:
        for p in model["first"].parameters():
            p.grad = torch.full_like(p, 4.0)
    average_gradients(model)
    grads = {name: p.grad for name, p in model.named_parameters()}
    torch.save(grads, Path(out) / f"grads{rank}.pt")
    dist.destroy_process_group()


def test_gradients_are_averaged_over_the_processes(tmp_path):
    """Rank r's gradient r + 1 averages to 1.5; one only rank 0 has counts zero on rank 1
    (so 2.0); one no process has stays None."""
    rendezvous = f"file://{tmp_path / 'rendezvous'}"
    mp.start_processes(
        _average, args=(2, rendezvous, str(tmp_path)), nprocs=2, start_method="spawn"
    )
    for rank in range(2):
        grads = torch.load(tmp_path / f"grads{rank}.pt", weights_only=True)
        assert all((grads[f"both.{n}"] == 1.5).all() for n in ("weight", "bias"))
        assert all((grads[f"first.{n}"] == 2.0).all() for n in ("weight", "bias"))
        assert grads["none.weight"] is None and grads["none.bias"] is None


@pytest.mark.parametrize("world", [2, 3])
def test_shares_split_every_snapshot_without_overlap(world, monkeypatch):
    """Each rank's pairs, positives and graph edges: disjoint, together all of them."""
    _, _, snaps = _snapshots()
    alone = _steps(snaps, None, None, ranking=True)
    shares = []
    for rank in range(world):
        monkeypatch.setattr(train_module, "process_share", lambda rank=rank: (rank, world))
        shares.append(_steps(snaps, None, None, ranking=True))
    for i, step in enumerate(alone):
        keeps = torch.stack([share[i].keep for share in shares]).int()
        assert torch.equal(keeps.sum(0).bool(), step.keep) and keeps.sum(0).max() == 1
        sizes = keeps.sum(1)
        assert sizes.max() - sizes.min() <= 1
        for part in ("pos", "edges"):
            whole = np.stack(getattr(step, part), 1)
            pieces = np.concatenate([np.stack(getattr(share[i], part), 1) for share in shares])
            assert sorted(map(tuple, pieces)) == sorted(map(tuple, whole))
        assert all(np.array_equal(share[i].pos_keys, step.pos_keys) for share in shares)


def test_alone_nothing_is_shared_or_averaged():
    _, _, snaps = _snapshots()
    assert train_module.process_share() == (0, 1)
    model = torch.nn.Linear(2, 1)
    model(torch.ones(1, 2)).sum().backward()
    grad = model.weight.grad
    average_gradients(model)
    assert model.weight.grad is grad and model.bias.grad is not None
    step = _steps(snaps, None, None, ranking=True)[0]
    assert torch.equal(step.keep, snaps[0].pairs.labels != IGNORE)
