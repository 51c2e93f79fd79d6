r"""Claim ``dmf-hessian-spectrum``: the Hessian spectrum is the same at every minimizer.

Kamber & Parhi (2026), abstract: the Hessian spectrum is constant across all minimizers of the
regularized deep scalar factorization problem. Our derivation gives it in closed form
(:func:`wdcompanion.curvature.scalar_hessian_spectrum`). Measured here with exact Hessians
(``torch.func``, float64):

1. at every minimizer found by multistart and at every exact minimizer (all sign patterns), scalar
   problem, depths 1-6, against the closed form;
2. negative control at :math:`\lambda = \lambda^*`: the zero and non-zero minimizer families have
   different spectra;
3. beyond the abstract, the matrix problem: global minimizers found from many starts share one
   spectrum, whose zero eigenvalues number the dimension of the orbit of hidden-layer rotations;
4. sharpness: gradient descent with step :math:`\eta` near :math:`2/\lambda_{\max}` contracts or
   expands a perturbation along the top eigenvector by :math:`|1 - \eta\lambda_{\max}|` per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import curvature, dmf
from ..multistart import minimize_dmf
from .lambda_threshold import target_with_spectrum
from .protocol import Comparison, Verdict, compare
from .unique_minimizer import global_mask

CLAIM_ID = "dmf-hessian-spectrum"

__all__ = ["CLAIM_ID", "HessianSpectrumResult", "run", "gd_growth_factor"]

_SETTINGS = {
    "small": dict(depths=range(1, 7), targets=(1.5, -1.2), lam_factors=(0.5, 2.0), starts=400,
                  matrix=[((3.0, 1.2, 0.45), (4, 3), 5, (2, 3, 4)), ((2.0, 2.0, 0.9), (4, 4), 4, (3,))], matrix_starts=100),
    "paper": dict(depths=range(1, 9), targets=(2.5, 1.5, -0.7, -1.2), lam_factors=(0.25, 0.5, 0.9, 1.1, 2.0), starts=4000,
                  matrix=[((3.0, 1.2, 0.45), (4, 3), 5, (2, 3, 4, 5)), ((2.0, 2.0, 0.9), (4, 4), 4, (3, 4)),
                          (tuple(np.geomspace(3, 0.5, 8)), (10, 8), 8, (3, 4))], matrix_starts=1000),
}
ZERO_EIGENVALUE = 1e-7


def gd_growth_factor(y: float, depth: int, lam: float, step: float, steps: int = 40, amplitude: float = 1e-7) -> float:
    r"""Per-step growth of a perturbation along the top Hessian eigenvector under gradient descent.

    Starts at the all-positive scalar minimizer plus ``amplitude`` times the top eigenvector and
    returns the geometric-mean ratio of successive distances to the minimizer (measured by running
    :func:`wdcompanion.dmf.gradient_descent`, not from the Hessian).
    """
    t = abs(float(dmf.scalar_minimizer(y, depth, lam))) ** (1 / depth)
    minimizer = [np.array([[np.sign(y) * t if l == 0 else t]]) for l in range(depth)]
    hessian = curvature.hessian(minimizer, np.array([[y]]), lam)
    top = np.linalg.eigh(hessian)[1][:, -1]
    start = [w + amplitude * top[l] for l, w in enumerate(minimizer)]
    layers, distances = start, []
    for _ in range(steps):
        distances.append(np.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(layers, minimizer, strict=True))))
        layers, _ = dmf.gradient_descent(layers, np.array([[y]]), lam, lr=step, steps=1)
    distances = np.array(distances)
    return float(np.exp(np.mean(np.diff(np.log(distances)))))


@dataclass
class HessianSpectrumResult:
    verdict: Verdict
    scalar_rows: list[dict] = field(default_factory=list)
    control_rows: list[dict] = field(default_factory=list)
    matrix_rows: list[dict] = field(default_factory=list)
    sharpness_rows: list[dict] = field(default_factory=list)


def _scalar(settings, result) -> list[Comparison]:
    numeric, predicted_numeric, exact, predicted_exact = [], [], [], []
    for depth in settings["depths"]:
        for y in settings["targets"]:
            lams = (0.3, 2.0) if depth == 1 else tuple(f * dmf.critical_lambda(y, depth) for f in settings["lam_factors"])
            for lam in lams:
                Y = np.array([[y]])
                predicted = curvature.scalar_hessian_spectrum(y, depth, lam)
                found = minimize_dmf(Y, depth, lam, n_starts=settings["starts"], seed=7 * depth + len(numeric))
                glob = global_mask(found)
                spectra = np.linalg.eigvalsh(curvature.hessian_batch([w[glob] for w in found.weights], Y, lam))
                points = dmf.scalar_parameter_minimizers(y, depth, lam)
                exact_spectra = np.array([np.linalg.eigvalsh(curvature.hessian([np.array([[v]]) for v in p], Y, lam))
                                          for p in points])
                numeric.append(spectra.ravel())
                predicted_numeric.append(np.tile(predicted, len(spectra)))
                exact.append(exact_spectra.ravel())
                predicted_exact.append(np.tile(predicted, len(points)))
                result.scalar_rows.append(dict(depth=depth, y=y, lam=lam, minimizers=len(spectra), patterns=len(points),
                                               predicted=predicted, spread=float(np.ptp(spectra, axis=0).max())))
    return [
        compare("scalar: Hessian spectra at every minimizer found by multistart vs closed form",
                np.concatenate(numeric), np.concatenate(predicted_numeric), 1e-6, "abs", count_varies=True),
        compare("scalar: Hessian spectra at every exact minimizer (all sign patterns) vs closed form",
                np.concatenate(exact), np.concatenate(predicted_exact), 1e-8, "abs"),
    ]


def _control(result) -> list[Comparison]:
    measured_on, predicted_on, measured_off, predicted_off, top_gap, predicted_gap = [], [], [], [], [], []
    for depth in range(3, 7):
        y = 1.0
        lam = dmf.critical_lambda(y, depth)
        t = float(dmf.threshold_jump(y, depth)) ** (1 / depth)
        nonzero = [np.array([[t]]) for _ in range(depth)]
        zero = [np.zeros((1, 1)) for _ in range(depth)]
        spec_nonzero = np.linalg.eigvalsh(curvature.hessian(nonzero, np.array([[y]]), lam))
        spec_zero = np.linalg.eigvalsh(curvature.hessian(zero, np.array([[y]]), lam))
        pred_nonzero = np.sort(np.append(np.full(depth - 1, 2 * lam), (depth - 1) * (depth - 2) * lam))
        measured_on.append(spec_nonzero)
        predicted_on.append(pred_nonzero)
        measured_off.append(spec_zero)
        predicted_off.append(np.full(depth, lam))
        top_gap.append(spec_nonzero[-1] - spec_zero[-1])
        predicted_gap.append(((depth - 1) * (depth - 2) - 1) * lam)
        result.control_rows.append(dict(depth=depth, lam=lam, nonzero=spec_nonzero, zero=spec_zero))
    return [
        compare("at lambda*: spectrum of the non-zero minimizer vs {2 lam* (x L-1), (L-1)(L-2) lam*}",
                np.concatenate(measured_on), np.concatenate(predicted_on), 1e-10, "abs"),
        compare("at lambda*: spectrum of the zero minimizer vs {lam* (x L)}", np.concatenate(measured_off),
                np.concatenate(predicted_off), 1e-10, "abs"),
        compare("at lambda*: the two families' top eigenvalues differ by ((L-1)(L-2) - 1) lam*", top_gap, predicted_gap,
                1e-10, "abs"),
    ]


def _matrix(settings, result) -> list[Comparison]:
    spectra_found, spectra_exact, zero_counts, orbit_dims = [], [], [], []
    lam = 0.35
    for index, (spectrum, shape, width, depths) in enumerate(settings["matrix"]):
        Y = target_with_spectrum(spectrum, shape, seed=31 + index)
        for depth in depths:
            widths = (width,) * (depth - 1)
            M = dmf.end_to_end_minimizer(Y, depth, lam, widths)
            exact = np.linalg.eigvalsh(curvature.hessian(dmf.balanced_factors(M, depth, widths), Y, lam))
            found = minimize_dmf(Y, depth, lam, n_starts=settings["matrix_starts"], widths=widths, seed=50 + depth)
            glob = global_mask(found)
            spectra = np.linalg.eigvalsh(curvature.hessian_batch([w[glob] for w in found.weights], Y, lam))
            rank = int(np.linalg.matrix_rank(M, tol=1e-9))
            zeros = np.sum(np.abs(spectra) < ZERO_EIGENVALUE, axis=1)
            spectra_found.append(spectra.ravel())
            spectra_exact.append(np.tile(exact, len(spectra)))
            zero_counts.append(zeros)
            orbit_dims.append(np.full(len(zeros), curvature.orbit_dimension(widths, rank)))
            result.matrix_rows.append(dict(target=spectrum, depth=depth, widths=widths, rank=rank, minimizers=len(spectra),
                                           parameters=len(exact), zeros=int(zeros[0]), orbit=int(orbit_dims[-1][0]),
                                           top=float(exact[-1]), spread=float(np.ptp(spectra, axis=0).max())))
    return [
        compare("matrix: full Hessian spectrum at every global minimizer found vs at the balanced minimizer",
                np.concatenate(spectra_found), np.concatenate(spectra_exact), 1e-6, "abs", count_varies=True),
        compare("matrix: zero eigenvalues (|ev| < 1e-7) vs dimension of the hidden-rotation orbit",
                np.concatenate(zero_counts), np.concatenate(orbit_dims), 0, "abs", count_varies=True),
    ]


def _sharpness(result) -> list[Comparison]:
    measured, predicted = [], []
    for y, depth, lam in ((1.0, 3, 0.2), (2.0, 4, 0.5), (1.5, 5, 0.2)):
        top = curvature.scalar_hessian_spectrum(y, depth, lam)[-1]
        for factor in (0.95, 1.05):
            step = factor * 2 / top
            growth = gd_growth_factor(y, depth, lam, step)
            measured.append(growth)
            predicted.append(abs(1 - step * top))
            result.sharpness_rows.append(dict(y=y, depth=depth, lam=lam, top=top, step=step, factor=factor, growth=growth))
    return [compare("gradient descent near a minimizer: per-step growth along the top eigenvector vs |1 - eta lam_max|",
                    measured, predicted, 1e-3, "rel")]


def run(scale: str = "small") -> HessianSpectrumResult:
    """Run every experiment of the chapter and return its data with the verdict."""
    start = time.perf_counter()
    settings = _SETTINGS[scale]
    result = HessianSpectrumResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _scalar(settings, result) + _control(result) + _matrix(settings, result) + _sharpness(result)
    result.verdict = Verdict(CLAIM_ID, tuple(comparisons), scale, time.perf_counter() - start)
    return result
