"""Two or more runs of one study overlaid: one panel per array they share (a loss curve, a
Jacobian profile over the gap), one line per run (:func:`rnnflow.studies.compare.common_curves`
picks the arrays)."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ._common import log_axis


def plot_compare_curves(curves: dict, *, title: str | None = None, ncols: int = 3) -> Figure:
    """``curves``: ``{key: {"x": xlabel, "runs": {label: (x (N,), y (N,))}, "note": text}}`` (the
    note, optional, goes into the panel's title), one panel per
    key, one line per run labelled by its run. A key whose last part starts with ``log`` holds
    logarithms already (linear y); a positive curve spanning more than two decades gets a
    log y axis. Non-finite points are left out of the line (a gap)."""
    if not curves:
        raise ValueError("plot_compare_curves(curves={}): no arrays to draw")
    n = len(curves)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (key, panel) in zip(axes, curves.items()):
        ys = []
        for label, (x, y) in panel["runs"].items():
            y = np.asarray(y, dtype=np.float64)
            ax.plot(np.asarray(x), np.where(np.isfinite(y), y, np.nan), label=label, lw=1.2)
            ys.append(y[np.isfinite(y)])
        leaf = key.rsplit("/", 1)[-1]
        finite = np.concatenate(ys) if ys else np.array([])
        if not leaf.startswith("log") and finite.size and finite.min() > 0 and finite.max() > 100 * finite.min():
            log_axis(ax)
        ax.set_xlabel(panel["x"])
        ax.set_ylabel(leaf + (" (natural log)" if leaf.startswith("log_") else ""))
        ax.set_title(key + (f" ({panel['note']})" if panel.get("note") else ""), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
