"""Argument checks shared by the library: each raises with the parameter's name."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def check_depth(depth: Any, name: str = "depth") -> int:
    """Return ``depth`` as an ``int`` >= 1, or raise ``TypeError``/``ValueError`` naming it."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {depth!r} of type {type(depth).__name__}")
    if depth < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {depth}")
    return int(depth)


def check_betas(betas: Any, name: str = "betas") -> tuple[float, float]:
    """``(beta1, beta2)`` as floats, each in [0, 1); ``TypeError`` unless a pair of numbers, ``ValueError`` out of range."""
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence):
        raise TypeError(f"{name} must be a pair of numbers in [0, 1), got {betas!r}")
    if len(betas) != 2 or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0.0 <= b < 1.0
                                  for b in betas):
        raise ValueError(f"{name} must be two numbers in [0, 1), got {betas!r}")
    return float(betas[0]), float(betas[1])


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number > 0, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a finite float >= 0, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` >= ``minimum``, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def as_real_array(value: Any, name: str, ndim: int | None = None) -> np.ndarray:
    """Convert ``value`` to a finite float64 array (optionally of a given ``ndim``), or raise."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values")
    return array


def check_widths(widths: Any, depth: int, name: str = "widths") -> tuple[int, ...]:
    """Validate hidden widths ``(d_1, ..., d_{L-1})`` for a factorization of the given depth."""
    try:
        widths = tuple(widths)
    except TypeError as error:
        raise TypeError(f"{name} must be a sequence of {depth - 1} positive integers") from error
    if len(widths) != depth - 1:
        raise ValueError(f"{name} must have depth - 1 = {depth - 1} entries, got {len(widths)}")
    return tuple(check_count(w, f"{name}[{i}]") for i, w in enumerate(widths))


def as_layers(weights: Any, name: str = "weights") -> list[np.ndarray]:
    """Validate a non-empty sequence of 2-D finite arrays ``(W_1, ..., W_L)``; return them as float64."""
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of 2-D arrays (W_1, ..., W_L)")
    return [as_real_array(w, f"{name}[{i}]", ndim=2) for i, w in enumerate(weights)]


def check_chain(shapes: Any, target_shape: tuple[int, int] | None = None, name: str = "weights") -> None:
    """Check that layer shapes ``(d_l, d_{l-1})`` chain, and map ``R^{d_0}`` to ``R^{d_L}`` as ``target_shape`` says."""
    shapes = [tuple(int(v) for v in s) for s in shapes]
    for i in range(1, len(shapes)):
        if shapes[i][1] != shapes[i - 1][0]:
            raise ValueError(f"{name} do not chain: {name}[{i}] has {shapes[i][1]} columns but "
                             f"{name}[{i - 1}] has {shapes[i - 1][0]} rows")
    if target_shape is not None and (shapes[-1][0], shapes[0][1]) != tuple(target_shape):
        raise ValueError(f"{name} map R^{shapes[0][1]} to R^{shapes[-1][0]} but Y has shape {tuple(target_shape)}")
