"""Training: one loop (:func:`fit`: early stopping on a validation figure, seeded)
that link prediction and node classification both run in.

Link prediction steps full batch (one step per epoch, message passing over each whole
snapshot graph) or, per ``[train] minibatch`` (``auto``: from ``minibatch_above``
training interactions), in mini-batches of pairs, each embedded from the subgraph
:class:`~distill.sampling.NeighborSampler` draws around its customers and products
(:func:`_minibatch_epoch`); validation, teacher logits and scoring stay full batch
(no gradients kept; a GNN passes a large graph's messages a slice of nodes at a time,
:data:`distill.models.INFERENCE_EDGES`). Node classification is full batch.

Under ``torchrun`` (``torch.distributed`` initialised, :func:`process_share`) link
prediction is data-parallel as DDP is: each process trains on its share of every
snapshot's pairs and positives (every ``world``-th, from its rank on), the gradients
are averaged over the processes before each optimizer step (one all-reduce), so every
process holds the same weights, and :func:`fit` stops them all at the same epoch. One
process trains exactly as without ``torch.distributed``.

:func:`train_link_model` trains any :class:`~distill.models.LinkPredictor`, with or
without a teacher: given ``teacher_logits`` it minimises
``L = L_hard + alpha * L_soft`` over labelled pairs and unlabelled candidates;
without, ``L_hard`` over labelled pairs only. :func:`train_node_classifier` is the
same for node classification (validation accuracy in place of AUC).
"""

from __future__ import annotations

import copy
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from distill.config import KDConfig, ModelConfig, TrainConfig
from distill.data import INTERACTION_EDGE, History
from distill.losses import binary_logits_to_classes, kd_loss
from distill.metrics import auc, rank_rows
from distill.models import (
    FeatureMLP,
    HeteroGNN,
    LinkPredictor,
    NodeClassifier,
    NodeEncoder,
    PairDecoder,
    pair_cosine,
)
from distill.ranking import (
    RankGrid,
    in_batch_softmax_grad,
    listwise_kd,
    log_frequency,
    positive_keys,
    rank_loss,
    sample_grid,
)
from distill.sampling import NeighborSampler
from distill.tasks import IGNORE, NodeTask, PairBatch, Snapshot

# pairs decoded at a time: a teacher's rows are ~1,100 columns wide with the structural
# vectors, so a batch's gathered rows are ~4.5 KB per pair and side
SCORE_BATCH = 32_768
RANK_CHUNK = 16  # customers ranked at a time (as distill.evaluate ranks them)


