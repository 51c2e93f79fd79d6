"""req-rotational-variants passes, fails without the projection or with a wrong target angle, and its practical
criteria (warmup, wrapped Adam + L2) can miss."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wdcompanion import optim, sweep
from wdcompanion.claims import Verdict, compare, rotational_variants


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


@pytest.fixture
def full_run(small_run):
    return small_run("req-rotational-variants")


def test_check_passes(full_run):
    assert full_run.verdict.passed, full_run.verdict.report()


def test_the_practical_experiments_are_complete(full_run):
    planned = rotational_variants.practical_settings(rotational_variants.SMALL)
    assert len(full_run.warmup) == len(planned["warmup"]) and len(full_run.grid) == len(planned["grid"])
    assert set(full_run.warmup.optimizer) == {"SGDM", "RV-SGDM", "AdamW", "RV-AdamW"}
    assert set(full_run.warmup.warmup) == {True, False}
    assert set(full_run.grid.optimizer) == {"Adam+L2", "AdamW"}
    assert set(full_run.wrapped.optimizer) == {"Adam+L2", "AdamW", "RV-Adam+L2"}
    assert full_run.warmup.accuracy.between(0, 1).all() and full_run.wrapped.accuracy.notna().all()
    assert list(full_run.layer_rotation.columns) == ["Adam+L2", "AdamW", "RV-Adam+L2"]
    parts = {c.part for c in full_run.verdict.comparisons if c.part}
    assert parts == {rotational_variants.WRAPPED_PART, *(rotational_variants.WARMUP_PART.format(family=f)
                                                          for f in rotational_variants.FAMILIES)}


_TINY = dataclasses.replace(rotational_variants.SMALL, arch_widths=(8,), batch=32, adamw_batch=32, train_steps=10,
                            sgdm_arch_widths=(8,), sgdm_train_steps=10, sgdm_lrs=(0.1,),
                            adamw_lrs=(0.01,), seeds=(0, 1), adamw_seeds=(0, 1), grid_lrs=(0.01,), grid_l2=(1e-3,), grid_wd=(0.1,),
                            wrapped_seeds=(1, 2), grid_arch_widths=(4,), grid_batch=32, grid_train_steps=10)


@pytest.mark.parametrize("arch", ["mlp", rotational_variants.TRANSFORMER])
def test_the_practical_sweeps_resume_from_the_store(tmp_path, monkeypatch, arch):
    """The chapter's grids go through the sweep runner: with a store, a second run computes nothing (AdamW's warmup
    sweep on the MLP, as at small scale, or on the transformer, through its own function, as at paper scale)."""
    monkeypatch.setenv("WDC_SWEEP_STORE", str(tmp_path))
    tiny = dataclasses.replace(_TINY, arch=arch)
    first = rotational_variants.RotationalVariantsResult(verdict=None)
    rotational_variants._practical(tiny, first)
    stored = sorted(tmp_path.rglob("*.json"))
    assert len(stored) == len(first.warmup) + len(first.grid) + len(first.wrapped) == 16 + 2 + 6
    functions = {path.parent.name for path in stored}
    assert ("wdcompanion.transformer.train_transformer_mnist1d" in functions) == (arch == rotational_variants.TRANSFORMER)
    assert list(first.warmup.optimizer.unique()) == ["SGDM", "RV-SGDM", "AdamW", "RV-AdamW"]  # the planned order

    def no_new_runs(*args):
        raise AssertionError("a stored run was computed again")

    monkeypatch.setattr(sweep, "_open_executor", no_new_runs)
    second = rotational_variants.RotationalVariantsResult(verdict=None)
    rotational_variants._practical(tiny, second)
    assert second.warmup.equals(first.warmup) and second.grid.equals(first.grid) and second.wrapped.equals(first.wrapped)
    monkeypatch.setenv("WDC_SWEEP_STORE", str(tmp_path / "elsewhere"))  # stored_practical must read the store it is given
    read = rotational_variants.stored_practical(tiny, tmp_path)  # what the chapter calls for the archived runs
    assert read.verdict is None and read.warmup.equals(first.warmup) and read.wrapped.equals(first.wrapped)
    assert read.grid.equals(first.grid)
    pd.testing.assert_frame_equal(read.warmup_gains, first.warmup_gains)
    pd.testing.assert_frame_equal(read.layer_rotation, first.layer_rotation)
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(LookupError, match="stored_only=True runs nothing"):
        rotational_variants.stored_practical(dataclasses.replace(tiny, seeds=(0, 1, 2)), tmp_path)  # seed 2 not stored


def test_stored_practical_rejects_a_store_that_is_not_a_folder(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        rotational_variants.stored_practical(_TINY, tmp_path / "missing")
    with pytest.raises(TypeError, match="store must be a folder path"):
        rotational_variants.stored_practical(_TINY, None)


def test_the_committed_store_gives_the_archived_records_practical_values():
    """The chapter shows the paper-scale tables read from the committed store: they are the archived record's."""
    root = Path(__file__).resolve().parents[1]
    record = json.loads((root / "book/_generated/paper-scale/req-rotational-variants.json").read_text())
    read = rotational_variants.stored_practical(rotational_variants.PAPER, root / "book/_generated/sweeps")
    archived = {c["name"]: c["measured"] for c in record["comparisons"] if c["part"]}
    recomputed = {c.name: c.measured.tolist() for c in rotational_variants.warmup_comparisons(read.warmup_gains)
                  + rotational_variants.wrapped_comparisons(read.wrapped)}
    assert recomputed.keys() == archived.keys()
    for name, values in recomputed.items():
        np.testing.assert_allclose(values, archived[name], rtol=1e-12, err_msg=f"{name}: the store and the archived record "
                                   "disagree; re-archive with scripts/paper_runs.py run req-rotational-variants")


