"""Training-run plots: loss curves (several runs overlaid) and gradient-norm traces.

Inputs are :class:`rnnflow.training.TrainResult` (or its ``Metrics``; for loss curves
also a :class:`~rnnflow.training.GradientHistory` with losses), alone, in a list, or
as ``{label: run}``.

Side-by-side panels (:func:`plot_loss_panels`, :func:`plot_grad_norm_panels`) draw those
plots one condition per panel (no clipping / norm / value; one sequence length per panel)
with a shared y axis; ``panels`` is ``{panel title: runs}``.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ._common import as_items, log_axis, new_axes, show_coinciding, skipped_stretches


LOSS_UNITS = {"mse_last": "mean squared error (target units$^2$)", "mse": "mean squared error (target units$^2$)",
              "xent_last": "cross-entropy (nats)", "xent_all": "cross-entropy per step (nats)",
              "xent": "cross-entropy (nats)"}


def _series(run):
    """``(x, loss, x label, loss name or None)`` of one run."""
    if hasattr(run, "hist_counts"):  # GradientHistory
        return run.iteration, run.loss, "iteration", None
    m = getattr(run, "metrics", run)
    if not hasattr(m, "loss") or not hasattr(m, "step"):
        raise TypeError(f"expected a TrainResult, Metrics or GradientHistory, got {type(run).__name__}")
    cfg = getattr(run, "train_config", None)
    return m.step, m.loss, "step", None if cfg is None else cfg.loss


def _smooth(v: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over finite entries (NaN where the window has none)."""
    if window <= 1:
        return v
    ok = np.isfinite(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    n = np.concatenate([[0], np.cumsum(ok)])
    i = np.arange(1, len(v) + 1)
    lo = np.maximum(i - window, 0)
    cnt = n[i] - n[lo]
    return np.where(cnt > 0, (c[i] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _spans_decades(values, decades: float = 2.0) -> bool:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    return len(v) > 1 and np.log10(v.max() / v.min()) >= decades


def plot_loss_curves(runs, *, smooth: int = 1, logy: bool | None = None, baseline: float | None = None,
                     baseline_label: str = "baseline", ax=None) -> Figure:
    """Loss against step for one or more runs, overlaid. Runs whose curves lie on top of each
    other are drawn so both show (the later dashed over the earlier, widened) and named in the
    legend.

    smooth:   trailing moving-average window (1: raw); the raw curve stays faint behind.
    logy:     log y-axis; None chooses it when the losses span two decades or more.
    baseline: a horizontal reference (e.g. ``ADDING_BASELINE_MSE`` or ``copy_baseline(T)``).
    """
    fig, ax = new_axes(ax)
    items = as_items(runs, "run")
    all_losses, names, lines = [], set(), []
    for label, run in items:
        x, loss, xlabel, name = _series(run)
        names.add(name)
        all_losses.append(loss)
        raw = np.where(np.isfinite(loss), loss, np.nan)
        if smooth > 1:
            (line,) = ax.plot(x, _smooth(raw, smooth), label=label, linewidth=1.4)
            ax.plot(x, raw, color=line.get_color(), alpha=0.25, linewidth=0.7)
        else:
            (line,) = ax.plot(x, raw, label=label, linewidth=1.2)
        lines.append(line)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1.0, label=baseline_label)
    if logy if logy is not None else _spans_decades(np.concatenate(all_losses)):
        log_axis(ax)
    show_coinciding(lines, log=ax.get_yscale() == "log")
    ax.set_xlabel(f"{xlabel} (optimizer updates)" if xlabel == "step" else xlabel)
    name = names.pop() if len(names) == 1 else None
    ax.set_ylabel(f"loss: {LOSS_UNITS[name]}" if name in LOSS_UNITS else "loss")
    ax.set_title("Training loss" + (f" (moving average over {smooth})" if smooth > 1 else ""))
    if len(items) > 1 or baseline is not None:
        ax.legend(fontsize="small")
    return fig


def plot_grad_norm_trace(runs, *, threshold: float | None = None, show_clipped: bool = True, ax=None) -> Figure:
    """Global gradient norm before clipping against step (log y), with the clip threshold.

    Steps whose update was skipped (non-finite) are marked along the top, one row per run:
    each stretch of consecutive skipped steps is a bar starting with a cross, and the legend
    counts them; their norm, if any, is not drawn.

    Args:
        threshold: the horizontal line; None takes ``clip_value`` from each run's config when
            it clips by norm.
        show_clipped: also draw the norm after clipping (thin dashed).
    """
    fig, ax = new_axes(ax)
    items = as_items(runs, "run")
    thresholds = set()
    top, skipped = [], []
    for label, run in items:
        m = getattr(run, "metrics", run)
        if not hasattr(m, "grad_norm"):
            raise TypeError(f"expected a TrainResult or Metrics, got {type(run).__name__}")
        pre = np.where(np.isfinite(m.grad_norm) & (m.grad_norm > 0), m.grad_norm, np.nan)
        (line,) = ax.plot(m.step, pre, label=f"{label} before clipping" if label else "before clipping",
                          linewidth=1.1)
        top.append(np.nanmax(pre) if np.isfinite(pre).any() else 1.0)
        cfg = getattr(run, "train_config", None)
        if show_clipped and cfg is not None and cfg.clip != "none":
            post = np.where(np.isfinite(m.grad_norm_clipped) & (m.grad_norm_clipped > 0), m.grad_norm_clipped, np.nan)
            ax.plot(m.step, post, "--", color=line.get_color(), linewidth=0.9,
                    label=f"{label} after clipping ({cfg.clip})".strip())
        if threshold is None and cfg is not None and cfg.clip == "norm":
            thresholds.add(cfg.clip_value)
        if m.skipped.any():
            skipped.append((label, m.step[m.skipped], line.get_color()))
    ymax = max(top) if top else 1.0
    for i, (label, steps, color) in enumerate(skipped):  # stacked along the top, one row per run
        y = ymax * 2.0 * 1.6**i
        starts, ends = skipped_stretches(steps)
        # one Line2D with NaN breaks (not hlines), so legend placement "best" avoids the bars
        xs = np.stack([starts, ends, np.full(len(starts), np.nan)], axis=1).ravel()
        ax.plot(xs, np.full(len(xs), y), "-", color=color, linewidth=3, solid_capstyle="butt")
        ax.plot(starts, np.full(len(starts), y), "x", color=color, markersize=8, markeredgewidth=2,
                label=f"{label + ': ' if label else ''}{len(steps)} step{'s' if len(steps) != 1 else ''} "
                      f"skipped (non-finite), first at {steps[0]}")
    for t in ([threshold] if threshold is not None else sorted(thresholds)):
        ax.axhline(t, color="black", linestyle=":", linewidth=1.2, label=f"clip threshold c = {t:g}")
    log_axis(ax)
    ax.set_xlabel("step (optimizer updates)")
    ax.set_ylabel(r"global gradient norm $\|\partial L/\partial\theta\|_2$")
    ax.set_title("Gradient norm before clipping")
    ax.legend(fontsize="small")
    return fig


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
