"""One sweep cell run as an ordinary study run, and its row of the sweep table."""
from __future__ import annotations

import json
import math
import os
import time

STATUSES = ("finished", "non-finite", "failed")


def flatten(summary, prefix: str = "") -> dict:
    """``{"a": {"b": 1.5}}`` -> ``{"a.b": 1.5}``; lists of numbers become ``a[0]``, ``a[1]``...;
    only numbers, booleans and strings are kept."""
    out = {}
    if isinstance(summary, dict):
        for k, v in summary.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(summary, (list, tuple)):
        for i, v in enumerate(summary):
            out.update(flatten(v, f"{prefix[:-1]}[{i}]."))
    elif isinstance(summary, (bool, int, float, str)) or summary is None:
        out[prefix[:-1]] = summary
    return out


def run_cell(cell, out: str) -> dict:
    """Run ``cell`` (:class:`~rnnflow.sweep.grid.Cell`) with :func:`rnnflow.studies.run` under
    ``out`` (resumable: a complete folder is loaded) and return its row: the overrides, seed,
    backend, ``status`` (finished / non-finite: a headline number is inf or nan / failed, with
    ``error``), the headline numbers (``m:<flattened key>``), ``folder``, ``wall_seconds``,
    ``reused`` and the provenance (``host``, ``start``, ``end``, ``git``, versions)."""
    from .. import studies
    from ..overrides import apply_overrides
    row = {"cell": cell.id, **{k: v for k, v in cell.overrides}, "seed": cell.seed, "backend": cell.backend,
           "scale": cell.scale}
    t0 = time.time()
    try:
        settings = apply_overrides(studies.get(cell.study).SCALES[cell.scale],
                                   [f"{k}={v}" for k, v in cell.overrides], owner=f"{cell.study}.Settings")
        r = studies.run(cell.study, backend=cell.backend, seed=cell.seed, scale=cell.scale, out=out,
                        progress=False, settings=settings)
    except Exception as e:   # a cell's failure is its row, not the sweep's end
        return {**row, "status": "failed", "error": " ".join(f"{type(e).__name__}: {e}".split()),
                "wall_seconds": time.time() - t0}
    metrics = {f"m:{k}": v for k, v in flatten(r.summary).items()}
    bad = any(isinstance(v, float) and not math.isfinite(v) for v in metrics.values())
    with open(os.path.join(r.folder, "provenance.json")) as f:
        about = json.load(f)
    return {**row, "status": "non-finite" if bad else "finished", "error": "", **metrics,
            "folder": os.path.abspath(r.folder), "wall_seconds": about.get("wall_seconds", r.seconds),
            "reused": r.reused, "host": about.get("host"), "start": about.get("start"), "end": about.get("end"),
            "git": (about.get("git") or {}).get("commit"),
            **{f"version:{k}": v for k, v in about.get("versions", {}).items()}}