def adam(params: Any, **options: Any) -> torch.optim.Adam:
    """Adam as every training loop here uses it: the fused implementation (one kernel
    per step for all of a parameter's moments and update, the same algorithm). With
    ``[train] pretrain_adam = "dense"`` (what "auto" picks below 100,000 id rows) the id
    tables' fits step the whole of both tables for every batch of 1,024 interactions:
    for the 652,514-interaction shop's 64-wide tables that step took 36.9 ms with the
    default single-tensor Adam and 8.1 ms fused (bench/adam_step.py, one thread);
    ``"rows"`` steps the touched rows only (:class:`_IdFitStep`)."""
    return torch.optim.Adam(params, fused=True, **options)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def process_share() -> tuple[int, int]:
    """``(rank, world)``: this process's place among those training together
    (``torch.distributed``, as ``torchrun`` starts them), ``(0, 1)`` when alone."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _my_share(mask: Tensor) -> Tensor:
    """``mask`` cut to this process's share: every ``world``-th set position from
    ``rank`` on (so shares differ in size by one at most); ``mask`` itself when alone."""
    rank, world = process_share()
    if world == 1:
        return mask
    mine = torch.zeros_like(mask)
    mine[mask.nonzero().squeeze(-1)[rank::world]] = True
    return mine


def _my_columns(edge_index: Tensor) -> Tensor:
    """This process's share of a graph's edges (every ``world``-th column from ``rank``
    on, a view); ``edge_index`` itself when alone."""
    rank, world = process_share()
    return edge_index if world == 1 else edge_index[:, rank::world]


def average_gradients(model: torch.nn.Module) -> None:
    """What DDP does between backward and the optimizer step: every parameter's gradient
    summed over the processes and divided by their number, in one all-reduce (a process
    that gave a parameter no gradient counts zero; one that none gave keeps ``None``,
    so the optimizer skips it as it would alone). Nothing when alone."""
    _, world = process_share()
    if world == 1:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    parts = [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p in params]
    had = torch.tensor([float(p.grad is not None) for p in params])
    flat = torch.cat([*parts, had])
    dist.all_reduce(flat)
    offset = 0
    for p, count in zip(params, flat[-len(params) :].tolist(), strict=True):
        n = p.numel()
        if count:
            p.grad = (flat[offset : offset + n] / world).view_as(p).clone()
        offset += n


def _agreed(value: float) -> float:
    """A validation figure all processes agree on (their mean; they hold the same
    weights, so it is each one's, up to rounding): they stop at the same epoch."""
    _, world = process_share()
    if world == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / world


@dataclass
class TrainResult:
    """What a training run gives back. ``best_val``: the validation figure the kept
    weights were chosen by (``selected_by``: ``auc``, or ``recall``, Recall@K of the
    validation customers); ``val_auc``: those weights' validation AUC (None: not
    measured, a node task). ``curve``: (epoch, train loss, validation figure)."""

    model: torch.nn.Module
    best_epoch: int
    best_val: float
    epochs_run: int
    seconds: float
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    minibatch: bool = False  # trained in mini-batches with neighbour sampling
    selected_by: str = "auc"
    val_auc: float | None = None
    rank_scale: float | None = None  # calibrate_rank_structure's choice (None: none)


@torch.no_grad()
def score_snapshot(model: LinkPredictor, snap: Snapshot) -> Tensor:
    """Logits [N] for every pair of a snapshot (eval mode, batched decode)."""
    model.eval()
    z_c, z_p = held_sides(model, snap.graph)
    pairs = snap.pairs
    out = torch.empty(len(pairs))  # filled in place (see _teacher_top)
    for start in range(0, len(pairs), SCORE_BATCH):
        sl = slice(start, start + SCORE_BATCH)
        c, p = pairs.customers[sl], pairs.products[sl]
        cos = None if z_c.s is None or z_p.s is None else struct_cosines(z_c.s, z_p.s, c, p)
        out[sl] = model.decoder.logit_of(z_c.h[c], z_p.h[p], pairs.features[sl], cos)
    return out


# pairs whose structural vectors are gathered and made float32 at a time: 4,096 x 1,024
# floats are 16 MB a side (a SCORE_BATCH of them, 134 MB a side and two batches alive
# at once, was a 1M run's peak)
COSINE_BATCH = 4_096


def struct_cosines(s_c: Tensor, s_p: Tensor, customers: Tensor, products: Tensor) -> Tensor:
    """The structural cosine ``s_c[c] . s_p[p]`` of each pair, in float32 (the vectors
    as a graph holds them, half precision), :data:`COSINE_BATCH` pairs at a time.
    Shapes: [C, S], [P, S], [N], [N] -> [N]."""
    out = torch.empty(len(customers))
    for start in range(0, len(customers), COSINE_BATCH):
        sl = slice(start, start + COSINE_BATCH)
        out[sl] = (s_c[customers[sl]].float() * s_p[products[sl]].float()).sum(-1)
    return out


def _val_auc(model: LinkPredictor, val: Snapshot) -> float:
    return auc(val.pairs.labels.numpy(), score_snapshot(model, val).numpy())


# ``select = "auto"`` keeps weights by validation Recall@K from this many validation
# customers with a positive (fewer: by AUC, whose thousands of pairs move less from
# one check to the next than the recall of a few hundred customers; EComm's validation
# split has 275)
SELECT_RECALL_CUSTOMERS = 1_000


def selection(select: str, val: Snapshot) -> str:
    """What a link model's weights are kept by: ``select`` (``auc`` | ``recall``), or
    for ``auto`` ``recall`` where ``val`` has :data:`SELECT_RECALL_CUSTOMERS` customers
    with a positive or more, ``auc`` below."""
    if select != "auto":
        return select
    return "recall" if len(validation_customers(val)) >= SELECT_RECALL_CUSTOMERS else "auc"


def validation_customers(val: Snapshot) -> np.ndarray:
    """The customers with a positive among ``val``'s pairs, sorted."""
    positive = val.pairs.labels.numpy() == 1
    return np.unique(val.pairs.customers.numpy()[positive])


@dataclass
class _ValRanking:
    """The validation customers a ranking figure is taken over (a seeded sample of at
    most :data:`RANK_CALIBRATION_CUSTOMERS`), their positives and seen products."""

    customers: np.ndarray
    positives: list[np.ndarray]
    exclude: list[np.ndarray]

    @classmethod
    def of(cls, val: Snapshot) -> _ValRanking:
        pairs = val.pairs
        positive = pairs.labels.numpy() == 1
        c, p = pairs.customers.numpy()[positive], pairs.products.numpy()[positive]
        customers = np.unique(c)
        if len(customers) > RANK_CALIBRATION_CUSTOMERS:
            pick = np.random.default_rng(0).choice(
                customers, RANK_CALIBRATION_CUSTOMERS, replace=False
            )
            customers = np.sort(pick)
        positives = [p[c == row] for row in customers]
        return cls(customers, positives, val.history.seen_columns(customers))

    def recall(self, model: LinkPredictor, val: Snapshot, k: int) -> float:
        """Mean Recall@``k`` of ``model``'s ranking score as it stands (eval mode for the
        figure, the mode it was in restored), seen products left out."""
        if not len(self.customers):
            return 0.0
        training = model.training
        model.eval()
        with torch.no_grad():
            (h_c, s_c), (h_p, s_p) = _ranking_sides(model, val.graph)
            recalls: list[float] = []
            for start in range(0, len(self.customers), RANK_CHUNK):
                rows = self.customers[start : start + RANK_CHUNK]
                f = val.history.pair_features_grid(rows)
                at = torch.as_tensor(rows)
                grid = model.decoder.rank_grid_of(
                    h_c[at], h_p, f.reshape(-1, f.shape[-1]), _float_rows(s_c, at), s_p
                )
                chunk = slice(start, start + RANK_CHUNK)
                recalls += rank_rows(grid.numpy(), self.positives[chunk], k, self.exclude[chunk])[0]
        model.train(training)
        return float(np.mean(recalls))


@dataclass
class Shortlist:
    """The teacher's top products for each customer among a snapshot's positives, the
    products the customer interacted with left out (as ``predict`` leaves them out):
    what the listwise distillation adds to each customer's in-batch candidates, so the
    student learns the head of the teacher's ranking over the whole catalogue, not only
    its order among the few products a grid holds (:func:`teacher_shortlist`).

    Shapes: rows [num_customers] (each customer's row below, -1: none), products
    [n, M] int64, logits [n, M] (the teacher's ranking logits; -inf past the products
    a customer had left).
    """

    rows: np.ndarray
    products: Tensor
    logits: Tensor

    def of(self, customers: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rows for ``customers`` [B]: products [B, M], logits [B, M], kept [B, M] bool
        (false for customers without a shortlist and past the end of one)."""
        rows = torch.as_tensor(self.rows[customers.numpy()])
        known = rows >= 0
        rows = rows.clamp(min=0)
        logits = self.logits[rows]
        return self.products[rows], logits, known[:, None] & torch.isfinite(logits)


@torch.no_grad()
def teacher_shortlist(teacher: LinkPredictor, snap: Snapshot, size: int) -> Shortlist | None:
    """:class:`Shortlist` of ``size`` products per customer with a positive in ``snap``,
    ranked by ``teacher`` over the whole catalogue of its graph (None: ``size`` 0 or no
    positive)."""
    positive = (snap.pairs.labels == 1).numpy()
    if size <= 0 or not positive.any():
        return None
    return _teacher_top(teacher, snap, np.unique(snap.pairs.customers.numpy()[positive]), size)


@torch.no_grad()
def teacher_edges(teacher: LinkPredictor, snap: Snapshot, size: int) -> Tensor | None:
    """The teacher's top ``size`` products (over the whole catalogue, seen ones left out)
    for every customer with an interaction in ``snap``'s graph, as interaction edges:
    what ``[kd] id_shortlist`` adds to a distilled student's id embedding fit
    (:func:`pretrain_ids`). None: ``size`` 0 or no interaction.
    Shapes: -> [2, E] int64 (customer row, product row)."""
    edge_index = snap.graph[INTERACTION_EDGE].edge_index
    if size <= 0 or edge_index.size(1) == 0:
        return None
    customers = np.unique(edge_index[0].numpy())
    top = _teacher_top(teacher, snap, customers, size)
    kept = torch.isfinite(top.logits)
    rows = torch.as_tensor(customers)[:, None].expand_as(top.products)
    return torch.stack([rows[kept], top.products[kept]])


def _teacher_top(
    teacher: LinkPredictor, snap: Snapshot, customers: np.ndarray, size: int
) -> Shortlist:
    """:class:`Shortlist` of ``size`` products for each of ``customers`` (sorted, unique)."""
    history = snap.history
    teacher.eval()
    (h_c, s_c), (h_p, s_p) = _ranking_sides(teacher, snap.graph)
    size = min(size, h_p.size(0))
    # filled in place: a small result kept per chunk, between each chunk's large
    # temporaries, fragmented the heap until the process grew without bound (past
    # 20 GB for 20,000 customers of 5,000 products)
    products = torch.empty(len(customers), size, dtype=torch.long)
    logits = torch.empty(len(customers), size)
    for start in range(0, len(customers), RANK_CHUNK):
        rows = customers[start : start + RANK_CHUNK]
        f = history.pair_features_grid(rows)
        at = torch.as_tensor(rows)
        grid = teacher.decoder.rank_grid_of(
            h_c[at], h_p, f.reshape(-1, f.shape[-1]), _float_rows(s_c, at), s_p
        )
        for i, seen in enumerate(history.seen_columns(rows)):
            grid[i, torch.as_tensor(seen, dtype=torch.long)] = float("-inf")
        torch.topk(
            grid,
            size,
            dim=1,
            out=(logits[start : start + len(rows)], products[start : start + len(rows)]),
        )
    index = np.full(h_c.size(0), -1, dtype=np.int64)
    index[customers] = np.arange(len(customers))
    return Shortlist(index, products, logits)


@dataclass
class _Step:
    """One snapshot's share of an epoch: its pairs, the teacher's view of it, and the
    positives (and graph edges) its ranking losses draw from."""

    snap: Snapshot
    keep: Tensor
    t_logits: Tensor | None
    teacher: LinkPredictor | None = None
    t_emb: Sides | None = None  # the teacher's, structural columns the graph's own
    pos: tuple[np.ndarray, np.ndarray] | None = None
    pos_keys: np.ndarray | None = None
    pos_log_q: np.ndarray | None = None
    edges: tuple[np.ndarray, np.ndarray] | None = None
    edge_log_q: np.ndarray | None = None
    shortlist: Shortlist | None = None
    cos: Tensor | None = None  # [N] the structural cosine of each pair (None: not scored)


@torch.no_grad()
def snapshot_cosines(snap: Snapshot) -> Tensor | None:
    """The structural cosine of each of ``snap``'s pairs, from its graph's vectors
    (``data[t].struct``, :func:`struct_cosines`): constants of training,
    computed once rather than gathered per pair and epoch (at 1,024 columns that gather
    was most of a distilled student's memory), and once per snapshot, not per model
    (``snap.cosines``). None: the graph has no vectors.
    Shapes: -> [N]."""
    if snap.cosines is not None:  # a model before this one asked (read only: shared)
        return snap.cosines
    graph, pairs = snap.graph, snap.pairs
    s_c, s_p = graph["customer"].get("struct"), graph["product"].get("struct")
    if s_c is None or s_p is None:
        return None
    snap.cosines = struct_cosines(s_c, s_p, pairs.customers, pairs.products)
    return snap.cosines


def _steps(
    snapshots: list[Snapshot],
    teacher_logits: list[Tensor] | None,
    teacher: LinkPredictor | None,
    ranking: bool,
    shortlists: list[Shortlist | None] | None = None,
    struct: bool = False,
    kd: KDConfig | None = None,
) -> list[_Step]:
    """``struct``: the model scores with structural vectors (each step gets its pairs'
    cosines). Unlabelled pairs are kept only where the pair loss reads the teacher on
    them (``kd.alpha > 0``, or its argmax as the hard label); a snapshot left with no
    pair is skipped (the unlabelled candidates with ``alpha = 0``: no loss term)."""
    steps = []
    soft = teacher_logits is not None and (kd is None or kd.alpha > 0 or kd.hard_label == "teacher")
    for i, snap in enumerate(snapshots):
        labels = snap.pairs.labels
        keep = torch.ones_like(labels, dtype=torch.bool) if soft else labels != IGNORE
        keep = _my_share(keep)  # under torchrun, this process's pairs
        if not keep.any():
            continue
        step = _Step(snap, keep, teacher_logits[i] if teacher_logits is not None else None)
        step.cos = snapshot_cosines(snap) if struct else None
        positive = _my_share(labels == 1).numpy()
        if ranking and positive.sum() >= 2:
            c = snap.pairs.customers.numpy()[positive]
            p = snap.pairs.products.numpy()[positive]
            n_p = snap.history.num_products
            # every process masks all the day's positives, not only its own
            every = (labels == 1).numpy()
            step.pos = (c, p)
            step.pos_keys = positive_keys(
                snap.pairs.customers.numpy()[every], snap.pairs.products.numpy()[every], n_p
            )
            step.pos_log_q = log_frequency(p, n_p)
            edge_index = _my_columns(snap.graph[INTERACTION_EDGE].edge_index).numpy()
            if edge_index.shape[1] >= 2:
                step.edges = (edge_index[0], edge_index[1])
                step.edge_log_q = log_frequency(edge_index[1], n_p)
            if teacher is not None:
                teacher.eval()
                with torch.no_grad():
                    step.teacher, step.t_emb = teacher, held_sides(teacher, snap.graph)
                step.shortlist = shortlists[i] if shortlists is not None else None
        steps.append(step)
    return steps


def _edges(snap: Snapshot) -> int:
    return int(snap.graph[INTERACTION_EDGE].edge_index.size(1))


def earliest(snapshots: list[Snapshot]) -> Snapshot:
    """The snapshot whose graph a model's id embeddings are first fitted to: the
    smallest, so none of its edges is a positive of any snapshot."""
    return min(snapshots, key=_edges)


@dataclass
class Side:
    """One side's embeddings as the losses use them: the learnt columns (with gradient)
    and the structural ones (constant inputs) apart, so that gathering rows scatters
    gradients back into the learnt columns only (with 1,024 structural columns, a
    backward pass over every column was most of an epoch)."""

    h: Tensor  # [N, D]
    s: Tensor | None  # [N, S], no gradient

    def at(self, rows: Tensor) -> Side:
        # (a graph's own vectors are held at half precision: computed with as float32)
        return Side(self.h[rows], None if self.s is None else self.s[rows].float())


Sides = tuple[Side, Side]


def graph_sides(model: LinkPredictor, data: HeteroData) -> Sides:
    """``model``'s :class:`Sides` over ``data`` (a graph, or a sampled subgraph: its seeds'
    rows): the learnt columns the encoder computes (:meth:`LinkPredictor.learnt`, with
    gradient when enabled) and, when the model scores with structural vectors,
    ``data``'s own (what :meth:`LinkPredictor.embeddings` appends: the same values),
    neither appended nor copied. Appending them to every row cost a [N, 1,024] copy per
    step and per ranked chunk; held per snapshot, 1 GB at 250,000 nodes."""
    struct = bool(model.decoder.struct_dim)
    h_c, h_p = model.learnt(data)
    c = Side(h_c, data["customer"].get("struct") if struct else None)
    return c, Side(h_p, data["product"].get("struct") if struct else None)


@torch.no_grad()
def held_sides(model: LinkPredictor, graph: HeteroData) -> Sides:
    """:func:`graph_sides` without gradient: to be held (through training, evaluation)."""
    return graph_sides(model, graph)


@torch.no_grad()
def _ranking_sides(
    model: LinkPredictor, graph: HeteroData
) -> tuple[tuple[Tensor, Tensor | None], tuple[Tensor, Tensor | None]]:
    """What ranking a catalogue needs of ``model`` over ``graph``: each side's learnt
    columns, the customers' structural vectors as the graph holds them (rows are made
    float32 as they are ranked, :func:`_float_rows`) and the products' in float32 (each grid
    reads all of them). Not :meth:`LinkPredictor.embeddings`, which appends every
    node's vector to its row in float32: at 5,000,000 interactions a [250,000 x 1,088]
    copy (1.1 GB) per validation check."""
    c, p = held_sides(model, graph)
    return (c.h, c.s), (p.h, None if p.s is None else p.s.float())


def _float_rows(s: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if s is None else s[rows].float()


def _grid_logits(decoder: PairDecoder, z: Sides, grid: RankGrid) -> Tensor:
    """Ranking logits of every cell of the grid. Shapes: -> [B, B]."""
    c, p = z[0].at(grid.customers), z[1].at(grid.products)
    return decoder.rank_grid_of(c.h, p.h, grid.features, c.s, p.s)


def _dot_grid(z_c: Tensor, z_p: Tensor, grid: RankGrid) -> Tensor:
    return z_c[grid.customers] @ z_p[grid.products].T / z_c.size(-1) ** 0.5


Grids = tuple[RankGrid | None, RankGrid | None]


def _sample_grids(
    model: LinkPredictor, step: _Step, train: TrainConfig, rng: np.random.Generator
) -> Grids:
    """The ranking losses' grids for one step: one of the day's positives and, for a
    ``dot`` decoder with ``train.history_weight``, one of the graph's own edges."""
    if step.pos is None or step.pos_keys is None:
        return None, None
    history = step.snap.history
    n_p = history.num_products
    grid = sample_grid(
        *step.pos, step.pos_keys, n_p, train.rank_batch, rng, history.pair_features, step.pos_log_q
    )
    if step.edges is None or train.history_weight <= 0 or model.decoder.kind != "dot":
        return grid, None
    hist = sample_grid(
        *step.edges, history.pair_keys, n_p, train.rank_batch, rng, None, step.edge_log_q
    )
    return grid, hist


