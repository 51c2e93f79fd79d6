"""One figure style for the whole book: sizes, fonts, a colour-blind-safe palette.

Measurements are solid lines or markers; predictions are dashed (``PREDICTION``).
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "PREDICTION", "MEASUREMENT", "use_book_style", "figure"]

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
PREDICTION: dict[str, Any] = {"linestyle": "--", "linewidth": 1.4}
MEASUREMENT: dict[str, Any] = {"linestyle": "-", "linewidth": 1.8}


def use_book_style() -> None:
    """Set matplotlib's defaults for the book (deterministic SVG-free PNG output, fixed fonts)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "svg.hashsalt": "wdcompanion",
    })


def figure(ncols: int = 1, *, width: float | None = None, height: float = 3.6, **kwargs: Any):
    """A figure with ``ncols`` side-by-side axes in the book style; returns ``(fig, axes)``."""
    use_book_style()
    width = width if width is not None else 4.2 * ncols + 0.8
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), constrained_layout=True, **kwargs)
    return fig, axes
