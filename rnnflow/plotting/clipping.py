"""Clipping drawn: Pascanu et al. (2013) Fig. 6, the cliff surface with clipped and
unclipped descent paths (:func:`plot_cliff`), and with the numbers behind it
(:func:`plot_cliff_descent`: the surface and paths on the left, the error and the length
of every step along each path on the right). Paths come from
:func:`rnnflow.analysis.clipping.descend`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ._common import log_axis, new_axes


def plot_cliff(w_grid, b_grid, loss, paths, *, ax=None):
    """Contour of ``E(w, b)`` (log colour scale) with each :class:`CliffPath` overlaid.

    w_grid, b_grid, loss: 2-D arrays from ``np.meshgrid`` and ``cliff_loss_and_grad``.
    paths: ``{label: CliffPath}``.
    """
    fig, ax = new_axes(ax, figsize=(6.8, 5.0))
    levels = np.logspace(np.log10(max(loss.min(), 1e-6)), np.log10(loss.max()), 25)
    cs = ax.contourf(w_grid, b_grid, np.maximum(loss, levels[0]), levels=levels, norm=LogNorm(), cmap="viridis")
    _decade_ticks(fig.colorbar(cs, ax=ax, label=r"error $E(w, b) = (\sigma(x_{50}) - 0.7)^2$"))
    styles = {"none": ("tab:red", "o"), "norm": ("white", "s"), "value": ("tab:orange", "^")}
    for label, path in paths.items():
        color, marker = styles.get(path.clip, ("black", "."))
        ax.plot(path.points[:, 0], path.points[:, 1], "-", color=color, marker=marker, markersize=3,
                linewidth=1.2, label=label)
        ax.plot(*path.points[0], "k*", markersize=10)
    ax.set_xlim(w_grid.min(), w_grid.max())
    ax.set_ylim(b_grid.min(), b_grid.max())
    ax.set_xlabel("recurrent weight $w$")
    ax.set_ylabel("bias $b$")
    ax.set_title(r"The cliff: $x_t = w\,\sigma(x_{t-1}) + b$, 50 steps (star: start)")
    ax.legend(loc="lower left", fontsize="small")
    return fig


_COLORS = {"none": "tab:red", "norm": "tab:blue", "value": "tab:orange"}


def plot_cliff_descent(w_grid, b_grid, loss, paths: dict, *, lr: float | None = None) -> Figure:
    """``paths``: ``{label: CliffPath}`` (from :func:`rnnflow.analysis.clipping.descend`).

    lr: the learning rate, for the right panel's title (a step is ``lr * clipped gradient``).
    """
    if not paths:
        raise ValueError("paths is empty: expected {label: CliffPath}")
    fig = Figure(figsize=(12.4, 4.9), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.25, 1.0))
    plot_cliff(w_grid, b_grid, loss, paths, ax=left)
    top = right.twinx()
    for i, (label, path) in enumerate(paths.items()):
        color = _COLORS.get(path.clip, "black")
        it = np.arange(len(path.loss))
        # paths coincide until one is clipped: earlier ones drawn wider, so they show underneath
        right.plot(it, path.loss, "-", color=color, linewidth=1.4 + 2.0 * (len(paths) - 1 - i),
                   alpha=0.8, label=f"{label}: error")
        step = np.linalg.norm(np.diff(path.points, axis=0), axis=1)
        top.plot(it[1:], step, ":", color=color, marker=".", markersize=4, linewidth=1.0,
                 label=f"{label}: step length")
    log_axis(right)
    log_axis(top)
    right.set_xlabel("gradient-descent iteration")
    right.set_ylabel(r"error $E(w, b)$ (solid)")
    top.set_ylabel(r"step length $\|\Delta(w, b)\|_2$ (dotted)")
    lines = right.get_lines() + top.get_lines()
    right.legend(lines, [ln.get_label() for ln in lines], fontsize="small", loc="upper center",
                 bbox_to_anchor=(0.5, -0.13), ncols=2)
    right.set_title("Along the paths" + (f" (lr = {lr:g})" if lr is not None else ""))
    return fig


def _decade_ticks(cbar) -> None:
    """Label a log colour bar at whole decades only (its default adds one odd tick)."""
    lo, hi = float(cbar.norm.vmin), float(cbar.norm.vmax)
    ticks = 10.0 ** np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(hi)) + 1)
    cbar.set_ticks(ticks, labels=[f"$10^{{{int(np.log10(t))}}}$" for t in ticks])
    cbar.minorticks_off()
