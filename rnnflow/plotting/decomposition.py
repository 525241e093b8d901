"""An Elman RNN's ``log ||dh_T/dh_t||``: the ``phi'`` factor against the ``W_hh^k`` factor."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._common import LOG10E, band, new_axes


def plot_elman_decomposition(dec, *, ax=None):
    """Figure of the terms of :class:`rnnflow.analysis.ElmanDecomposition` vs gap.

    ``J = D_T W ... D_{t+1} W``: the activation factor (``sum log max phi'`` and the mean
    ``log phi'``) pulls down, ``log ||W^k||`` (and its asymptote ``k log rho(W)``) sets the
    trend, and their sum with ``k log sigma_max`` bounds the measured norm from above.
    """
    fig, ax = new_axes(ax)
    k = dec.gap
    # measured: a wide line under the factors, so it stays visible where a factor lies on it
    band(ax, k, dec.log_jacobian * LOG10E, label=r"measured $\log\|\partial h_T/\partial h_t\|_2$", color="black",
         linewidth=4.0, alpha=0.55, zorder=1.5)
    band(ax, k, dec.log_dphi_max * LOG10E, label=rf"activation: $\sum_k \log\max|{dec.activation}'(a_k)|$",
         color="tab:blue")
    band(ax, k, dec.log_dphi_mean * LOG10E, label=rf"activation: $\sum_k$ mean $\log|{dec.activation}'(a_k)|$",
         color="tab:cyan", linestyle="--")
    ax.plot(k, dec.log_weight_power * LOG10E, color="tab:orange", label=r"weights: $\log\|W_{hh}^k\|_2$")
    ax.plot(k, k * dec.log_spectral_radius * LOG10E, ":", color="tab:orange",
            label=rf"weights: $k\,\log\rho(W_{{hh}})$, $\rho$={float(np.exp(dec.log_spectral_radius)):.3g}")
    band(ax, k, dec.log_bound * LOG10E, label=r"bound: activation + $k\,\log\sigma_{max}(W_{hh})$",
         color="tab:red", linestyle="-.")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel(r"gap $k = T - t$ (steps)")
    ax.set_ylabel(r"$\log_{10}$ of each factor (dimensionless)")
    ax.set_title(r"Vanishing from $\phi'$ vs exploding from $W_{hh}$")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_elman_decomposition_panels(decompositions: dict):
    """Figure of :func:`plot_elman_decomposition` panels side by side, one per
    ``{panel title: ElmanDecomposition}`` (e.g. a vanishing and an exploding regime)."""
    if not decompositions:
        raise ValueError("decompositions={} is invalid: expected one or more {title: ElmanDecomposition}")
    fig = Figure(figsize=(6.25 * len(decompositions), 4.8), layout="constrained")
    for ax, (title, dec) in zip(fig.subplots(1, len(decompositions), squeeze=False)[0], decompositions.items()):
        plot_elman_decomposition(dec, ax=ax)
        ax.set_title(title)
    return fig
