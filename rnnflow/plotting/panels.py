"""Side-by-side training panels: loss curves or gradient-norm traces, one panel per condition.

Each panel is :func:`rnnflow.plotting.training.plot_loss_curves` /
:func:`~rnnflow.plotting.training.plot_grad_norm_trace` drawn into its own axes, with
a shared y axis so the conditions (no clipping / norm / value; one sequence length per
panel) compare at a glance. ``panels`` is ``{panel title: runs}`` with ``runs`` as those
functions take them (a ``{label: TrainResult}`` dict, typically one entry per seed).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from .training import plot_grad_norm_trace, plot_loss_curves


def _panel_grid(n: int, ncols: int | None, panel=(4.6, 3.6), sharey: bool = True):
    ncols = ncols or min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_loss_panels(panels: dict, *, baseline: float | None = None, baseline_label: str = "baseline",
                     smooth: int = 1, logy: bool = True, sharey: bool = True, ncols: int | None = None,
                     title: str | None = None) -> Figure:
    """Loss against step, one panel per entry of ``panels`` (log y by default).

    Args:
        baseline: a horizontal reference drawn in every panel (e.g. ``ADDING_BASELINE_MSE``).
        smooth: trailing moving-average window (1: raw), as in ``plot_loss_curves``.
        sharey: one y range for all panels (False when one condition blows up by decades
            and would flatten the others).
    """
    if not panels:
        raise ValueError("panels is empty: expected {panel title: runs}")
    fig, axes = _panel_grid(len(panels), ncols, sharey=sharey)
    for ax, (name, runs) in zip(axes, panels.items()):
        plot_loss_curves(runs, smooth=smooth, logy=logy, baseline=baseline, baseline_label=baseline_label, ax=ax)
        ax.set_title(name, fontsize="medium")
        if sharey and ax is not axes[0]:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    return fig


def plot_grad_norm_panels(panels: dict, *, thresholds: dict | None = None, sharey: bool = True,
                          ncols: int | None = None, title: str | None = None) -> Figure:
    """Global gradient norm before clipping against step (log y), one panel per entry.

    Steps the trainer skipped (non-finite) are marked by bars along the top (see
    ``plot_grad_norm_trace``); each panel's legend sits below it.

    Args:
        thresholds: ``{panel title: c}``, a horizontal line at the norm threshold ``c``
            (default: each run's own ``clip_value`` where it clips by norm).
        sharey: one y range for all panels.
    """
    if not panels:
        raise ValueError("panels is empty: expected {panel title: runs}")
    thresholds = thresholds or {}
    fig, axes = _panel_grid(len(panels), ncols, sharey=sharey)
    for ax, (name, runs) in zip(axes, panels.items()):
        plot_grad_norm_trace(runs, threshold=thresholds.get(name), show_clipped=False, ax=ax)
        ax.set_title(name, fontsize="medium")
        leg = ax.get_legend()
        if leg is not None:
            leg.remove()
        # below the panel: the traces and the skipped-step bars fill the plot from bottom to top
        ax.legend(fontsize="x-small", ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.24))
        if sharey and ax is not axes[0]:
            ax.set_ylabel("")
    if sharey:
        axes[0].set_ylim(top=float(np.max([ax.get_ylim()[1] for ax in axes])))
    if title:
        fig.suptitle(title)
    return fig