def _ranking_loss(
    model: LinkPredictor,
    z: Sides,
    grids: Grids,
    train: TrainConfig,
    kd: KDConfig | None,
    teacher: tuple[LinkPredictor, Sides] | None,
    top: _TopCells | None = None,
) -> Tensor:
    """``w_rank * L_rank`` on the day's positives, ``+ w_list * L_list`` against the
    teacher's ranking of the same grid (``teacher``: the model and its embeddings, rows
    as ``z``'s), each row's candidates extended by its customer's shortlist of the
    teacher's top products (``top``, rows as ``z``'s), ``+ w_hist * L_rank`` on the
    graph's own edges (embeddings only: an edge's pair features would give it away)."""
    total = z[0].h.new_zeros(())
    grid, hist = grids
    if grid is None:
        return total
    logits = _grid_logits(model.decoder, z, grid)
    corrected = logits - grid.log_q[None, :]
    total = total + train.rank_weight * rank_loss(train.rank_loss, corrected, grid.mask)
    if teacher is not None and kd is not None:
        with torch.no_grad():
            t_grid = _grid_logits(teacher[0].decoder, teacher[1], grid)
        s_list, t_list, mask = logits, t_grid, grid.mask
        if top is not None:
            s_top = top.student_logits(model.decoder, z)
            s_list, t_list = torch.cat([s_list, s_top], 1), torch.cat([t_list, top.t_logits], 1)
            mask = torch.cat([mask, top.kept], 1)
        total = total + kd.listwise_weight * listwise_kd(s_list, t_list, mask, kd.temperature)
    if hist is not None:
        dot = _dot_grid(z[0].h, z[1].h, hist) - hist.log_q[None, :]
        total = total + train.history_weight * rank_loss(train.rank_loss, dot, hist.mask)
    return total


