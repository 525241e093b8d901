"""The Lyapunov spectrum of a recurrent cell."""
from __future__ import annotations

import numpy as np

from ._common import as_items, new_axes


def plot_lyapunov_spectrum(spectra, *, ax=None):
    """Figure of the exponents ``lambda_i`` vs index ``i`` (batch mean, min-max bars), one
    series per :class:`rnnflow.analysis.LyapunovSpectrum` (a spectrum, a list or a dict)."""
    fig, ax = new_axes(ax)
    for label, s in as_items(spectra, "cell"):
        e = s.exponents
        i = np.arange(1, e.shape[1] + 1)
        mean = e.mean(axis=0)
        line, = ax.plot(i, mean, marker="o", markersize=3, label=f"{label} (max {mean[0]:.3g})")
        if e.shape[0] > 1:
            ax.fill_between(i, e.min(axis=0), e.max(axis=0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(0.0, color="black", linewidth=0.8, label=r"$\lambda = 0$ (neutral)")
    ax.set_xlabel(r"exponent index $i$")
    ax.set_ylabel(r"Lyapunov exponent $\lambda_i$ (nats per step)")
    ax.set_title("Lyapunov spectrum (QR method)")
    ax.legend(loc="best", fontsize="small")
    return fig
