"""Gradient-monitor plots: per-layer histograms per epoch, mean and norm per iteration.

After the MATLAB example of seed 004 ("detect vanishing gradients by plotting gradient
distributions"): stacked per-epoch histograms of each layer's gradient entries (drawn
here as a ridgeline: one filled curve per epoch, later epochs in front), the mean
gradient per layer per iteration (several runs overlaid, e.g. ReLU vs sigmoid), and
the gradient norm per layer per iteration on a log axis.

Inputs are :class:`rnnflow.training.GradientHistory` (from a ``GradientMonitor``) or,
for the norms, a trainer's :class:`rnnflow.training.TrainResult` / ``Metrics``.

:func:`plot_group_norm_comparison` is the transpose of :func:`plot_gradient_norms` (one
panel per layer, one line per run), so a variant whose first-layer gradient vanished
stands out; exactly-zero norms sit on a floor line a decade below the smallest non-zero one.

A big model has many groups: the per-group figures show at most ``max_groups`` (default
:data:`MAX_GROUPS`) of them, spread evenly from the first to the last (input and output
kept), and say under the panels which were left out; pass ``groups=[...]`` to choose, or
``max_groups=None`` for all (or group coarser: ``GradientMonitor(by="module")`` or ``by=2``).
"""
from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from ..validation import check_int
from ._common import as_items, log_axis, show_coinciding, skipped_stretches


GRAD_LABEL = r"gradient entry $\partial L/\partial\theta$"
MAX_GROUPS = 12   # groups one figure shows by default (more: max_groups=None, or choose groups=)


def _grid(n: int, ncols: int | None, panel=(3.6, 2.8), **kw):
    ncols = ncols or min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _history(run):
    h = getattr(run, "gradients", run)
    if h is None or not hasattr(h, "hist_counts"):
        raise TypeError(f"expected a GradientHistory (or a TrainResult with gradients), got {type(run).__name__}")
    return h


def _pick(groups, wanted):
    if wanted is None:
        return list(groups)
    missing = [g for g in wanted if g not in groups]
    if missing:
        raise ValueError(f"groups={list(wanted)!r}: {missing[0]!r} is not one of {list(groups)}")
    return list(wanted)


def _cap(names, max_groups):
    """``(shown, left_out)``: at most ``max_groups`` of ``names``, evenly spread, the first
    and the last kept (None: all)."""
    if max_groups is None or len(names) <= max_groups:
        return list(names), []
    check_int("plot", "max_groups", max_groups)
    idx = set(np.linspace(0, len(names) - 1, max_groups).round().astype(int).tolist())
    return [n for i, n in enumerate(names) if i in idx], [n for i, n in enumerate(names) if i not in idx]


def _note_left_out(fig, left, total: int) -> None:
    """Say under the panels which groups a capped figure leaves out."""
    if not left:
        return
    text = (f"{len(left)} of {total} groups not shown (max_groups; pass groups=[...] to choose): "
            + ", ".join(left))
    fig.supxlabel(textwrap.fill(text, width=int(fig.get_figwidth() * 13)), fontsize="small", color="dimgray")


def _epoch_colours(epochs):
    """One colour per histogram epoch, and a discrete colour bar's ``(norm, cmap, ticks)``."""
    E = len(epochs)
    colours = colormaps["viridis"](np.linspace(0.0, 1.0, E) if E > 1 else [0.5])
    e = np.asarray(epochs, np.float64)
    mid = (e[1:] + e[:-1]) / 2
    half = (e[1] - e[0]) / 2 if E > 1 else 0.5
    bounds = np.concatenate([[e[0] - half], mid, [e[-1] + (e[-1] - e[-2]) / 2 if E > 1 else e[0] + 0.5]])
    ticks = e[:: max(1, math.ceil(E / 12))]
    return colours, BoundaryNorm(bounds, E), ListedColormap(colours), ticks


def _fixed_bins(h) -> bool:
    """True when every histogram has the same edges (a monitor with a fixed ``bin_range``)."""
    e = h.hist_edges
    return bool(np.isfinite(e).all() and np.all(e == e[:1, :1]))


def _last_extent(h, j: int, fixed: bool) -> str:
    """What the last histogram of group ``j`` says about ``|g|``: adaptive bins span the
    entries (``max |g| = ...``); fixed bins bound them, and entries outside are counted."""
    edges = h.hist_edges[-1, j]
    if not np.isfinite(edges).any():
        return "no histogram"
    big = float(np.nanmax(np.abs(edges)))
    if not fixed:
        return f"max |g| (last epoch) = {big:.2g}"
    out = int(h.hist_below[-1, j] + h.hist_above[-1, j] + h.hist_nonfinite[-1, j])
    n = out + int(h.hist_counts[-1, j].sum())
    return f"last epoch: {out} of {n} entries outside ±{big:.2g}" if out else f"last epoch: all |g| ≤ {big:.2g}"


