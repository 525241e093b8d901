"""A sweep's spec and its cells: the product of the grid's values and the seeds.

A cell is ``(study, backend, scale, seed, overrides)``, the overrides ``{field: text}`` as
``rnnflow run --set`` takes them (:mod:`rnnflow.overrides` parses them by the field's type).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass

from ..overrides import apply_overrides, field_types
from ..validation import fail


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: ``rnnflow run STUDY --backend B --scale S --seed N --set k=v ...``."""

    study: str
    backend: str
    scale: str
    seed: int
    overrides: tuple        # ((field, text), ...) in the grid's order

    @property
    def id(self) -> str:
        """``<backend>-seed<N>-k=v-k=v``: readable and unique within a sweep."""
        return "-".join([f"{self.backend}-seed{self.seed}", *(f"{k}={v}" for k, v in self.overrides)])


@dataclass(frozen=True)
class Sweep:
    """A grid over a study's settings and seeds: ``grid`` maps a field to its texts (each as
    ``--set`` takes it), ``seeds`` the seeds, every combination one cell."""

    study: str
    grid: tuple             # ((field, (text, ...)), ...)
    seeds: tuple = (0,)
    backend: str = "torch"
    scale: str = "smoke"

    def __post_init__(self):
        from .. import studies
        module = studies.get(self.study)
        owner = "Sweep"
        if self.backend not in studies.BACKENDS:
            fail(owner, "backend", self.backend, f"one of {', '.join(studies.BACKENDS)}")
        if self.scale not in studies.SCALES:
            fail(owner, "scale", self.scale, f"one of {', '.join(studies.SCALES)}")
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            fail(owner, "seeds", self.seeds, "one or more non-negative integers")
        known = field_types(module.Settings)
        for name, values in self.grid:
            if name.split(".")[0] not in known:
                raise ValueError(f"--grid {name}: {self.study}.Settings has no field {name!r}: expected one "
                                 f"of {', '.join(known)}")
            if not values:
                raise ValueError(f"--grid {name}: give one or more values")
        for cell in self.cells():   # every value parses and passes the Settings' checks, before any run
            apply_overrides(module.SCALES[self.scale], list(f"{k}={v}" for k, v in cell.overrides),
                            owner=f"{self.study}.Settings")

    def cells(self) -> list[Cell]:
        """Every combination, settings outermost (in the grid's order), seeds innermost."""
        names = [n for n, _ in self.grid]
        out = []
        for combo in itertools.product(*(vals for _, vals in self.grid)):
            for seed in self.seeds:
                out.append(Cell(self.study, self.backend, self.scale, seed, tuple(zip(names, combo))))
        return out

    def digest(self) -> str:
        """8 hex digits of the SHA-256 of the spec (sorted JSON): the sweep folder's suffix."""
        text = json.dumps({"study": self.study, "grid": [[n, list(v)] for n, v in self.grid],
                           "seeds": list(self.seeds), "backend": self.backend, "scale": self.scale}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def folder(self, out: str) -> str:
        """``<out>/sweeps/<study>-<scale>-<digest>``: the table and figures of this sweep."""
        return os.path.join(out, "sweeps", f"{self.study}-{self.scale}-{self.digest()}")


def parse_grid(items) -> tuple:
    """``["hidden=16,32", "rhos=0.5,1;0.9,1.1"]`` -> ``(("hidden", ("16", "32")), ...)``: values
    split on ``;`` when the text has one (values that are tuples), else on ``,``."""
    grid, seen = [], set()
    for item in items:
        if "=" not in item:
            raise ValueError(f"--grid {item!r} is invalid: expected FIELD=V1,V2,..., e.g. hidden=16,32")
        name, text = (s.strip() for s in item.split("=", 1))
        if name in seen:
            raise ValueError(f"--grid {name} is given twice: give its values once")
        seen.add(name)
        values = tuple(v.strip() for v in text.split(";" if ";" in text else ",") if v.strip())
        grid.append((name, values))
    return tuple(grid)


def parse_seeds(text: str) -> tuple:
    """``"0-2"`` -> ``(0, 1, 2)``, ``"0,3,5"`` -> ``(0, 3, 5)``, ``"4"`` -> ``(4,)``."""
    try:
        seeds = []
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise ValueError(f"--seeds {text!r} is invalid: expected e.g. 0-2, 0,3,5 or 4") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r} is invalid: expected distinct non-negative seeds, e.g. 0-2")
    return tuple(seeds)


def load_sweep_file(path: str) -> dict:
    """A sweep file's keys: ``study``, ``backend``, ``scale``, ``seeds`` (``"0-2"`` or a list),
    ``[grid]`` (field = list of values). TOML (``.toml``), or YAML when pyyaml is installed."""
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"--file {path!r}: YAML needs pyyaml (pip install pyyaml); or write it as TOML") from None
        with open(path) as f:
            data = yaml.safe_load(f)
    else:
        import tomllib
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"--file {path!r} is not valid TOML: {e}") from None
    known = {"study", "backend", "scale", "seeds", "grid"}
    if not isinstance(data, dict) or set(data) - known:
        raise ValueError(f"--file {path!r}: unknown keys {sorted(set(data) - known)}: expected {sorted(known)}")
    return data


def sweep_from(study, grid_items, seeds_text, backend, scale, file_data=None) -> Sweep:
    """The :class:`Sweep` of the CLI's flags, a sweep file's keys filling what the flags leave."""
    data = file_data or {}
    study = study or data.get("study")
    if study is None:
        raise ValueError("sweep: name a STUDY (or give study = ... in --file)")
    grid = parse_grid(grid_items) if grid_items else tuple(
        (k, tuple(_text(v) for v in (vals if isinstance(vals, list) else [vals])))
        for k, vals in (data.get("grid") or {}).items())
    seeds = data.get("seeds", "0") if seeds_text is None else seeds_text
    seeds = tuple(seeds) if isinstance(seeds, list) else parse_seeds(seeds)
    return Sweep(study, grid, seeds, backend or data.get("backend", "torch"), scale or data.get("scale", "smoke"))


def _text(value) -> str:
    from ..overrides import format_value
    return format_value(tuple(value) if isinstance(value, list) else value)
