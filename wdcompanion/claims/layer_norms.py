r"""Claim ``dmf-layer-norms``: every layer has the same Frobenius norm at every minimizer.

Kamber & Parhi (2026), abstract: outside the measure-zero set, the Frobenius norm of each layer
is constant across all minimizers of the matrix problem, which yields a global lower bound on the
trace of the Hessian at any minimizer. Our derivations: :math:`\lVert W_l\rVert_F^2 = \sum_i s_i^{2/L}`
for every layer, the trace identity, its closed form at minimizers, and the lower bound
:math:`(d_0 + d_L + L - 2)\lVert M^*\rVert_F^2/\nu + \lambda N` (:mod:`wdcompanion.curvature`).
Measured here:

1. layer norms and balancedness at every global minimizer found by multistart;
2. the trace identity at random points, the closed-form trace at minimizers, and the bound,
   each against the trace of the exact (``torch.func``) Hessian;
3. on the exceptional set, the two minimizer families' layer norms;
4. at scale (over :math:`10^4` parameters), Hutchinson's trace estimate and the Lanczos top
   eigenvalue, from Hessian-vector products only, against the closed-form trace and the top of the
   exact spectrum (:func:`wdcompanion.curvature.minimizer_spectrum`);
5. the trace of that exact spectrum (eigenvalues times multiplicities) against the trace of the
   exact Hessian at every global minimizer found.
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
from .settings import ClaimSettings, describe_fields, doc, resolve, verdict_for
from .unique_minimizer import MatrixTarget, global_mask

CLAIM_ID = "dmf-layer-norms"

__all__ = ["CLAIM_ID", "Settings", "SMALL", "PAPER", "REGISTERED", "LayerNormsResult",
           "ExceptionalNorms", "LargeTrace", "run", "balance_error"]

@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    targets: tuple[MatrixTarget, ...] = doc("matrix targets")
    depths: tuple[int, ...] = doc("depths L")
    lam: float = doc("weight decay lambda (every experiment of the chapter)")
    starts: int = doc("random starts per target and depth")
    random_points: int = doc("random (non-critical) points at which the trace identity is checked")
    large_shape: tuple[int, int] = doc("shape of the large target of the Hessian-vector-product experiment")
    large_width: int = doc("its hidden width")
    large_depth: int = doc("its depth")
    hutchinson_samples: int = doc("Rademacher probes of Hutchinson's trace estimator")

    def check(self) -> None:
        self._positive("lam", "starts", "random_points", "large_shape", "large_width", "hutchinson_samples")
        if min(self.depths, default=0) < 2 or self.large_depth < 2:
            raise ValueError("Settings.depths (non-empty) and large_depth must be >= 2")


SMALL = Settings(targets=(MatrixTarget("rectangular 5x3", (3.0, 1.2, 0.45), (5, 3), 4),
                          MatrixTarget("repeated singular values 4x4", (2.0, 2.0, 1.1, 0.3), (4, 4), 5),
                          MatrixTarget("bottleneck width 2 < rank 3", (3.0, 2.0, 1.5), (4, 3), 2)),
                 depths=(2, 3, 4, 5), lam=0.35, starts=100, random_points=12, large_shape=(60, 50), large_width=50,
                 large_depth=4, hutchinson_samples=300)
PAPER = Settings(targets=(MatrixTarget("rectangular 16x12", tuple(np.geomspace(4, 0.1, 12)), (16, 12), 12),
                          MatrixTarget("repeated singular values 8x8", (2.0,) * 3 + (1.1,) * 3 + (0.3,) * 2, (8, 8), 8),
                          MatrixTarget("bottleneck width 3 < rank 6", tuple(np.linspace(3.0, 1.5, 6)), (8, 6), 3)),
                 depths=(2, 3, 4, 5, 6), lam=0.35, starts=1000, random_points=50, large_shape=(200, 150), large_width=150,
                 large_depth=5, hutchinson_samples=2000)
REGISTERED = {"small": SMALL, "paper": PAPER}


def balance_error(layers) -> float:
    r""":math:`\max_l \max |W_{l+1}^\top W_{l+1} - W_l W_l^\top|` (zero at every critical point)."""
    return float(max(np.max(np.abs(layers[l + 1].T @ layers[l + 1] - layers[l] @ layers[l].T))
                     for l in range(len(layers) - 1))) if len(layers) > 1 else 0.0


@dataclass(frozen=True)
class ExceptionalNorms:
    r"""Layer norms of the two global minimizers on :math:`E_{L,\lambda}` (4 x 3 target, :math:`\sigma_2 = y^*`).

    ``norms_with_jump`` and ``norms_without`` are :math:`\|W_l\|_F^2` of balanced factors of the branch
    with :math:`s_2 = s_{\text{jump}}` and with :math:`s_2 = 0`; ``loss_gap`` is the difference of their losses.
    """

    y_star: float
    s_jump: float
    norms_with_jump: tuple[float, ...]
    norms_without: tuple[float, ...]
    loss_gap: float


@dataclass(frozen=True)
class LargeTrace:
    r"""Matrix-free estimates on a problem too large for a dense Hessian.

    ``estimate`` :math:`\pm` ``stderr`` is Hutchinson's trace from Hessian-vector products, ``exact``
    the closed-form trace and ``identity`` the trace identity at the same point; ``top`` is Lanczos's
    :math:`\lambda_{\max}`, ``exact_top`` the top of ``minimizer_spectrum`` and ``rank_one_top`` the
    rank-one corollary's; ``hutchinson_s`` and ``lanczos_s`` are seconds.
    """

    parameters: int
    estimate: float
    stderr: float
    exact: float
    identity: float
    top: float
    exact_top: float
    rank_one_top: float
    hutchinson_s: float
    lanczos_s: float


@dataclass
class LayerNormsResult:
    r"""Everything the chapter shows, and the verdict.

    ``norms``: one row per target and depth (``target``, ``depth``, global ``minimizers`` found,
    predicted :math:`\nu =` ``nu``, ``spread`` of :math:`\|W_l\|_F^2` over layers and minimizers, max
    ``balance`` error). ``traces``: the same cases (``parameters`` :math:`N`, closed-form ``trace``,
    ``measured`` mean trace of the exact Hessians, lower ``bound``, and both less :math:`\lambda N`:
    ``without_decay``, ``bound_without_decay``).
    """

    verdict: Verdict
    norms: pd.DataFrame = field(default_factory=pd.DataFrame)
    traces: pd.DataFrame = field(default_factory=pd.DataFrame)
    exceptional: ExceptionalNorms | None = None
    large: LargeTrace | None = None


def _norms_and_traces(settings: Settings, result) -> list[Comparison]:
    lam = settings.lam
    norms, predicted_norms, balance, traces, predicted_traces, bound_excess, spectrum_traces = [], [], [], [], [], [], []
    norm_rows, trace_rows = [], []
    for index, target in enumerate(settings.targets):
        name, width = target.name, target.width
        Y = target_with_spectrum(target.spectrum, target.shape, seed=11 + index)
        for depth in settings.depths:
            widths = (width,) * (depth - 1)
            found = minimize_dmf(Y, depth, lam, n_starts=settings.starts, widths=widths, seed=500 + 10 * index + depth)
            glob = np.flatnonzero(global_mask(found))
            nu = curvature.minimizer_layer_norm_sq(Y, depth, lam, widths)
            exact_trace = curvature.minimizer_hessian_trace(Y, depth, lam, widths)
            bound = curvature.trace_lower_bound(Y, depth, lam, widths)
            hessians = curvature.hessian_batch([w[glob] for w in found.weights], Y, lam)
            measured_traces = np.trace(hessians, axis1=1, axis2=2)
            layer_norms = found.layer_norms_sq[glob]
            norms.append(layer_norms.ravel())
            predicted_norms.append(np.full(layer_norms.size, nu))
            balance.append([balance_error([w[b] for w in found.weights]) for b in glob])
            traces.append(measured_traces)
            predicted_traces.append(np.full(len(glob), exact_trace))
            spectrum_traces.append(np.full(len(glob), curvature.minimizer_spectrum(Y, depth, lam, widths).trace()))
            bound_excess.append(np.maximum(bound - measured_traces, 0.0) / exact_trace)  # relative; tight at rank 1
            N = hessians.shape[1]
            norm_rows.append(dict(target=name, depth=depth, minimizers=len(glob), nu=nu,
                                  spread=float(np.ptp(layer_norms)), balance=float(np.max(balance[-1]))))
            trace_rows.append(dict(target=name, depth=depth, parameters=N, trace=exact_trace,
                                   measured=float(measured_traces.mean()), bound=bound,
                                   without_decay=exact_trace - lam * N, bound_without_decay=bound - lam * N))
    result.norms, result.traces = pd.DataFrame(norm_rows), pd.DataFrame(trace_rows)
    return [
        compare("||W_l||_F^2 at every layer of every global minimizer vs sum_i s_i^(2/L)",
                np.concatenate(norms), np.concatenate(predicted_norms), 1e-7, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("balancedness max|W_{l+1}^T W_{l+1} - W_l W_l^T| at every global minimizer",
                np.concatenate(balance), 0.0, 1e-7, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("trace of the exact Hessian at every global minimizer vs closed form",
                np.concatenate(traces), np.concatenate(predicted_traces), 1e-8, "rel", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("trace of the exact Hessian at every global minimizer vs the trace of minimizer_spectrum",
                np.concatenate(traces), np.concatenate(spectrum_traces), 1e-8, "rel", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
        compare("(lower bound - Hessian trace) / trace, clipped at 0 (the bound holds; equality at rank one)",
                np.concatenate(bound_excess), 0.0, 1e-9, "abs", count_varies=True,
                reason="L-BFGS stops at gradient norm 1e-10, which leaves errors of about 1e-10 in the minimizer"),
    ]


def _identity(settings: Settings) -> Comparison:
    lam = settings.lam
    rng = np.random.default_rng(17)
    measured, predicted = [], []
    for k in range(settings.random_points):
        depth = 1 + k % 5
        dims = rng.integers(1, 6, size=depth + 1)
        layers = [rng.standard_normal((dims[i + 1], dims[i])) for i in range(depth)]
        Y = rng.standard_normal((dims[-1], dims[0]))
        measured.append(np.trace(curvature.hessian(layers, Y, lam)))
        predicted.append(curvature.hessian_trace(layers, Y, lam))
    return compare("trace identity at random (non-critical) points vs trace of the exact Hessian",
                   measured, predicted, 1e-12, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding")


def _exceptional(settings: Settings, result, depth: int = 3) -> Comparison:
    lam = settings.lam
    y_star = dmf.critical_target(lam, depth)
    Y = target_with_spectrum((2.5, y_star, 0.3), (4, 3), seed=21)
    U, sigma, Vt = np.linalg.svd(Y, full_matrices=False)
    s_top = dmf.scalar_minimizer(sigma[0], depth, lam)
    s_jump = dmf.nonzero_branch(sigma[1], depth, lam)
    with_jump = dmf.balanced_factors((U * [s_top, s_jump, 0.0]) @ Vt, depth)
    without = dmf.balanced_factors((U * [s_top, 0.0, 0.0]) @ Vt, depth)
    norms_a = tuple(float(np.sum(w**2)) for w in with_jump)
    norms_b = tuple(float(np.sum(w**2)) for w in without)
    result.exceptional = ExceptionalNorms(y_star=float(y_star), s_jump=float(s_jump), norms_with_jump=norms_a,
                                          norms_without=norms_b,
                                          loss_gap=float(abs(dmf.loss(with_jump, Y, lam) - dmf.loss(without, Y, lam))))
    return compare("on E: ||W_l||^2 (branch with s_jump) - ||W_l||^2 (branch with 0) vs s_jump^(2/L)",
                   np.subtract(norms_a, norms_b), abs(s_jump) ** (2 / depth), 1e-10, "rel",
                reason="closed forms and exact evaluations in float64 agree to rounding")


def _large(settings: Settings, result) -> list[Comparison]:
    lam = settings.lam
    (rows, cols), width, depth = settings.large_shape, settings.large_width, settings.large_depth
    spectrum = np.concatenate([[4.0], np.geomspace(0.8, 0.05, min(rows, cols) - 1)])  # only sigma_1 survives
    Y = target_with_spectrum(spectrum, (rows, cols), seed=2)
    widths = (width,) * (depth - 1)
    layers = dmf.balanced_factors(dmf.end_to_end_minimizer(Y, depth, lam, widths), depth, widths)
    parameters = sum(w.size for w in layers)
    start = time.perf_counter()
    estimate, stderr = curvature.hutchinson_trace(layers, Y, lam, settings.hutchinson_samples)
    hutchinson_s = time.perf_counter() - start
    start = time.perf_counter()
    top = float(eigsh(curvature.hessian_operator(layers, Y, lam), k=1, which="LA", tol=1e-10,
                      v0=np.ones(parameters), return_eigenvectors=False)[0])
    lanczos_s = time.perf_counter() - start
    exact = curvature.minimizer_hessian_trace(Y, depth, lam, widths)
    exact_top = curvature.minimizer_top_eigenvalue(Y, depth, lam, widths)
    result.large = LargeTrace(parameters=parameters, estimate=estimate, stderr=stderr, exact=exact,
                              identity=curvature.hessian_trace(layers, Y, lam), top=top, exact_top=exact_top,
                              rank_one_top=curvature.rank_one_top_eigenvalue(Y, depth, lam, widths),
                              hutchinson_s=hutchinson_s, lanczos_s=lanczos_s)
    return [
        compare(f"Hutchinson trace ({settings.hutchinson_samples} HVP samples, {parameters} parameters) vs closed form",
                [estimate], exact, 0.02, "rel",
                reason="Hutchinson's estimator is random: 2% is several of its standard errors at the registered number of probes"),
        compare("Lanczos top eigenvalue (HVPs) at a rank-one minimizer vs the top of minimizer_spectrum",
                [top], exact_top, 1e-8, "rel",
                reason="Lanczos (eigsh) converges to tol 1e-10; 1e-8 relative leaves room for HVP rounding"),
    ]


def run(settings: Settings | str = SMALL) -> LayerNormsResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict."""
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    result = LayerNormsResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _norms_and_traces(settings, result)
    comparisons += [_identity(settings), _exceptional(settings, result)]
    comparisons += _large(settings, result)
    result.verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return result