def plot_gradient_histograms(history, *, groups=None, heights: str = "log", xlim="panel",
                             overlap: float = 1.6, ncols: int | None = None, title: str | None = None,
                             max_groups: int | None = MAX_GROUPS) -> Figure:
    """Ridgeline of per-epoch gradient histograms, one panel per group.

    Each histogram is a filled curve over its bin centres, raised to its epoch (later
    epochs in front), ``overlap`` epochs tall at its highest bin; the colour bar has one
    colour per recorded epoch.

    The panel title gives the last histogram's largest ``|g|`` (adaptive bins), or, with a
    fixed ``bin_range``, how many entries fell outside the bins, so panels on their own x
    ranges still compare.

    Args:
        heights: ``"log"`` (default): ``log(1 + count)``, so the tails stay visible next to
            a spike of exact zeros (dead ReLUs, always-zero input pixels); ``"linear"``:
            the counts. Either way each ridge is scaled to its own peak: read the width.
        xlim: ``"panel"`` (default): each panel symmetric about 0 over its own histograms,
            so a group with small gradients is still readable next to one with large;
            ``"shared"``: one symmetric range for every panel, so a layer whose gradients
            vanished shows as a needle, as in seed 004's fixed axes; None: matplotlib's
            limits; or a pair ``(lo, hi)``.
        max_groups: at most this many panels (see the module docstring); None: all.
    """
    h = _history(history)
    if len(h.hist_epoch) == 0:
        raise ValueError("the history holds no histograms (hist_every=0, or no epoch_end() call)")
    if heights not in ("log", "linear"):
        raise ValueError(f"heights={heights!r} is invalid: expected 'log' or 'linear'")
    if isinstance(xlim, str) and xlim not in ("panel", "shared"):
        raise ValueError(f"xlim={xlim!r} is invalid: expected 'panel', 'shared', None or (lo, hi)")
    picked = _pick(h.groups, groups)
    names, left = _cap(picked, max_groups)
    fig, axes = _grid(len(names), ncols)
    epochs = h.hist_epoch
    colours, norm, cmap, ticks = _epoch_colours(epochs)
    step = float(np.median(np.diff(epochs))) if len(epochs) > 1 else 1.0
    cols = [h.groups.index(g) for g in names]

    def widest(edges):   # symmetric range over the finite edges given
        big = float(np.nanmax(np.abs(edges))) if np.isfinite(edges).any() else 1.0
        return (-big, big) if big > 0 else (-1.0, 1.0)
    shared = widest(h.hist_edges[:, cols]) if xlim == "shared" else None
    fixed = _fixed_bins(h)
    for ax, j in zip(axes, cols):
        for e in reversed(range(len(epochs))):  # back to front: earliest epoch behind
            edges, counts = h.hist_edges[e, j], h.hist_counts[e, j].astype(np.float64)
            if counts.sum() == 0 or not np.all(np.isfinite(edges)):
                continue
            hgt = np.log1p(counts) if heights == "log" else counts
            hgt = hgt / hgt.max() * overlap * step
            centers = 0.5 * (edges[:-1] + edges[1:])
            x = np.concatenate([[edges[0]], centers, [edges[-1]]])
            y = np.concatenate([[0.0], hgt, [0.0]]) + epochs[e]
            z = len(epochs) - e
            ax.fill_between(x, epochs[e], y, color=colours[e], alpha=0.9, linewidth=0, zorder=z)
            ax.plot(x, y, color="white", linewidth=0.5, zorder=z)
        ax.set_title(f"{h.groups[j]}\n{_last_extent(h, j, fixed)}", fontsize="small")
        if h.hist_counts[:, j].sum() == 0:
            ax.text(0.5, 0.5, "no entry inside the bins", transform=ax.transAxes, ha="center",
                    va="center", color="0.4", fontsize="small")
        ax.set_xlabel(GRAD_LABEL)
        ax.set_ylabel("epoch")
        lim = shared if xlim == "shared" else widest(h.hist_edges[:, j]) if xlim == "panel" else xlim
        if lim is not None:
            ax.set_xlim(*lim)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    fig.colorbar(ScalarMappable(norm, cmap), ax=list(axes), label="epoch", shrink=0.8, ticks=ticks,
                 spacing="proportional")
    _note_left_out(fig, left, len(picked))
    scale = "log(1 + count)" if heights == "log" else "count"
    where = {"panel": ", x range per panel", "shared": ", one x range for all panels"}.get(xlim, "") \
        if isinstance(xlim, str) else ""
    fig.suptitle((title or "Gradient distributions per layer and epoch") + f"\n(ridge height ∝ {scale}, "
                 f"each ridge scaled to its peak{where})", fontsize="medium")
    return fig