def _warmup_table(plain_gain, rv_gain, spread=0.0):
    """A warmup sweep's table with the given mean gains (3 seeds, seed-to-seed spread +-spread)."""
    rows = []
    for family in rotational_variants.FAMILIES:
        for kind, gain in ((family, plain_gain), (f"RV-{family}", rv_gain)):
            for seed, noise in zip((0, 1, 2), (-spread, 0.0, spread), strict=True):
                rows += [dict(optimizer=kind, lr=0.1, seed=seed, warmup=True, accuracy=0.6 + gain + noise),
                         dict(optimizer=kind, lr=0.1, seed=seed, warmup=False, accuracy=0.6)]
    return pd.DataFrame(rows)


def test_warmup_table_names_each_runs_family_and_whether_it_warmed_up():
    runs = pd.DataFrame(dict(optimizer=["SGDM", "RV-SGDM", "AdamW"], warmup_steps=[20, 0, 0], accuracy=[0.9, 0.8, 0.7]))
    table = rotational_variants.warmup_table(runs)
    assert list(table.columns[:2]) == ["family", "warmup"]
    assert list(table.family) == ["SGDM", "SGDM", "AdamW"] and list(table.warmup) == [True, False, False]
    assert "family" not in runs  # the sweep's own table is left as it was
    with pytest.raises(ValueError, match="runs must have"):
        rotational_variants.warmup_table(runs.drop(columns="warmup_steps"))


def test_warmup_gains_count_the_diverged_runs_with_warmup_and_without():
    table = _warmup_table(0.1, 0.0)
    table["diverged"] = 0.0
    table.loc[(table.optimizer == "SGDM") & ~table.warmup & (table.seed < 2), "diverged"] = 1.0
    gains = rotational_variants.warmup_gains(table)
    assert gains.loc[("SGDM", 0.1), "diverged, none"] == 2 and gains.loc[("SGDM", 0.1), "diverged, warmup"] == 0
    assert gains.drop(index=("SGDM", 0.1))[["diverged, warmup", "diverged, none"]].eq(0).all().all()
    assert rotational_variants.warmup_gains(table.drop(columns="diverged"))["diverged, none"].eq(0).all()
    table.loc[(table.optimizer == "AdamW") & ~table.warmup, "diverged"] = np.nan  # a run that did not report it
    assert rotational_variants.warmup_gains(table).loc[("AdamW", 0.1), "diverged, none"] == 0


def test_significant_lrs_are_the_learning_rates_where_plain_needs_warmup():
    table = pd.concat([_warmup_table(0.1, 0.0, spread=0.01),
                       _warmup_table(0.001, 0.0, spread=0.01).assign(lr=0.2)], ignore_index=True)
    gains = rotational_variants.warmup_gains(table)
    assert rotational_variants.significant_lrs(gains, "SGDM") == [0.1]  # 0.001 is below MIN_GAIN
    assert rotational_variants.significant_lrs(rotational_variants.warmup_gains(_warmup_table(0.0, 0.0)), "AdamW") == []
    with pytest.raises(ValueError, match="family must be one of"):
        rotational_variants.significant_lrs(gains, "RV-SGDM")
    with pytest.raises(ValueError, match="no rows for 'AdamW'"):
        rotational_variants.significant_lrs(gains.drop(index="AdamW", level="optimizer"), "AdamW")
    with pytest.raises(TypeError, match="gains must be"):
        rotational_variants.significant_lrs(table, "SGDM")


def test_layer_rotation_averages_each_layers_tracked_angle_over_seeds():
    runs = pd.DataFrame({"optimizer": ["AdamW", "AdamW", "Adam+L2"], "seed": [1, 2, 1], "accuracy": [0.9, 0.9, 0.8],
                         "rotation:0.weight": [0.01, 0.03, 0.1], "rotation:2.weight": [0.02, 0.02, 0.4]})
    table = rotational_variants.layer_rotation(runs)
    assert list(table.columns) == ["AdamW", "Adam+L2"] and list(table.index) == ["0.weight", "2.weight"]
    assert table.loc["0.weight", "AdamW"] == pytest.approx(0.02) and table.loc["2.weight", "Adam+L2"] == 0.4
    with pytest.raises(ValueError, match="rotation:NAME"):
        rotational_variants.layer_rotation(runs[["optimizer", "seed", "accuracy"]])