@dataclass
class _TopCells:
    """The cells a grid's shortlists add: each grid row's customer with each product of
    its :class:`Shortlist`. ``customers``/``products`` [B * M] are rows of the
    embeddings the loss reads (ids in full batch, the seeds' rows in a mini-batch);
    ``features`` [B * M, F] their pair features; ``t_logits``, ``kept`` [B, M] the
    teacher's ranking logits and which cells count."""

    customers: Tensor
    products: Tensor
    features: Tensor
    t_logits: Tensor
    kept: Tensor

    @classmethod
    def of(cls, shortlist: Shortlist, history: History, customers: Tensor) -> _TopCells:
        """The cells of a grid whose rows are ``customers`` (ids) [B]."""
        products, t_logits, kept = shortlist.of(customers)
        cells_c = customers.repeat_interleave(products.size(1))
        cells_p = products.reshape(-1)
        features = history.pair_features(cells_c.numpy(), cells_p.numpy())
        return cls(cells_c, cells_p, features, t_logits.masked_fill(~kept, 0.0), kept)

    def student_logits(self, decoder: PairDecoder, z: Sides) -> Tensor:
        """The model's ranking logits of the cells. Shapes: -> [B, M]."""
        c, p = z[0].at(self.customers), z[1].at(self.products)
        logits = decoder.rank_of(c.h, p.h, self.features, pair_cosine(c.s, p.s))
        return logits.reshape(self.kept.shape)


def _top_cells(step: _Step, grid: RankGrid | None) -> _TopCells | None:
    """The cells ``step``'s shortlist adds to ``grid`` (rows: ids), if it has one."""
    if step.shortlist is None or grid is None:
        return None
    return _TopCells.of(step.shortlist, step.snap.history, grid.customers)


def _teacher_view(step: _Step) -> tuple[LinkPredictor, Sides] | None:
    if step.teacher is None or step.t_emb is None:
        return None
    return step.teacher, step.t_emb


def _pair_loss(model: LinkPredictor, step: _Step, z: Sides, kd: KDConfig | None) -> Tensor:
    """``L_hard + alpha * L_soft`` on the snapshot's labelled pairs and candidates."""
    pairs, keep = step.snap.pairs, step.keep
    h_c, h_p = z[0].h[pairs.customers[keep]], z[1].h[pairs.products[keep]]
    cos = step.cos[keep] if step.cos is not None else None
    logits = model.decoder.logit_of(h_c, h_p, pairs.features[keep], cos)
    labels = pairs.labels[keep]
    has_labels = bool((labels != IGNORE).any())
    return kd_loss(
        binary_logits_to_classes(logits),
        binary_logits_to_classes(step.t_logits[keep]) if step.t_logits is not None else None,
        labels if has_labels else None,
        **_kd_terms(kd),
    )


@dataclass
class _Loop:
    """What each epoch of :func:`train_link_model` works on, full batch or not."""

    model: LinkPredictor
    steps: list[_Step]
    optimizer: torch.optim.Optimizer
    train: TrainConfig
    kd: KDConfig | None
    rng: np.random.Generator


