"""The dmf-unique-minimizer check passes, and fails on planted bugs.

The planted-bug runs use a reduced configuration (fewer depths, starts and draws) so the suite
stays fast; the comparisons and their tolerances are those of the full check.
"""

import dataclasses

import numpy as np
import pytest

from wdcompanion import dmf
from wdcompanion.claims import unique_minimizer

REDUCED = dataclasses.replace(unique_minimizer.SMALL, scalar_depths=(1, 3, 4), lam_factors=(0.5, 1.1), scalar_starts=400,
                              matrix_depths=(2, 3), matrix_starts=60, random_draws=20_000,
                              targets=unique_minimizer.SMALL.targets[:1])


@pytest.fixture
def reduced(monkeypatch):
    monkeypatch.setitem(unique_minimizer.REGISTERED, "small", REDUCED)


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


def test_reduced_check_passes(reduced):
    result = unique_minimizer.run("small")
    assert result.verdict.passed, result.verdict.report()
    assert result.exceptional.distinct == {0.0: 2, -1e-3: 1, 1e-3: 1}


def test_wrong_exponent_in_g_fails(reduced, monkeypatch):
    monkeypatch.setattr(dmf, "reduced_objective",
                        lambda s, y, depth, lam: 0.5 * (np.asarray(s) - y) ** 2 + 0.5 * lam * depth * np.abs(s) ** (1 / depth))
    failed = _failed(unique_minimizer.run("small").verdict)
    assert "best value over starts vs closed-form minimum" in failed


def test_missed_sign_pattern_fails(reduced, monkeypatch):
    original = dmf.scalar_parameter_minimizers
    monkeypatch.setattr(dmf, "scalar_parameter_minimizers", lambda y, depth, lam: original(y, depth, lam)[:-1]
                        if len(original(y, depth, lam)) > 1 else original(y, depth, lam))
    failed = _failed(unique_minimizer.run("small").verdict)
    assert "predicted sign patterns" in failed and "distinct sign patterns" in failed


def test_a_wrong_exceptional_set_fails(reduced, monkeypatch):
    original = dmf.critical_target
    monkeypatch.setattr(dmf, "critical_target", lambda lam, depth: 1.01 * original(lam, depth))
    failed = _failed(unique_minimizer.run("small").verdict)
    assert "on E" in failed or "distinct global end-to-end" in failed


def test_distinct_matrices_and_global_mask():
    mats = np.array([np.eye(2), np.eye(2) + 1e-6, 2 * np.eye(2)])
    assert unique_minimizer.distinct_matrices(mats) == 2
