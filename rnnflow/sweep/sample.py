"""Random settings for a sweep: ``--sample FIELD=SPEC`` (repeatable) with ``--random N``
draws N settings of the sampled fields, seeded by ``--sample-seed``; each drawn setting is
crossed with the grid's product and the seeds, like one more grid value.

A SPEC is one of:

=================  ===================================================================
``LO:HI``          uniform on [LO, HI]: a float field's value rounded to 4 significant
                   digits; an int field's an integer in LO..HI, both ends included
``LO:HI:log``      log-uniform on [LO, HI] (0 < LO < HI), rounded the same way
``A|B|C``          one of the texts, each as likely (any field type, tuples included:
                   ``rhos=0.5,1|0.9,1.1``)
=================  ===================================================================

The draws are reproducible: draw ``i`` uses ``numpy.random.default_rng([sample_seed, i])``,
one number per sampled field in the order given. The drawn texts are recorded in the sweep
folder (``samples.json``) before any cell runs, and a re-run of the same command reads them
from there, so it resumes the very same cells.
"""
from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np

from ..overrides import field_types, format_value, parse_value, type_name

SPEC_HELP = "LO:HI, LO:HI:log or A|B|C, e.g. lr=1e-4:1e-1:log, hidden=16:64 or act=tanh|relu"


@dataclasses.dataclass(frozen=True)
class Spec:
    """One ``--sample`` item: a range (``lo``, ``hi``, ``log``, ``kind`` int or float) or ``choices``."""

    name: str
    text: str
    kind: str = "choice"       # "int", "float" (a range) or "choice"
    lo: float = 0.0
    hi: float = 0.0
    log: bool = False
    choices: tuple = ()


def leaf_type(settings, name: str, owner: str):
    """The annotated type of field ``name`` (dotted: a nested config's field) of ``settings``.
    ValueError naming the field when there is none."""
    head, _, tail = name.partition(".")
    types_ = field_types(type(settings))
    if head not in types_:
        raise ValueError(f"--sample {name}: {owner} has no field {head!r}: expected one of {', '.join(types_)}")
    if tail:
        return leaf_type(getattr(settings, head), tail, f"{owner}.{head}")
    return types_[head]


def parse_spec(item: str, settings, owner: str | None = None) -> Spec:
    """``"lr=1e-4:1e-1:log"`` -> a :class:`Spec`, checked against the field's type in ``settings``
    (``owner``: how errors name the settings, default the class's name)."""
    if "=" not in item:
        raise ValueError(f"--sample {item!r} is invalid: expected FIELD=SPEC, SPEC {SPEC_HELP}")
    name, text = (s.strip() for s in item.split("=", 1))
    full = leaf_type(settings, name, owner or type(settings).__qualname__)
    bad = f"--sample {name}={text!r} is invalid: expected {SPEC_HELP}"
    if "|" in text:
        choices = tuple(c.strip() for c in text.split("|"))
        if len(choices) < 2 or not all(choices):
            raise ValueError(f"{bad} (two or more non-empty choices)")
        for c in choices:
            try:
                parse_value(full, c, name)
            except ValueError as e:
                raise ValueError(f"--sample {name}={text!r} is invalid: choice {c!r} does not parse as "
                                 f"{type_name(full)}") from None
        return Spec(name, text, "choice", choices=choices)
    args = [a for a in typing.get_args(full) if a is not type(None)]   # X | None: a range of X
    tp = args[0] if len(args) == 1 and type(None) in typing.get_args(full) else full
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "log"):
        raise ValueError(bad)
    if tp not in (int, float):
        raise ValueError(f"--sample {name}={text!r} is invalid: a range needs an int or float field, {name} "
                         f"is {type_name(tp)}: give choices A|B|C")
    try:
        lo, hi = (tp(float(p)) if tp is float else int(p) for p in parts[:2])
    except ValueError:
        raise ValueError(f"{bad} ({name} is {type_name(tp)})") from None
    log = len(parts) == 3
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) or (log and lo <= 0):
        raise ValueError(f"--sample {name}={text!r} is invalid: expected finite LO < HI"
                         + (" with LO > 0 for :log" if log else ""))
    return Spec(name, text, tp.__name__, float(lo), float(hi), log)


def draw(specs, n: int, seed: int) -> tuple:
    """``n`` settings of the sampled fields: ``(((name, text), ...), ...)``, draw ``i`` from
    ``default_rng([seed, i])``, one uniform number per spec in order (see the module's table)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        point = []
        for s in specs:
            u = rng.random()
            point.append((s.name, _value(s, u)))
        out.append(tuple(point))
    return tuple(out)


def _value(s: Spec, u: float) -> str:
    """The text of spec ``s`` at the uniform number ``u`` in [0, 1)."""
    if s.kind == "choice":
        return s.choices[min(int(u * len(s.choices)), len(s.choices) - 1)]
    if s.kind == "int":
        if s.log:   # log-uniform on [lo - 1/2, hi + 1/2), rounded: each integer's cell (lo >= 1)
            a, b = math.log(s.lo - 0.5), math.log(s.hi + 0.5)
            v = int(round(math.exp(a + u * (b - a))))
        else:
            v = int(s.lo) + int(u * (s.hi - s.lo + 1))
        return str(min(max(v, int(s.lo)), int(s.hi)))
    v = math.exp(math.log(s.lo) + u * (math.log(s.hi) - math.log(s.lo))) if s.log else s.lo + u * (s.hi - s.lo)
    return format_value(min(max(float(f"{v:.4g}"), s.lo), s.hi))
