"""One figure style for the whole book: sizes, fonts, a colour-blind-safe palette, crisp output.

Measurements are solid lines or markers; predictions are dashed (``PREDICTION``). Axis labels are
math where they name a symbol (λ written as TeX, not the word "lambda"). In Jupyter the figures are
PNGs at twice their pixel density, displayed at their size in inches times 100 px: crisp on
high-density screens and when the page scales them down.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "PREDICTION", "MEASUREMENT", "DISPLAY_DPI", "use_book_style", "figure"]

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
PREDICTION: dict[str, Any] = {"linestyle": "--", "linewidth": 1.4}
MEASUREMENT: dict[str, Any] = {"linestyle": "-", "linewidth": 1.8}
DISPLAY_DPI = 100  # CSS pixels per inch of figure; the PNG has twice as many (see _double_density_inline)


def _double_density_inline() -> None:
    """In IPython, let the inline backend write PNGs at 2x density (its "retina" format) with the display size.

    The PNG then has ``2 * DISPLAY_DPI`` pixels per inch and carries ``width``/``height`` metadata of
    ``DISPLAY_DPI`` per inch, which Jupyter and the book use as its displayed size. Outside IPython
    (scripts, tests) nothing changes.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.config import InlineBackend
    except ImportError:
        return
    if get_ipython() is None:
        return
    backend = InlineBackend.instance()
    if backend.figure_formats != {"retina"}:
        backend.figure_formats = {"retina"}


def use_book_style() -> None:
    """Set matplotlib's defaults for the book (PNG output at twice the display density, fixed fonts)."""
    _double_density_inline()
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": DISPLAY_DPI,
        "savefig.dpi": 2 * DISPLAY_DPI,
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
