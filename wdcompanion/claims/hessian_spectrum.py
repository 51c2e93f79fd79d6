r"""Claim ``dmf-hessian-spectrum``: the Hessian spectrum is the same at every minimizer.

Kamber & Parhi (2026), abstract: the Hessian spectrum is constant across all minimizers of the
regularized deep scalar factorization problem; the title promises the *sharpness* of the matrix
problem's minimizers. Our derivations give the scalar spectrum in closed form
(:func:`wdcompanion.curvature.scalar_hessian_spectrum`) and the whole matrix spectrum, every
eigenvalue with its multiplicity, from blocks of size at most :math:`2L`
(:func:`wdcompanion.curvature.minimizer_spectrum`). Measured here with exact Hessians
(``torch.func``, float64) and Lanczos on Hessian-vector products:

1. at every minimizer found by multistart and at every exact minimizer (all sign patterns), scalar
   problem, depths 1-6, against the closed form; the matrix spectrum of a :math:`1 \times 1` target
   against the same closed form;
2. negative control at :math:`\lambda = \lambda^*`: the zero and non-zero minimizer families have
   different spectra;
3. the matrix problem (every rank, repeated and close singular values, a zero singular value,
   bottleneck and uneven widths): the full spectrum at every global minimizer found from many
   starts against :func:`~wdcompanion.curvature.minimizer_spectrum`; its zero eigenvalues against
   the dimension of the orbit of hidden-layer rotations;
4. the rank-one sharpness rule as a corollary, where it holds and where it fails;
5. at scale, the Lanczos top eigenvalue at a rank-3 minimizer with close singular values;
6. sharpness: gradient descent with step :math:`\eta` near :math:`2/\lambda_{\max}` contracts or
   expands a perturbation along the top eigenvector by :math:`|1 - \eta\lambda_{\max}|` per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse.linalg import eigsh

from .. import curvature, dmf
from ..multistart import minimize_dmf
from .lambda_threshold import target_with_spectrum
from .protocol import Comparison, Verdict, compare
from .settings import ClaimSettings, Part, describe_fields, doc, resolve, verdict_for
from .unique_minimizer import global_mask

CLAIM_ID = "dmf-hessian-spectrum"

__all__ = ["CLAIM_ID", "Settings", "SpectrumTarget", "SMALL", "PAPER", "REGISTERED", "HessianSpectrumResult", "run", "gd_growth_along",
           "gd_growth_factor", "rank_one_rule_holds"]

@describe_fields
@dataclass(frozen=True)
class SpectrumTarget(Part):
    """A generated target matrix and the factorizations (depth, hidden widths) whose spectra are compared."""

    name: str = doc("label in tables")
    spectrum: tuple[float, ...] = doc("singular values (Haar-random singular vectors)")
    shape: tuple[int, int] = doc("(rows, columns)")
    cases: tuple[tuple[int, tuple[int, ...]], ...] = doc("(depth L, hidden widths) pairs, L - 1 widths each")

    def check(self) -> None:
        self._positive("shape")
        if len(self.spectrum) > min(self.shape):
            raise ValueError(f"SpectrumTarget.spectrum: at most min(shape) = {min(self.shape)} values, got {self.spectrum}")
        for depth, widths in self.cases:
            if depth < 2 or len(widths) != depth - 1 or min(widths) < 1:
                raise ValueError(f"SpectrumTarget.cases: depth {depth} needs {depth - 1} widths >= 1, got {widths}")


_MATRIX_SMALL = (
    SpectrumTarget("full rank, widths above the rank", (3.0, 1.2, 0.45), (4, 3), ((2, (5,)), (3, (5, 5)), (4, (5, 5, 5)))),
    SpectrumTarget("repeated singular values", (2.0, 2.0, 0.9), (4, 4), ((3, (4, 4)),)),
    SpectrumTarget("close singular values", (4.0, 3.9), (3, 5), ((3, (3, 3)),)),
    SpectrumTarget("a zero singular value", (2.0, 1.0, 0.0), (3, 4), ((3, (4, 4)),)),
    SpectrumTarget("rank one", (3.0, 0.5, 0.2), (3, 3), ((3, (4, 4)),)),
    SpectrumTarget("rank zero (lambda > lambda*(sigma_1))", (0.3, 0.2), (3, 2), ((3, (3, 3)),)),
    SpectrumTarget("bottleneck", (3.0, 2.0, 1.5), (4, 3), ((2, (2,)), (3, (2, 5)))),
)


@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    depths: tuple[int, ...] = doc("depths L of the scalar problem")
    targets: tuple[float, ...] = doc("scalar targets y")
    lam_factors: tuple[float, ...] = doc("weight decays lambda = factor * lambda*(y, L) (depth 1: 0.3 and 2)")
    starts: int = doc("random starts per scalar setting")
    control_depths: tuple[int, ...] = doc("depths of the negative control at lambda* (y = 1), each >= 3")
    matrix: tuple[SpectrumTarget, ...] = doc("matrix targets and their factorizations")
    lam: float = doc("weight decay of the matrix problem and of the Lanczos experiment")
    matrix_starts: int = doc("random starts per matrix setting")
    rank_one_first: tuple[float, ...] = doc("largest singular values sigma_1 of the rank-one rule's 2x2 targets")
    rank_one_ratios: tuple[float, ...] = doc("sigma_2 = ratio * y*(lambda, L), below the survival threshold")
    rank_one_depths: tuple[int, ...] = doc("depths of the rank-one rule")
    rank_one_lam_factors: tuple[float, ...] = doc("lambda = factor * lambda*(sigma_1, L) of the rank-one rule")
    lanczos_size: int = doc("size n of the n x n target of the Lanczos experiment (rank 3 plus a tail)")
    lanczos_depth: int = doc("its depth (hidden widths n)")
    sharpness: tuple[tuple[float, int, float], ...] = doc("(y, L, lambda) of the edge-of-stability check, scalar problem")

    def check(self) -> None:
        self._positive("starts", "lam_factors", "lam", "matrix_starts", "rank_one_first", "rank_one_ratios",
                       "rank_one_lam_factors")
        if not self.targets or 0.0 in self.targets:
            raise ValueError(f"Settings.targets must be non-empty and non-zero, got {self.targets}")
        if min(self.depths, default=0) < 1 or min(self.control_depths, default=0) < 3:
            raise ValueError("Settings.depths must be >= 1 and control_depths >= 3 (non-empty)")
        if self.lanczos_size < 4 or self.lanczos_depth < 2:
            raise ValueError(f"Settings.lanczos_size must be >= 4 and lanczos_depth >= 2, got {self.lanczos_size}, "
                             f"{self.lanczos_depth}")


_COMMON = dict(control_depths=(3, 4, 5, 6), lam=0.35, rank_one_first=(2.0, 3.0), rank_one_ratios=(0.05, 0.3, 0.6, 0.95),
               rank_one_depths=(2, 3, 4), rank_one_lam_factors=(0.3, 0.7, 0.97), lanczos_depth=3,
               sharpness=((1.0, 3, 0.2), (2.0, 4, 0.5), (1.5, 5, 0.2)))
SMALL = Settings(depths=tuple(range(1, 7)), targets=(1.5, -1.2), lam_factors=(0.5, 2.0), starts=400, matrix=_MATRIX_SMALL,
                 matrix_starts=100, lanczos_size=60, **_COMMON)
PAPER = Settings(depths=tuple(range(1, 9)), targets=(2.5, 1.5, -0.7, -1.2), lam_factors=(0.25, 0.5, 0.9, 1.1, 2.0),
                 starts=4000, matrix_starts=1000, lanczos_size=200, **_COMMON,
                 matrix=_MATRIX_SMALL + (
                     SpectrumTarget("full rank, deeper", (3.0, 1.2, 0.45), (4, 3), ((5, (5, 5, 5, 5)),)),
                     SpectrumTarget("geometric spectrum 10x8", tuple(np.geomspace(3, 0.5, 8)), (10, 8),
                                    ((3, (8, 8)), (4, (8, 8, 8)))),
                     SpectrumTarget("repeated, uneven widths", (2.0, 2.0, 2.0, 0.9), (5, 4), ((3, (6, 3)), (4, (4, 7, 5))))))
REGISTERED = {"small": SMALL, "paper": PAPER}
ZERO_EIGENVALUE = 1e-7


def gd_growth_along(minimizer: list[np.ndarray], Y: np.ndarray, lam: float, direction: np.ndarray, step: float,
                    steps: int = 40, amplitude: float = 1e-7) -> float:
    r"""Per-step growth, under gradient descent, of a perturbation of ``minimizer`` along ``direction``.

    Starts at the minimizer plus ``amplitude`` times the unit vector ``direction`` (flat, in the
    order of :func:`wdcompanion.curvature.hessian`) and returns the geometric-mean ratio of
    successive distances to the minimizer, measured by running
    :func:`wdcompanion.dmf.gradient_descent` (the Hessian's eigenvalue is not used).
    """
    direction = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    offsets = np.cumsum([0] + [w.size for w in minimizer])
    layers = [w + amplitude * direction[offsets[l]:offsets[l + 1]].reshape(w.shape) for l, w in enumerate(minimizer)]
    distances = []
    for _ in range(steps):
        distances.append(np.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(layers, minimizer, strict=True))))
        layers, _ = dmf.gradient_descent(layers, Y, lam, lr=step, steps=1)
    return float(np.exp(np.mean(np.diff(np.log(distances)))))


def gd_growth_factor(y: float, depth: int, lam: float, step: float, steps: int = 40, amplitude: float = 1e-7) -> float:
    r"""Per-step growth of a perturbation along the top Hessian eigenvector, scalar problem (:func:`gd_growth_along`).

    At the all-positive scalar minimizer; the top eigenvector comes from the exact (dense) Hessian.
    """
    t = abs(float(dmf.scalar_minimizer(y, depth, lam))) ** (1 / depth)
    minimizer = [np.array([[np.sign(y) * t if l == 0 else t]]) for l in range(depth)]
    top = np.linalg.eigh(curvature.hessian(minimizer, np.array([[y]]), lam))[1][:, -1]
    return gd_growth_along(minimizer, np.array([[y]]), lam, top, step, steps, amplitude)


@dataclass(frozen=True)
class LargeProblem:
    r"""The Lanczos check on a problem too large for a dense Hessian.

    ``parameters`` :math:`N` and ``depth`` :math:`L` of the factorization; ``top`` is Lanczos's
    :math:`\lambda_{\max}` from Hessian-vector products, ``exact`` the one of ``minimizer_spectrum``, whose
    largest eigenvalue comes from the pair of singular directions ``top_pair`` (0-based);
    ``rule`` is the scalar value :math:`\lambda_{\max}` of :math:`\sigma_1`; ``blocks`` the number of distinct
    blocks; ``spectrum_s`` and ``lanczos_s`` the seconds each took; ``gd`` one row per step size
    :math:`\eta = \text{factor} \cdot 2/\lambda_{\max}` (``factor``, ``step``, measured ``growth``,
    ``predicted`` :math:`|1 - \eta\lambda_{\max}|`).
    """

    parameters: int
    depth: int
    top: float
    exact: float
    top_pair: tuple[int, int]
    rule: float
    blocks: int
    spectrum_s: float
    lanczos_s: float
    gd: pd.DataFrame


@dataclass
class HessianSpectrumResult:
    r"""Everything the chapter shows, and the verdict; each table has one row per case.

    ``scalar``: (``depth``, ``y``, ``lam``, ``minimizers`` found, sign ``patterns``, ``predicted``
    spectrum, the ``measured`` spectra (one row per minimizer found), largest ``spread`` of an
    eigenvalue over the minimizers found). ``control``: at
    :math:`\lambda^*` (``depth``, ``lam``, the spectra at the ``nonzero`` and the ``zero`` minimizer).
    ``matrix``: (``name``, ``target`` singular values, ``depth``, ``widths``, ``rank``, ``minimizers``,
    ``parameters``, ``zeros`` eigenvalues, ``orbit`` dimension, ``top`` eigenvalue and its ``top_pair``,
    ``distinct`` eigenvalues, ``blocks``, ``largest_block``, max ``error`` vs the exact Hessian).
    ``rank_one``: (``depth``, ``sigma_1``, ``lam``, ``sigma_2``, exact ``top``, scalar ``rule``,
    whether the condition says it ``holds``). ``sharpness``: (``y``, ``depth``, ``lam``, ``top``,
    ``step``, ``factor``, measured ``growth`` per step).
    """

    verdict: Verdict
    scalar: pd.DataFrame = field(default_factory=pd.DataFrame)
    control: pd.DataFrame = field(default_factory=pd.DataFrame)
    matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    rank_one: pd.DataFrame = field(default_factory=pd.DataFrame)
    large: LargeProblem | None = None
    sharpness: pd.DataFrame = field(default_factory=pd.DataFrame)


def _scalar(settings: Settings, result) -> list[Comparison]:
    rows = []
    numeric, predicted_numeric, exact, predicted_exact, one_by_one, closed = [], [], [], [], [], []
    for depth in settings.depths:
        for y in settings.targets:
            lams = (0.3, 2.0) if depth == 1 else tuple(f * dmf.critical_lambda(y, depth) for f in settings.lam_factors)
            for lam in lams:
                Y = np.array([[y]])
                predicted = curvature.scalar_hessian_spectrum(y, depth, lam)
                found = minimize_dmf(Y, depth, lam, n_starts=settings.starts, seed=7 * depth + len(numeric))
                glob = global_mask(found)
                spectra = np.linalg.eigvalsh(curvature.hessian_batch([w[glob] for w in found.weights], Y, lam))
                points = dmf.scalar_parameter_minimizers(y, depth, lam)
                exact_spectra = np.array([np.linalg.eigvalsh(curvature.hessian([np.array([[v]]) for v in p], Y, lam))
                                          for p in points])
                numeric.append(spectra.ravel())
                predicted_numeric.append(np.tile(predicted, len(spectra)))
                exact.append(exact_spectra.ravel())
                predicted_exact.append(np.tile(predicted, len(points)))
                one_by_one.append(_aligned(curvature.minimizer_spectrum(Y, depth, lam, (1,) * (depth - 1)).full(), depth))
                closed.append(predicted)
                rows.append(dict(depth=depth, y=y, lam=lam, minimizers=len(spectra), patterns=len(points),
                                 predicted=predicted, measured=spectra, spread=float(np.ptp(spectra, axis=0).max())))
    result.scalar = pd.DataFrame(rows)
    return [
        compare("scalar: Hessian spectra at every minimizer found by multistart vs closed form",
                np.concatenate(numeric), np.concatenate(predicted_numeric), 1e-6, "abs", count_varies=True,
                reason="minimizers found are accurate to about 1e-10, eigenvalues move at most as much (Weyl): 1e-6 is a wide margin"),
        compare("scalar: Hessian spectra at every exact minimizer (all sign patterns) vs closed form",
                np.concatenate(exact), np.concatenate(predicted_exact), 1e-8, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("scalar: minimizer_spectrum of a 1x1 target (widths 1) vs the scalar closed form",
                np.concatenate(one_by_one), np.concatenate(closed), 1e-12, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
    ]


def _control(settings: Settings, result) -> list[Comparison]:
    rows = []
    measured_on, predicted_on, measured_off, predicted_off, top_gap, predicted_gap = [], [], [], [], [], []
    for depth in settings.control_depths:
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
        rows.append(dict(depth=depth, lam=lam, nonzero=spec_nonzero, zero=spec_zero))
    result.control = pd.DataFrame(rows)
    return [
        compare("at lambda*: spectrum of the non-zero minimizer vs {2 lam* (x (L-1)), (L-1)(L-2) lam*}",
                np.concatenate(measured_on), np.concatenate(predicted_on), 1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("at lambda*: spectrum of the zero minimizer vs {lam* (x L)}", np.concatenate(measured_off),
                np.concatenate(predicted_off), 1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("at lambda*: the two families' top eigenvalues differ by ((L-1)(L-2) - 1) lam*", top_gap, predicted_gap,
                1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
    ]


def _aligned(predicted: np.ndarray, size: int) -> np.ndarray:
    """``predicted`` if it has ``size`` entries, else NaN (a wrong count of eigenvalues fails the comparison)."""
    return predicted if predicted.size == size else np.full(size, np.nan)


def _matrix(settings: Settings, result) -> list[Comparison]:
    rows = []
    found_all, predicted_found, exact_all, predicted_exact = [], [], [], []
    zero_counts, orbit_dims, predicted_zeros, predicted_orbit = [], [], [], []
    lam = settings.lam
    for index, target in enumerate(settings.matrix):
        name, spectrum, shape, cases = target.name, target.spectrum, target.shape, dict(target.cases)
        Y = target_with_spectrum(spectrum, shape, seed=31 + index)
        for depth, widths in cases.items():
            exact_spectrum = curvature.minimizer_spectrum(Y, depth, lam, widths)
            M = dmf.end_to_end_minimizer(Y, depth, lam, widths)
            balanced = np.linalg.eigvalsh(curvature.hessian(dmf.balanced_factors(M, depth, widths), Y, lam))
            found = minimize_dmf(Y, depth, lam, n_starts=settings.matrix_starts, widths=widths, seed=50 + depth + 7 * index)
            glob = global_mask(found)
            spectra = np.linalg.eigvalsh(curvature.hessian_batch([w[glob] for w in found.weights], Y, lam))
            rank = int(np.linalg.matrix_rank(M, tol=1e-9))
            zeros = np.sum(np.abs(spectra) < ZERO_EIGENVALUE, axis=1)
            orbit = curvature.orbit_dimension(widths, rank)
            predicted = _aligned(exact_spectrum.full(), spectra.shape[1])
            found_all.append(spectra.ravel())
            predicted_found.append(np.tile(predicted, len(spectra)))
            exact_all.append(balanced)
            predicted_exact.append(_aligned(exact_spectrum.full(), balanced.size))
            zero_counts.append(zeros)
            orbit_dims.append(np.full(len(zeros), orbit))
            predicted_zeros.append(exact_spectrum.count(-ZERO_EIGENVALUE, ZERO_EIGENVALUE))
            predicted_orbit.append(orbit)
            errors = np.abs(spectra - predicted).max() if np.all(np.isfinite(predicted)) else np.inf
            rows.append(dict(name=name, target=spectrum, depth=depth, widths=widths, rank=rank,
                             minimizers=len(spectra), parameters=len(balanced), zeros=int(zeros[0]),
                             orbit=orbit, top=exact_spectrum.top, top_pair=exact_spectrum.top_pair,
                             distinct=len(exact_spectrum.values), blocks=exact_spectrum.blocks,
                             largest_block=exact_spectrum.largest_block, error=float(errors)))
    result.matrix = pd.DataFrame(rows)
    return [
        compare("matrix: every eigenvalue of the exact Hessian at every global minimizer found vs minimizer_spectrum",
                np.concatenate(found_all), np.concatenate(predicted_found), 1e-8, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("matrix: every eigenvalue of the exact Hessian at the balanced minimizer vs minimizer_spectrum",
                np.concatenate(exact_all), np.concatenate(predicted_exact), 1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("matrix: zero eigenvalues (|ev| < 1e-7) of the exact Hessians vs dimension of the hidden-rotation orbit",
                np.concatenate(zero_counts), np.concatenate(orbit_dims), 0, "abs", count_varies=True,
                reason="a count: it must match exactly"),
        compare("matrix: zero eigenvalues of minimizer_spectrum vs dimension of the hidden-rotation orbit",
                predicted_zeros, predicted_orbit, 0, "abs",
                reason="a count: it must match exactly"),
    ]


def rank_one_rule_holds(Y: np.ndarray, depth: int, lam: float) -> bool:
    r"""The corollary's condition for the top eigenvalue at a rank-one minimizer to be the scalar one of :math:`\sigma_1`.

    :math:`\sigma_2 \le (L-1)\,\lvert 2 s_1 - \sigma_1\rvert` (:math:`L \ge 2`); see the
    hessian-spectrum chapter.
    """
    sigma = np.linalg.svd(Y, compute_uv=False)
    s_1 = abs(float(dmf.scalar_minimizer(sigma[0], depth, lam)))
    sigma_2 = float(sigma[1]) if sigma.size > 1 else 0.0
    return bool(sigma_2 <= (depth - 1) * abs(2 * s_1 - sigma[0]))


def _rank_one(settings: Settings, result) -> list[Comparison]:
    rows = []
    measured, predicted, rule_measured, rule_predicted = [], [], [], []
    for depth in settings.rank_one_depths:
        for sigma_1 in settings.rank_one_first:
            for factor in settings.rank_one_lam_factors:
                lam = factor * dmf.critical_lambda(sigma_1, depth)
                y_star = dmf.critical_target(lam, depth)
                for ratio in settings.rank_one_ratios:  # sigma_2 below the survival threshold y*
                    Y = target_with_spectrum((sigma_1, ratio * y_star, 0.1 * ratio * y_star), (3, 3), seed=3)
                    widths = (4,) * (depth - 1)
                    M = dmf.end_to_end_minimizer(Y, depth, lam, widths)
                    top = float(np.linalg.eigvalsh(curvature.hessian(dmf.balanced_factors(M, depth, widths), Y, lam))[-1])
                    rule = float(curvature.scalar_hessian_spectrum(sigma_1, depth, lam)[-1])
                    measured.append(top)
                    predicted.append(curvature.rank_one_top_eigenvalue(Y, depth, lam, widths))
                    rule_measured.append(float(abs(top - rule) <= 1e-9 * top))
                    rule_predicted.append(float(rank_one_rule_holds(Y, depth, lam)))
                    rows.append(dict(depth=depth, sigma_1=sigma_1, lam=lam, sigma_2=ratio * y_star,
                                     top=top, rule=rule, holds=bool(rule_predicted[-1])))
    result.rank_one = pd.DataFrame(rows)
    return [
        compare("rank one: top eigenvalue of the exact Hessian vs the corollary's closed form",
                measured, predicted, 1e-10, "abs",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("rank one: the scalar rule is exact (1) or not (0) vs the corollary's condition",
                rule_measured, rule_predicted, 0, "abs",
                reason="a count: it must match exactly"),
    ]


def _lanczos(settings: Settings, result) -> list[Comparison]:
    size, depth, lam = settings.lanczos_size, settings.lanczos_depth, settings.lam
    spectrum = np.concatenate([[4.0, 3.9, 3.8], np.geomspace(0.8, 0.05, size - 3)])  # rank 3, close top values
    Y = target_with_spectrum(spectrum, (size, size), seed=4)
    widths = (size,) * (depth - 1)
    layers = dmf.balanced_factors(dmf.end_to_end_minimizer(Y, depth, lam, widths), depth, widths)
    parameters = sum(w.size for w in layers)
    start = time.perf_counter()
    exact = curvature.minimizer_spectrum(Y, depth, lam, widths)
    spectrum_s = time.perf_counter() - start
    start = time.perf_counter()
    values, vectors = eigsh(curvature.hessian_operator(layers, Y, lam), k=1, which="LA", tol=1e-10,
                            v0=np.ones(parameters))
    lanczos_s = time.perf_counter() - start
    top = float(values[0])
    rule = float(curvature.scalar_hessian_spectrum(spectrum[0], depth, lam)[-1])
    growth, predicted_growth, gd = [], [], []
    for factor in (0.95, 1.05):  # gradient descent at the edge of stability, along the Lanczos eigenvector
        step = factor * 2 / exact.top
        growth.append(gd_growth_along(layers, Y, lam, vectors[:, 0], step))
        predicted_growth.append(abs(1 - step * exact.top))
        gd.append(dict(factor=factor, step=step, growth=growth[-1], predicted=predicted_growth[-1]))
    result.large = LargeProblem(parameters=parameters, depth=depth, top=top, exact=exact.top,
                                top_pair=tuple(int(i) for i in exact.top_pair), rule=rule, blocks=int(exact.blocks),
                                spectrum_s=spectrum_s, lanczos_s=lanczos_s, gd=pd.DataFrame(gd))
    return [compare(f"Lanczos top eigenvalue (HVPs, {parameters} parameters, rank 3) vs minimizer_spectrum",
                    [top], exact.top, 1e-8, "rel",
                reason="Lanczos (eigsh) converges to tol 1e-10; 1e-8 relative leaves room for HVP rounding"),
            compare(f"gradient descent at {parameters} parameters: per-step growth along the top eigenvector vs |1 - eta lam_max|",
                    growth, predicted_growth, 1e-3, "rel",
                reason="the growth is a geometric mean over 40 steps from a 1e-7 perturbation, where higher-order terms enter")]


def _sharpness(settings: Settings, result) -> list[Comparison]:
    rows = []
    measured, predicted = [], []
    for y, depth, lam in settings.sharpness:
        top = curvature.scalar_hessian_spectrum(y, depth, lam)[-1]
        for factor in (0.95, 1.05):
            step = factor * 2 / top
            growth = gd_growth_factor(y, depth, lam, step)
            measured.append(growth)
            predicted.append(abs(1 - step * top))
            rows.append(dict(y=y, depth=depth, lam=lam, top=top, step=step, factor=factor, growth=growth))
    result.sharpness = pd.DataFrame(rows)
    return [compare("gradient descent near a minimizer: per-step growth along the top eigenvector vs |1 - eta lam_max|",
                    measured, predicted, 1e-3, "rel",
                reason="the growth is a geometric mean over 40 steps from a 1e-7 perturbation, where higher-order terms enter")]


def run(settings: Settings | str = SMALL) -> HessianSpectrumResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict."""
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    result = HessianSpectrumResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _scalar(settings, result) + _control(settings, result) + _matrix(settings, result)
    comparisons += _rank_one(settings, result) + _lanczos(settings, result) + _sharpness(settings, result)
    result.verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return result
