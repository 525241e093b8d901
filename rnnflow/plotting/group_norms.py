"""Per-layer gradient norms compared across runs: one panel per layer, one line per run.

The transpose of :func:`rnnflow.plotting.gradients.plot_gradient_norms` (one panel per
run): here the first layer of every variant sits in one panel, so a variant whose
first-layer gradient vanished stands out. A gradient that is exactly zero (a saturated
sigmoid in float32) has no place on a log axis; such steps are drawn on a floor line a
decade below the smallest non-zero norm and the legend says so.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ._common import as_items
from .gradients import _norm_series


def plot_group_norm_comparison(runs, groups, *, group_labels: dict | None = None, ncols: int | None = None,
                               title: str | None = None) -> Figure:
    """Gradient L2 norm of each group in ``groups`` against step, all runs overlaid.

    runs:   ``{label: TrainResult | Metrics | GradientHistory}``.
    groups: flat parameter keys, e.g. ``("layers.0.linear.weight", "head.weight")``.
    group_labels: ``{group: panel title}`` (default: the key).
    Steps a trainer skipped (non-finite) are left out.
    """
    items = as_items(runs, "run")
    groups = list(groups)
    if not groups:
        raise ValueError("groups is empty: expected flat parameter keys")
    series = []
    for label, run in items:
        x, norms, names, xlabel, skipped = _norm_series(run)
        missing = [g for g in groups if g not in names]
        if missing:
            raise ValueError(f"run {label!r} has no group {missing[0]!r} (has {list(names)})")
        keep = np.ones(len(x), bool) if skipped is None else ~skipped
        cols = np.stack([norms[:, list(names).index(g)] for g in groups], axis=1)  # (N, len(groups))
        series.append((label, x, np.where(keep[:, None] & np.isfinite(cols), cols, np.nan), xlabel))
    positive = np.concatenate([s[2][s[2] > 0] for s in series])
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - 1) if positive.size else 1e-12
    ncols = ncols or min(len(groups), 2)
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(5.4 * ncols, 3.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    any_zero = False
    for j, (ax, g) in enumerate(zip(axes, groups)):
        for label, x, v, xlabel in series:
            col = v[:, j]
            zero = col == 0
            any_zero |= bool(zero.any())
            all_zero = bool(zero.all())
            (line,) = ax.plot(x, np.where(col > 0, col, np.nan), label=None if all_zero else label, linewidth=1.0)
            if zero.any():
                ax.plot(x[zero], np.full(zero.sum(), floor), "_", color=line.get_color(), markersize=4,
                        label=f"{label}: " + ("always" if all_zero else "sometimes") + " exactly 0 (on the floor)")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title((group_labels or {}).get(g, g), fontsize="medium")
        if j % ncols == 0:
            ax.set_ylabel(r"$\|\partial L/\partial\theta\|_2$ of the layer")
        ax.legend(fontsize="x-small")
    if any_zero:
        for ax in axes[:len(groups)]:
            ax.axhline(floor, color="grey", linewidth=0.6, linestyle=":")
    fig.suptitle(title or "Gradient norm per layer")
    return fig
