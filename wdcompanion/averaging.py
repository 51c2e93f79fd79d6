r"""How recorded angular updates are averaged over training steps.

A :class:`~wdcompanion.rotation.RotationTracker` records each neuron's angular update
:math:`\eta_{r,t}` at the recorded steps :math:`t`. The equilibria of the rotational model fix the
mean *square* of the angle: the norm's growth from the updates, :math:`\lVert u\rVert^2`, balances its
shrinkage from weight decay, whatever the distribution of update sizes from step to step; and a
rotational variant scales each step by the root mean square of recent update norms. So the quantity
an equilibrium angle predicts is the root mean square over steps (:func:`rms_over_steps`). The plain
mean over steps is lower by Jensen's inequality where update sizes vary from step to step (for a
Gaussian update in :math:`k` dimensions, mean over RMS is
:math:`\sqrt{2/k}\,\Gamma(\tfrac{k+1}{2})/\Gamma(\tfrac k2)`: 0.89 at :math:`k = 2`, above 0.99 from
:math:`k = 25`). The official logger of Kosson et al. also reduces its angles as a root mean square.

This module imports nothing of the library but its validation helpers, so the code fingerprint of a
training function (and the sweep results stored under it) does not change with it.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_real_array

__all__ = ["rms_over_steps"]


def rms_over_steps(angles: np.ndarray) -> np.ndarray | float:
    r"""The root mean square over recorded steps (axis 0) of angles :math:`\eta_{r,t}`: :math:`\sqrt{\overline{\eta_{r,t}^2}}`.

    ``angles`` is ``(steps,)`` (one series: returns a float) or ``(steps, neurons)`` (returns one value
    per neuron, shape ``(neurons,)``). A neuron that never turned (a dead unit) gets 0. At least one
    step is required: an empty record has no average (``ValueError``).
    """
    values = as_real_array(angles, "angles")
    if values.ndim not in (1, 2) or values.shape[0] == 0:
        raise ValueError(f"angles must be (steps,) or (steps, neurons) with at least one step, got shape {values.shape}")
    rms = np.sqrt(np.mean(values**2, axis=0))
    return float(rms) if values.ndim == 1 else rms
