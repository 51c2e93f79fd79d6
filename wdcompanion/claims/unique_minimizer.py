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
import pandas as pd

from .. import dmf
from ..curvature import hessian_batch
from ..multistart import MultistartResult, minimize_dmf
from .lambda_threshold import target_with_spectrum
from .protocol import Comparison, Verdict, compare
from .settings import ClaimSettings, Part, describe_fields, doc, resolve, verdict_for

CLAIM_ID = "dmf-unique-minimizer"

__all__ = ["CLAIM_ID", "Settings", "MatrixTarget", "SMALL", "PAPER", "REGISTERED", "UniqueMinimizerResult",
           "ExceptionalSet", "run", "global_mask", "distinct_matrices"]

@describe_fields
@dataclass(frozen=True)
class MatrixTarget(Part):
    """A generated target matrix: its singular values, shape and the hidden width of the factorization."""

    name: str = doc("label in tables")
    spectrum: tuple[float, ...] = doc("singular values (Haar-random singular vectors)")
    shape: tuple[int, int] = doc("(rows, columns)")
    width: int = doc("hidden width of every layer")

    def check(self) -> None:
        self._positive("shape", "width")
        if len(self.spectrum) > min(self.shape) or min(self.spectrum, default=0) < 0:
            raise ValueError(f"MatrixTarget.spectrum: at most min(shape) = {min(self.shape)} values >= 0, got {self.spectrum}")


@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    scalar_depths: tuple[int, ...] = doc("depths L of the scalar problem")
    scalar_targets: tuple[float, ...] = doc("scalar targets y")
    lam_factors: tuple[float, ...] = doc("weight decays lambda = factor * lambda*(y, L) (depth 1: 0.3, 1, 3)")
    scalar_starts: int = doc("random starts per scalar setting")
    targets: tuple[MatrixTarget, ...] = doc("matrix targets")
    matrix_depths: tuple[int, ...] = doc("depths of the matrix problem")
    lam: float = doc("weight decay of the matrix problem and of the exceptional set")
    matrix_starts: int = doc("random starts per matrix setting (and near the exceptional set)")
    exceptional_depth: int = doc("depth of the exceptional-set experiment (>= 3)")
    random_draws: int = doc("random 4x3 targets tested for distance to the exceptional set")
    chunk: int | None = doc("starts per batch (None: all at once; bounds memory at paper scale)")

    def check(self) -> None:
        if not self.scalar_targets or 0.0 in self.scalar_targets:
            raise ValueError(f"Settings.scalar_targets must be non-empty and non-zero, got {self.scalar_targets}")
        self._positive("lam_factors", "scalar_starts", "lam", "matrix_starts", "random_draws")
        if min(self.scalar_depths, default=0) < 1 or min(self.matrix_depths, default=0) < 1:
            raise ValueError("Settings.scalar_depths and matrix_depths must be non-empty, each depth >= 1")
        if self.exceptional_depth < 3:
            raise ValueError(f"Settings.exceptional_depth must be >= 3 (no exceptional set below), got {self.exceptional_depth}")
        if self.chunk is not None and self.chunk < 1:
            raise ValueError(f"Settings.chunk must be None or >= 1, got {self.chunk}")


SMALL = Settings(scalar_depths=tuple(range(1, 7)), scalar_targets=(1.5, -1.2), lam_factors=(0.5, 1.1, 2.0),
                 scalar_starts=1000, matrix_depths=(2, 3, 4, 5), lam=0.35, matrix_starts=200, exceptional_depth=3,
                 random_draws=100_000, chunk=None,
                 targets=(MatrixTarget("rectangular 5x3", (3.0, 1.2, 0.45), (5, 3), 4),
                          MatrixTarget("repeated singular values 4x4", (2.0, 2.0, 1.1, 0.3), (4, 4), 5),
                          MatrixTarget("bottleneck width 2 < rank 3", (3.0, 2.0, 1.5), (4, 3), 2)))
PAPER = Settings(scalar_depths=tuple(range(1, 9)), scalar_targets=(2.5, 1.5, -0.7, -1.2),
                 lam_factors=(0.25, 0.5, 0.9, 1.1, 2.0), scalar_starts=10_000, matrix_depths=(2, 3, 4, 5, 6), lam=0.35,
                 matrix_starts=10_000, exceptional_depth=3, random_draws=1_000_000, chunk=1000,
                 targets=(MatrixTarget("rectangular 64x48", tuple(np.geomspace(4.0, 0.05, 48)), (64, 48), 48),
                          MatrixTarget("repeated singular values 12x12", (2.0,) * 4 + (1.1,) * 4 + (0.3,) * 4, (12, 12), 12),
                          MatrixTarget("bottleneck width 4 < rank 8", tuple(np.linspace(3.0, 1.2, 8)), (10, 8), 4)))
