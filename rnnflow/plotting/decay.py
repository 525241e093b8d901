"""Several ``log ||dh_T/dh_t||`` curves on one axes, each with its Pascanu bound."""
from __future__ import annotations

import numpy as np

from ._common import LOG10E, band, new_axes


def plot_decay_family(curves: dict, *, bounds: dict | None = None, which: str = "log_spectral_h",
                      title: str = "How far back does the gradient reach?", ax=None):
    """Figure of ``log10 ||dh_T/dh_t||_2`` vs gap for ``{label: JacobianNorms}``.

    bounds: ``{label: PascanuBound}``; each draws ``(T-t) log10(gamma sigma_max)`` dashed in
    its curve's colour. The y-range follows the measured curves (bounds may leave it).
    which: the JacobianNorms field to draw (default the ``h`` block, comparable across cells).
    """
    fig, ax = new_axes(ax, figsize=(7.2, 4.6))
    lo, hi = np.inf, -np.inf
    for label, norms in curves.items():
        values = getattr(norms, which) * LOG10E
        line = band(ax, norms.gap, values, label=label)
        finite = values[np.isfinite(values)]
        if finite.size:
            lo, hi = min(lo, finite.min()), max(hi, finite.max())
        if bounds and label in bounds:
            b = bounds[label]
            ax.plot(norms.gap, b.log_bound(norms.gap) * LOG10E, "--", color=line.get_color(), linewidth=0.9)
    if bounds:
        ax.plot([], [], "--", color="black", linewidth=0.9,
                label=r"Pascanu bound $(T-t)\log_{10}(\gamma\,\sigma_{max})$")
    if np.isfinite(lo):
        pad = 0.08 * max(hi - lo, 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel(r"gap $T - t$ (time steps)")
    ax.set_ylabel(r"$\log_{10}\|\partial h_T/\partial h_t\|_2$")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return fig