def _verdict_of(comparisons):
    firm = compare("firm", [1.0], 1.0, 1e-9)
    return Verdict(rotational_variants.CLAIM_ID, (firm, *comparisons))


@pytest.mark.parametrize(("plain", "rv", "spread", "status"), [
    (0.2, 0.05, 0.01, "pass"),  # plain needs warmup, the RV a quarter as much
    (0.2, 0.15, 0.01, "partial"),  # the RV needs three quarters as much: not reproduced
    (0.01, 0.0, 0.001, "partial"),  # no learning rate where plain needs warmup (gain below MIN_GAIN)
    (0.2, 0.0, 0.3, "partial"),  # a gain within the seed spread is not significant
])
def test_the_warmup_criterion_can_miss(plain, rv, spread, status):
    gains = rotational_variants.warmup_gains(_warmup_table(plain, rv, spread))
    comparisons = rotational_variants.warmup_comparisons(gains)
    assert len(comparisons) == 2 * len(rotational_variants.FAMILIES)  # whatever the outcome: a line that holds on every CPU
    verdict = _verdict_of(comparisons)
    assert verdict.passed and verdict.status == status, verdict.report()


def test_a_learning_rate_where_everything_fails_does_not_void_the_warmup_criterion():
    """A learning rate at which every run ends at chance with and without warmup (plain's gain exactly 0) has no
    weight: the verdict is that of the other learning rates, not a 0/0 (found in the paper-scale record)."""
    table = _warmup_table(0.2, 0.05, 0.01)
    dead = table[table.lr == 0.1].assign(lr=51.2, accuracy=0.1)
    gains = rotational_variants.warmup_gains(pd.concat([table, dead], ignore_index=True))
    verdict = _verdict_of(rotational_variants.warmup_comparisons(gains))
    assert verdict.passed and verdict.status == "pass", verdict.report()
    assert all(np.isfinite(c.measured).all() for c in verdict.comparisons)


@pytest.mark.parametrize(("l2", "adamw", "wrapped", "status"), [
    (0.60, 0.70, 0.68, "pass"),  # closes 80% of the gap
    (0.60, 0.70, 0.62, "partial"),  # closes 20%
    (0.70, 0.69, 0.60, "partial"),  # no gap to close (Adam + L2 is better)
])
def test_the_wrapped_criterion_can_miss(l2, adamw, wrapped, status):
    table = pd.DataFrame([dict(optimizer=kind, seed=seed, accuracy=value + noise)
                          for kind, value in (("Adam+L2", l2), ("AdamW", adamw), ("RV-Adam+L2", wrapped))
                          for seed, noise in ((1, -0.002), (2, 0.0), (3, 0.002))])
    comparisons = rotational_variants.wrapped_comparisons(table)
    assert len(comparisons) == 2
    verdict = _verdict_of(comparisons)
    assert verdict.passed and verdict.status == status, verdict.report()


def test_missing_projection_fails(monkeypatch):
    monkeypatch.setattr(optim.RotationalWrapper, "_project", staticmethod(lambda w, norm: None))
    failed = _failed(rotational_variants.run("small", practical=False).verdict)
    assert "norm / initial norm" in failed


def test_wrong_target_angle_fails(monkeypatch):
    def without_momentum_factor(group):  # sqrt(2 lr wd), forgetting sqrt((1 - b1)/(1 + b1)) and friends
        return math.sqrt(2 * group["lr"] * group["weight_decay"])

    monkeypatch.setattr(optim.RotationalWrapper, "_target_angle", staticmethod(without_momentum_factor))
    verdict = rotational_variants.run("small", practical=False).verdict
    failed = _failed(verdict)
    assert "first angular update of every neuron" in failed and "equilibrium angle" in failed
    assert "per-layer angular update" in failed and any(n.startswith("RV network:") for n in verdict.notes)


def test_network_angles_are_rms_over_steps_and_count_still_neurons():
    import types

    angles = np.array([[0.0, 1.0, 0.0], [2.0, 1.0, 0.0]] * 2)  # steps x neurons: bursty, steady, still
    tracker = types.SimpleNamespace(angles=lambda name: angles)
    table = rotational_variants._network_angles(tracker, ["w"], slice(0, None), target=1.0)
    assert table.loc["w", "angle / target"] == pytest.approx((np.sqrt(2) + 1 + 0) / 3)
    assert table.loc["w", "still neurons"] == 1
    assert table.loc["w", "angle / target, moving neurons"] == pytest.approx((np.sqrt(2) + 1) / 2)
    assert "w 1 still, others 1.21" in rotational_variants._network_note(table)
