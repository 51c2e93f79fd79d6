"""The claim protocol: comparisons at declared tolerances, verdicts, and the failure exception.

A *comparison* holds measured quantities, independently computed predictions and a declared
tolerance (absolute or relative). A *verdict* gathers the comparisons of one claim; it passes
only if every comparison does. Its printed form is short and rounded so that it is identical on
any machine where the claim holds: it states the declared tolerances, never the raw errors
(those go to the JSON record and the dashboard), and it states the number of cases only where
the settings fix it. A comparison over "every minimizer found by multistart" has as many cases as
starts that reached a global minimizer, and a start near the boundary of two basins of attraction
can change basin with the last bit of a BLAS kernel: such a comparison is built with
``count_varies=True`` and prints "over every case found" instead of a number.

Most comparisons test what a claim's model predicts firmly: a miss fails the verdict. A comparison
may instead test a *part* of the paper's claim that an experiment at the book's scale can only
attempt (``part="..."``, e.g. the reduced need for warmup): its pass criterion is fixed in advance
like any other, but a miss records that part as **not reproduced** (the verdict's status is then
``partial``, shown by the dashboard and ``wdc check``) instead of failing the check. One-sided
criteria (a fraction at least or at most a stated bound) use ``kind="at least"`` or ``"at most"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["ClaimFailed", "Comparison", "Verdict", "compare", "format_tolerance", "finite_or_none"]

ErrorKind = Literal["abs", "rel", "at least", "at most"]
ERROR_KINDS: tuple[str, ...] = ("abs", "rel", "at least", "at most")
STATUSES: tuple[str, ...] = ("pass", "partial", "fail")  # a verdict's status (Verdict.status)
RECORDED_VALUES = 500  # a record lists a comparison's measured and predicted values up to this many cases


class ClaimFailed(AssertionError):
    """Raised when a claim's measured quantities miss their predictions."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict
        super().__init__(verdict.report())


def format_tolerance(value: float) -> str:
    """Format a tolerance compactly and stably, e.g. ``1e-10``, ``0.02``."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10**exponent
    if abs(mantissa - round(mantissa)) < 1e-9 and round(mantissa) == 1 and abs(exponent) >= 3:
        return f"1e{exponent}"
    return f"{value:.3g}"


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or ``None`` where it is not finite (strict JSON has no ``Infinity`` or ``NaN``)."""
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Comparison:
    r"""Measured values against predictions, elementwise, at a declared tolerance.

    ``kind="abs"`` uses :math:`|m - p|`; ``kind="rel"`` uses :math:`|m - p| / |p|` (predictions
    must then be non-zero). The one-sided kinds treat ``predicted`` as a bound: ``"at least"`` has
    error :math:`\max(p - m, 0)` (the shortfall), ``"at most"`` :math:`\max(m - p, 0)` (the excess).
    The comparison passes iff every error is ``<= tolerance`` and every measured and predicted value
    is finite. ``count_varies`` marks a comparison whose number of cases depends on rounding (see the
    module docstring): its printed line names no count. ``part`` (empty for a firm prediction) names
    the part of the paper's claim it attempts: a miss makes that part *not reproduced*.
    """

    name: str
    measured: np.ndarray
    predicted: np.ndarray
    tolerance: float
    kind: ErrorKind = "rel"
    count_varies: bool = False
    reason: str = ""  # one line: why this tolerance
    part: str = ""  # the part of the paper's claim this comparison attempts ("" for a firm prediction)

    @property
    def errors(self) -> np.ndarray:
        if self.kind == "at least":
            return np.maximum(self.predicted - self.measured, 0.0)
        if self.kind == "at most":
            return np.maximum(self.measured - self.predicted, 0.0)
        diff = np.abs(self.measured - self.predicted)
        if self.kind == "rel":
            return diff / np.abs(self.predicted)
        return diff

    @property
    def error_label(self) -> str:
        """How the error is measured, in words (``rel. error``, ``abs. error``, the shortfall or excess over a bound)."""
        return {"rel": "rel. error", "abs": "abs. error", "at least": "shortfall below the bound",
                "at most": "excess over the bound"}[self.kind]

    @property
    def worst_error(self) -> float:
        errors = self.errors
        return float(np.max(np.where(np.isfinite(errors), errors, np.inf))) if errors.size else 0.0

    @property
    def n_cases(self) -> int:
        return int(self.measured.size)

    @property
    def passed(self) -> bool:
        finite = np.all(np.isfinite(self.measured)) and np.all(np.isfinite(self.predicted))
        return bool(finite) and self.worst_error <= self.tolerance

    def line(self) -> str:
        err, bound = self.error_label, "bound" if self.kind in ("at least", "at most") else "predicted"
        if self.passed:
            cases = "every case found" if self.count_varies else f"{self.n_cases} cases"
            return f"  [pass] {self.name}: {err} <= {format_tolerance(self.tolerance)} over {cases}"
        if self.part:  # a trained network's outcome: its digits differ between machines, so the line shows none
            return (f"  [not reproduced] {self.name}: {err} > {format_tolerance(self.tolerance)} "
                    f"(the values are in the margins table)")
        index = int(np.argmax(np.where(np.isfinite(self.errors), self.errors, np.inf)))
        return (
            f"  [FAIL] {self.name}: worst {err} {self.worst_error:.3g} > {format_tolerance(self.tolerance)} "
            f"(case {index}: measured {self.measured.flat[index]:.10g}, {bound} {self.predicted.flat[index]:.10g})"
        )

    def to_record(self) -> dict[str, Any]:
        """Strict-JSON data: the tolerance and the worst error; the measured and predicted values too when there
        are at most ``RECORDED_VALUES`` cases (a paper-scale multistart has millions)."""
        values = self.n_cases <= RECORDED_VALUES
        return {
            "name": self.name,
            "kind": self.kind,
            "tolerance": self.tolerance,
            "worst_error": finite_or_none(self.worst_error),
            "n_cases": self.n_cases,
            "count_varies": self.count_varies,
            "passed": self.passed,
            "reason": self.reason,
            "part": self.part,
            "measured": [finite_or_none(v) for v in self.measured] if values else None,
            "predicted": [finite_or_none(v) for v in self.predicted] if values else None,
        }