REGISTERED = {"small": SMALL, "paper": PAPER}


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


@dataclass(frozen=True)
class ExceptionalSet:
    r"""The experiment on :math:`E_{L,\lambda}`: 4 x 3 targets with singular values :math:`(2.5, \sigma_2, 0.3)`.

    ``y_star`` and ``s_jump`` are :math:`y^*(\lambda, L)` and the branch jump; ``loss_gap`` is
    :math:`|f(W_a) - f(W_b)|` at :math:`\sigma_2 = y^*` for balanced factors of both branches, whose
    gradient norms are ``grad_norms`` and whose products differ by ``M_difference`` in spectral norm.
    ``distinct`` maps a relative offset :math:`\delta` of :math:`\sigma_2 = y^*(1+\delta)` to the number
    of distinct global end-to-end matrices multistart found; ``gaps`` are the branch gaps at the offsets
    ``deltas``; ``random_distance`` is each random target's relative distance to the set.
    """

    y_star: float
    s_jump: float
    loss_gap: float
    grad_norms: tuple[float, float]
    distinct: dict[float, int]
    deltas: np.ndarray
    gaps: np.ndarray
    random_distance: np.ndarray
    M_difference: float


@dataclass
class UniqueMinimizerResult:
    r"""Everything the chapter shows, and the verdict.

    ``scalar``: one row per scalar problem (``depth``, ``y``, ``lam``, ``lam_ratio`` :math:`=\lambda/\lambda^*`
    (NaN at L = 1), ``n_global`` starts at the global minimum, ``patterns_hit`` / ``patterns_predicted``
    sign patterns, ``minima`` as (value, starts) pairs of the local minima reached, ``saddles``,
    ``converged`` fraction). ``matrix``: one row per matrix target and depth (``target``, ``depth``,
    ``n_global``, ``starts``, ``best`` value found, ``predicted`` optimum, ``max_deviation``
    :math:`\max|M - M^*|`, ``layer_spread`` of :math:`W_1` over the global minimizers, ``converged``).
    ``deviations``: :math:`\max|M - M^*|` per global minimizer; ``layer_norms``:
    :math:`\|W_l\|_F^2` of the matrix minimizers.
    """

    verdict: Verdict
    scalar: pd.DataFrame = field(default_factory=pd.DataFrame)
    matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    deviations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layer_norms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    exceptional: ExceptionalSet | None = None


