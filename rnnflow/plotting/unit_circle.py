"""Figures for recurrences near the unit circle: reach of ``dh_T/dh_t`` over long gaps, LRU
eigenvalues in the complex plane, and the distribution of their timescales against a task horizon."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._common import LOG10E, log_axis, new_axes

FLOOR_DECADES = -12.0   # the reach plot's y range ends here; curves below are clipped (said on the plot)


def plot_state_reach(curves: dict, *, threshold: float = 1e-6, title: str | None = None, ax=None):
    """``log10 ||dh_T/dh_t||_2`` against the gap ``T - t`` (log x axis), one line per model:
    ``curves = {label: (gap (n,), log_norm (B, n) natural log)}``, the median over examples
    drawn. The ``threshold`` (default 1e-6 of the start) is a dashed line; the y axis ends at
    1e-12 and a curve that leaves through the floor gets a marker where it does."""
    fig, ax = new_axes(ax, figsize=(7.6, 4.6))
    for label, (gap, ln) in curves.items():
        gap = np.asarray(gap)
        med = np.nanmedian(np.atleast_2d(np.asarray(ln, dtype=np.float64)), axis=0) * LOG10E
        order = np.argsort(gap)
        gap, med = gap[order], med[order]
        (line,) = ax.plot(gap, np.maximum(med, FLOOR_DECADES - 1), label=label, lw=1.6)
        out = np.flatnonzero(~(med >= FLOOR_DECADES))
        if out.size:
            ax.plot(gap[out[0]], FLOOR_DECADES, marker="v", color=line.get_color(), ms=7, clip_on=False)
    ax.axhline(np.log10(threshold), color="0.3", ls="--", lw=1, label=f"{threshold:g} of the start")
    ax.plot([], [], ls="none", marker="v", color="0.3", ms=7, label="leaves the frame (below 1e-12)")
    log_axis(ax, "x")
    ax.set_ylim(FLOOR_DECADES, 1.0)
    ax.set_xlabel(r"gap $T - t$ (steps, log scale)")
    ax.set_ylabel(r"$\log_{10}\|\partial h_T/\partial h_t\|_2$ (median over examples)")
    ax.set_title(title or "How far the state gradient reaches", fontsize="medium")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


def plot_eigenvalues(init: list, trained: list | None = None, *, horizon: float | None = None,
                     title: str | None = None):
    """LRU eigenvalues, one row per layer: ``init`` (hollow) and ``trained`` (filled), lists of
    each layer's complex ``lambda`` (N,). Left: the complex plane with the unit circle. Right:
    the distance to the circle ``1 - |lambda|`` (log scale) against the phase, where the long
    memories (``1 - |lambda|`` near ``1/T``) are told apart; ``horizon`` T draws ``1 - |lambda| = 1/T``."""
    L = len(init)
    fig = Figure(figsize=(9.6, 4.2 * L), layout="constrained")
    axes = fig.subplots(L, 2, squeeze=False)
    th = np.linspace(0, 2 * np.pi, 721)
    sets = [("at init", init, dict(s=22, facecolors="none", edgecolors="C0"))]
    if trained is not None:
        sets.append(("after training", trained, dict(s=14, color="C3")))
    for l in range(L):
        left, right = axes[l]
        left.plot(np.cos(th), np.sin(th), color="0.4", lw=1, label="unit circle")
        for label, lams, kw in sets:
            lam = np.asarray(lams[l])
            left.scatter(lam.real, lam.imag, label=label, **kw)
            right.scatter(np.angle(lam), 1 - np.abs(lam), label=label, **kw)
        left.set_aspect("equal")
        left.set_xlim(-1.1, 1.1)
        left.set_ylim(-1.1, 1.1)
        left.set_xlabel(r"Re $\lambda$")
        left.set_ylabel(r"Im $\lambda$")
        left.set_title(f"layer {l}: all N = {len(init[l])} eigenvalues", fontsize="medium")
        left.legend(loc="lower left", fontsize="small")
        if horizon is not None:
            right.axhline(1 / horizon, color="0.2", ls="--", lw=1, label=rf"$1 - |\lambda| = 1/T$, T = {horizon:g}")
        log_axis(right)
        right.set_xlim(-np.pi, np.pi)
        right.set_xlabel(r"phase $\arg\lambda$ (rad)")
        right.set_ylabel(r"$1 - |\lambda|$ (log scale; lower: longer memory)")
        right.set_title("distance to the unit circle", fontsize="medium")
        right.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_timescales(init, trained=None, *, horizon: float | None = None, title: str | None = None, ax=None):
    """Histogram of the timescales ``tau = -1/log|lambda|`` (steps, log bins) at init and after
    training, with the task ``horizon`` (the distance the answer must be carried) as a line."""
    fig, ax = new_axes(ax, figsize=(6.8, 4.0))
    sets = [("at init", np.asarray(init, dtype=np.float64), "C0")]
    if trained is not None:
        sets.append(("after training", np.asarray(trained, dtype=np.float64), "C3"))
    finite = np.concatenate([s[1][np.isfinite(s[1])] for s in sets])
    lo, hi = max(finite.min(), 1e-2), max(finite.max(), horizon or 1.0)
    bins = np.logspace(np.log10(lo) - 0.05, np.log10(hi) + 0.05, 31)
    for label, tau, color in sets:
        ax.hist(np.clip(tau, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.8, color=color, label=label)
    if horizon is not None:
        ax.axvline(horizon, color="0.2", ls="--", lw=1.2, label=f"task horizon T = {horizon:g}")
    log_axis(ax, "x")
    ax.set_xlabel(r"timescale $\tau = -1/\log|\lambda|$ (steps, log scale)")
    ax.set_ylabel("units")
    ax.set_title(title or "Timescales of the recurrence", fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return fig
