"""dmf-hessian-spectrum and dmf-layer-norms pass, and fail on planted bugs."""

import numpy as np
import pytest

from wdcompanion import curvature, dmf
from wdcompanion.claims import hessian_spectrum, layer_norms


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


@pytest.mark.parametrize("claim_id", ["dmf-hessian-spectrum", "dmf-layer-norms"])
def test_check_passes(claim_id, small_run):
    verdict = small_run(claim_id).verdict
    assert verdict.passed, verdict.report()


def test_wrong_multiplicity_fails(monkeypatch):
    original = curvature.scalar_hessian_spectrum

    def wrong(y, depth, lam):  # 2 lam with multiplicity L-2, the top eigenvalue twice
        spectrum = original(y, depth, lam)
        return np.sort(np.append(spectrum[1:], spectrum[-1])) if depth >= 2 else spectrum

    monkeypatch.setattr(curvature, "scalar_hessian_spectrum", wrong)
    assert "closed form" in _failed(hessian_spectrum.run("small").verdict)


def test_wrong_orbit_count_fails(monkeypatch):
    monkeypatch.setattr(curvature, "orbit_dimension", lambda widths, rank: sum(d * (d - 1) // 2 for d in widths))
    assert "orbit" in _failed(hessian_spectrum.run("small").verdict)


def test_layer_norm_exponent_off_fails(monkeypatch):
    def wrong(Y, depth, lam, widths=None):  # exponent 1/L instead of 2/L
        s = np.linalg.svd(dmf.end_to_end_minimizer(Y, depth, lam, widths), compute_uv=False)
        return float(np.sum(s[s > 1e-12] ** (1 / depth)))

    monkeypatch.setattr(curvature, "minimizer_layer_norm_sq", wrong)
    assert "||W_l||_F^2" in _failed(layer_norms.run("small").verdict)


def test_wrong_trace_closed_form_fails(monkeypatch):
    original = curvature.minimizer_hessian_trace
    monkeypatch.setattr(curvature, "minimizer_hessian_trace", lambda *a, **k: original(*a, **k) * 1.001)
    assert "closed form" in _failed(layer_norms.run("small").verdict)


def test_wrong_block_coupling_fails(monkeypatch):
    original = curvature._pair_terms

    def wrong(data, A, B):  # x_l coupled with y_k by the coefficient of y_l x_k
        u, v, C, ex_x, ex_y = original(data, A, B)
        return u, v, np.swapaxes(C, 1, 2), ex_x, ex_y

    monkeypatch.setattr(curvature, "_pair_terms", wrong)
    failed = _failed(hessian_spectrum.run("small").verdict)
    assert "vs minimizer_spectrum" in failed


def test_wrong_block_multiplicity_fails(monkeypatch):
    original = curvature._block_counts

    def wrong(sizes, A, B, diagonal):  # one pair too many within each class
        counts = original(sizes, A, B, diagonal)
        return counts if diagonal else np.where(A == B, counts + 1, counts)

    monkeypatch.setattr(curvature, "_block_counts", wrong)
    failed = _failed(hessian_spectrum.run("small").verdict)
    assert "vs minimizer_spectrum" in failed
