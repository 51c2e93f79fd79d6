r"""Claim ``dmf-lambda-threshold``: a critical weight decay collapses the minimizer to zero.

Kamber & Parhi (2026), abstract: there is a critical threshold for the regularization parameter
above which the unique end-to-end minimizer collapses to zero. The closed forms checked here are
this companion's derivations (:mod:`wdcompanion.dmf`); the *measurements* never use them:

1. :math:`\lambda^*` by a bracketing root of :math:`g(s_2(\lambda)) - g(0)`, with :math:`s_2` the
   larger root of :math:`\varphi(s) = (|y| - s)s^{1-2/L} = \lambda` (stationarity of ``g``);
   for :math:`L = 2` ``g`` is convex and :math:`\lambda^* = \sup_s \varphi(s)` (numerical
   maximization);
2. :math:`\lambda_{\mathrm{fold}} = \max_s \varphi(s)` by bounded scalar maximization;
3. the global minimizer of ``g`` by comparing every numerically found stationary point with 0;
4. the matrix problem, minimized directly in the layered parameters from many random starts
   (:mod:`wdcompanion.multistart`) just below and just above :math:`\lambda^*(\sigma_{\max})`;
5. the jump of the numerically found minimizer across :math:`\lambda^*`;
6. plain gradient descent from a small initialization, which stays at the zero critical point;
7. an independent anchor from the sparse-coding literature: the scalar problem is the proximal
   problem of the :math:`\ell_p` quasi-norm, :math:`\min_s \frac12(s-y)^2 + \mu\lvert s\rvert^p` with
   :math:`\mu = \lambda L/2`, :math:`p = 2/L`, whose threshold and jump Zuo et al. (ICCV 2013) give
   in closed form (generalized soft-thresholding, :func:`gst_threshold`, implemented here from the
   published formulas, and their iterative shrinkage map :func:`gst_shrink`), with the
   half-thresholding threshold of Xu et al. (IEEE TNNLS 2012) for :math:`p = 1/2`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import ortho_group

from .. import dmf
from ..multistart import cluster_values, minimize_dmf
from .protocol import Comparison, Verdict, compare
from .settings import ClaimSettings, describe_fields, doc, resolve, verdict_for

CLAIM_ID = "dmf-lambda-threshold"

__all__ = [
    "CLAIM_ID",
    "Settings",
    "SMALL",
    "PAPER",
    "REGISTERED",
    "LambdaThresholdResult",
    "numerical_fold",
    "numerical_threshold",
    "numerical_scalar_minimizer",
    "gst_threshold",
    "gst_jump",
    "gst_shrink",
    "half_threshold",
    "target_with_spectrum",
    "run",
]


def _phi(s: float, a: float, depth: int) -> float:
    """The weight decay at which ``s > 0`` is stationary for ``g``: (|y| - s) s^(1 - 2/L)."""
    return (a - s) * s ** (1 - 2 / depth)


def numerical_fold(y: float, depth: int) -> tuple[float, float]:
    r"""``(lambda_fold, s_fold)``: the maximum of :math:`\varphi` on :math:`(0, |y|)` and its location."""
    a = abs(float(y))
    res = minimize_scalar(lambda s: -_phi(s, a, depth), bounds=(0.0, a), method="bounded",
                          options={"xatol": 1e-14 * a})
    return -float(res.fun), float(res.x)


def _upper_root(lam: float, a: float, depth: int, s_fold: float) -> float:
    """The larger root of phi(s) = lam on [s_fold, |y|] (phi decreases there)."""
    return brentq(lambda s: _phi(s, a, depth) - lam, s_fold, a, xtol=1e-15 * a, rtol=1e-15, maxiter=500)


def numerical_threshold(y: float, depth: int) -> float:
    r"""Critical weight decay found without the closed form (see the module docstring)."""
    a = abs(float(y))
    lam_fold, s_fold = numerical_fold(a, depth)
    if depth == 2:
        return lam_fold

    def gap(lam: float) -> float:  # g(s_2) - g(0): negative while the non-zero branch wins
        s2 = _upper_root(lam, a, depth, s_fold)
        return float(dmf.reduced_objective(s2, a, depth, lam)) - 0.5 * a * a

    return brentq(gap, 1e-8 * lam_fold, lam_fold * (1 - 1e-9), xtol=1e-16, rtol=1e-15, maxiter=500)


def numerical_scalar_minimizer(y: float, depth: int, lam: float) -> float:
    r"""Global minimizer of :math:`g` by comparing 0 with the numerically found non-zero stationary point."""
    a, sign = abs(float(y)), np.sign(y)
    if a == 0:
        return 0.0
    if depth == 1:
        return float(sign * brentq(lambda s: s - a + lam * s, 0.0, a, xtol=1e-16, rtol=1e-15))
    lam_fold, s_fold = numerical_fold(a, depth)
    if lam >= lam_fold:
        return 0.0
    s2 = _upper_root(lam, a, depth, s_fold)
    if float(dmf.reduced_objective(s2, a, depth, lam)) < 0.5 * a * a:
        return float(sign * s2)
    return 0.0


def target_with_spectrum(singular_values, shape: tuple[int, int], seed: int) -> np.ndarray:
    """A target matrix with the given singular values and Haar-random singular vectors."""
    rows, cols = shape
    rng = np.random.default_rng(seed)
    U = ortho_group.rvs(rows, random_state=rng)[:, : len(singular_values)]
    V = ortho_group.rvs(cols, random_state=rng)[:, : len(singular_values)]
    return (U * np.asarray(singular_values, dtype=np.float64)) @ V.T


def gst_jump(mu: float, p: float) -> float:
    r"""Zuo et al. (2013): the smallest non-zero output :math:`(2\mu(1-p))^{1/(2-p)}` of generalized soft-thresholding."""
    return (2 * mu * (1 - p)) ** (1 / (2 - p))


def gst_threshold(mu: float, p: float) -> float:
    r"""Zuo et al. (2013): the threshold of :math:`\min_x \frac12(x-y)^2 + \mu\lvert x\rvert^p`, :math:`0 < p < 1`.

    :math:`\tau = (2\mu(1-p))^{1/(2-p)} + \mu p\,(2\mu(1-p))^{(p-1)/(2-p)}`: the minimizer is 0 for
    :math:`\lvert y\rvert < \tau`, non-zero above. Written from the published formula, not from
    :mod:`wdcompanion.dmf`.
    """
    if not 0 < p < 1:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    jump = gst_jump(mu, p)
    return jump + mu * p * jump ** (p - 1)


def gst_shrink(y: float, mu: float, p: float, iterations: int = 60) -> float:
    r"""Zuo et al.'s generalized soft-thresholding of ``y``: 0 below :func:`gst_threshold`, else the fixed point.

    Above the threshold, :math:`x \leftarrow \lvert y\rvert - \mu p\, x^{p-1}` from
    :math:`x = \lvert y\rvert`, with the sign of ``y``.
    """
    a = abs(float(y))
    if a <= gst_threshold(mu, p):
        return 0.0
    x = a
    for _ in range(iterations):
        x = a - mu * p * x ** (p - 1)
    return float(np.sign(y) * x)


def half_threshold(lam_prime: float) -> float:
    r"""Xu et al. (2012): the half-thresholding threshold :math:`\frac{\sqrt[3]{54}}{4}\lambda'^{2/3}`.

    For :math:`\min_x (x-y)^2 + \lambda'\lvert x\rvert^{1/2}`: the minimizer is 0 below it.
    """
    return 54 ** (1 / 3) / 4 * lam_prime ** (2 / 3)


def _literature(settings: Settings) -> tuple[list[Comparison], pd.DataFrame]:
    rows, thresholds, ours, jumps, our_jumps, shrunk, our_minimizers = [], [], [], [], [], [], []
    for depth in range(3, 9):
        p = 2 / depth
        for lam in settings.anchor_lams:
            mu = lam * depth / 2  # g(s) = (s - y)^2 / 2 + (lam L / 2) |s|^(2/L)
            tau, y_star = gst_threshold(mu, p), dmf.critical_target(lam, depth)
            thresholds.append(tau)
            ours.append(y_star)
            jumps.append(gst_jump(mu, p))
            our_jumps.append(float(dmf.threshold_jump(y_star, depth)))
            rows.append(dict(depth=depth, lam=lam, gst=tau, ours=y_star, gst_jump=jumps[-1], jump=our_jumps[-1]))
            for factor in settings.anchor_factors:
                y = factor * y_star
                shrunk.append(gst_shrink(y, mu, p))
                our_minimizers.append(float(dmf.scalar_minimizer(y, depth, lam)))
    half = [half_threshold(4 * lam) for lam in settings.anchor_lams]  # (x - y)^2 + 4 lam |x|^(1/2) = 2 g, L = 4
    return [
        # ours as the measurement, the literature as the reference: a broken formula of ours fails, never divides by 0
        compare("y*(lam, L) vs Zuo et al. (2013) generalized soft-thresholding threshold (mu = lam L/2, p = 2/L), L = 3-8",
                ours, thresholds, 1e-12, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("(L-2)/(L-1) y* vs Zuo et al. (2013) jump (2 mu (1-p))^(1/(2-p))", our_jumps, jumps, 1e-12, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
        compare("scalar_minimizer vs Zuo et al. (2013) iterative shrinkage map, y on both sides of y*",
                our_minimizers, shrunk, 1e-12, "abs",
                reason="the published fixed-point iteration, run 60 times, converges to rounding"),
        compare("y*(lam, 4) vs Xu et al. (2012) half-thresholding threshold (lam' = 4 lam)",
                [dmf.critical_target(lam, 4) for lam in settings.anchor_lams], half, 1e-12, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding"),
    ], pd.DataFrame(rows)


@dataclass(frozen=True)
class LambdaThresholdResult:
    r"""Everything the chapter shows, and the verdict; each table has one row per case.

    ``thresholds``: (``depth``, ``y``, ``closed_form`` and ``numerical`` :math:`\lambda^*`).
    ``collapse``: the matrix problem just below and above :math:`\lambda^*(\sigma_{\max})` (``depth``,
    ``side``, ``lam``, ``best_loss`` found, ``predicted_loss``, ``norm_found`` and ``norm_predicted``
    :math:`\|M\|_2`, max ``deviation`` from :math:`M^*`, the local ``minima`` reached as (value, starts),
    ``converged`` fraction). ``jumps``: (``depth``, ``y``, ``measured`` and ``predicted`` jump of the
    minimizer across :math:`\lambda^*`). ``gd_histories``: per initialization scale, gradient descent's
    (``step``, ``loss``, ``norm`` :math:`\|M\|_2`) on ``target`` at depth ``target_depth``.
    ``literature``: (``depth``, ``lam``, ``ours`` :math:`y^*` and Zuo et al.'s threshold ``gst``, our
    ``jump`` and theirs, ``gst_jump``).
    """

    verdict: Verdict
    thresholds: pd.DataFrame
    collapse: pd.DataFrame
    jumps: pd.DataFrame
    gd_histories: dict[float, pd.DataFrame]
    target: np.ndarray
    target_depth: int
    literature: pd.DataFrame = field(default_factory=pd.DataFrame)


@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    targets: tuple[float, ...] = doc("scalar targets y of the threshold, fold and jump checks (depths 2-8 each)")
    minimizer_depths: tuple[int, ...] = doc("depths L of the scalar global-minimizer check")
    minimizer_targets: tuple[float, ...] = doc("targets y of the scalar global-minimizer check")
    minimizer_lams: tuple[float, ...] = doc("weight decays lambda of the scalar global-minimizer check")
    spectrum: tuple[float, ...] = doc("singular values of the matrix target of the collapse experiment")
    shape: tuple[int, int] = doc("shape (rows, columns) of that target")
    matrix_depths: tuple[int, ...] = doc("depths of the layered matrix problem, minimized just below and above lambda*")
    widths_extra: int = doc("hidden width = min(shape) + widths_extra")
    starts: int = doc("random starts of the layered problem per depth and side")
    anchor_lams: tuple[float, ...] = doc("weight decays of the comparison with Zuo et al. and Xu et al.")
    anchor_factors: tuple[float, ...] = doc("targets y = factor * y*(lambda, L) of the shrinkage-map comparison")
    gd_spectrum: tuple[float, ...] = doc("singular values of the gradient-descent experiment's target")
    gd_shape: tuple[int, int] = doc("its shape")
    gd_depth: int = doc("depth of the gradient-descent experiment (hidden width 5)")
    gd_lam: float = doc("its weight decay (below lambda*(sigma_max), so f* < f(0))")
    gd_init_scales: tuple[float, float, float] = doc("initialization scales: the first stays at 0, the others reach f*")
    gd_lr: float = doc("gradient-descent step size")
    gd_steps: int = doc("gradient-descent steps")

    def check(self) -> None:
        self._positive("targets", "starts", "anchor_lams", "anchor_factors", "gd_init_scales", "gd_lr", "gd_steps",
                       "gd_lam", "spectrum", "gd_spectrum", "widths_extra")
        if min(self.minimizer_depths, default=0) < 1 or min(self.matrix_depths, default=0) < 2 or self.gd_depth < 2:
            raise ValueError("Settings.minimizer_depths must be >= 1, matrix_depths and gd_depth >= 2")
        for name in ("spectrum", "gd_spectrum"):
            shape = self.shape if name == "spectrum" else self.gd_shape
            if len(getattr(self, name)) > min(shape):
                raise ValueError(f"Settings.{name} has more singular values than min(shape) = {min(shape)}")


SMALL = Settings(targets=(0.3, 0.7, 1.0, 1.7, 3.0, 10.0), minimizer_depths=tuple(range(1, 7)),
                 minimizer_targets=tuple(np.linspace(-3, 3, 13)), minimizer_lams=(0.05, 0.2, 0.5, 1.0),
                 spectrum=(3.0, 1.2, 0.45), shape=(4, 3), matrix_depths=(2, 3, 4), widths_extra=2, starts=200,
                 anchor_lams=(0.05, 0.35, 1.0), anchor_factors=(0.5, 0.999, 1.001, 1.3, 2.0),
                 gd_spectrum=(3.0, 1.2, 0.45), gd_shape=(4, 3), gd_depth=3, gd_lam=0.35, gd_init_scales=(0.02, 0.3, 1.0),
                 gd_lr=0.02, gd_steps=6000)
PAPER = Settings(targets=tuple(np.geomspace(0.05, 50, 24)), minimizer_depths=tuple(range(1, 9)),
                 minimizer_targets=tuple(np.linspace(-5, 5, 41)), minimizer_lams=(0.01, 0.05, 0.2, 0.5, 1.0, 2.0),
                 spectrum=(5.0, 3.5, 2.2, 1.6, 1.0, 0.7, 0.4, 0.2, 0.1), shape=(12, 9), matrix_depths=(2, 3, 4, 5, 6),
                 widths_extra=3, starts=2000, anchor_lams=tuple(np.geomspace(0.01, 3.0, 12)),
                 anchor_factors=tuple(np.linspace(0.55, 2.05, 16)),
                 gd_spectrum=(3.0, 1.2, 0.45), gd_shape=(4, 3), gd_depth=3, gd_lam=0.35, gd_init_scales=(0.02, 0.3, 1.0),
                 gd_lr=0.02, gd_steps=6000)
REGISTERED = {"small": SMALL, "paper": PAPER}


def _threshold_comparisons(targets) -> tuple[list[Comparison], pd.DataFrame]:
    rows = pd.DataFrame([(L, y, dmf.critical_lambda(y, L), numerical_threshold(y, L)) for L in range(2, 9) for y in targets],
                        columns=["depth", "y", "closed_form", "numerical"])
    folds = np.array([(dmf.fold_lambda(y, L), numerical_fold(y, L)[0]) for L in range(3, 9) for y in targets])
    return [
        compare("lambda* closed form vs bracketing root of g(s2) - g(0), depths 2-8",
                rows.numerical, rows.closed_form, 1e-10, "rel",
                reason="Brent's method to 1e-15 relative"),
        compare("fold lambda closed form vs numerical max of phi, depths 3-8", folds[:, 1], folds[:, 0], 1e-10, "rel",
                reason="bounded scalar maximization to 1e-14 relative in s, quadratic near the maximum"),
    ], rows


def _minimizer_comparison(depths, targets, lams) -> Comparison:
    measured, predicted = [], []
    for L in depths:
        for y in targets:
            for lam in lams:
                if L >= 2 and abs(lam / max(dmf.critical_lambda(y, L), 1e-300) - 1) < 1e-6:
                    continue  # on the exceptional set both 0 and s2 are global
                measured.append(numerical_scalar_minimizer(y, L, lam))
                predicted.append(dmf.scalar_minimizer(y, L, lam))
    return compare("global minimizer of g: closed form vs numerical stationary points",
                   measured, predicted, 1e-9, "abs",
                reason="the numerical minimizer comes from Brent's method to 1e-15 relative; 1e-9 absolute leaves a wide margin")


def _collapse(settings: Settings) -> tuple[list[Comparison], pd.DataFrame, np.ndarray]:
    Y = target_with_spectrum(settings.spectrum, settings.shape, seed=7)
    sigma_max = float(np.linalg.svd(Y, compute_uv=False)[0])
    rows = []
    for L in settings.matrix_depths:
        widths = (min(Y.shape) + settings.widths_extra,) * (L - 1)
        for side, factor in (("below", 0.98), ("above", 1.02)):
            lam = factor * dmf.critical_lambda(sigma_max, L)
            found = minimize_dmf(Y, L, lam, n_starts=settings.starts, widths=widths, seed=100 + L,
                                 scale_range=(0.02, 3.0))
            best = found.best()
            M_pred = dmf.end_to_end_minimizer(Y, L, lam, widths)
            rows.append(dict(depth=L, side=side, lam=lam, best_loss=float(found.loss[best]),
                             predicted_loss=dmf.optimal_value(Y, L, lam, widths),
                             norm_found=float(np.linalg.norm(found.end_to_end[best], 2)),
                             norm_predicted=float(np.linalg.norm(M_pred, 2)),
                             deviation=float(np.max(np.abs(found.end_to_end[best] - M_pred))),
                             minima=cluster_values(found.loss, rtol=1e-8),
                             converged=float(np.mean(found.converged))))
    rows = pd.DataFrame(rows)
    comparisons = [
        compare("best layered loss over all starts vs closed-form optimum (just below/above lambda*)",
                rows.best_loss, rows.predicted_loss, 1e-10, "rel",
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("||M_found - M*||_max at the best start (M* = 0 above lambda*, non-zero below)",
                rows.deviation, 0.0, 1e-7, "abs",
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("spectral norm of the best M vs predicted s*(sigma_max)",
                rows.norm_found, rows.norm_predicted, 1e-7, "abs",
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
    ]
    return comparisons, rows, Y


def _jump(targets) -> tuple[Comparison, pd.DataFrame]:
    eps = 1e-9
    rows = []
    for L in range(2, 9):
        for y in targets[:3]:
            lam_star = dmf.critical_lambda(y, L)
            below = numerical_scalar_minimizer(y, L, lam_star * (1 - eps))
            above = numerical_scalar_minimizer(y, L, lam_star * (1 + eps))
            rows.append((L, y, abs(below - above), dmf.threshold_jump(y, L)))
    rows = pd.DataFrame(rows, columns=["depth", "y", "measured", "predicted"])
    return compare("jump of the numerical minimizer across lambda*(1 -/+ 1e-9) vs (L-2)|y|/(L-1)",
                   rows.measured, rows.predicted, 1e-6, "abs",
                reason="the minimizers are taken at lambda* (1 -/+ 1e-9), so the jump is off by about 1e-9 times its slope"), rows


def _gd_trap(Y: np.ndarray, settings: Settings) -> tuple[Comparison, dict[float, pd.DataFrame]]:
    rng = np.random.default_rng(3)
    depth, lam = settings.gd_depth, settings.gd_lam
    dims = (Y.shape[1], *(5,) * (depth - 1), Y.shape[0])
    histories, finals = {}, []
    for scale in settings.gd_init_scales:
        weights = [scale * rng.standard_normal((dims[i + 1], dims[i])) for i in range(depth)]
        _, history = dmf.gradient_descent(weights, Y, lam, lr=settings.gd_lr, steps=settings.gd_steps, record_every=20)
        histories[scale] = pd.DataFrame(history, columns=["step", "loss", "norm"])
        finals.append(history[-1, 1])
    predicted = [0.5 * np.sum(Y**2), dmf.optimal_value(Y, depth, lam), dmf.optimal_value(Y, depth, lam)]
    scales = " / ".join(f"{scale:g}" for scale in settings.gd_init_scales)
    return compare(f"gradient descent, init scales {scales}: final loss vs f(0) / f* / f*",
                   finals, predicted, 1e-8, "rel",
                reason="gradient descent runs until its loss is within about 1e-10 (relative) of its end point"), histories


def run(settings: Settings | str = SMALL) -> LambdaThresholdResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict."""
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    comparisons, threshold_rows = _threshold_comparisons(settings.targets)
    comparisons.append(_minimizer_comparison(settings.minimizer_depths, settings.minimizer_targets,
                                             settings.minimizer_lams))
    collapse_comparisons, collapse_rows, Y = _collapse(settings)
    comparisons += collapse_comparisons
    jump_comparison, jump_rows = _jump(settings.targets)
    comparisons.append(jump_comparison)
    small_Y = target_with_spectrum(settings.gd_spectrum, settings.gd_shape, seed=7)
    gd_comparison, histories = _gd_trap(small_Y, settings)
    comparisons.append(gd_comparison)
    literature_comparisons, literature_rows = _literature(settings)
    comparisons += literature_comparisons
    verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return LambdaThresholdResult(verdict, threshold_rows, collapse_rows, jump_rows, histories, small_Y,
                                 settings.gd_depth, literature_rows)
