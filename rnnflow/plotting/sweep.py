"""A sweep's table as a faceted heat-map grid: ``metric`` over two settings (``x``, ``y``), one
panel per value of a third (``facet``), seeds aggregated: each cell shows the mean and the
half-width of its 95% confidence interval (Student t over the seeds)."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

# two-sided 95% Student t quantiles, t_{0.975, df}, df = 1 .. 10 (df > 10: 1.96 + 2.4/df, within 1%)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def ci95(values) -> tuple[float, float]:
    """``(mean, half-width of the 95% CI of the mean)`` of ``values``; the half-width is nan
    for one value."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float(v.mean()), math.nan
    df = v.size - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df
    return float(v.mean()), float(t * v.std(ddof=1) / math.sqrt(v.size))


def _order(values):
    values = list(values)
    try:
        return sorted(set(values), key=float)
    except ValueError:
        return sorted(set(values))


def plot_sweep_grid(rows, *, x: str, y: str, metric: str, facet: str | None = None, title: str | None = None) -> Figure:
    """Heat maps of ``metric`` (a column of the sweep table, e.g. ``m:vanishing.log10_measured``)
    over settings ``x`` (columns) and ``y`` (rows), one panel per ``facet`` value; rows whose
    status is not ``finished`` are left out (a cell with none is grey, "no run")."""
    rows = [r for r in rows if r.get("status") == "finished"]
    if not rows:
        raise ValueError("plot_sweep_grid(rows=...): no finished rows to draw")
    for key in (x, y, metric) + ((facet,) if facet else ()):
        if key not in rows[0]:
            raise ValueError(f"plot_sweep_grid: column {key!r} is not in the table: expected one of "
                             f"{', '.join(rows[0])}")
    xs, ys = _order(str(r[x]) for r in rows), _order(str(r[y]) for r in rows)
    facets = _order(str(r[facet]) for r in rows) if facet else [None]
    stats = {}
    for f in facets:
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                vals = [float(r[metric]) for r in rows if str(r[x]) == xv and str(r[y]) == yv
                        and (f is None or str(r[facet]) == f)]
                stats[f, i, j] = (ci95(vals) + (len(vals),)) if vals else (math.nan, math.nan, 0)
    means = np.array([s[0] for s in stats.values()])
    lo, hi = np.nanmin(means), np.nanmax(means)
    fig = Figure(figsize=(max(5.0, 1.4 + 2.4 * len(facets) * max(1, len(xs) / 2)), 1.0 + 1.1 * max(2, len(ys))),
                 layout="constrained")
    axes = fig.subplots(1, len(facets), squeeze=False)[0]
    import matplotlib
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    for ax, f in zip(axes, facets):
        grid = np.array([[stats[f, i, j][0] for j in range(len(xs))] for i in range(len(ys))])
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=lo, vmax=hi, origin="lower", aspect="auto")
        for i in range(len(ys)):
            for j in range(len(xs)):
                mean, half, n = stats[f, i, j]
                text = "no run" if n == 0 else (f"{mean:.3g}" + ("" if math.isnan(half) else f"\n±{half:.2g}"))
                shade = 0.0 if n == 0 else (mean - lo) / ((hi - lo) or 1.0)
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="black" if n == 0 or shade > 0.55 else "white")
        ax.set_xticks(range(len(xs)), xs)
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        n_seeds = max(s[2] for k, s in stats.items() if k[0] == f)
        ax.set_title((f"{facet} = {f}, " if f is not None else "") + f"{n_seeds} seed{'' if n_seeds == 1 else 's'} per cell", fontsize=9)
    fig.colorbar(im, ax=list(axes), label=metric.removeprefix("m:"), shrink=0.9)
    fig.suptitle(title or f"{metric.removeprefix('m:')}: mean over seeds ± 95% CI", fontsize=10)
    return fig
