"""The dmf-lambda-threshold check passes, and fails when a prediction or the code is wrong."""

import numpy as np
import pytest

from wdcompanion import dmf
from wdcompanion.claims import lambda_threshold


@pytest.fixture
def result(small_run):
    return small_run("dmf-lambda-threshold")


def test_check_passes(result):
    assert result.verdict.passed, result.verdict.report()
    assert result.verdict.n_cases > 300
    below = result.collapse[result.collapse.side == "below"]
    above = result.collapse[result.collapse.side == "above"]
    assert len(below) and (below.norm_found > 0.05).all()
    assert len(above) and (above.norm_found < 1e-12).all()


def test_numerical_threshold_is_independent_of_the_closed_form(monkeypatch):
    expected = lambda_threshold.numerical_threshold(1.7, 4)
    monkeypatch.setattr(dmf, "critical_lambda", lambda y, depth: 123.0)
    assert lambda_threshold.numerical_threshold(1.7, 4) == expected


def _failed_names(verdict):
    return [c.name for c in verdict.comparisons if not c.passed]


def test_wrong_threshold_exponent_fails(monkeypatch):
    original = dmf.critical_lambda

    def wrong(y, depth):  # exponent 2L/L instead of 2(L-1)/L
        if depth < 3:
            return original(y, depth)
        a = np.abs(np.asarray(y, dtype=float))
        return (depth - 2) ** ((depth - 2) / depth) * (a / (depth - 1)) ** 2.0

    monkeypatch.setattr(dmf, "critical_lambda", wrong)
    verdict = lambda_threshold.run("small").verdict
    assert not verdict.passed
    assert any("lambda* closed form" in name for name in _failed_names(verdict))


def test_wrong_jump_prediction_fails(monkeypatch):
    monkeypatch.setattr(dmf, "threshold_jump", lambda y, depth: abs(y) * (depth - 2) / depth)
    assert "jump" in " ".join(_failed_names(lambda_threshold.run("small").verdict))


def test_minimizer_with_a_lost_sign_fails(monkeypatch):
    original = dmf.scalar_minimizer
    monkeypatch.setattr(dmf, "scalar_minimizer", lambda y, depth, lam: np.abs(original(y, depth, lam)))
    assert "global minimizer of g" in " ".join(_failed_names(lambda_threshold.run("small").verdict))


def test_collapse_missed_by_the_closed_form_fails(monkeypatch):
    # a closed form that keeps the non-zero branch wherever it exists (no threshold) must be
    # caught by the direct minimization of the layered objective just above lambda*
    branch = dmf.nonzero_branch
    monkeypatch.setattr(dmf, "scalar_minimizer",
                        lambda y, depth, lam: np.nan_to_num(np.asarray(branch(y, depth, lam), dtype=float)))
    failed = " ".join(_failed_names(lambda_threshold.run("small").verdict))
    assert "best layered loss" in failed and "M_found" in failed


def test_published_thresholds_agree_with_each_other():
    # Zuo et al.'s general-p threshold at p = 1/2 is Xu et al.'s half-thresholding (lam' = 2 mu)
    for mu in (0.01, 0.3, 2.0):
        assert lambda_threshold.gst_threshold(mu, 0.5) == pytest.approx(lambda_threshold.half_threshold(2 * mu), rel=1e-14)
    with pytest.raises(ValueError, match="p"):
        lambda_threshold.gst_threshold(1.0, 1.0)


def test_literature_anchor_is_independent_of_the_closed_form(monkeypatch):
    expected = lambda_threshold.gst_shrink(1.3, 0.4, 2 / 3)
    monkeypatch.setattr(dmf, "critical_target", lambda lam, depth: 123.0)
    monkeypatch.setattr(dmf, "scalar_minimizer", lambda y, depth, lam: 0.0)
    assert lambda_threshold.gst_shrink(1.3, 0.4, 2 / 3) == expected != 0.0


def test_threshold_off_the_literature_fails(monkeypatch):
    original = dmf.critical_target
    monkeypatch.setattr(dmf, "critical_target", lambda lam, depth: original(lam, depth) * (1 + 1e-9))
    assert "Zuo et al. (2013) generalized soft-thresholding" in " ".join(_failed_names(lambda_threshold.run("small").verdict))
