"""Histograms of the squared singular values of deep input-output Jacobians (dynamical isometry)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

LOG_RANGE = (-10.0, 4.0)   # log10 sigma^2 shown; the share outside goes into the legend


def plot_isometry(spectra: dict, theory: dict | None = None, *, rows, cols, title: str | None = None):
    """A grid of histograms of ``log10 sigma^2``: ``spectra[(row, col)] = {L: values}`` (flat arrays of
    ``log10 sigma_i^2``), one step-line per depth L. ``theory[(row, col)]`` is either
    ``{L: (log10 x, density of log10 x)}`` (drawn dashed in the depth's colour), a number (every
    sigma^2 equals it: a vertical line), or a string (no closed form: written in the panel)."""
    theory = theory or {}
    fig = Figure(figsize=(4.3 * len(cols), 3.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(cols), squeeze=False, sharex=True)
    bins = np.linspace(*LOG_RANGE, 71)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            depths = spectra.get((r, c), {})
            for k, (L, v) in enumerate(sorted(depths.items())):
                v = np.asarray(v, dtype=np.float64)
                inside = (v >= bins[0]) & (v <= bins[-1])
                out = 1 - inside.mean() if v.size else 0.0
                # density of all values: the bars integrate to the share inside the range
                w = np.full(inside.sum(), 1.0 / (max(v.size, 1) * (bins[1] - bins[0])))
                ax.hist(v[inside], bins=bins, weights=w, histtype="step", lw=1.5, color=f"C{k}",
                        label=f"L = {L}" + (f" ({out:.0%} outside)" if out >= 0.005 else ""))
                th = theory.get((r, c))
                if isinstance(th, dict) and L in th:
                    u, dens = th[L]
                    keep = (u >= bins[0]) & (u <= bins[-1])
                    ax.plot(u[keep], dens[keep], color=f"C{k}", ls="--", lw=1)
            th = theory.get((r, c))
            if isinstance(th, (int, float)):
                ax.axvline(np.log10(th), color="0.2", ls="--", lw=1, label=f"theory: all $\\sigma^2$ = {th:g}")
            elif isinstance(th, str):
                ax.text(0.03, 0.95, th, transform=ax.transAxes, va="top", fontsize="x-small", color="0.3")
            elif isinstance(th, dict):
                ax.plot([], [], color="0.3", ls="--", lw=1, label="Fuss-Catalan (N → ∞)")
            ax.set_title(f"{r}, {c} weights", fontsize="medium")
            ax.set_xlim(*LOG_RANGE)
            if i == len(rows) - 1:
                ax.set_xlabel(r"$\log_{10}\sigma_i^2$ of $\partial x_L/\partial x_0$")
            if j == 0:
                ax.set_ylabel(r"density (per unit of $\log_{10}\sigma^2$)")
            ax.legend(loc="upper right", fontsize="x-small")
    fig.supxlabel(f"shown: {LOG_RANGE[0]:g} <= log10 sigma^2 <= {LOG_RANGE[1]:g} (the share outside is in the "
                  "legend; values float64 cannot resolve count as below)", fontsize="x-small", color="0.3")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig
