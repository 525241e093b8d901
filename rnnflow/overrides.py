"""Typed ``field=value`` overrides of a frozen settings dataclass (``rnnflow run --set``).

``apply_overrides(settings, ["hidden=64", "lr=0.01"])`` returns
``dataclasses.replace(settings, hidden=64, lr=0.01)``; each text value is parsed by the field's
annotated type:

=====================  ==========================================================
annotation             accepted text
=====================  ==========================================================
``int``                ``64``, ``-3``, ``1_000``
``float``              ``0.01``, ``1e-3``, ``inf``
``bool``               ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``
``str``                anything (taken verbatim)
``X | None``           ``none`` (any case), else as ``X``
``tuple[X, ...]``      comma-separated ``X``: ``0.9,1.0,1.1`` (``()``: empty)
``tuple[X, Y]``        exactly two comma-separated items
=====================  ==========================================================

A dotted name (``model.hidden_size=64``) sets a field of a nested dataclass field. The
dataclass's own ``__post_init__`` checks the value's range afterwards, so its usual error
(naming the field) reports an out-of-range value. Errors are ``ValueError`` naming the field,
the text and the type; an unknown field lists the known ones.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def type_name(tp) -> str:
    """``int``, ``float | None``, ``tuple[int, ...]``: a field type as a user reads it."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def field_types(cls) -> dict:
    """``{field name: resolved annotation}`` of dataclass ``cls`` (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_value(tp, text: str, name: str = "value"):
    """``text`` parsed as type ``tp`` (see the module's table); ValueError naming ``name``,
    ``text`` and the type when it does not parse."""
    try:
        return _parse(tp, text)
    except (ValueError, TypeError) as e:
        why = str(e)
        raise ValueError(f"--set {name}={text!r} is invalid: expected {type_name(tp)}"
                         + (f" ({why})" if why else "")) from None


def _parse(tp, text: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() == "none":
            return None
        rest = [a for a in args if a is not type(None)]
        for a in rest:
            try:
                return _parse(a, text)
            except (ValueError, TypeError):
                continue
        raise ValueError("")
    if origin is tuple:
        items = [] if text.strip() in ("", "()") else [t.strip() for t in text.strip("()").split(",")]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(args[0], t) for t in items)
        if len(items) != len(args):
            raise ValueError(f"{len(args)} comma-separated items, got {len(items)}")
        return tuple(_parse(a, t) for a, t in zip(args, items))
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(f"one of {'/'.join(_TRUE + _FALSE)}")
    if tp is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("") from None
    if tp is float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("") from None
        if math.isnan(value):
            raise ValueError("not nan")
        return value
    if tp is str:
        return text
    raise TypeError(f"fields of type {type_name(tp)} cannot be set from the command line")


def parse_overrides(items) -> dict:
    """``["a=1", "b.c=x"]`` -> ``{"a": "1", "b.c": "x"}``; a name given twice raises."""
    pairs = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"--set {item!r} is invalid: expected FIELD=VALUE, e.g. hidden=64")
        name, text = item.split("=", 1)
        name = name.strip()
        if not name:
            raise ValueError(f"--set {item!r} is invalid: expected FIELD=VALUE, e.g. hidden=64")
        if name in pairs:
            raise ValueError(f"--set {name} is given twice ({pairs[name]!r} and {text!r}): give it once")
        pairs[name] = text
    return pairs


def apply_overrides(settings, items, owner: str | None = None):
    """``settings`` (a dataclass instance) with the ``FIELD=VALUE`` texts of ``items`` (or a
    ``{name: text}`` dict) applied, parsed by the fields' types; nested fields by dotted names.
    Returns a new instance (``dataclasses.replace``: its ``__post_init__`` checks run)."""
    pairs = dict(items) if isinstance(items, dict) else parse_overrides(items)
    owner = owner or type(settings).__qualname__
    nested: dict = {}
    flat: dict = {}
    types_ = field_types(type(settings))
    for name, text in pairs.items():
        head, _, tail = name.partition(".")
        if head not in types_:
            raise ValueError(f"--set {name}: {owner} has no field {head!r}: expected one of "
                             f"{', '.join(types_)}")
        if tail:
            if not dataclasses.is_dataclass(getattr(settings, head)):
                raise ValueError(f"--set {name}: {owner}.{head} is a {type_name(types_[head])}, not a "
                                 f"config with fields")
            nested.setdefault(head, {})[tail] = text
        else:
            if dataclasses.is_dataclass(getattr(settings, head)):
                sub = ", ".join(f"{head}.{f.name}" for f in dataclasses.fields(getattr(settings, head)))
                raise ValueError(f"--set {name}: {owner}.{head} is a config: set its fields, one of {sub}")
            flat[head] = parse_value(types_[head], text, name)
    for head, sub in nested.items():
        flat[head] = apply_overrides(getattr(settings, head), sub, owner=f"{owner}.{head}")
    return dataclasses.replace(settings, **flat) if flat else settings


def format_value(value) -> str:
    """The ``--set`` text that parses back to ``value`` (``parse_value(tp, format_value(v)) == v``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value) if value else "()"
    return repr(value) if isinstance(value, float) else str(value)


def describe_settings(settings, prefix: str = "") -> list[str]:
    """One line per field, ``name: type = value`` (nested configs' fields dotted)."""
    lines = []
    for name, tp in field_types(type(settings)).items():
        value = getattr(settings, name)
        if dataclasses.is_dataclass(value):
            lines += describe_settings(value, prefix=f"{prefix}{name}.")
        else:
            lines.append(f"{prefix}{name}: {type_name(tp)} = {format_value(value)}")
    return lines
