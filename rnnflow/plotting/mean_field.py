"""Mean-field theory next to measurement: the (sigma_w^2, sigma_b^2) phase diagram with measured
per-layer gradient slopes, and trainability against depth with the ``6 xi_c`` depth scale."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from ._common import log_axis


def plot_phase_diagram(sigma_w2, sigma_b2, grid: dict, slopes=(), *, activation: str = "tanh", tol: float = 0.01):
    """Two panels. Left: the predicted per-layer slope ``ln(chi_1) / 2`` over ``(sigma_w^2,
    sigma_b^2)`` (``grid`` from :func:`rnnflow.analysis.mean_field.phase_grid`, rows ``sigma_b2``),
    the critical line ``chi_1 = 1``, ``xi_c`` contours, and the measured slopes of ``activation``
    among ``slopes`` (:class:`~rnnflow.analysis.mean_field.GradientSlope`) as dots in the same colours.
    Right: measured against predicted for every slope, with ``y = x`` and a ``+-tol`` band."""
    sw2, sb2 = np.asarray(sigma_w2, float), np.asarray(sigma_b2, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pred = 0.5 * np.log(grid["chi_1"])
    lim = float(np.nanmax(np.abs(pred[np.isfinite(pred)]))) if np.isfinite(pred).any() else 1.0
    lim = min(lim, 0.5)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    fig = Figure(figsize=(12.0, 4.8), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
    mesh = ax.pcolormesh(sw2, sb2, np.clip(pred, -lim, lim), cmap="RdBu_r", norm=norm, shading="auto")
    fig.colorbar(mesh, ax=ax, label=r"predicted $\ln(\chi_1)/2$ per layer (log-gradient units)")
    ax.contour(sw2, sb2, grid["chi_1"], levels=[1.0], colors="black", linewidths=1.6)
    xi = grid.get("xi_c")
    if xi is not None and np.isfinite(xi).any():
        cs = ax.contour(sw2, sb2, np.where(np.isfinite(xi), xi, np.nan), levels=[2, 5, 10, 20, 50],
                        colors="dimgrey", linewidths=0.7, linestyles=":")
        ax.clabel(cs, fmt=lambda v: rf"$\xi_c$={v:g}", fontsize="x-small")
    mine = [r for r in slopes if r.activation == activation]
    if mine:
        ax.scatter([r.sigma_w ** 2 for r in mine], [r.sigma_b ** 2 for r in mine],
                   c=[r.measured for r in mine], cmap="RdBu_r", norm=norm, s=90, edgecolors="black",
                   linewidths=1.0, zorder=3, label="measured slope (same colour scale)")
        ax.legend(loc="upper left", fontsize="small")
    ax.plot([], [], color="black", label=r"$\chi_1 = 1$")
    ax.set_xlabel(r"$\sigma_w^2$ (weight variance x fan-in)")
    ax.set_ylabel(r"$\sigma_b^2$ (bias variance)")
    ax.set_title(f"{activation}: ordered (blue, vanishing) | chaotic (red, exploding); line: $\\chi_1=1$")
    if slopes:
        p = np.array([r.predicted for r in slopes])
        lo, hi = float(min(p.min(), min(r.measured for r in slopes))), float(max(p.max(), max(r.measured for r in slopes)))
        pad = 0.05 * (hi - lo + 1e-9)
        xs = np.array([lo - pad, hi + pad])
        ax2.fill_between(xs, xs - tol, xs + tol, color="grey", alpha=0.2, linewidth=0, label=rf"$y=x\pm{tol:g}$")
        ax2.plot(xs, xs, color="black", linewidth=1)
        for act, marker in (("tanh", "o"), ("relu", "s")):
            rs = [r for r in slopes if r.activation == act]
            others = [r for r in slopes if r.activation not in ("tanh", "relu")] if act == "relu" else []
            for group, m, lab in ((rs, marker, act), (others, "^", "other")):
                if group:
                    ax2.errorbar([r.predicted for r in group], [r.measured for r in group],
                                 yerr=[2 * r.measured_se for r in group], fmt=m, markersize=6, capsize=2,
                                 label=f"{lab} ({len(group)} points)")
        err = np.abs(np.array([r.measured for r in slopes]) - p)
        ax2.set_title(f"measured vs predicted, {slopes[0].backend}: max |error| {err.max():.4f} per layer",
                      fontsize="medium")
        ax2.legend(loc="upper left", fontsize="small")
    ax2.set_xlabel(r"predicted $\ln(\chi_1)/2$ (per layer)")
    ax2.set_ylabel(r"measured $\log\|\partial L/\partial y^{l-1}\| - \log\|\partial L/\partial y^{l}\|$")
    return fig


def plot_trainability(result, *, chance: float = float(np.log(10.0))):
    """Training loss after a fixed budget over ``(sigma_w^2, depth)`` for a
    :class:`~rnnflow.analysis.mean_field.Trainability`, with the ``6 xi_c`` curve (Schoenholz et
    al. 2017, Fig. 5: trainable below it) and the critical ``sigma_w^2`` (``chi_1 = 1``)."""
    fig = Figure(figsize=(7.2, 4.8), layout="constrained")
    ax = fig.add_subplot()
    sw2, ds = result.sigma_w2, result.depths
    mesh = ax.pcolormesh(sw2, ds, np.where(np.isfinite(result.loss), result.loss, chance), cmap="magma_r",
                         vmin=0.0, vmax=chance, shading="nearest")
    fig.colorbar(mesh, ax=ax, label=rf"training loss after {result.steps} steps (nats; chance $\ln 10$ = {chance:.2f})")
    fine = np.linspace(sw2.min(), sw2.max(), 400)
    from ..analysis.mean_field import mean_field
    xi = np.array([mean_field(result.activation, float(np.sqrt(a)), float(np.sqrt(result.sigma_b2))).xi_c
                   for a in fine])
    ax.plot(fine, np.minimum(6 * xi, ds.max() * 1.5), color="cyan", linewidth=2, label=r"$6\,\xi_c$")
    ax.set_ylim(ds.min() * 0.8, ds.max() * 1.25)
    log_axis(ax)
    ax.set_yticks(ds, [str(int(d)) for d in ds])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(r"$\sigma_w^2$ (weight variance x fan-in)")
    ax.set_ylabel("depth L (hidden layers)")
    ax.set_title(f"Trainability, {result.activation} MLP width {result.width}, $\\sigma_b^2$={result.sigma_b2:g}, "
                 f"RMSProp lr {result.lr:g} ({result.backend})", fontsize="medium")
    ax.legend(loc="lower right", fontsize="small")
    return fig
