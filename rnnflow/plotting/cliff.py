"""Pascanu et al. (2013) Fig. 6: the cliff surface with clipped and unclipped descent paths."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm

from ._common import new_axes


def plot_cliff(w_grid, b_grid, loss, paths, *, ax=None):
    """Contour of ``E(w, b)`` (log colour scale) with each :class:`CliffPath` overlaid.

    w_grid, b_grid, loss: 2-D arrays from ``np.meshgrid`` and ``cliff_loss_and_grad``.
    paths: ``{label: CliffPath}``.
    """
    fig, ax = new_axes(ax, figsize=(6.8, 5.0))
    levels = np.logspace(np.log10(max(loss.min(), 1e-6)), np.log10(loss.max()), 25)
    cs = ax.contourf(w_grid, b_grid, np.maximum(loss, levels[0]), levels=levels, norm=LogNorm(), cmap="viridis")
    fig.colorbar(cs, ax=ax, label=r"error $E(w, b) = (\sigma(x_{50}) - 0.7)^2$")
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
