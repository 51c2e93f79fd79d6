r"""The hidden nonlinearity of an MLP: ReLU, as :func:`wdcompanion.nets.mlp` builds it, or a leaky ReLU.

A leaky ReLU with negative slope :math:`a` is :math:`\phi(z) = \max(z, a z)`, so
:math:`\phi'(z) = a` for :math:`z < 0`. With a ReLU (:math:`a = 0`) a unit whose input stays negative passes no
gradient back to its weights: a BatchNorm unit whose shift has drifted far below zero gets a gradient only from
the rare signals that switch it on, in bursts, and leaves the random-walk regime of the rotational-equilibrium
predictions (``scripts/ablate_leaky_relu.py``). With :math:`a > 0` it gets a small gradient from every signal.

:func:`use_activation` swaps the ReLUs of an MLP already built, in place: a ReLU has no parameters, so the
initial weights (and so a seeded model) are the same whichever nonlinearity it ends with. This lives apart from
:mod:`wdcompanion.nets` because the sweep runner's stored trainings are keyed by the code of ``nets`` and of what
imports it; it should become an argument of :func:`~wdcompanion.nets.mlp` when those are recomputed.
"""

from __future__ import annotations

from torch import nn

from ._validation import check_positive

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "use_activation"]

ACTIVATIONS = ("relu", "leaky_relu")
LEAKY_SLOPE = 0.01  # torch's default negative slope


def use_activation(model: nn.Sequential, activation: str, slope: float = LEAKY_SLOPE) -> nn.Sequential:
    r"""Give ``model`` the hidden nonlinearity ``activation``: its every ``nn.ReLU`` becomes ``nn.LeakyReLU(slope)``
    for ``"leaky_relu"``; ``"relu"`` leaves it unchanged. Returns ``model`` (changed in place).

    ``slope`` is :math:`a` in :math:`\max(z, a z)`, in :math:`(0, 1)`; it is used only for ``"leaky_relu"``.
    Raises ``ValueError`` for an unknown ``activation``, a slope outside :math:`(0, 1)` or a model without a ReLU
    to swap (leaky ReLUs already in place count: the call is then a no-op), ``TypeError`` for a model that is not an
    ``nn.Sequential``.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential (nets.mlp), got {type(model).__name__}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    check_positive(slope, "slope")
    if slope >= 1:
        raise ValueError(f"slope must lie in (0, 1), got {slope}")
    if not any(isinstance(m, (nn.ReLU, nn.LeakyReLU)) for m in model):
        raise ValueError("model has no ReLU to swap")
    if activation == "leaky_relu":
        for i, module in enumerate(model):
            if isinstance(module, nn.ReLU):
                model[i] = nn.LeakyReLU(slope)
    return model
