"""A sweep's spec and its cells: the product of the grid's values, the randomly drawn
settings (:mod:`.sample`) and the seeds.

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
    ``--set`` takes it), ``seeds`` the seeds, every combination one cell.

    Random settings: ``sample`` holds ``FIELD=SPEC`` texts (:mod:`.sample`: ``lo:hi``,
    ``lo:hi:log``, ``a|b|c``) and ``draws`` how many settings of those fields to draw, seeded by
    ``sample_seed``; every drawn setting is crossed with the grid and the seeds. ``drawn`` holds
    the drawn settings (``(((field, text), ...), ...)``); None: draw them now (a sweep resumed
    from its folder passes the recorded ones, :func:`~rnnflow.sweep.run_sweep`)."""

    study: str
    grid: tuple             # ((field, (text, ...)), ...)
    seeds: tuple = (0,)
    backend: str = "torch"
    scale: str = "smoke"
    sample: tuple = ()      # ("field=spec", ...): fields drawn at random
    draws: int = 0          # how many settings of the sampled fields (>= 1 when sample is given)
    sample_seed: int = 0    # seed of the draws
    drawn: tuple | None = None   # the drawn settings; None: drawn from sample, draws, sample_seed

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
        self._check_sample(module)
        for cell in self.cells():   # every value parses and passes the Settings' checks, before any run
            try:
                apply_overrides(module.SCALES[self.scale], list(f"{k}={v}" for k, v in cell.overrides),
                                owner=f"{self.study}.Settings")
            except ValueError as e:
                if not self.sample:
                    raise
                raise ValueError(f"{e} (cell {cell.id}, drawn by --sample {' '.join(self.sample)})") from None

    def _check_sample(self, module) -> None:
        from .sample import draw, parse_spec
        if isinstance(self.draws, bool) or not isinstance(self.draws, int) or self.draws < 0:
            raise ValueError(f"--random {self.draws!r} is invalid: expected a number of settings >= 1")
        if isinstance(self.sample_seed, bool) or not isinstance(self.sample_seed, int) or self.sample_seed < 0:
            raise ValueError(f"--sample-seed {self.sample_seed!r} is invalid: expected a non-negative integer")
        if bool(self.sample) != (self.draws > 0):
            raise ValueError("--sample and --random go together: --sample FIELD=SPEC ... --random N "
                             f"(got {len(self.sample)} --sample and --random {self.draws or 'not given'})")
        specs = [parse_spec(item, module.SCALES[self.scale], f"{self.study}.Settings") for item in self.sample]
        names = [s.name for s in specs]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"--sample {name} is given twice: give it once")
            if name in dict(self.grid):
                raise ValueError(f"--sample {name} is also in --grid: give a field one or the other")
        if self.drawn is None:
            object.__setattr__(self, "drawn", draw(specs, self.draws, self.sample_seed))
        elif len(self.drawn) != self.draws or any([n for n, _ in p] != names for p in self.drawn):
            raise ValueError(f"Sweep.drawn holds {len(self.drawn)} settings of other fields than "
                             f"--random {self.draws} of {', '.join(names)}")

    def cells(self) -> list[Cell]:
        """Every combination: the grid's settings outermost (in the grid's order), then the
        drawn settings (in draw order), seeds innermost."""
        names = [n for n, _ in self.grid]
        out = []
        for combo in itertools.product(*(vals for _, vals in self.grid)):
            for point in self.drawn or ((),):
                for seed in self.seeds:
                    out.append(Cell(self.study, self.backend, self.scale, seed, tuple(zip(names, combo)) + point))
        return out

    def spec(self) -> dict:
        """The sweep's spec as JSON data (what ``sweep.json`` and the folder's digest hold)."""
        out = {"study": self.study, "grid": [[n, list(v)] for n, v in self.grid],
               "seeds": list(self.seeds), "backend": self.backend, "scale": self.scale}
        if self.sample:   # absent otherwise, so a grid's folder name is what it was before sampling existed
            out.update(sample=list(self.sample), draws=self.draws, sample_seed=self.sample_seed)
        return out

    def digest(self) -> str:
        """8 hex digits of the SHA-256 of the spec (sorted JSON): the sweep folder's suffix.
        The drawn settings are not part of it: the folder is known before they are drawn."""
        text = json.dumps(self.spec(), sort_keys=True)
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
    ``[grid]`` (field = list of values), ``[sample]`` (field = spec text), ``random`` and
    ``sample_seed``. TOML (``.toml``), or YAML when pyyaml is installed."""
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
    known = {"study", "backend", "scale", "seeds", "grid", "sample", "random", "sample_seed"}
    if not isinstance(data, dict) or set(data) - known:
        raise ValueError(f"--file {path!r}: unknown keys {sorted(set(data) - known)}: expected {sorted(known)}")
    return data


def sweep_from(study, grid_items, seeds_text, backend, scale, file_data=None, sample_items=(), draws=None,
               sample_seed=None) -> Sweep:
    """The :class:`Sweep` of the CLI's flags, a sweep file's keys filling what the flags leave
    (``[sample]``: field = spec, ``random``, ``sample_seed``)."""
    data = file_data or {}
    study = study or data.get("study")
    if study is None:
        raise ValueError("sweep: name a STUDY (or give study = ... in --file)")
    grid = parse_grid(grid_items) if grid_items else tuple(
        (k, tuple(_text(v) for v in (vals if isinstance(vals, list) else [vals])))
        for k, vals in (data.get("grid") or {}).items())
    seeds = data.get("seeds", "0") if seeds_text is None else seeds_text
    seeds = tuple(seeds) if isinstance(seeds, list) else parse_seeds(seeds)
    sample = tuple(sample_items) if sample_items else tuple(f"{k}={v}" for k, v in (data.get("sample") or {}).items())
    return Sweep(study, grid, seeds, backend or data.get("backend", "torch"), scale or data.get("scale", "smoke"),
                 sample=sample, draws=data.get("random", 0) if draws is None else draws,
                 sample_seed=data.get("sample_seed", 0) if sample_seed is None else sample_seed)


def _text(value) -> str:
    from ..overrides import format_value
    return format_value(tuple(value) if isinstance(value, list) else value)