def compare(name: str, measured: Any, predicted: Any, tolerance: float, kind: ErrorKind = "rel", *,
            count_varies: bool = False, reason: str = "", part: str = "") -> Comparison:
    """Build a :class:`Comparison`, broadcasting ``predicted`` to the shape of ``measured``.

    ``reason`` says in one line why the tolerance is what it is (shown in :meth:`Verdict.margins`);
    ``part`` names the part of the paper's claim that the comparison attempts (see the module docstring).
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty string")
    if kind not in ERROR_KINDS:
        raise ValueError(f"kind must be one of {ERROR_KINDS}, got {kind!r}")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    m = np.asarray(measured, dtype=np.float64).ravel()
    p = np.broadcast_to(np.asarray(predicted, dtype=np.float64), np.asarray(measured).shape).ravel()
    if m.size == 0:
        raise ValueError(f"comparison {name!r} has no cases")
    if kind == "rel" and np.any(p == 0):
        raise ValueError(f"comparison {name!r}: relative errors need non-zero predictions; use kind='abs'")
    if not isinstance(count_varies, bool):
        raise TypeError(f"count_varies must be a bool, got {type(count_varies).__name__}")
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a string, got {type(reason).__name__}")
    if not isinstance(part, str):
        raise TypeError(f"part must be a string, got {type(part).__name__}")
    return Comparison(name, m, p.copy(), float(tolerance), kind, count_varies, reason, part)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim check: its comparisons, scale, runtime and the settings it ran.

    ``scale`` is the name of the registered settings the experiment ran (``"small"``, ``"paper"``), or
    ``"modified"`` (``wdcompanion.claims.settings.MODIFIED``) for any other settings: such a
    verdict says so in its line and is never the claim's check.
    """

    claim_id: str
    comparisons: tuple[Comparison, ...]
    scale: str = "small"
    runtime_s: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    settings: dict[str, Any] | None = None  # ClaimSettings.to_record() of the settings run

    @property
    def modified(self) -> bool:
        """Whether the settings run are not a registered scale's (then this is not the claim's check)."""
        return self.scale == "modified"

    @property
    def passed(self) -> bool:
        """Whether every firm comparison passes (those attempting a part of the claim only decide :attr:`status`)."""
        firm = [c for c in self.comparisons if not c.part]
        return bool(firm) and all(c.passed for c in firm)

    @property
    def not_reproduced(self) -> tuple[str, ...]:
        """The parts of the claim with a comparison that missed, in the order of the comparisons."""
        return tuple(dict.fromkeys(c.part for c in self.comparisons if c.part and not c.passed))

    @property
    def status(self) -> str:
        """``"fail"`` when a firm comparison misses, else ``"partial"`` when a part is not reproduced, else ``"pass"``."""
        return "fail" if not self.passed else ("partial" if self.not_reproduced else "pass")

    @property
    def n_cases(self) -> int:
        return sum(c.n_cases for c in self.comparisons)

    @property
    def count_varies(self) -> bool:
        """Whether the total number of cases depends on rounding (some comparison's does)."""
        return any(c.count_varies for c in self.comparisons)

    def line(self) -> str:
        """One stable line, e.g. ``PASS dmf-lambda-threshold: 5 comparisons, 480 cases, all within tolerance``.

        The number of cases is left out when it depends on rounding (:attr:`count_varies`). A
        ``partial`` verdict names the parts not reproduced, e.g. ``PARTIAL req-rotational-variants: 9
        comparisons within tolerance; not reproduced at this scale: the reduced need for warmup``.
        """
        status = {"pass": "PASS", "partial": "PARTIAL", "fail": "FAIL"}[self.status]
        status += " (modified settings)" if self.modified else ""
        if self.status == "pass":
            cases = "" if self.count_varies else f"{self.n_cases} cases, "
            return f"{status} {self.claim_id}: {len(self.comparisons)} comparisons, {cases}all within tolerance"
        if self.status == "partial":
            held = sum(c.passed for c in self.comparisons)
            return (f"{status} {self.claim_id}: {held} of {len(self.comparisons)} comparisons within tolerance; "
                    f"not reproduced at this scale: {'; '.join(self.not_reproduced)}")
        firm = [c for c in self.comparisons if not c.part]
        failed = sum(not c.passed for c in firm)
        also = f"; not reproduced at this scale: {'; '.join(self.not_reproduced)}" if self.not_reproduced else ""
        return f"{status} {self.claim_id}: {failed} of {len(firm)} comparisons outside tolerance{also}"

    def report(self) -> str:
        """The verdict line followed by one line per comparison and one per note."""
        return "\n".join([self.line(), *(c.line() for c in self.comparisons), *(f"  [note] {n}" for n in self.notes)])

    def __str__(self) -> str:
        return self.report()

    def raise_if_failed(self) -> None:
        if not self.passed:
            raise ClaimFailed(self)

    def margins(self) -> pd.DataFrame:
        """One row per comparison: its worst error, its tolerance, their ratio (the margin used) and why the tolerance
        (and, where some comparison attempts a part of the claim, that part).

        The errors of a chaotic training differ between machines in their last digits: a chapter shows
        this table in a cell whose output is not compared (``# NBVAL_IGNORE_OUTPUT``).
        """
        rows = [{"comparison": c.name, "error": {"rel": "rel.", "abs": "abs."}.get(c.kind, c.kind), "worst error": c.worst_error,
                 "tolerance": c.tolerance, "worst / tolerance": c.worst_error / c.tolerance if c.tolerance else
                 (0.0 if c.worst_error == 0 else math.inf), "cases": c.n_cases, "passed": c.passed,
                 "why this tolerance": c.reason, "part of the claim": c.part}
                for c in self.comparisons]
        table = pd.DataFrame(rows).set_index("comparison")
        return table if any(c.part for c in self.comparisons) else table.drop(columns="part of the claim")

    def to_record(self) -> dict[str, Any]:
        worst = max(self.comparisons, key=lambda c: c.worst_error / c.tolerance if c.tolerance else math.inf)
        return {
            "claim_id": self.claim_id,
            "status": self.status,
            "not_reproduced": list(self.not_reproduced),
            "scale": self.scale,
            "runtime_s": round(self.runtime_s, 3),
            "n_cases": self.n_cases,
            "worst": {k: v for k, v in worst.to_record().items() if k not in ("measured", "predicted")},
            "comparisons": [c.to_record() for c in self.comparisons],
            "notes": list(self.notes),
            "settings": self.settings,
        }
