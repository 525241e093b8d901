"""Gradient norm per layer of a stack (Transformer residual stream, MLP hidden layers)."""
from __future__ import annotations

import numpy as np

from ._common import LOG10E, as_items, band, band_handle, batch_stats, log_axis, new_axes


def plot_depth_profile(profiles, *, jacobians: bool = False, bounds: dict | None = None, ax=None):
    """Figure of ``log10 ||dL/dx_l||_F`` vs layer ``l``, one line per
    :class:`rnnflow.analysis.DepthProfile` (a profile, a list, or ``{label: profile}``): the
    mean over the examples, shaded from their min to their max (the legend says so).

    ``jacobians=True`` plots the layer-to-layer ``log10 ||dx_{l+1}/dx_l||_2`` instead.
    ``bounds={label: log_factor}`` overlays, for that profile, the upper bound
    ``log ||dL/dx_l|| <= log ||dL/dx_L|| + (L - l) log_factor`` with a per-layer factor such
    as ``log(gamma * sigma_max(W))`` (``0.25 sigma_max`` for sigmoid: the 0.25^N bound).
    """
    fig, ax = new_axes(ax, figsize=(6.4, 5.2))
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
    handles, names = ax.get_legend_handles_labels()
    shaded = band_handle({label: p.log_jacobian_spectral if jacobians else p.log_grad_norm for label, p in items},
                         "examples in the batch")
    if shaded is not None:
        handles.append(shaded[0])
        names.append(shaded[1])
    if jacobians:
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xlabel(r"between layers $l$ and $l+1$ (layer index)")
        ax.set_ylabel(r"$\log_{10}\|\partial x_{l+1}/\partial x_l\|_2$ (dimensionless)")
        ax.set_title("Layer-to-layer Jacobians")
    else:
        ax.set_xlabel(r"layer $l$ (0 = input of the stack)")
        ax.set_ylabel(r"$\log_{10}\|\partial L/\partial x_l\|_F$ (loss units per activation unit)")
        ax.set_title("Gradient flow through depth")
    # below the axes: bands of very different depths fill the frame from top to bottom
    ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, fontsize="small")
    return fig


def plot_depth_scaling(depths, values: dict, *, reference: str | None = None, exponent: float = -0.5,
                       ylabel: str = "value", title: str = "Scaling with depth", left_out: dict | None = None,
                       ax=None):
    """Log-log figure of a quantity against the number of layers ``L``, one line per variant,
    with a reference power law ``c L^exponent`` through ``values[reference]`` at the
    smallest depth (e.g. Xiong et al.'s ``O(1/sqrt(L))`` for a pre-LN last-layer gradient).

    Args:
        depths: ``(n,)`` numbers of layers, increasing.
        values: ``{label: (n,) positive values}``, one per variant.
        reference: the label the power law is anchored to (None: no reference line).
        exponent: the power law's exponent.
        left_out: ``{label: why}`` for variants not drawn (e.g. decades above the others, so
            they would flatten them): each gets a legend row ``not drawn: label (why)``, so no
            curve goes missing unexplained.
    """
    depths, vals = _per_depth(depths, values, "values", positive=True)
    if reference is not None and reference not in vals:
        raise ValueError(f"reference={reference!r} is not one of {sorted(vals)}")
    fig, ax = new_axes(ax, figsize=(6.8, 5.8))
    for label, v in vals.items():
        slope = round(float(np.polyfit(np.log(depths), np.log(v), 1)[0]), 2) + 0.0  # no "-0.00"
        ax.plot(depths, v, marker="o", label=f"{label} (fitted exponent {slope:+.2f})")
    if reference is not None:
        ref = vals[reference][0] * (depths / depths[0]) ** exponent
        ax.plot(depths, ref, "--", color="black", linewidth=1.0,
                label=rf"$\propto L^{{{exponent:g}}}$ through {reference} at $L$={depths[0]:g}")
    for label, why in (left_out or {}).items():
        ax.plot([], [], " ", label=f"not drawn: {label} ({why})")
    log_axis(ax)
    _depth_axis(ax, depths)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    # below the axes: the lines span the frame, and the rows (fitted exponents, notes) are long
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize="small")
    return fig


def plot_depth_ratio(depths, ratios: dict, *, title: str = "First-layer vs last-layer gradient at init", ax=None):
    """Figure of ``log10 ||dL/dx_0|| / ||dL/dx_{L-1}||``, the gradient entering the first layer
    over the one entering the last, against the number of layers ``L`` (log axis), one line
    per variant; 0 (grey) is a gradient that neither grows nor shrinks through the stack.

    Args:
        depths: ``(n,)`` numbers of layers, increasing.
        ratios: ``{label: (n,) log10 ratios}``, one per variant (finite).
    """
    depths, vals = _per_depth(depths, ratios, "ratios", positive=False)
    fig, ax = new_axes(ax)
    for label, v in vals.items():
        ax.plot(depths, v, marker="o", label=label)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    _depth_axis(ax, depths)
    ax.set_ylabel(r"$\log_{10}\,\|\partial L/\partial x_0\| \,/\, \|\partial L/\partial x_{L-1}\|$ (decades)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_weight_grad_profile(norms: dict, *, weight: str | None = None, title: str = "Weight gradient per layer",
                             ax=None):
    """Log-scale figure of each layer's weight-gradient norm ``||dL/dW_l||_F`` against the layer
    ``l`` (1 = first), one line per variant.

    Args:
        norms: ``{label: (L,) positive norms}``, e.g. the trainer's per-parameter gradient norms
            at step 0 of one weight in every layer.
        weight: the weight's name for the y label (``"fc2"``: ``W^{fc2}_l``; None: ``W_l``).
    """
    vals = {k: np.asarray(v, dtype=np.float64) for k, v in norms.items()}
    for label, v in vals.items():
        if v.ndim != 1 or not v.size or not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"norms[{label!r}] is invalid: expected one finite positive number per layer")
    fig, ax = new_axes(ax)
    for label, v in vals.items():
        ax.plot(np.arange(1, v.size + 1), v, marker="o", markersize=3, label=label)
    log_axis(ax)
    ax.set_xlabel("layer $l$ (1 = first)")
    w = "W_l" if weight is None else f"W^{{{weight}}}_l"
    ax.set_ylabel(rf"$\|\partial L/\partial {w}\|_F$ (loss units per weight unit)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return fig


def _per_depth(depths, values: dict, name: str, *, positive: bool):
    """``depths`` and ``values`` as float arrays, checked: two or more increasing positive depths,
    one finite value (positive if ``positive``) per depth in each of ``values``."""
    depths = np.asarray(depths, dtype=np.float64)
    if depths.ndim != 1 or depths.size < 2 or np.any(np.diff(depths) <= 0) or depths[0] <= 0:
        raise ValueError(f"depths={depths.tolist()} is invalid: expected two or more increasing positive numbers")
    vals = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    for label, v in vals.items():
        if v.shape != depths.shape or not np.all(np.isfinite(v) & ((v > 0) | (not positive))):
            raise ValueError(f"{name}[{label!r}] is invalid: expected {depths.size} finite "
                             f"{'positive ' if positive else ''}numbers")
    return depths, vals


def _depth_axis(ax, depths) -> None:
    """The x axis of a quantity against depth: ``L`` on a log2 scale, ticked at ``depths``."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(depths, [f"{d:g}" for d in depths])
    ax.set_xlabel("number of layers $L$ (log scale)")
