"""Gradient norm per layer of a stack (Transformer residual stream, MLP hidden layers)."""
from __future__ import annotations

import numpy as np

from ._common import LOG10E, as_items, band, batch_stats, new_axes


def plot_depth_profile(profiles, *, jacobians: bool = False, bounds: dict | None = None, ax=None):
    """Figure of ``log10 ||dL/dx_l||_F`` vs layer ``l``, one line per
    :class:`rnnflow.analysis.DepthProfile` (a profile, a list, or ``{label: profile}``).

    ``jacobians=True`` plots the layer-to-layer ``log10 ||dx_{l+1}/dx_l||_2`` instead.
    ``bounds={label: log_factor}`` overlays, for that profile, the upper bound
    ``log ||dL/dx_l|| <= log ||dL/dx_L|| + (L - l) log_factor`` with a per-layer factor such
    as ``log(gamma * sigma_max(W))`` (``0.25 sigma_max`` for sigmoid: the 0.25^N bound).
    """
    fig, ax = new_axes(ax)
    items = as_items(profiles, "model")
    for label, factor in (bounds or {}).items():
        match = [p for name, p in items if name == label]
        if not match or jacobians:
            raise ValueError(f"bounds[{label!r}] needs a gradient profile labelled {label!r}")
        p = match[0]
        top = float(batch_stats(p.log_grad_norm)[0][-1])
        L = p.layer[-1]
        ax.plot(p.layer, (top + (L - p.layer) * factor) * LOG10E, "--", color="black", linewidth=1,
                label=rf"bound for {label}: $(L-l)\log$ factor, factor={float(np.exp(factor)):.3g}")
    for label, p in items:
        if jacobians:
            if p.log_jacobian_spectral is None:
                raise ValueError(f"profile {label!r} has no Jacobians: compute it with jacobians=True")
            band(ax, p.layer[:-1] + 0.5, p.log_jacobian_spectral * LOG10E, label=label, marker="o")
        else:
            band(ax, p.layer, p.log_grad_norm * LOG10E, label=label, marker="o")
    if jacobians:
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xlabel(r"between layers $l$ and $l+1$ (layer index)")
        ax.set_ylabel(r"$\log_{10}\|\partial x_{l+1}/\partial x_l\|_2$ (dimensionless)")
        ax.set_title("Layer-to-layer Jacobians")
    else:
        ax.set_xlabel(r"layer $l$ (0 = input of the stack)")
        ax.set_ylabel(r"$\log_{10}\|\partial L/\partial x_l\|_F$ (loss units per activation unit)")
        ax.set_title("Gradient flow through depth")
    ax.legend(loc="best", fontsize="small")
    return fig
