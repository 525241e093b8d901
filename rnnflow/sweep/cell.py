"""One sweep cell run as an ordinary study run, and its row of the sweep table."""
from __future__ import annotations

import json
import math
import os
import time

STATUSES = ("finished", "diverged", "non-finite", "failed")


def row_status(training, metrics: dict) -> tuple[str, str]:
    """``(status, detail)`` of a cell that ran, from its study's training runs (each
    ``{"outcome", "detail"}``, :attr:`~rnnflow.studies.StudyResult.training`) and its headline
    numbers, the worst that applies:

    - ``non-finite``: a training run's outcome is "non-finite" or "stopped" (a loss, gradient
      or update became inf/nan), or a headline number is inf or nan;
    - ``diverged``: a training run's outcome is "diverged" (its loss, finite throughout, grew
      past ``rnnflow.training.records.DIVERGED_FACTOR`` = 1e6 times its first value);
    - ``finished``: otherwise (also a study that trains nothing, with finite numbers).

    ``detail``: the first such run's one-line description (or the non-finite numbers' keys).
    A study's own verdicts (e.g. clipping's "diverged" count, final loss above 2x the
    baseline) stay headline numbers; the status is the trainer's, the same for every study."""
    bad = [r for r in training if r.get("outcome") in ("non-finite", "stopped")]
    if bad:
        return "non-finite", f"{len(bad)} of {len(training)} training runs: {bad[0].get('detail', '')}"
    inf = [k.removeprefix("m:") for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if inf:
        return "non-finite", "headline numbers not finite: " + ", ".join(inf[:5]) + (" ..." if len(inf) > 5 else "")
    div = [r for r in training if r.get("outcome") == "diverged"]
    if div:
        return "diverged", f"{len(div)} of {len(training)} training runs: {div[0].get('detail', '')}"
    return "finished", ""


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


def run_cell(cell, out: str, device=None) -> dict:
    """Run ``cell`` (:class:`~rnnflow.sweep.grid.Cell`) with :func:`rnnflow.studies.run` under
    ``out`` (resumable: a complete folder is loaded) and return its row: the overrides, seed,
    backend, ``status`` (finished / diverged / non-finite, the rule of :func:`row_status`, with
    its ``detail``; failed: the run raised, ``error`` says what), ``training_runs`` and how many
    of them diverged (``runs_diverged``) and went non-finite (``runs_non_finite``), the headline
    numbers (``m:<flattened key>``), ``folder``, ``wall_seconds``, ``reused`` and the provenance
    (``host``, ``start``, ``end``, ``git``, ``device``, versions). ``device``: where the cell's
    study runs (:mod:`rnnflow.devices`)."""
    from .. import studies
    from ..overrides import apply_overrides
    row = {"cell": cell.id, **{k: v for k, v in cell.overrides}, "seed": cell.seed, "backend": cell.backend,
           "scale": cell.scale}
    t0 = time.time()
    try:
        settings = apply_overrides(studies.get(cell.study).SCALES[cell.scale],
                                   [f"{k}={v}" for k, v in cell.overrides], owner=f"{cell.study}.Settings")
        r = studies.run(cell.study, backend=cell.backend, seed=cell.seed, scale=cell.scale, out=out,
                        progress=False, settings=settings, device=device)
    except Exception as e:   # a cell's failure is its row, not the sweep's end
        return {**row, "status": "failed", "error": " ".join(f"{type(e).__name__}: {e}".split()),
                "wall_seconds": time.time() - t0}
    metrics = {f"m:{k}": v for k, v in flatten(r.summary).items()}
    status, detail = row_status(r.training, metrics)
    outcomes = [t.get("outcome") for t in r.training]
    with open(os.path.join(r.folder, "provenance.json")) as f:
        about = json.load(f)
    return {**row, "status": status, "error": "", "detail": detail, "training_runs": len(outcomes),
            "runs_diverged": outcomes.count("diverged"),
            "runs_non_finite": outcomes.count("non-finite") + outcomes.count("stopped"), **metrics,
            "folder": os.path.abspath(r.folder), "wall_seconds": about.get("wall_seconds", r.seconds),
            "reused": r.reused, "host": about.get("host"), "start": about.get("start"), "end": about.get("end"),
            "git": (about.get("git") or {}).get("commit"), "device": about.get("device", "default"),
            **{f"version:{k}": v for k, v in about.get("versions", {}).items()}}
