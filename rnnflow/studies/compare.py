"""A study's headline numbers as text: one run as an aligned table (:func:`format_summary`), or
two runs of one study side by side with their differences (:func:`compare_summaries`,
typically torch | jax). Nested summary keys are joined by ' / '; floats print to 4 digits."""
from __future__ import annotations

import numpy as np

from ._common import StudyResult


def format_summary(result: StudyResult) -> str:
    """The headline numbers of a study as an aligned text table (nested keys joined by ' / ')."""
    rows = [(k, _cell(v)) for k, v in _flat_summary(result.summary).items()]
    width = max((len(k) for k, _ in rows), default=0)
    head = f"{result.name} [{result.backend}, seed {result.seed}, {result.scale}]"
    return "\n".join([head] + [f"  {k:<{width}}  {v}" for k, v in rows])


def _flat_summary(summary: dict) -> dict:
    """``{"a / b": leaf}`` for a nested summary dict."""
    out = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            out.update({f"{k} / {kk}": vv for kk, vv in _flat_summary(v).items()})
        else:
            out[str(k)] = v
    return out


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return str(v)


def compare_summaries(a: StudyResult, b: StudyResult, labels: tuple[str, str] | None = None) -> str:
    """The headline numbers of two runs of one study side by side (typically torch | jax),
    with ``|a - b|`` for every number both have. The last line names the row with the
    largest difference relative to ``max(|a|, |b|, 1)`` (absolute for numbers below 1).

    ``labels``: the two columns' names (default: the backends).

    Raises:
        ValueError: ``a`` and ``b`` are runs of different studies.
    """
    la, lb = labels or (a.backend, b.backend)
    if a.name != b.name:
        raise ValueError(f"cannot compare study {a.name!r} with study {b.name!r}")
    fa, fb = _flat_summary(a.summary), _flat_summary(b.summary)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows, worst, worst_key = [], 0.0, None
    for k in keys:
        va, vb = fa.get(k, "-"), fb.get(k, "-")
        diff = ""
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        if numeric and np.isfinite(va) and np.isfinite(vb):
            d = abs(float(va) - float(vb))
            scaled = d / max(abs(float(va)), abs(float(vb)), 1.0)
            if worst_key is None or scaled > worst:
                worst, worst_key = scaled, k
            diff = f"{d:.2g}"
        rows.append((k, _cell(va), _cell(vb), diff))
    head = ("", la, lb, "|difference|")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    fmt = "  {:<%d}  {:>%d}  {:>%d}  {:>%d}" % tuple(widths)
    lines = [f"{a.name} [seed {a.seed}, {a.scale}]: {la} vs {lb}", fmt.format(*head)]
    lines += [fmt.format(*r) for r in rows]
    lines.append(f"  largest difference relative to max(|{la}|, |{lb}|, 1): {worst:.2g}"
                 + (f" ({worst_key})" if worst_key is not None else " (no number in common)"))
    return "\n".join(lines)


def load_result(folder: str) -> StudyResult:
    """The :class:`StudyResult` of a finished study folder (its ``summary.json``); ValueError
    naming the folder if it holds none."""
    import json
    import os
    path = os.path.join(folder, "summary.json")
    try:
        with open(path) as f:
            saved = json.load(f)
        return StudyResult(saved["study"], saved["backend"], int(saved["seed"]), saved["scale"], folder,
                           saved["results"], tuple(saved.get("figures", ())), float(saved["seconds"]), reused=True,
                           training=tuple(saved.get("training_runs", ())))
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"compare: {folder!r} is not a finished study folder (no readable summary.json: "
                         f"{type(e).__name__})") from None