def _epoch(loop: _Loop) -> float:
    model, train, kd = loop.model, loop.train, loop.kd
    model.train()
    loop.optimizer.zero_grad()
    total = 0.0
    for step in loop.steps:
        z = graph_sides(model, step.snap.graph)
        loss = _pair_loss(model, step, z, kd)
        if train.rank_loss != "none":
            grids = _sample_grids(model, step, train, loop.rng)
            top = _top_cells(step, grids[0])
            loss = loss + _ranking_loss(model, z, grids, train, kd, _teacher_view(step), top)
        loss.backward()
        total += loss.item()
    average_gradients(model)
    loop.optimizer.step()
    return total


def _hops(model: LinkPredictor, train: TrainConfig) -> list[int]:
    """Fan-out per message-passing layer of ``model`` (``train.fanouts``, the last one
    repeated for deeper models); none for a graph-free model (its seeds are all)."""
    layers = len(getattr(model.encoder, "convs", ()))
    return [train.fanouts[min(i, len(train.fanouts) - 1)] for i in range(layers)]


def _agreed_count(count: int) -> int:
    """The largest of the processes' ``count``: every process steps as often (the
    all-reduce of each step needs them all)."""
    _, world = process_share()
    if world == 1:
        return count
    most = torch.tensor([count], dtype=torch.long)
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return int(most.item())


