"""req-rotational-variants passes, and fails without the projection or with a wrong target angle."""

import math

import pytest

from wdcompanion import optim
from wdcompanion.claims import rotational_variants


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


@pytest.fixture
def full_run(small_run):
    return small_run("req-rotational-variants")


def test_check_passes(full_run):
    assert full_run.verdict.passed, full_run.verdict.report()


def test_sweep_and_grid_are_reported(full_run):
    assert {row["optimizer"] for row in full_run.sweep} == {"AdamW", "RV-AdamW"}
    assert {row["warmup"] for row in full_run.sweep} == {True, False}
    assert {row["optimizer"] for row in full_run.grid} == {"Adam+L2", "AdamW", "RV-Adam+L2"}


def test_missing_projection_fails(monkeypatch):
    monkeypatch.setattr(optim.RotationalWrapper, "_project", staticmethod(lambda w, norm: None))
    failed = _failed(rotational_variants.run("small", sweep=False).verdict)
    assert "norm / initial norm" in failed


def test_wrong_target_angle_fails(monkeypatch):
    def without_momentum_factor(group):  # sqrt(2 lr wd), forgetting sqrt((1 - b1)/(1 + b1)) and friends
        return math.sqrt(2 * group["lr"] * group["weight_decay"])

    monkeypatch.setattr(optim.RotationalWrapper, "_target_angle", staticmethod(without_momentum_factor))
    failed = _failed(rotational_variants.run("small", sweep=False).verdict)
    assert "first angular update of every neuron" in failed and "equilibrium angle" in failed
