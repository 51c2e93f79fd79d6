"""The settings of a claim's experiment: frozen, typed, validated, and told apart from the registered ones.

Each claim module defines a frozen dataclass ``Settings`` (a :class:`ClaimSettings`) and its two
registered values, ``SMALL`` and ``PAPER`` (in ``REGISTERED``); its ``run(settings)`` runs exactly
those settings and nothing else. To change an experiment, replace a field and rerun::

    import dataclasses
    from wdcompanion.claims import layer_norms
    result = layer_norms.run(dataclasses.replace(layer_norms.SMALL, starts=50))
    result.verdict.line()  # 'PASS (modified settings) dmf-layer-norms: ...'

A verdict computed from settings that are neither ``SMALL`` nor ``PAPER`` has scale ``"modified"``
(``MODIFIED``): it prints so, is never written as the claim's record, and the dashboard and
``wdc check`` never count it as the claim's check.

Fields are checked against their annotations when an instance is made (``int``, ``float``,
``bool``, ``str``, tuples of them, nested frozen dataclasses, ``X | None``): lists become tuples
and integers become floats where a float is declared, so ``replace(SMALL, depths=[2, 3])`` works;
anything else raises ``TypeError`` naming the field (a NaN or infinite number, ``ValueError``). Range checks (a positive count, a
probability) are each module's :meth:`ClaimSettings.check`, raising ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd

from .._validation import check_betas
from .protocol import Comparison, Verdict

OPTIMIZERS = ("sgdm", "adamw", "adam_l2", "lion")  # those of wdcompanion.rotation (a test checks), without importing torch

__all__ = ["ClaimSettings", "MODIFIED", "OPTIMIZERS", "OptimizerCase", "Part", "describe_fields", "doc", "glue_settings",
           "prose", "resolve", "scale_of", "settings_table", "verdict_for"]

MODIFIED = "modified"

S = TypeVar("S", bound="ClaimSettings")


def doc(text: str, **kwargs: Any) -> Any:
    """A dataclass field with a one-line description (shown in :func:`settings_table`)."""
    return dataclasses.field(metadata={"doc": text}, **kwargs)


def describe_fields(cls: type) -> type:
    """Class decorator (above ``@dataclass``): append each field's name, type and description to the docstring."""
    hints = typing.get_type_hints(cls)
    lines = [f"- ``{f.name}`` ({_type_name(hints[f.name])}): {f.metadata.get('doc', '')}" for f in dataclasses.fields(cls)]
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n\n    Fields:\n\n" + "\n".join(f"    {line}" for line in lines) + "\n"
    return cls


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else \
        str(annotation).replace("typing.", "").replace("wdcompanion.claims.", "")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` checked against ``annotation`` (lists to tuples, ints to floats); TypeError naming ``where``."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except TypeError as error:
                errors.append(str(error))
        raise TypeError(errors[0] if len(errors) == 1 else f"{where} must be {annotation}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (tuple, list)) and not (hasattr(value, "__array__") and hasattr(value, "__len__")):
            raise TypeError(f"{where} must be a tuple (or list), got {type(value).__name__} {value!r}")
        items = tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0], f"{where}[{i}]") for i, item in enumerate(items))
        if len(items) != len(args):
            raise TypeError(f"{where} must have {len(args)} entries, got {len(items)}: {value!r}")
        return tuple(_coerce(item, arg, f"{where}[{i}]") for i, (item, arg) in enumerate(zip(items, args, strict=True)))
    if annotation is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be True or False, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where} must be an integer, got {type(value).__name__} {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{where} must be a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, got {type(value).__name__} {value!r}")
        return value
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, annotation):
            raise TypeError(f"{where} must be a {annotation.__name__}, got {type(value).__name__}")
        return value
    raise TypeError(f"{where}: unsupported settings annotation {annotation!r}")  # a bug in the settings class


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """Base of every claim's ``Settings``: typed fields, coerced and checked on creation (see the module docstring)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f"{type(self).__name__}.{f.name}")
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Range checks of the fields; raise ``ValueError`` naming the field. Overridden per claim."""

    def _positive(self, *names: str) -> None:
        """``ValueError`` unless each named field (a number or a tuple of numbers) is > 0."""
        for name in names:
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            if not values or not all(math.isfinite(v) and v > 0 for v in values):
                raise ValueError(f"{type(self).__name__}.{name} must be finite and > 0 (and not empty), got {value!r}")

    def to_record(self) -> dict[str, Any]:
        """The settings as JSON-ready data (tuples as lists, nested settings as dicts)."""
        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Part(ClaimSettings):
    """A frozen, checked group of settings nested inside a claim's ``Settings`` (e.g. one target)."""


@describe_fields
@dataclasses.dataclass(frozen=True)
class OptimizerCase(Part):
    """One optimizer and its hyperparameters, as :func:`wdcompanion.rotation.equilibrium` takes them."""

    label: str = doc("label in tables")
    optimizer: str = doc("'adamw', 'sgdm', 'adam_l2' or 'lion'")
    lr: float = doc("learning rate")
    weight_decay: float = doc("weight decay")
    betas: tuple[float, float] | None = doc("Adam's or Lion's betas (None for SGDM)")
    momentum: float | None = doc("SGDM's momentum (None otherwise)")

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"{type(self).__name__}.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        self._positive("lr", "weight_decay")
        if self.betas is not None:
            check_betas(self.betas, f"{type(self).__name__}.betas")
        if (self.optimizer == "sgdm") != (self.momentum is not None) or (self.optimizer == "sgdm") == (self.betas is not None):
            raise ValueError(f"{type(self).__name__} {self.label!r}: SGDM takes momentum (not betas), the others betas")

    @property
    def kwargs(self) -> dict[str, Any]:
        """The optimizer's own keyword arguments (``betas`` or ``momentum``) for ``equilibrium`` and ``random_walk``."""
        return dict(momentum=self.momentum) if self.optimizer == "sgdm" else dict(betas=self.betas)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def resolve(settings: Any, cls: type[S], registered: Mapping[str, S]) -> S:
    """``settings`` itself if it is a ``cls``, the registered settings if it names a scale; else an error.

    A scale name (``"small"``, ``"paper"``) is a shorthand for ``registered[name]``.
    """
    if isinstance(settings, str):
        if settings not in registered:
            raise ValueError(f"settings: a scale name must be one of {tuple(registered)}, got {settings!r}")
        return registered[settings]
    if not isinstance(settings, cls):
        raise TypeError(f"settings must be a {cls.__module__}.{cls.__qualname__} (or a scale name such as 'small'), "
                        f"got {type(settings).__name__}")
    return settings


def verdict_for(claim_id: str, comparisons: Sequence[Comparison], settings: ClaimSettings,
                registered: Mapping[str, ClaimSettings], started: float, notes: tuple[str, ...] = ()) -> Verdict:
    """The verdict of a run of ``settings`` begun at ``time.perf_counter() == started``: its scale (:func:`scale_of`),
    runtime and settings recorded with the comparisons."""
    return Verdict(claim_id, tuple(comparisons), scale_of(settings, registered), time.perf_counter() - started, notes,
                   settings=settings.to_record())


def scale_of(settings: ClaimSettings, registered: Mapping[str, ClaimSettings]) -> str:
    """The name of the registered settings equal to ``settings``, else ``MODIFIED``."""
    for name, value in registered.items():
        if settings == value:
            return name
    return MODIFIED


def _display(value: Any) -> str:
    if isinstance(value, ClaimSettings):
        return "[" + ", ".join(f"{f.name}={_display(getattr(value, f.name))}" for f in dataclasses.fields(value)) + "]"
    if isinstance(value, tuple) and value and all(isinstance(v, ClaimSettings) for v in value):
        return "; ".join(_display(v) for v in value)
    if isinstance(value, tuple):
        if len(value) > 6 and not any(isinstance(v, (tuple, ClaimSettings)) for v in value):  # long grids, shortened
            return f"({_display(value[0])}, {_display(value[1])}, ..., {_display(value[-1])}): {len(value)} values"
        return "(" + ", ".join(_display(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def settings_table(settings: ClaimSettings, registered: Mapping[str, ClaimSettings] | None = None) -> pd.DataFrame:
    """One row per field: its value and description, and, given ``registered``, each registered value.

    Floats are shown to 6 significant digits and grids of more than 6 numbers by their ends and length;
    a row's values are strings, ready to render.
    """
    if not isinstance(settings, ClaimSettings):
        raise TypeError(f"settings must be a ClaimSettings, got {type(settings).__name__}")
    rows = []
    for f in dataclasses.fields(settings):
        row = {"setting": f.name, "value": _display(getattr(settings, f.name))}
        for name, other in (registered or {}).items():
            row[name] = _display(getattr(other, f.name))
        row["meaning"] = f.metadata.get("doc", "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


class _Prose:
    """Text whose ``repr`` is itself, so that MyST-NB's ``{glue:text}`` shows it without quotes."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def prose(value: Any) -> Any:
    """A setting as it reads in a sentence: numbers as they are (a ``{glue:text}`` format applies), integer
    ranges as ``1–6``, other tuples as ``0.3, 0.7, 1``, strings without quotes."""
    if isinstance(value, bool) or value is None:
        return _Prose(str(value))
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value) \
            and len(value) >= 3 and all(value[k + 1] - value[k] == 1 for k in range(len(value) - 1)):
        return _Prose(f"{value[0]}\u2013{value[-1]}")
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
        return _Prose(", ".join(f"{v:g}" for v in value))
    return _Prose(str(value) if isinstance(value, str) else _display(value))


def glue_settings(settings: ClaimSettings, prefix: str = "set_") -> None:
    """Glue every field of ``settings`` (MyST-NB) as ``<prefix><field>``, for the prose: ``{glue:text}`set_starts```.

    Nested settings are glued field by field (``set_hyper_lr``). Needs ``myst_nb`` (the book's extra).
    """
    from myst_nb import glue

    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Part) and not isinstance(value, OptimizerCase):
            glue_settings(value, f"{prefix}{f.name}_")
        else:
            glue(f"{prefix}{f.name}", prose(value), display=False)
