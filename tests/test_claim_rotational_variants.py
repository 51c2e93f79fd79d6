"""req-rotational-variants passes, and fails without the projection or with a wrong target angle."""

import dataclasses
import math

import pytest

from wdcompanion import optim, sweep
from wdcompanion.claims import rotational_variants


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


@pytest.fixture
def full_run(small_run):
    return small_run("req-rotational-variants")


def test_check_passes(full_run):
    assert full_run.verdict.passed, full_run.verdict.report()


def test_sweep_and_grid_are_reported(full_run):
    sweep, grid = rotational_variants.sweep_settings(rotational_variants.SMALL)
    assert len(full_run.sweep) == len(sweep) and len(full_run.grid) == len(grid)
    assert set(full_run.sweep.optimizer) == {"AdamW", "RV-AdamW"}
    assert set(full_run.sweep.warmup) == {True, False}
    assert set(full_run.grid.optimizer) == {"Adam+L2", "AdamW", "RV-Adam+L2"}
    assert full_run.sweep[["loss", "accuracy"]].notna().all().all()


def test_sweep_resumes_from_the_store(tmp_path, monkeypatch):
    """The chapter's grid goes through the sweep runner: with a store, a second run computes nothing."""
    scale = dataclasses.replace(rotational_variants.SMALL, sweep_steps=5, samples=64, widths=(8,), lrs=(0.01,), seeds=(0,),
                                grid_lrs=(0.01,))
    monkeypatch.setenv("WDC_SWEEP_STORE", str(tmp_path))
    first = rotational_variants.RotationalVariantsResult(verdict=None)
    rotational_variants._sweep(scale, first)
    stored = sorted(tmp_path.rglob("*.json"))
    assert len(stored) == len(first.sweep) + len(first.grid) - 1 == 7  # the grid's AdamW run is also in the sweep
    def no_new_runs(*args):
        raise AssertionError("a stored run was computed again")

    monkeypatch.setattr(sweep, "_open_executor", no_new_runs)
    second = rotational_variants.RotationalVariantsResult(verdict=None)
    rotational_variants._sweep(scale, second)
    assert second.sweep.equals(first.sweep) and second.grid.equals(first.grid)


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