def plot_mean_gradients(histories, *, groups=None, ncols: int | None = None, yscale: str = "linear",
                        title: str | None = None, max_groups: int | None = MAX_GROUPS) -> Figure:
    """Mean gradient entry per group against iteration, one panel per group, one line per run.

    ``histories``: a GradientHistory, a list, or ``{label: history}`` (e.g. ``{"ReLU": h1,
    "Sigmoid": h2}``, as in seed 004). ``yscale="symlog"`` spreads means that span decades.
    ``max_groups``: at most this many panels (see the module docstring); None: all.
    """
    items = [(label, _history(r)) for label, r in as_items(histories, "run")]
    picked = _pick(items[0][1].groups, groups)
    names, left = _cap(picked, max_groups)
    fig, axes = _grid(len(names), ncols)
    _note_left_out(fig, left, len(picked))
    for ax, g in zip(axes, names):
        for label, h in items:
            if g in h.groups:
                ax.plot(h.iteration, h.mean[:, h.groups.index(g)], label=label, linewidth=1.0)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_yscale(yscale)
        ax.set_title(g, fontsize="small")
        ax.set_xlabel("iteration (optimizer updates)")
        ax.set_ylabel(f"mean {GRAD_LABEL}", fontsize="small")
        if len(items) > 1:
            ax.legend(fontsize="small")
    fig.suptitle(title or "Mean gradient per layer")
    return fig


def _norm_series(run):
    """``(x, (N, G) norms, groups, x label, skipped mask or None)`` from a GradientHistory,
    TrainResult or Metrics."""
    if hasattr(run, "hist_counts"):
        return run.iteration, run.norm, run.groups, "iteration (optimizer updates)", None
    m = getattr(run, "metrics", run)
    if not hasattr(m, "group_norms"):
        raise TypeError(f"expected a GradientHistory, TrainResult or Metrics, got {type(run).__name__}")
    return m.step, m.group_norm_matrix(), m.groups, "step (optimizer updates)", m.skipped


def plot_gradient_norms(runs, *, groups=None, ncols: int | None = None, title: str | None = None,
                        max_groups: int | None = MAX_GROUPS) -> Figure:
    """Gradient L2 norm per group against iteration (log y), one panel per run, one line per
    group (coloured from the first group to the last, i.e. input to output; line styles
    cycle so neighbours differ), one legend for the figure, outside the axes.

    ``runs``: a GradientHistory / TrainResult / Metrics, a list, or ``{label: run}``.
    Steps a trainer skipped (non-finite loss or gradient) are left out and each stretch of
    them is shaded faint red, so one blow-up does not squash the axis.
    ``max_groups``: at most this many lines per panel (see the module docstring); None: all.
    """
    items = as_items(runs, "run")
    fig, axes = _grid(len(items), ncols or min(len(items), 2), panel=(5.2, 3.6), sharey=True)
    fig.set_figwidth(fig.get_figwidth() + 1.8)   # room for the legend outside the axes
    cmap = colormaps["plasma"]
    legend: dict = {}
    notes = set()
    for ax, (label, run) in zip(axes, items):
        x, norms, names_all, xlabel, skipped = _norm_series(run)
        picked = _pick(names_all, groups)
        names, left = _cap(picked, max_groups)
        if left:
            notes.add((tuple(left), len(picked)))
        keep = np.ones(len(x), bool) if skipped is None else ~skipped
        for i, g in enumerate(names):
            v = norms[:, list(names_all).index(g)]
            v = np.where(keep & np.isfinite(v) & (v > 0), v, np.nan)
            (line,) = ax.plot(x, v, color=cmap(0.85 * i / max(len(names) - 1, 1)), label=g, linewidth=1.0,
                              linestyle=("-", "--", ":")[i % 3])
            legend.setdefault(g, line)
        for start, end in zip(*skipped_stretches(x[~keep])):   # one span per stretch, not one line per step
            span = ax.axvspan(start - 0.5, end + 0.5, color="tab:red", alpha=0.2, linewidth=0)
            legend.setdefault("skipped steps", span)
        log_axis(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$\|\partial L/\partial\theta_k\|_2$ per group")
        if len(items) > 1:
            ax.set_title(label, fontsize="small")
    fig.legend(list(legend.values()), list(legend), loc="outside right upper", fontsize="x-small",
               ncols=2 if len(legend) > 16 else 1, title="group (input → output)", title_fontsize="x-small")
    for left, total in sorted(notes):
        _note_left_out(fig, list(left), total)
    fig.suptitle(title or "Gradient norm per layer")
    return fig


def plot_group_norm_comparison(runs, groups, *, group_labels: dict | None = None, ncols: int | None = None,
                               title: str | None = None) -> Figure:
    """Gradient L2 norm of each group in ``groups`` against step, all runs overlaid.

    runs:   ``{label: TrainResult | Metrics | GradientHistory}``.
    groups: flat parameter keys, e.g. ``("layers.0.linear.weight", "head.weight")``.
    group_labels: ``{group: panel title}`` (default: the key).
    Steps a trainer skipped (non-finite) are left out. Runs whose lines lie on top of each
    other in a panel are drawn so both show, and say so in the legend.
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
        lines = []
        for label, x, v, xlabel in series:
            col = v[:, j]
            zero = col == 0
            any_zero |= bool(zero.any())
            all_zero = bool(zero.all())
            (line,) = ax.plot(x, np.where(col > 0, col, np.nan), label=None if all_zero else label, linewidth=1.0)
            lines.append(line)
            if zero.any():
                ax.plot(x[zero], np.full(zero.sum(), floor), "_", color=line.get_color(), markersize=4,
                        label=f"{label}: " + ("always" if all_zero else "sometimes") + " exactly 0 (on the floor)")
        log_axis(ax)
        show_coinciding(lines, log=True)
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
