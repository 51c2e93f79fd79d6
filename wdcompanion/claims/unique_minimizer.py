r"""Claim ``dmf-unique-minimizer``: one end-to-end minimizer outside a measure-zero set.

Kamber & Parhi (2026), abstract: :math:`\ell^2`-regularized deep matrix factorization with
squared-error loss has a unique end-to-end minimizer for all target matrices subject to
factorization, except a set of Lebesgue measure zero formed by the depth and the regularization
parameter. Our derivation identifies that set as
:math:`E_{L,\lambda} = \{Y : \sigma_i(Y) = y^*(\lambda, L) \text{ for some } i\}` for :math:`L \ge 3`
(empty for :math:`L \le 2`). Measurements here never use the closed forms:

1. the scalar problem, minimized from many random starts by batched L-BFGS; every converged start
   is classified by its exact Hessian (``torch.func``) as a local minimum or a saddle;
2. matrix targets (rectangular, repeated singular values, a bottleneck), likewise;
3. on :math:`E_{L,\lambda}`: two global minimizers, by evaluating the layered loss at balanced
   factors of both branches and by multistart; the gap between branches near the set; and
   random targets' distance to the set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import dmf
from ..curvature import hessian_batch
from ..multistart import MultistartResult, minimize_dmf
from .lambda_threshold import target_with_spectrum
from .protocol import Comparison, Verdict, compare

CLAIM_ID = "dmf-unique-minimizer"

__all__ = ["CLAIM_ID", "UniqueMinimizerResult", "run", "global_mask", "distinct_matrices"]

_SETTINGS = {
    "small": dict(scalar_depths=range(1, 7), scalar_targets=(1.5, -1.2), lam_factors=(0.5, 1.1, 2.0),
                  scalar_starts=1000, matrix_depths=(2, 3, 4, 5), matrix_starts=200, random_draws=100_000, chunk=None,
                  targets={"rectangular 5x3": ((3.0, 1.2, 0.45), (5, 3), 4),
                           "repeated singular values 4x4": ((2.0, 2.0, 1.1, 0.3), (4, 4), 5),
                           "bottleneck width 2 < rank 3": ((3.0, 2.0, 1.5), (4, 3), 2)}),
    "paper": dict(scalar_depths=range(1, 9), scalar_targets=(2.5, 1.5, -0.7, -1.2), lam_factors=(0.25, 0.5, 0.9, 1.1, 2.0),
                  scalar_starts=10_000, matrix_depths=(2, 3, 4, 5, 6), matrix_starts=10_000, random_draws=1_000_000,
                  chunk=1000,
                  targets={"rectangular 64x48": (tuple(np.geomspace(4.0, 0.05, 48)), (64, 48), 48),
                           "repeated singular values 12x12": ((2.0,) * 4 + (1.1,) * 4 + (0.3,) * 4, (12, 12), 12),
                           "bottleneck width 4 < rank 8": (tuple(np.linspace(3.0, 1.2, 8)), (10, 8), 4)}),
}
LAM_MATRIX = 0.35


def global_mask(result: MultistartResult, rtol: float = 1e-9) -> np.ndarray:
    """Starts whose value is within ``rtol`` (relative) of the best value found."""
    best = result.loss.min()
    return result.converged & (result.loss <= best + rtol * max(1.0, abs(best)))


def distinct_matrices(matrices: np.ndarray, atol: float = 1e-4) -> int:
    """Number of clusters of end-to-end matrices (max-abs distance ``atol``), greedy."""
    representatives: list[np.ndarray] = []
    for M in matrices:
        if not any(np.max(np.abs(M - R)) <= atol for R in representatives):
            representatives.append(M)
    return len(representatives)


def _min_hessian_eigenvalues(result: MultistartResult, Y: np.ndarray, lam: float) -> np.ndarray:
    hessians = hessian_batch(result.weights, Y, lam)
    return np.linalg.eigvalsh(hessians)[:, 0]


def _predicted_local_values(y: float, depth: int, lam: float) -> np.ndarray:
    """Values of every local minimum of the scalar problem predicted by the theory."""
    values = [dmf.reduced_objective(dmf.scalar_minimizer(y, depth, lam), y, depth, lam)]
    if depth >= 3:
        values.append(0.5 * y * y)  # the origin is a strict local minimum (Hessian = lam I)
        branch = dmf.nonzero_branch(y, depth, lam)
        if np.isfinite(branch):
            values.append(dmf.reduced_objective(branch, y, depth, lam))
    return np.unique(np.round(values, 14))


@dataclass
class UniqueMinimizerResult:
    verdict: Verdict
    scalar_rows: list[dict] = field(default_factory=list)
    matrix_rows: list[dict] = field(default_factory=list)
    deviations: np.ndarray = field(default_factory=lambda: np.zeros(0))  # max|M - M*| per global minimizer
    layer_norms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ||W_l||_F^2 of matrix minimizers
    exceptional: dict = field(default_factory=dict)


def _scalar_part(settings, result: UniqueMinimizerResult) -> list[Comparison]:
    best, optimum, products, predicted_products, distances = [], [], [], [], []
    hit, predicted_count, value_gaps, saddles = [], [], [], 0
    for depth in settings["scalar_depths"]:
        for y in settings["scalar_targets"]:
            lams = (0.3, 1.0, 3.0) if depth == 1 else tuple(f * dmf.critical_lambda(y, depth) for f in settings["lam_factors"])
            for lam in lams:
                Y = np.array([[y]])
                found = minimize_dmf(Y, depth, lam, n_starts=settings["scalar_starts"], seed=depth * 97 + len(best),
                                     scale_range=(0.05, 3.0), chunk_size=settings.get("chunk"))
                min_eig = _min_hessian_eigenvalues(found, Y, lam)
                is_min = found.converged & (min_eig > -1e-8)
                saddles += int(np.sum(found.converged & ~is_min))
                glob = global_mask(found) & is_min
                w = np.concatenate([layer[:, 0, :] for layer in found.weights], axis=1)[glob]
                targets = dmf.scalar_parameter_minimizers(y, depth, lam)
                dist = np.min(np.max(np.abs(w[:, None, :] - targets[None]), axis=2), axis=1)
                patterns_found = len(np.unique(np.sign(np.round(w, 6)), axis=0))  # counted without the prediction
                local_values = _predicted_local_values(y, depth, lam)
                gaps = np.min(np.abs(found.loss[is_min, None] - local_values[None]), axis=1)
                best.append(found.loss.min())
                optimum.append(dmf.optimal_value(Y, depth, lam))
                products.append(found.end_to_end[glob, 0, 0])
                predicted_products.append(np.full(glob.sum(), dmf.scalar_minimizer(y, depth, lam)))
                distances.append(dist)
                hit.append(patterns_found)
                predicted_count.append(len(targets))
                value_gaps.append(gaps)
                values, counts = np.unique(np.round(found.loss[is_min], 8), return_counts=True)
                result.scalar_rows.append(dict(
                    depth=depth, y=y, lam=lam, lam_ratio=lam / dmf.critical_lambda(y, depth) if depth > 1 else np.nan,
                    n_global=int(glob.sum()), patterns_hit=patterns_found, patterns_predicted=len(targets),
                    minima=[(float(v), int(c)) for v, c in zip(values, counts, strict=True)],
                    saddles=int(np.sum(found.converged & ~is_min)), converged=float(found.converged.mean())))
    return [
        compare("scalar: best value over starts vs closed-form minimum of g", best, optimum, 1e-10, "rel"),
        compare("scalar: end-to-end product at every global minimizer vs scalar_minimizer",
                np.concatenate(products), np.concatenate(predicted_products), 1e-8, "abs", count_varies=True),
        compare("scalar: distance of every global minimizer to the predicted sign patterns (|w_l| = t)",
                np.concatenate(distances), 0.0, 1e-8, "abs", count_varies=True),
        compare("scalar: distinct sign patterns among global minimizers vs 2^(L-1) (1 at the origin)",
                hit, predicted_count, 0, "abs"),
        compare("scalar: every local minimum reached has a predicted value (global, 0, spurious branch)",
                np.concatenate(value_gaps), 0.0, 1e-9, "abs", count_varies=True),
    ]


def _matrix_part(settings, result: UniqueMinimizerResult) -> list[Comparison]:
    best, optimum, deviations, norms = [], [], [], []
    for index, (name, (spectrum, shape, width)) in enumerate(settings["targets"].items()):
        Y = target_with_spectrum(spectrum, shape, seed=11 + index)
        for depth in settings["matrix_depths"]:
            widths = (width,) * (depth - 1)
            found = minimize_dmf(Y, depth, LAM_MATRIX, n_starts=settings["matrix_starts"], widths=widths,
                                 seed=1000 * index + depth, scale_range=(0.05, 2.0), chunk_size=settings.get("chunk"))
            glob = global_mask(found)
            M_star = dmf.end_to_end_minimizer(Y, depth, LAM_MATRIX, widths)
            dev = np.max(np.abs(found.end_to_end[glob] - M_star), axis=(1, 2))
            first = found.weights[0][glob]
            spread = float(np.max(np.linalg.norm(first - first[:1], axis=(1, 2)))) if len(first) > 1 else 0.0
            best.append(found.loss.min())
            optimum.append(dmf.optimal_value(Y, depth, LAM_MATRIX, widths))
            deviations.append(dev)
            norms.append(found.layer_norms_sq[glob].ravel())
            result.matrix_rows.append(dict(target=name, depth=depth, n_global=int(glob.sum()), starts=len(found.loss),
                                           best=float(found.loss.min()), predicted=optimum[-1],
                                           max_deviation=float(dev.max()), layer_spread=spread,
                                           converged=float(found.converged.mean())))
    result.deviations = np.concatenate(deviations)
    result.layer_norms = np.concatenate(norms)
    return [
        compare("matrix: best value over starts vs closed-form optimum", best, optimum, 1e-10, "rel"),
        compare("matrix: max |M - M*| at every global minimizer found", result.deviations, 0.0, 1e-7, "abs", count_varies=True),
    ]


def _exceptional_part(settings, result: UniqueMinimizerResult, depth: int = 3) -> list[Comparison]:
    lam = LAM_MATRIX
    y_star = dmf.critical_target(lam, depth)
    s_jump = float(dmf.threshold_jump(y_star, depth))
    rng = np.random.default_rng(5)

    def two_branches(sigma_mid: float):
        Y = target_with_spectrum((2.5, sigma_mid, 0.3), (4, 3), seed=21)
        U, sig, Vt = np.linalg.svd(Y, full_matrices=False)
        s_top = dmf.scalar_minimizer(sig[0], depth, lam)
        branch = dmf.nonzero_branch(sig[1], depth, lam)
        M_on, M_off = (U * [s_top, branch, 0.0]) @ Vt, (U * [s_top, 0.0, 0.0]) @ Vt
        W_on, W_off = dmf.balanced_factors(M_on, depth), dmf.balanced_factors(M_off, depth)
        return Y, W_on, W_off, M_on, M_off

    Y, W_on, W_off, M_on, M_off = two_branches(y_star)
    grad_norms = [np.sqrt(sum(np.sum(g**2) for g in dmf.gradient(W, Y, lam))) for W in (W_on, W_off)]
    loss_gap = abs(dmf.loss(W_on, Y, lam) - dmf.loss(W_off, Y, lam))
    counts, offsets = [], (0.0, -1e-3, 1e-3)
    for k, delta in enumerate(offsets):
        Yd = target_with_spectrum((2.5, y_star * (1 + delta), 0.3), (4, 3), seed=21)
        found = minimize_dmf(Yd, depth, lam, n_starts=settings["matrix_starts"], seed=300 + k, scale_range=(0.05, 2.0))
        counts.append(distinct_matrices(found.end_to_end[global_mask(found, rtol=1e-11)]))
    deltas = np.geomspace(1e-6, 1e-1, 16)
    gaps = []
    for delta in deltas:
        Yd, Won, Woff, _, _ = two_branches(y_star * (1 + delta))
        gaps.append(dmf.loss(Woff, Yd, lam) - dmf.loss(Won, Yd, lam))
    gaps = np.array(gaps)
    small = deltas <= 1e-3
    samples = rng.standard_normal((settings["random_draws"], 4, 3)) * 0.6
    sigma = np.linalg.svd(samples, compute_uv=False)
    distance = np.min(np.abs(sigma - y_star), axis=1) / y_star
    result.exceptional = dict(y_star=y_star, s_jump=s_jump, loss_gap=loss_gap, grad_norms=grad_norms,
                              distinct=dict(zip(offsets, counts, strict=True)), deltas=deltas, gaps=gaps,
                              random_distance=distance, M_difference=float(np.linalg.norm(M_on - M_off, 2)))
    return [
        compare("on E: |f(branch with s_jump) - f(branch with 0)| at sigma_2 = y*", [loss_gap], 0.0, 1e-12, "abs"),
        compare("on E: gradient norm at both constructed minimizers", grad_norms, 0.0, 1e-10, "abs"),
        compare("on E: ||M_a - M_b||_2 vs (L-2)/(L-1) y*", [result.exceptional["M_difference"]], s_jump, 1e-10, "rel"),
        compare("distinct global end-to-end matrices found by multistart at y*, y*(1-1e-3), y*(1+1e-3)",
                counts, [2, 1, 1], 0, "abs"),
        compare("gap between branches / (s_jump |sigma - y*|) for |sigma/y* - 1| <= 1e-3",
                gaps[small] / (s_jump * deltas[small] * y_star), 1.0, 1e-2, "rel"),
        compare(f"fraction of {settings['random_draws']} random 4x3 targets within rel. distance 1e-6 of E",
                [np.mean(distance < 1e-6)], 0.0, 1e-4, "abs"),
    ]


def run(scale: str = "small") -> UniqueMinimizerResult:
    """Run every experiment of the chapter and return its data with the verdict."""
    start = time.perf_counter()
    settings = _SETTINGS[scale]
    result = UniqueMinimizerResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _scalar_part(settings, result) + _matrix_part(settings, result) + _exceptional_part(settings, result)
    result.verdict = Verdict(CLAIM_ID, tuple(comparisons), scale, time.perf_counter() - start)
    return result
