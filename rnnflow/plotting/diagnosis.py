"""One summary figure of a :class:`rnnflow.Diagnosis`: the time panel, the depth panel, the factors."""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_COLORS = {"healthy": "tab:green", "vanishing": "tab:blue", "exploding": "tab:red"}


def _threshold_lines(ax, thr: dict) -> None:
    for key, style in (("vanish", "tab:blue"), ("explode", "tab:red")):
        v = np.log10(thr[key])
        ax.axhline(v, color=style, linestyle="--", linewidth=1, label=f"{thr[key]:.0e} of the start")
    ax.axhline(0.0, color="grey", linewidth=0.6)


def _finite_ylim(ax, ratio, thr) -> None:
    r = np.asarray(ratio, dtype=np.float64)
    r = r[np.isfinite(r)]
    lo = min(np.log10(thr["vanish"]) - 1, r.min() if r.size else 0.0) - 1
    hi = max(np.log10(thr["explode"]), r.max() if r.size else 0.0) + 1
    ax.set_ylim(max(lo, -60), min(hi, 60))


def _profile_panel(ax, p, thr, *, empty: str) -> None:
    if p is None:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    r = np.asarray(p.log10_ratio, dtype=np.float64)
    shown = np.where(np.isneginf(r), np.nan, r)
    color = _COLORS.get(p.verdict, "black")
    ax.plot(p.index, shown, marker="o" if len(r) <= 60 else None, markersize=3, color=color,
            label=f"measured ({p.verdict})")
    zero = np.isneginf(r)
    if zero.any():
        floor = max(np.log10(thr["vanish"]) - 1, -60)
        ax.plot(p.index[zero], np.full(zero.sum(), floor), "v", color=color, label="exactly 0 (below the axis)")
    _threshold_lines(ax, thr)
    _finite_ylim(ax, r, thr)
    if p.crossing is not None:
        ax.axvline(p.crossing, color="black", linestyle=":", linewidth=1,
                   label=f"crossing at {'gap' if p.axis == 'time' else 'layer'} {p.crossing}")
    if p.axis == "time":
        ax.set_xlabel(r"gap $k = T - t$ (steps back from the last step)")
        ax.set_ylabel(r"$\log_{10}\|\partial h_T/\partial h_{T-k}\|_2$ (batch median)")
        ax.set_title(f"Over time (layer {p.layer}): {p.verdict}")
    else:
        ax.set_xlabel(r"layer $l$ ($x_0$: stack input; top of the stack on the right)")
        ax.set_ylabel(r"$\log_{10}\|\partial L/\partial x_l\| / \|\partial L/\partial x_L\|$")
        ax.set_title(f"Over depth: {p.verdict}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, loc="best")


def plot_diagnosis(d, *, figsize=(13.0, 4.2)) -> Figure:
    """Three panels: the time profile, the depth profile (each with the 1e-6 / 1e+6 lines and the
    crossing), and the factors as text with the responsible one marked, and the cure."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax_t, ax_d, ax_f = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
    _profile_panel(ax_t, d.time, d.thresholds, empty="no time axis\n(not a recurrent model)")
    _profile_panel(ax_d, d.depth, d.thresholds, empty="no depth axis\n(a single recurrent layer)")
    ax_f.axis("off")
    lines = [f"verdict: {d.verdict}"]
    if d.nonfinite:
        lines += textwrap.wrap(f"non-finite: {d.nonfinite}", 62)
    for f in d.factors:
        mark = ">> " if f.responsible else "   "
        lines += textwrap.wrap(f"{mark}{f.name}: {f.detail}", 62, subsequent_indent="      ")
    if d.cure:
        lines += [""] + textwrap.wrap(f"cure: {d.cure}" + (f" (rnnflow run {d.study})" if d.study else ""), 62)
    ax_f.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5,
              transform=ax_f.transAxes)
    ax_f.set_title("Factors (>> responsible)")
    fig.suptitle(f"Diagnosis: {d.model} [{d.backend}]")
    return fig