def _scalar_part(settings: Settings, result: UniqueMinimizerResult) -> list[Comparison]:
    best, optimum, products, predicted_products, distances = [], [], [], [], []
    hit, predicted_count, value_gaps, saddles, rows = [], [], [], 0, []
    for depth in settings.scalar_depths:
        for y in settings.scalar_targets:
            lams = (0.3, 1.0, 3.0) if depth == 1 else tuple(f * dmf.critical_lambda(y, depth) for f in settings.lam_factors)
            for lam in lams:
                Y = np.array([[y]])
                found = minimize_dmf(Y, depth, lam, n_starts=settings.scalar_starts, seed=depth * 97 + len(best),
                                     scale_range=(0.05, 3.0), chunk_size=settings.chunk)
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
                rows.append(dict(
                    depth=depth, y=y, lam=lam, lam_ratio=lam / dmf.critical_lambda(y, depth) if depth > 1 else np.nan,
                    n_global=int(glob.sum()), patterns_hit=patterns_found, patterns_predicted=len(targets),
                    minima=[(float(v), int(c)) for v, c in zip(values, counts, strict=True)],
                    saddles=int(np.sum(found.converged & ~is_min)), converged=float(found.converged.mean())))
    result.scalar = pd.DataFrame(rows)
    return [
        compare("scalar: best value over starts vs closed-form minimum of g", best, optimum, 1e-10, "rel",
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("scalar: end-to-end product at every global minimizer vs scalar_minimizer",
                np.concatenate(products), np.concatenate(predicted_products), 1e-8, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("scalar: distance of every global minimizer to the predicted sign patterns (|w_l| = t)",
                np.concatenate(distances), 0.0, 1e-8, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("scalar: distinct sign patterns among global minimizers vs 2^(L-1) (1 at the origin)",
                hit, predicted_count, 0, "abs",
                reason="a count: it must match exactly"),
        compare("scalar: every local minimum reached has a predicted value (global, 0, spurious branch)",
                np.concatenate(value_gaps), 0.0, 1e-9, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
    ]


def _matrix_part(settings: Settings, result: UniqueMinimizerResult) -> list[Comparison]:
    best, optimum, deviations, norms, rows = [], [], [], [], []
    lam = settings.lam
    for index, target in enumerate(settings.targets):
        name, width = target.name, target.width
        Y = target_with_spectrum(target.spectrum, target.shape, seed=11 + index)
        for depth in settings.matrix_depths:
            widths = (width,) * (depth - 1)
            found = minimize_dmf(Y, depth, lam, n_starts=settings.matrix_starts, widths=widths,
                                 seed=1000 * index + depth, scale_range=(0.05, 2.0), chunk_size=settings.chunk)
            glob = global_mask(found)
            M_star = dmf.end_to_end_minimizer(Y, depth, lam, widths)
            dev = np.max(np.abs(found.end_to_end[glob] - M_star), axis=(1, 2))
            first = found.weights[0][glob]
            spread = float(np.max(np.linalg.norm(first - first[:1], axis=(1, 2)))) if len(first) > 1 else 0.0
            best.append(found.loss.min())
            optimum.append(dmf.optimal_value(Y, depth, lam, widths))
            deviations.append(dev)
            norms.append(found.layer_norms_sq[glob].ravel())
            rows.append(dict(target=name, depth=depth, n_global=int(glob.sum()), starts=len(found.loss),
                             best=float(found.loss.min()), predicted=optimum[-1], max_deviation=float(dev.max()),
                             layer_spread=spread, converged=float(found.converged.mean())))
    result.matrix = pd.DataFrame(rows)
    result.deviations = np.concatenate(deviations)
    result.layer_norms = np.concatenate(norms)
    return [
        compare("matrix: best value over starts vs closed-form optimum", best, optimum, 1e-10, "rel",
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("matrix: max |M - M*| at every global minimizer found", result.deviations, 0.0, 1e-7, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
    ]


def _exceptional_part(settings: Settings, result: UniqueMinimizerResult) -> list[Comparison]:
    lam, depth = settings.lam, settings.exceptional_depth
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
        found = minimize_dmf(Yd, depth, lam, n_starts=settings.matrix_starts, seed=300 + k, scale_range=(0.05, 2.0))
        counts.append(distinct_matrices(found.end_to_end[global_mask(found, rtol=1e-11)]))
    deltas = np.geomspace(1e-6, 1e-1, 16)
    gaps = []
    for delta in deltas:
        Yd, Won, Woff, _, _ = two_branches(y_star * (1 + delta))
        gaps.append(dmf.loss(Woff, Yd, lam) - dmf.loss(Won, Yd, lam))
    gaps = np.array(gaps)
    small = deltas <= 1e-3
    samples = rng.standard_normal((settings.random_draws, 4, 3)) * 0.6
    sigma = np.linalg.svd(samples, compute_uv=False)
    distance = np.min(np.abs(sigma - y_star), axis=1) / y_star
    result.exceptional = ExceptionalSet(y_star=y_star, s_jump=s_jump, loss_gap=float(loss_gap),
                                        grad_norms=(float(grad_norms[0]), float(grad_norms[1])),
                                        distinct=dict(zip(offsets, counts, strict=True)), deltas=deltas, gaps=gaps,
                                        random_distance=distance, M_difference=float(np.linalg.norm(M_on - M_off, 2)))
    return [
        compare("on E: |f(branch with s_jump) - f(branch with 0)| at sigma_2 = y*", [loss_gap], 0.0, 1e-12, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("on E: gradient norm at both constructed minimizers", grad_norms, 0.0, 1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("on E: ||M_a - M_b||_2 vs (L-2)/(L-1) y*", [result.exceptional.M_difference], s_jump, 1e-10, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("distinct global end-to-end matrices found by multistart at y*, y*(1-1e-3), y*(1+1e-3)",
                counts, [2, 1, 1], 0, "abs",
                reason="a count: it must match exactly"),
        compare("gap between branches / (s_jump |sigma - y*|) for |sigma/y* - 1| <= 1e-3",
                gaps[small] / (s_jump * deltas[small] * y_star), 1.0, 1e-2, "rel",
                reason="the gap is linear in the distance to first order: 1% covers the second-order term at distances up to 1e-3"),
        compare(f"fraction of {settings.random_draws} random 4x3 targets within rel. distance 1e-6 of E",
                [np.mean(distance < 1e-6)], 0.0, 1e-4, "abs",
                reason="a set of measure zero: no random target should come that close (1e-4 allows one in 10,000)"),
    ]


def run(settings: Settings | str = SMALL) -> UniqueMinimizerResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict."""
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    result = UniqueMinimizerResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _scalar_part(settings, result) + _matrix_part(settings, result) + _exceptional_part(settings, result)
    result.verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return result
