"""Shared plotting helpers: headless figures, batch bands (and their legend entry), log10
conversion, log axes with readable ticks, lines that lie on top of each other.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so
nothing global is touched and no display is needed; ``fig.savefig(path)`` works.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, Locator, LogFormatterSciNotation, LogLocator, MaxNLocator

LOG10E = float(np.log10(np.e))  # natural log -> log10


def new_axes(ax=None, figsize=(6.4, 4.2)):
    """``(fig, ax)``: the given axes' figure, or a fresh headless figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def batch_stats(values: np.ndarray):
    """Mean, min and max over axis 0 ignoring non-finite entries (``nan`` where none is finite)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    n = ok.sum(axis=0)
    safe = np.where(ok, v, 0.0)
    mean = np.where(n > 0, safe.sum(axis=0) / np.maximum(n, 1), np.nan)
    lo = np.where(n > 0, np.where(ok, v, np.inf).min(axis=0), np.nan)
    hi = np.where(n > 0, np.where(ok, v, -np.inf).max(axis=0), np.nan)
    return mean, lo, hi


def band(ax, x, values, *, label=None, color=None, **kw):
    """Plot the batch mean of ``values`` ``(B, n)`` with a min-max band; returns the line."""
    mean, lo, hi = batch_stats(values)
    (line,) = ax.plot(x, mean, label=label, color=color, **kw)
    if np.asarray(values).shape[0] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def as_items(results, default: str):
    """A result, a sequence of results or a ``{label: result}`` dict -> ``[(label, result)]``."""
    if isinstance(results, dict):
        return list(results.items())
    if isinstance(results, (list, tuple)):
        return [(getattr(r, "label", "") or f"{default} {i}", r) for i, r in enumerate(results)]
    return [(getattr(results, "label", "") or default, results)]


class _LogOrPlainLocator(Locator):
    """Major ticks of a log axis: decades where two or more are in view; otherwise 1-2-5
    ticks, or evenly spaced plain ticks (``MaxNLocator``) when those are too few."""

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not _sub_decade(vmin, vmax):
            return LogLocator().tick_values(vmin, vmax)
        ticks = LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(vmin, vmax)
        inside = ticks[(ticks >= vmin) & (ticks <= vmax)]
        if len(inside) >= 3:
            return ticks
        plain = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
        return plain[plain > 0]


class _LogOrPlainMinorLocator(Locator):
    """Minor ticks of a log axis: matplotlib's where decades are ticked, none otherwise."""

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if _sub_decade(vmin, vmax):
            return []
        return LogLocator(subs="auto").tick_values(vmin, vmax)


class _LogOrPlainFormatter(Formatter):
    """Labels for :class:`_LogOrPlainLocator`: ``10^k`` at decades; otherwise plain numbers
    (``2.2``, ``0.05``), with a power of ten only for very small or large ones (``2×10^{-5}``)."""

    def __init__(self):
        self._log = LogFormatterSciNotation()

    def set_axis(self, axis):
        super().set_axis(axis)
        self._log.set_axis(axis)

    def set_locs(self, locs):
        super().set_locs(locs)
        self._log.set_locs(locs)

    def __call__(self, x, pos=None):
        if x <= 0 or not np.isfinite(x):
            return ""
        if not _sub_decade(*self.axis.get_view_interval()):
            return self._log(x, pos)
        if 1e-3 <= abs(x) < 1e4:
            return f"{x:.4g}"
        exp = int(np.floor(np.log10(abs(x))))
        mant = x / 10.0**exp
        return rf"${mant:.3g}\times10^{{{exp}}}$" if not np.isclose(mant, 1.0) else rf"$10^{{{exp}}}$"


def _sub_decade(vmin, vmax) -> bool:
    """True when fewer than two powers of ten lie in ``[vmin, vmax]``, so decade ticks
    alone would leave the axis (nearly) unlabelled."""
    vmin, vmax = sorted((float(vmin), float(vmax)))
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmin <= 0:
        return False
    return np.floor(np.log10(vmax) + 1e-12) - np.ceil(np.log10(vmin) - 1e-12) + 1 < 2


