"""A study's headline numbers as text: one run as an aligned table (:func:`format_summary`), or
two runs of one study side by side with their differences (:func:`compare_summaries`,
typically torch | jax). Nested summary keys are joined by ' / '; floats print to 4 digits.
:func:`common_curves` picks the arrays several runs' ``data.npz`` share, to overlay
(:func:`rnnflow.plotting.compare.plot_compare_curves`)."""
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


X_AXES = {"gap": "gap t - s (steps)", "depths": "depth (layers)"}   # sibling arrays used as x


def common_curves(folders, labels, limit: int = 12) -> tuple[dict, int]:
    """The 1-D numeric arrays that every folder's ``data.npz`` holds under the same key (a
    ``(K, N)`` array counts as the ``(N,)`` mean of its rows), at most ``limit`` of them in the first run's order:
    ``({key: {"x": xlabel, "runs": {label: (x, y)}, "note": text}}, how many more were left out)``. ``x`` is
    a sibling ``<prefix>/gap`` (or ``depths``) array of the same length when the folder has
    one, else ``0 .. N-1`` ("step"); boolean arrays and the x arrays themselves are not curves."""
    import os
    data = []
    for folder in folders:
        path = os.path.join(folder, "data.npz")
        if not os.path.exists(path):
            return {}, 0
        with np.load(path, allow_pickle=False) as z:
            data.append({k: z[k] for k in z.files})
    keys = [k for k in data[0] if all(k in d and _curve(d[k]) is not None for d in data)
            and k.rsplit("/", 1)[-1] not in X_AXES]
    out = {}
    for key in keys[:limit]:
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        xlabel, runs = "step", {}
        for d, label in zip(data, labels):
            y = _curve(d[key])
            x = np.arange(y.size)
            for name, text in X_AXES.items():
                cand = d.get(prefix + name)
                if cand is not None and _curve(cand) is not None and _curve(cand).size == y.size:
                    x, xlabel = _curve(cand), text
                    break
            runs[label] = (x, y)
        rows = {d[key].shape[0] for d in data if d[key].ndim == 2} - {1}
        out[key] = {"x": xlabel, "runs": runs,
                    "note": f"mean of {'/'.join(map(str, sorted(rows)))} rows" if rows else ""}
    return out, max(0, len(keys) - limit)


def _curve(a):
    """``a`` as a 1-D float array of two or more points (a ``(K, N)`` array: the mean of its K
    rows, e.g. over a batch), or None when it is not a curve."""
    a = np.asarray(a)
    if a.dtype.kind not in "iuf" or a.ndim not in (1, 2):
        return None
    if a.ndim == 2:
        with np.errstate(all="ignore"):
            a = a.astype(np.float64).mean(axis=0)
    return a.astype(np.float64) if a.size >= 2 else None


def overlay_figure(folders, labels, limit: int = 12):
    """``(figure, n_left_out)``: the arrays the folders' ``data.npz`` share (:func:`common_curves`)
    overlaid, one panel per array, one line per run labelled ``labels[i]``; ``(None, 0)`` when
    they share none. What ``rnnflow compare`` draws."""
    from ..plotting.compare import plot_compare_curves
    curves, left = common_curves(folders, labels, limit)
    if not curves:
        return None, 0
    study = load_result(folders[0]).name
    return plot_compare_curves(curves, title=f"{study}: " + " vs ".join(labels)), left
