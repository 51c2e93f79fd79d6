"""The registry of claims: id, paper, place in the paper, statement, chapter, check and caveats.

Only claims whose check exists are registered. A claim's *caveats* declare the parts of its
statement that the book does not confirm: parts it only reports (shown, not checked) and parts
its experiments contradict, each with one sentence. The dashboard shows a claim whose check passes
but which has a caveat as **partial**, so that what is partial is data, never a page's wording.

A check is the ``run(settings)`` function of a module in :mod:`wdcompanion.claims`, run with the
module's registered settings (``REGISTERED[scale]``: ``SMALL`` or ``PAPER``, see
:mod:`wdcompanion.claims.settings`); it returns a result object whose ``verdict`` attribute is a
:class:`~wdcompanion.claims.protocol.Verdict`. The chapter calls the same function with the same
settings, so the book and ``wdc check`` cannot disagree.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Literal

from .protocol import Verdict
from .settings import ClaimSettings

__all__ = ["Caveat", "CAVEAT_KINDS", "Claim", "CLAIMS", "SCALES", "SCALE_ENV", "get_claim", "run_claim", "check", "scale_from_env"]

SCALES = ("small", "paper")
SCALE_ENV = "WDC_SCALE"

KAMBER_PARHI = "Kamber & Parhi (2026), arXiv:2603.27072"
KOSSON_ET_AL = "Kosson, Messmer & Jaggi (ICML 2024), arXiv:2305.17212"


CaveatKind = Literal["reported only", "contradicted"]
CAVEAT_KINDS: tuple[str, ...] = ("reported only", "contradicted")


@dataclass(frozen=True)
class Caveat:
    """A part of a claim's statement that the claim's check does not confirm.

    ``kind`` is ``"reported only"`` (the chapter shows it but its verdict does not test it) or
    ``"contradicted"`` (the chapter's experiment disagrees with the paper on it); ``reason`` is
    one sentence saying what the book found instead.
    """

    part: str
    kind: CaveatKind
    reason: str

    def __post_init__(self) -> None:
        if self.kind not in CAVEAT_KINDS:
            raise ValueError(f"caveat kind must be one of {CAVEAT_KINDS}, got {self.kind!r}")
        if not self.part or not self.reason:
            raise ValueError("a caveat names its part and gives its reason")


@dataclass(frozen=True)
class Claim:
    """One checkable claim of a paper, and the parts of it the book does not confirm (:class:`Caveat`)."""

    id: str
    paper: str
    location: str
    statement: str
    chapter: str  # Sphinx docname of the chapter, relative to the book root
    module: str  # module in wdcompanion.claims whose run(settings) performs the check
    caveats: tuple[Caveat, ...] = ()

    def settings(self, scale: str = "small") -> ClaimSettings:
        """The registered settings of this claim's check at ``scale``."""
        module = importlib.import_module(f"wdcompanion.claims.{self.module}")
        return module.REGISTERED[_check_scale(scale)]

    def run(self, scale: str = "small") -> Any:
        """Run the experiment and its check with the registered settings; returns the module's result object."""
        module = importlib.import_module(f"wdcompanion.claims.{self.module}")
        return module.run(self.settings(scale))


CLAIMS: dict[str, Claim] = {
    claim.id: claim
    for claim in [
        Claim(
            id="dmf-lambda-threshold",
            paper=KAMBER_PARHI,
            location="abstract",
            statement=(
                "There is a critical weight decay above which the unique end-to-end minimizer of "
                "regularized deep matrix factorization collapses to zero."
            ),
            chapter="book/dmf/critical-weight-decay",
            module="lambda_threshold",
        ),
        Claim(
            id="dmf-unique-minimizer",
            paper=KAMBER_PARHI,
            location="abstract",
            statement=(
                "Regularized deep matrix factorization has a unique end-to-end minimizer for every target "
                "outside a set of Lebesgue measure zero determined by the depth and the regularization."
            ),
            chapter="book/dmf/unique-minimizer",
            module="unique_minimizer",
        ),
        Claim(
            id="dmf-hessian-spectrum",
            paper=KAMBER_PARHI,
            location="abstract",
            statement="The Hessian spectrum is the same at every minimizer of the regularized deep scalar factorization problem.",
            chapter="book/dmf/hessian-spectrum",
            module="hessian_spectrum",
        ),
        Claim(
            id="dmf-layer-norms",
            paper=KAMBER_PARHI,
            location="abstract",
            statement=(
                "Outside the measure-zero set, every layer's Frobenius norm is the same at every minimizer of the "
                "matrix problem, which gives a global lower bound on the trace of the Hessian at any minimizer."
            ),
            chapter="book/dmf/layer-norms",
            module="layer_norms",
        ),
        Claim(
            id="req-equilibrium",
            paper=KOSSON_ET_AL,
            location="abstract; Table 1 (random-walk model; the book's version is rebuilt from the official code and reviews)",
            statement=(
                "With weight decay, the expected norm and angular update of each neuron's weight vector converge to "
                "an equilibrium predicted per optimizer (AdamW, SGD with momentum, Adam + L2, Lion)."
            ),
            chapter="book/req/equilibrium",
            module="equilibrium",
        ),
        Claim(
            id="req-balanced-rotation",
            paper=KOSSON_ET_AL,
            location="abstract",
            statement=(
                "AdamW and SGD with momentum balance the equilibrium rotation across layers and neurons, Adam + L2 "
                "does not; Weight Standardization balances it per neuron where LayerNorm alone does not."
            ),
            chapter="book/req/balanced-rotation",
            module="balanced_rotation",
        ),
        Claim(
            id="req-rotational-variants",
            paper=KOSSON_ET_AL,
            location=("abstract; Algorithm 1 (rotational variants; the book's version is rebuilt from the official code); "
                      "Sec. 5 (warmup, wrapped Adam + L2)"),
            statement=(
                "A rotational variant of an optimizer, which keeps each neuron's norm fixed and rotates it by the "
                "equilibrium angular update from the first step, provides the benefits of weight decay while "
                "substantially reducing the need for learning-rate warmup; wrapped around Adam + L2 at AdamW's "
                "rotation, it removes most of Adam + L2's gap to AdamW."
            ),
            chapter="book/req/rotational-variants",
            module="rotational_variants",
        ),
    ]
}


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def scale_from_env(default: str = "small") -> str:
    """The scale named by ``$WDC_SCALE`` (``small`` or ``paper``), else ``default``."""
    return _check_scale(os.environ.get(SCALE_ENV, default).strip() or default)


def get_claim(claim_id: str) -> Claim:
    """The registered claim with this id; ``KeyError`` lists the known ids otherwise."""
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim id {claim_id!r}; known: {', '.join(CLAIMS)}") from None


def run_claim(claim_id: str, scale: str = "small") -> Any:
    """Run a claim's experiment and return its full result (data for figures and the verdict)."""
    return get_claim(claim_id).run(scale)


def check(claim_id: str, scale: str = "small") -> Verdict:
    """Run a claim's check and return its verdict (without raising)."""
    return run_claim(claim_id, scale).verdict
