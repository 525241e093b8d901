"""Gradient reach ``||dy_T/dx_t||`` against the distance to the output, per architecture."""
from __future__ import annotations

from ._common import LOG10E, as_items, band, new_axes


def plot_reach(profiles, *, ax=None):
    """Figure of ``log10 ||dy_T/dx_t||_F`` vs ``T - 1 - t``, one line per
    :class:`rnnflow.analysis.ReachProfile` (a profile, a list, or ``{label: profile}``)."""
    fig, ax = new_axes(ax)
    for label, p in as_items(profiles, "model"):
        band(ax, p.gap, p.log_norm * LOG10E, label=label)
    ax.set_xlabel(r"distance to the output $T - 1 - t$ (steps)")
    ax.set_ylabel(r"$\log_{10}\|\partial y_T/\partial x_t\|_F$ (output units per input unit)")
    ax.set_title("Gradient reach over time")
    ax.legend(loc="best", fontsize="small")
    return fig
