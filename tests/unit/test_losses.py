"""The loss formulas against numbers worked out by hand."""

import math

import pytest
import torch

from distill.losses import binary_logits_to_classes, hard_loss, kd_loss, soft_loss

LN3 = math.log(3.0)


def test_hard_loss_is_cross_entropy_by_hand():
    # logits [0, ln 3] -> softmax [1/4, 3/4]; label 1 -> -ln(3/4) = 0.287682
    logits = torch.tensor([[0.0, LN3]])
    expected = -math.log(0.75)
    assert hard_loss(logits, torch.tensor([1])).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.287682, abs=1e-6)


def test_soft_loss_by_hand():
    # T = 2. Student [0, 0] -> p_s = [1/2, 1/2]. Teacher [0, 2 ln 3] / 2 = [0, ln 3]
    # -> p_t = [1/4, 3/4]. KL = 1/4 ln(1/2) + 3/4 ln(3/2) = -0.173287 + 0.304099 = 0.130812;
    # times T^2 = 4 -> 0.523248.
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[0.0, 2 * LN3]])
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert soft_loss(student, teacher, 2.0).item() == pytest.approx(4 * kl, abs=1e-6)
    assert 4 * kl == pytest.approx(0.523248, abs=1e-6)


def test_soft_loss_is_zero_when_distributions_match():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    assert soft_loss(logits, logits.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_kd_loss_ground_truth_by_hand():
    # Student [0, ln 3], label 1: L_hard = -ln(3/4) = 0.287682.
    # T = 2: p_s = softmax([0, ln3 / 2]) = [1/(1+sqrt3), sqrt3/(1+sqrt3)] = [0.366025, 0.633975];
    # teacher [0, 2 ln 3] -> p_t = [1/4, 3/4];
    # KL = 1/4 ln(0.25/0.366025) + 3/4 ln(0.75/0.633975) = -0.095311 + 0.126047 = 0.030736;
    # L_soft = 4 * KL = 0.122944; L = 0.287682 + 0.5 * 0.122944 = 0.349154.
    student = torch.tensor([[0.0, LN3]])
    teacher = torch.tensor([[0.0, 2 * LN3]])
    s3 = math.sqrt(3.0)
    p_s = [1 / (1 + s3), s3 / (1 + s3)]
    kl = 0.25 * math.log(0.25 / p_s[0]) + 0.75 * math.log(0.75 / p_s[1])
    expected = -math.log(0.75) + 0.5 * 4 * kl
    got = kd_loss(student, teacher, torch.tensor([1]), alpha=0.5, temperature=2.0)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.349154, abs=1e-5)


def test_kd_loss_teacher_hard_labels_use_the_teacher_argmax():
    # Teacher [2, 0] -> argmax 0, so with alpha = 0 the loss is -ln softmax([0, ln3])[0] = ln 4.
    student = torch.tensor([[0.0, LN3]])
    teacher = torch.tensor([[2.0, 0.0]])
    got = kd_loss(
        student, teacher, torch.tensor([1]), alpha=0.0, temperature=1.0, hard_label="teacher"
    )
    assert got.item() == pytest.approx(math.log(4.0), abs=1e-6)


def test_kd_loss_ignores_unlabelled_pairs_in_the_hard_term():
    student = torch.tensor([[0.0, LN3], [0.0, 5.0]])
    labels = torch.tensor([1, -100])
    got = kd_loss(student, None, labels, alpha=1.0, temperature=1.0)
    assert got.item() == pytest.approx(-math.log(0.75), abs=1e-6)


def test_kd_loss_rejects_nothing_to_learn_from_and_bad_hard_label():
    with pytest.raises(ValueError, match="needs labels"):
        kd_loss(torch.zeros(1, 2), None, None, alpha=1.0, temperature=1.0)
    with pytest.raises(ValueError, match="hard_label"):
        kd_loss(
            torch.zeros(1, 2), None, torch.tensor([0]), alpha=1.0, temperature=1.0, hard_label="x"
        )


def test_binary_logit_is_the_two_class_distribution():
    z = torch.tensor([0.7])
    probs = torch.softmax(binary_logits_to_classes(z), dim=-1)
    assert probs[0, 1].item() == pytest.approx(torch.sigmoid(z).item(), abs=1e-7)


@pytest.mark.parametrize("name", ["hard", "soft", "kd"])
def test_every_loss_runs_and_is_differentiable(name):
    student = torch.tensor([[0.2, -0.4], [1.0, 0.1]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([1, 0])
    fn = {"hard": hard_loss, "soft": soft_loss, "kd": kd_loss}[name]
    if name == "hard":
        loss = fn(student, labels)
    elif name == "soft":
        loss = fn(student, teacher, 2.0)
    else:
        loss = fn(student, teacher, labels, alpha=0.5, temperature=2.0)
    loss.backward()
    assert loss.item() > 0
    assert student.grad is not None and student.grad.abs().sum() > 0