def _rows(pair: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    return {"customers": pair[0], "products": pair[1]}


def _batch_loss(
    model: LinkPredictor,
    step: _Step,
    batch: Tensor,
    sampler: NeighborSampler,
    train: TrainConfig,
    kd: KDConfig | None,
    rng: np.random.Generator,
    rank: bool,
) -> Tensor:
    """The loss of :func:`_epoch` on the pairs ``batch`` (positions in the snapshot's
    pairs) and, given ``rank``, freshly drawn ranking grids, every customer and product
    among them embedded from the subgraph ``sampler`` draws around them (the seeds)."""
    pairs = step.snap.pairs
    rank = rank and train.rank_loss != "none"
    grids = _sample_grids(model, step, train, rng) if rank else (None, None)
    drawn = [g for g in grids if g is not None]
    top = _top_cells(step, grids[0])
    parts = [pairs.customers[batch], *(g.customers for g in drawn)]
    seeds_c, rows_c = torch.unique(torch.cat(parts), return_inverse=True)
    p_parts = [pairs.products[batch], *(g.products for g in drawn)]
    p_parts += [top.products] if top is not None else []
    seeds_p, rows_p = torch.unique(torch.cat(p_parts), return_inverse=True)
    z = graph_sides(model, sampler.sample({"customer": seeds_c, "product": seeds_p}))
    sizes = [p.numel() for p in parts]
    c_rows, p_rows = rows_c.split(sizes), rows_p.split([p.numel() for p in p_parts])
    local = PairBatch(c_rows[0], p_rows[0], pairs.labels[batch], pairs.features[batch])
    t_logits = step.t_logits[batch] if step.t_logits is not None else None
    every = torch.ones_like(batch, dtype=torch.bool)
    cos = step.cos[batch] if step.cos is not None else None
    view = _Step(replace(step.snap, pairs=local), every, t_logits, cos=cos)
    loss = _pair_loss(model, view, z, kd)
    if not rank:
        return loss
    # the grids' rows in z: the parts after the pairs, in the order drawn
    rows = iter(zip(c_rows[1:], p_rows[1 : 1 + len(drawn)], strict=True))
    local_grids = tuple(g if g is None else replace(g, **_rows(next(rows))) for g in grids)
    teacher = _teacher_view(step)
    if teacher is not None:
        teacher = (teacher[0], (teacher[1][0].at(seeds_c), teacher[1][1].at(seeds_p)))
    if top is not None:  # the grid's customers are the first part after the pairs
        m = top.kept.size(1)
        top = replace(top, customers=c_rows[1].repeat_interleave(m), products=p_rows[-1])
    return loss + _ranking_loss(model, z, local_grids, train, kd, teacher, top)  # type: ignore[arg-type]


def _minibatch_epoch(loop: _Loop, samplers: list[NeighborSampler]) -> float:
    """One epoch in mini-batches: each snapshot's pairs (this process's share) shuffled
    and cut into batches of ``train.batch_size``, one optimizer step each. The ranking
    grids are drawn as in :func:`_epoch`, once per snapshot and epoch, and enter the
    snapshot's first batch: a grid of ``rank_batch`` positives costs more than a batch
    of pairs (a [B, B] decode), so one per batch would multiply the epoch's time, and
    grids cut to the batch size would rank among few in-batch negatives. Returns the
    mean batch loss, summed over snapshots (what :func:`_epoch` sums)."""
    model, optimizer, train, rng = loop.model, loop.optimizer, loop.train, loop.rng
    model.train()
    total = 0.0
    for step, sampler in zip(loop.steps, samplers, strict=True):
        mine = step.keep.nonzero().squeeze(-1)
        mine = mine[torch.as_tensor(rng.permutation(mine.numel()))]
        count = _agreed_count(-(-mine.numel() // train.batch_size))
        for i, batch in enumerate(torch.tensor_split(mine, count)):
            optimizer.zero_grad()
            if batch.numel():
                loss = _batch_loss(model, step, batch, sampler, train, loop.kd, rng, i == 0)
                loss.backward()
                total += loss.item() / count
            average_gradients(model)
            optimizer.step()
    return total


def _collab_ids(model: LinkPredictor) -> tuple[torch.nn.Embedding, torch.nn.Embedding] | None:
    encoder = model.encoder
    if not isinstance(encoder, (HeteroGNN, FeatureMLP)) or not encoder.collab:
        return None
    customer, product = encoder.encoders["customer"], encoder.encoders["product"]
    assert isinstance(customer, NodeEncoder) and isinstance(product, NodeEncoder)
    assert customer.ids is not None and product.ids is not None
    return customer.ids, product.ids


def pretrain_ids(
    model: LinkPredictor,
    graph: HeteroData,
    train: TrainConfig,
    epochs: int,
    extra: Tensor | None = None,
    structure: bool = False,
) -> float:
    """Matrix factorisation of ``graph``'s interactions into the id embeddings of a
    ``collab`` model, before its full-batch training: ``epochs`` passes
    over every edge in mini-batches of ``train.pretrain_batch``, each minimising the
    in-batch softmax (logQ-corrected) of ``e_c . e_p``. Many cheap steps where the
    full-batch loop takes one per epoch: what id embeddings need to learn who buys
    what. ``extra`` [2, E]: edges fitted beside the graph's (a teacher's top products,
    :func:`teacher_edges`). ``structure`` (a model that scores with structural vectors,
    ``graph`` holding them): each pair's logit adds ``w * s_c . s_p``, the pair's
    structural cosine with a weight ``w`` fitted beside the ids (from
    :data:`ID_FIT_STRUCT_WEIGHT`), so the ids learn what the structural vectors do not
    already say rather than a second, weaker copy of it (the model adds the cosine to
    its score itself). Gradients by hand (:func:`distill.ranking.in_batch_softmax_grad`),
    each step Adam's as ``train.pretrain_adam`` says (:class:`_IdFitStep`). Returns the
    last batch's loss (NaN when nothing was trained)."""
    ids = _collab_ids(model)
    edge_index = graph[INTERACTION_EDGE].edge_index
    if extra is not None:
        edge_index = torch.cat([edge_index, extra], dim=1)
    if ids is None or epochs == 0 or edge_index.size(1) < 2:
        return float("nan")
    vectors = _structure(model, graph) if structure else None
    key = _fit_key(ids, edge_index, train, epochs, vectors is not None)
    fitted = _FITTED.get(key)
    if fitted is not None:  # fitted before from the same start on the same edges
        with torch.no_grad():
            ids[0].weight.copy_(fitted[0])
            ids[1].weight.copy_(fitted[1])
        return fitted[2]
    c_all, p_all = edge_index[0], edge_index[1]
    log_q = torch.as_tensor(log_frequency(p_all.numpy(), ids[1].num_embeddings))
    tables = (ids[0].weight, ids[1].weight)
    weight = None if vectors is None else torch.tensor(ID_FIT_STRUCT_WEIGHT, requires_grad=True)
    step = _IdFitStep(tables, weight, train)
    generator = torch.Generator().manual_seed(train.seed)
    loss: Tensor | None = None
    with torch.no_grad():
        for epoch in range(epochs):
            order = torch.randperm(c_all.numel(), generator=generator)
            for start in range(0, order.numel() - 1, train.pretrain_batch):
                batch = order[start : start + train.pretrain_batch]
                rows = (c_all[batch], p_all[batch])
                final = epoch == epochs - 1 and start + train.pretrain_batch >= order.numel() - 1
                e_c, e_p = (t.index_select(0, r) for t, r in zip(tables, rows, strict=True))
                p = rows[1]
                cosine = None
                if vectors is not None:  # constants, at float32
                    cosine = vectors[0][rows[0]].float() @ vectors[1][p].float().T
                g_c, g_p, g_w, value = id_fit_gradients(
                    e_c, e_p, p, log_q[p], cosine, weight, final
                )
                loss = value if value is not None else loss
                step(rows, (g_c, g_p), g_w)
    for table in tables:  # a dense step's gradients: not for the loop after the fit
        table.grad = None
    last = float("nan") if loss is None else float(loss)
    _remember(key, (ids[0].weight.detach().clone(), ids[1].weight.detach().clone(), last))
    return last


def id_fit_gradients(
    e_c: Tensor,
    e_p: Tensor,
    products: Tensor,
    log_q: Tensor,
    cosine: Tensor | None,
    weight: Tensor | None,
    loss: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """One batch of the id fit (:func:`pretrain_ids`) by hand: the gradients of the
    in-batch softmax of ``e_c . e_p - log_q (+ weight * cosine)`` (the batch's other
    rows of the same product masked) with respect to the customers' rows, the
    products' rows and ``weight`` (None without a cosine), and the loss when ``loss``.
    Shapes: [B, D], [B, D], [B], [B], [B, B] or None, scalar or None ->
    [B, D], [B, D], scalar or None, scalar or None."""
    logits = e_c @ e_p.T
    logits -= log_q[None, :]
    if cosine is not None and weight is not None:
        logits += weight * cosine
    duplicate = products[None, :] == products[:, None]
    duplicate.fill_diagonal_(False)
    grad, value = in_batch_softmax_grad(logits, duplicate, loss=loss)
    g_w = None if cosine is None else (grad * cosine).sum()
    return grad @ e_p, grad.T @ e_c, g_w, value


class _IdFitStep:
    """One optimizer step of the id fit (:func:`pretrain_ids`), from the batch's rows
    and their gradients, as ``[train] pretrain_adam`` says:

    - ``rows``: Adam on the rows the batch touched only (a lazy Adam: a row's moments
      and value move when it has a gradient, by ``torch.optim.Adam``'s update; the
      bias correction counts the table's steps). A step's cost is the
      batch's, not the table's, so a fit's time grows with the interactions alone.
    - ``dense``: Adam over both whole tables every step (untouched rows move on their
      moments), as before ``rows`` existed; a step costs the tables' size, so a fit's
      time grows with interactions times customers.

    The structural cosine's weight (``weight``, a scalar) always takes plain Adam."""

    def __init__(self, tables: tuple[Tensor, Tensor], weight: Tensor | None, train: TrainConfig):
        self.tables, self.weight = tables, weight
        self.lr = train.pretrain_lr
        self.dense = not train.rows_adam(sum(t.size(0) for t in tables))
        dense = list(tables) if self.dense else []
        params = [*dense, *([weight] if weight is not None else [])]
        self.adam = adam(params, lr=self.lr) if params else None
        # dense: gradients kept from step to step, the touched rows zeroed after each
        # (rather than a whole zeroed table allocated every step)
        self.grads = [torch.zeros_like(t) for t in dense]
        self.moments = [] if self.dense else [_RowMoments(t) for t in tables]

    def __call__(
        self, rows: tuple[Tensor, Tensor], grads: tuple[Tensor, Tensor], g_w: Tensor | None
    ) -> None:
        if self.dense:
            for table, buffer, r, g in zip(self.tables, self.grads, rows, grads, strict=True):
                table.grad = buffer.index_add_(0, r, g)
        else:
            for moments, r, g in zip(self.moments, rows, grads, strict=True):
                moments.step(r, g, self.lr)
        if self.weight is not None:
            self.weight.grad = g_w
        if self.adam is not None:
            self.adam.step()
        if self.dense:
            for buffer, r in zip(self.grads, rows, strict=True):
                buffer.index_fill_(0, r, 0.0)


class _RowMoments:
    """Adam's moments of one table, stepped a set of rows at a time (see
    :class:`_IdFitStep`, ``rows``); the table's rows move in place."""

    BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, as the dense fit uses
    EPS = 1e-8

    def __init__(self, table: Tensor) -> None:
        self.table = table
        self.m = torch.zeros_like(table)
        self.v = torch.zeros_like(table)
        self.steps = 0

    def step(self, rows: Tensor, grad: Tensor, lr: float) -> None:
        """One step of the rows ``rows`` with gradients ``grad`` (a row may come more
        than once: its gradients add up). Shapes: [B], [B, D]."""
        b1, b2 = self.BETAS
        touched, at = torch.unique(rows, return_inverse=True)
        g = grad.new_zeros(touched.numel(), grad.size(1)).index_add_(0, at, grad)
        self.steps += 1
        m = self.m.index_select(0, touched).mul_(b1).add_(g, alpha=1 - b1)
        v = self.v.index_select(0, touched).mul_(b2).addcmul_(g, g, value=1 - b2)
        self.m.index_copy_(0, touched, m)
        self.v.index_copy_(0, touched, v)
        denom = v.div_(1 - b2**self.steps).sqrt_().add_(self.EPS)
        self.table.index_add_(0, touched, m.div_(denom), alpha=-lr / (1 - b1**self.steps))


# where the structural cosine's weight starts in an id fit with ``structure`` (it ends
# near 20 on the interaction-only shops, where the models' own weight of the cosine in
# their ranking score is 10-25)
ID_FIT_STRUCT_WEIGHT = 10.0


def _structure(model: LinkPredictor, graph: HeteroData) -> tuple[Tensor, Tensor] | None:
    """``graph``'s structural vectors (customers', products'), if ``model`` scores with
    them and the graph holds them. (Projected onto the products' leading 64 singular
    vectors to make each batch's cosines cheaper, the fit hurt the 652,514-interaction
    shop's students, Recall@20 0.2106 to 0.1747 for the twin; the exact cosines doubled
    their training time there: ad hoc runs, README "The id fit told the structure".)"""
    s_c, s_p = graph["customer"].get("struct"), graph["product"].get("struct")
    if not model.decoder.struct_dim or s_c is None or s_p is None:
        return None
    return s_c, s_p


# The id tables pretrain_ids fitted, by everything that determines them (the edges, the
# tables it started from, the seed and settings): a distilled student and its
# no-distillation twin of one seed start from the same tables (same seed, same spec)
# and fit them to the same graph, before the loop and, their ids frozen in it, again
# after it, so the second of the two reads the first's result instead of repeating a
# fit that was a large part of a default run. Oldest first, at most _FITTED_BYTES
# (a default run of three seeds makes eight: 196 MB at 64 columns for the 652,514-
# interaction shop, whose twins read six of them).
_FITTED: dict[str, tuple[Tensor, Tensor, float]] = {}
_FITTED_BYTES = 256 * 2**20


def _fit_key(
    ids: tuple[torch.nn.Embedding, torch.nn.Embedding],
    edge_index: Tensor,
    train: TrainConfig,
    epochs: int,
    structure: bool = False,
) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for tensor in (edge_index, ids[0].weight.detach(), ids[1].weight.detach()):
        digest.update(repr((tensor.dtype, tuple(tensor.shape))).encode())
        digest.update(tensor.contiguous().numpy().data)
    settings = (
        train.seed,
        epochs,
        train.pretrain_batch,
        train.pretrain_lr,
        structure,
        train.rows_adam(ids[0].num_embeddings + ids[1].num_embeddings),
    )
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _remember(key: str, fitted: tuple[Tensor, Tensor, float]) -> None:
    _FITTED[key] = fitted

    def size(entry: tuple[Tensor, Tensor, float]) -> int:
        return sum(t.numel() * t.element_size() for t in (entry[0], entry[1]))

    while len(_FITTED) > 1 and sum(size(e) for e in _FITTED.values()) > _FITTED_BYTES:
        del _FITTED[next(iter(_FITTED))]


def train_link_model(
    model: LinkPredictor,
    snapshots: list[Snapshot],
    val: Snapshot,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    train: TrainConfig,
    teacher_logits: list[Tensor] | None = None,
    kd: KDConfig | None = None,
    teacher: LinkPredictor | None = None,
    refresh: HeteroData | None = None,
    shortlists: list[Shortlist | None] | None = None,
    id_edges: tuple[Tensor | None, Tensor | None] = (None, None),
    id_fit_structure: bool = False,
    select: str = "auc",
    desc: str = "train",
    on_eval: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``snapshots``; keep the weights with the best validation
    figure: AUC, or with ``select`` ``recall`` (``auto``: :func:`selection`) Recall@
    :data:`RANK_CALIBRATION_K` of the validation customers' rankings over the whole
    catalogue, seen products left out, the structural cosine at its pair weight.

    A ``collab`` model's id embeddings are first fitted to the earliest snapshot graph
    (:func:`pretrain_ids`; kept fixed in the loop when ``train.freeze_ids``) and, given
    ``refresh`` (the graph it will score on), fitted again on it after the loop for
    ``train.refresh_epochs`` passes, so the latest interactions count too;
    ``id_edges``: edges fitted beside each of those two graphs' own (a teacher's top
    products for their customers, :func:`teacher_edges`), or None;
    ``id_fit_structure``: those fits add the structural cosine to each pair's logit
    (``structure`` of :func:`pretrain_ids`).

    The loss of each snapshot is the pair loss (``kd_loss``: ``L_hard`` on labelled
    pairs, ``+ alpha * L_soft`` on them and on unlabelled candidates given
    ``teacher_logits``, one tensor per snapshot aligned with its pairs) plus, unless
    ``train.rank_loss`` is ``none``, the ranking losses of :mod:`distill.ranking`
    (with ``teacher``, the listwise distillation of its ranking too, each customer's
    candidates extended by its ``shortlists`` entry, one per snapshot).
    ``on_eval(epoch, val_auc)`` runs after each validation (a search stops trials by it).
    """
    if teacher_logits is not None and kd is None:
        raise ValueError("distillation needs a KDConfig")
    _start(model, train)
    rng = np.random.default_rng(train.seed)
    list_teacher = teacher if kd is not None and kd.listwise_weight > 0 else None
    first = earliest(snapshots).graph
    pretrain_ids(model, first, train, train.pretrain_epochs, id_edges[0], id_fit_structure)
    ranking = train.rank_loss != "none"
    struct = bool(model.decoder.struct_dim)
    steps = _steps(snapshots, teacher_logits, list_teacher, ranking, shortlists, struct, kd)
    optimizer = adam(_param_groups(model, train, lr), weight_decay=weight_decay)
    minibatch = train.use_minibatch(max(_edges(s) for s in snapshots))
    loop = _Loop(model, steps, optimizer, train, kd, rng)
    epoch = partial(_epoch, loop)
    if minibatch:
        epoch = partial(_minibatch_epoch, loop, _samplers(model, steps, train))
    selected_by = selection(select, val)
    ranking_val = _ValRanking.of(val) if selected_by == "recall" else None

    def validate() -> float:
        if ranking_val is not None:
            return ranking_val.recall(model, val, RANK_CALIBRATION_K)
        return _val_auc(model, val)

    result = fit(
        model,
        epoch,
        validate,
        epochs=epochs,
        train=train,
        desc=desc,
        on_eval=on_eval,
    )
    result.minibatch, result.selected_by = minibatch, selected_by
    result.val_auc = result.best_val if selected_by == "auc" else _val_auc(model, val)
    began = time.perf_counter()
    if refresh is not None:
        pretrain_ids(model, refresh, train, train.refresh_epochs, id_edges[1], id_fit_structure)
        model.eval()
    result.rank_scale = calibrate_rank_structure(model, val)
    result.seconds += time.perf_counter() - began
    return result


# what the structural cosine's ranking weight is chosen among (times its pair weight),
# by Recall@RANK_CALIBRATION_K of the validation customers (at most
# RANK_CALIBRATION_CUSTOMERS of them, a seeded sample)
RANK_SCALES = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
RANK_CALIBRATION_K = 20
RANK_CALIBRATION_CUSTOMERS = 2_000


@torch.no_grad()
def calibrate_rank_structure(model: LinkPredictor, val: Snapshot) -> float | None:
    """Set the structural cosine's weight in ``model``'s ranking score
    (:attr:`PairDecoder.rank_struct_scale`) to the one of :data:`RANK_SCALES` whose top
    K of all products, seen ones left out, finds most of the validation positives (ties:
    the smaller). The pair loss weighs the cosine for telling a pair from a drawn
    negative; ranking the whole catalogue rewards it more (on EComm about 1.5x).
    Returns the scale, or None where the model has no such weight or the validation
    pairs no positive."""
    decoder = model.decoder
    scale = decoder.rank_struct_scale
    if scale is None or decoder.struct_weight is None:
        return None
    ranking = _ValRanking.of(val)
    if not len(ranking.customers):
        return None
    customers, positives, exclude = ranking.customers, ranking.positives, ranking.exclude
    model.eval()
    scale.fill_(1.0)
    (h_c, s_c), (h_p, s_p) = _ranking_sides(model, val.graph)
    assert s_c is not None and s_p is not None
    recalls: dict[float, list[float]] = {m: [] for m in RANK_SCALES}
    for start in range(0, len(customers), RANK_CHUNK):
        rows = torch.as_tensor(customers[start : start + RANK_CHUNK])
        f = val.history.pair_features_grid(rows.numpy())
        s_rows = s_c[rows].float()
        at_one = decoder.rank_grid_of(h_c[rows], h_p, f.reshape(-1, f.shape[-1]), s_rows, s_p)
        cosine = decoder.struct_weight * (s_rows @ s_p.T)
        for m in RANK_SCALES:
            grid = (at_one + (m - 1.0) * cosine).numpy()
            chunk = slice(start, start + RANK_CHUNK)
            recalls[m] += rank_rows(grid, positives[chunk], RANK_CALIBRATION_K, exclude[chunk])[0]
    best = max(RANK_SCALES, key=lambda m: (float(np.mean(recalls[m])) if recalls[m] else -1.0, -m))
    scale.fill_(best)
    return best


def _samplers(
    model: LinkPredictor, steps: list[_Step], train: TrainConfig
) -> list[NeighborSampler]:
    """Each step's snapshot graph's sampler (built once), its draws seeded by the run's."""
    draws = torch.Generator().manual_seed(train.seed)
    return [NeighborSampler(s.snap.graph, _hops(model, train), draws) for s in steps]


def _start(model: torch.nn.Module, train: TrainConfig) -> None:
    """What every training run starts with: its threads, its seed, fresh weights."""
    torch.set_num_threads(max(1, train.threads))
    seed_everything(train.seed)
    model.reset_parameters()  # type: ignore[operator]  # torch Module attributes are untyped


def fit(
    model: torch.nn.Module,
    step: Callable[[], float],
    validate: Callable[[], float],
    *,
    epochs: int,
    train: TrainConfig,
    desc: str,
    on_eval: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """The loop every model trains in: ``step()`` (one epoch, its loss) ``epochs`` times,
    ``validate()`` every ``train.eval_every`` epochs and after the last, early stopping
    once the validation figure has not improved for ``train.patience`` epochs; ends in
    eval mode with the best weights. Under ``torchrun`` the processes' validation
    figures are averaged (:func:`_agreed`), so all stop at the same epoch."""
    best_val, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    curve: list[tuple[int, float, float]] = []
    since_best, epoch = 0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not train.progress, leave=False)
    for epoch in bar:
        total = step()
        if epoch % train.eval_every and epoch != epochs:
            continue
        value = _agreed(validate())
        curve.append((epoch, total, value))
        if on_eval is not None:
            on_eval(epoch, value)
        bar.set_postfix(loss=f"{total:.3f}", val=f"{value:.4f}")
        if value > best_val:
            best_val, best_epoch, since_best = value, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += train.eval_every
            if since_best >= train.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, best_epoch, best_val, epoch, time.perf_counter() - start, curve)


def _param_groups(model: LinkPredictor, train: TrainConfig, lr: float) -> list[dict[str, Any]]:
    """Every parameter, less the pre-trained id embeddings when ``train.freeze_ids``; the
    weights of the matrix-factorisation and structural terms learn ten times faster
    (scalars that have to travel to their level within the loop's few dozen steps)."""
    ids = _collab_ids(model)
    skip = set()
    if ids is not None and train.freeze_ids and train.pretrain_epochs > 0:
        skip = {id(ids[0].weight), id(ids[1].weight)}
    gates = [getattr(model.decoder, name, None) for name in ("mf_weight", "struct_weight")]
    gates = [gate for gate in gates if gate is not None]
    skip |= {id(gate) for gate in gates}
    rest = [p for p in model.parameters() if id(p) not in skip]
    groups: list[dict[str, Any]] = [{"params": rest, "lr": lr}]
    if gates:
        groups.append({"params": gates, "lr": 10 * lr, "weight_decay": 0.0})
    return groups


def train_node_classifier(
    model: NodeClassifier,
    task: NodeTask,
    model_config: ModelConfig,
    train: TrainConfig,
    *,
    teacher: NodeClassifier | None = None,
    kd: KDConfig | None = None,
    desc: str = "train",
) -> TrainResult:
    """Node classification with the same loss and loop, at ``model_config``'s learning
    rate, weight decay and epochs; with a teacher, soft targets cover every node of the
    type (labelled or not) and the hard loss the training nodes."""
    _start(model, train)
    t_logits = None
    if teacher is not None:
        if kd is None:
            raise ValueError("distillation needs a KDConfig")
        teacher.eval()
        with torch.no_grad():
            t_logits = teacher(task.graph)
    labels = torch.where(task.train_mask, task.labels, torch.full_like(task.labels, IGNORE))
    optimizer = adam(model.parameters(), lr=model_config.lr, weight_decay=model_config.weight_decay)

    def step() -> float:
        model.train()
        optimizer.zero_grad()
        logits = model(task.graph)
        if t_logits is None:
            logits, target, soft = logits[task.train_mask], labels[task.train_mask], None
        else:
            target, soft = labels, t_logits
        loss = kd_loss(logits, soft, target, **_kd_terms(kd))
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return fit(
        model,
        step,
        lambda: node_accuracy(model, task, task.val_mask),
        epochs=model_config.epochs,
        train=train,
        desc=desc,
    )


def _kd_terms(kd: KDConfig | None) -> dict[str, Any]:
    """``kd_loss``'s keyword arguments: ``kd``'s, or plain ``L_hard`` without one."""
    if kd is None:
        return {"alpha": 0.0, "temperature": 1.0, "hard_label": "ground_truth"}
    return {"alpha": kd.alpha, "temperature": kd.temperature, "hard_label": kd.hard_label}


@torch.no_grad()
def node_accuracy(model: NodeClassifier, task: NodeTask, mask: Tensor) -> float:
    model.eval()
    pred = model(task.graph).argmax(-1)
    return float((pred[mask] == task.labels[mask]).float().mean())