def log_axis(ax, axis: str = "y") -> None:
    """Put ``ax``'s x or y axis on a log10 scale whose ticks stay readable at any range:
    decades (``10^k``) where two or more are in view, plain numbers (``2.2``, ``2.3``)
    where the axis spans less (matplotlib's default would write ``2.3×10^0``). The choice
    follows the limits as they change (shared axes, later ``set_ylim``)."""
    a = {"x": ax.xaxis, "y": ax.yaxis}[axis]
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a.set_major_locator(_LogOrPlainLocator())
    a.set_major_formatter(_LogOrPlainFormatter())
    a.set_minor_locator(_LogOrPlainMinorLocator())


def band_handle(values_by_label: dict, what: str = "input sequences"):
    """A legend handle and label saying what the shaded bands are: the min-max over the
    rows (axis 0) of each ``(B, n)`` array in ``values_by_label``; None when no band is
    drawn (every array has one row)."""
    sizes = sorted({int(np.shape(v)[0]) for v in values_by_label.values()})
    if sizes[-1] < 2:
        return None
    n = f"B={sizes[0]}" if len(sizes) == 1 else "B=" + "/".join(map(str, sizes))
    return Patch(facecolor="0.6", alpha=0.35, linewidth=0), f"shaded: min-max over the {n}\n{what} (line: their mean)"


def coinciding(lines, *, tol: float = 0.01, log: bool = False) -> list[tuple]:
    """Pairs ``(earlier, later)`` of ``lines`` that lie on top of each other: over the x
    values both draw, nine in ten of their differences are within ``tol`` of the y range all
    the lines span (in log10 on a log axis), about a line's width on a figure."""
    def ys(line):
        y = np.asarray(line.get_ydata(), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log10(y), np.nan) if log else y
    data = [(np.asarray(ln.get_xdata(), dtype=np.float64), ys(ln)) for ln in lines]
    finite = np.concatenate([y[np.isfinite(y)] for _, y in data] or [np.zeros(0)])
    if finite.size < 2 or np.ptp(finite) == 0:
        return []
    span = float(np.ptp(finite))
    pairs = []
    for j in range(len(lines)):
        for i in range(j):
            (xi, yi), (xj, yj) = data[i], data[j]
            common, ii, jj = np.intersect1d(xi, xj, return_indices=True)
            ok = np.isfinite(yi[ii]) & np.isfinite(yj[jj])
            if ok.sum() >= 2 and np.quantile(np.abs(yi[ii][ok] - yj[jj][ok]), 0.9) <= tol * span:
                pairs.append((lines[i], lines[j]))
                break
    return pairs


def show_coinciding(lines, *, log: bool = False, tol: float = 0.01) -> list[tuple[str, str]]:
    """Keep lines that lie on top of each other both visible: each later one is redrawn
    dashed, on top, over a widened earlier one, and its legend label says so
    (``"Leaky ReLU (dashed, on ReLU)"``). Call before the legend is made. Returns the
    ``(earlier label, later label)`` pairs."""
    pairs = coinciding(lines, tol=tol, log=log)
    names = [(a.get_label(), b.get_label()) for a, b in pairs]
    for under, over in pairs:
        under.set_linewidth(under.get_linewidth() * 2.4)
        under.set_alpha(0.55)
        over.set_linestyle((0, (4, 2)))
        over.set_zorder(max(under.get_zorder(), over.get_zorder()) + 0.1)
        over.set_label(f"{over.get_label()} (dashed, on {under.get_label()})")
    return names


def skipped_stretches(steps) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` of the runs of consecutive integers in sorted ``steps``.

    >>> skipped_stretches([3, 4, 5, 9])
    (array([3, 9]), array([5, 9]))
    """
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        return steps, steps
    breaks = np.flatnonzero(np.diff(steps) != 1)
    return steps[np.r_[0, breaks + 1]], steps[np.r_[breaks, steps.size - 1]]
