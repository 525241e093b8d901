"""Shared plotting helpers: headless figures, batch bands, log10 conversion.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so
nothing global is touched and no display is needed; ``fig.savefig(path)`` works.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

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
