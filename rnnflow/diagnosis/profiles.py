"""The gradient along time and depth as :class:`AxisProfile`, from the public analyzers.

Time: ``jacobians_over_time`` gives ``log ||dh_T/dh_t||_2`` per example; the profile is
the batch median at every gap ``k = T - t`` (gap 0 is ``J(T) = I``). Depth:
``gradient_through_depth`` gives ``log ||dL/dx_l||`` over the batch; the profile is that
over the top layer's. A crossing is the first gap (the highest layer) at or past
``log10(vanish)`` or ``log10(explode)``.
"""
from __future__ import annotations

import numpy as np

from ..analysis import LOG10E, gradient_through_depth, jacobians_over_time
from .result import AxisProfile


def _first(mask: np.ndarray) -> int | None:
    return int(np.argmax(mask)) if mask.any() else None


def _rate(steps: np.ndarray, ratio: np.ndarray) -> float:
    """Least-squares slope of ``ratio`` against ``steps`` over the far half (finite points)."""
    keep = (steps >= steps.max() / 2) & np.isfinite(ratio)
    if keep.sum() < 2:
        keep = np.isfinite(ratio)
    if keep.sum() < 2:
        return float("nan") if not np.isneginf(ratio).any() else float("-inf")
    return float(np.polyfit(steps[keep], ratio[keep], 1)[0])


def axis_profile(axis: str, index: np.ndarray, steps: np.ndarray, ratio: np.ndarray, vanish: float,
                 explode: float, layer: int | None = None) -> AxisProfile:
    """Verdict, crossing and rate of ``ratio`` (log10) given ``steps`` back from the start per point.

    The points are visited in order of ``steps``; the first one at or below ``log10(vanish)``
    makes the axis vanishing, at or above ``log10(explode)`` exploding (NaN counts as neither).
    """
    order = np.argsort(steps, kind="stable")
    lo, hi = np.log10(vanish), np.log10(explode)
    r = ratio[order]
    k_v, k_e = _first(r <= lo), _first(r >= hi)
    rate = _rate(steps.astype(np.float64), ratio)
    if k_v is None and k_e is None:
        proj = None
        if np.isfinite(rate) and rate != 0:
            last = r[np.isfinite(r)][-1] if np.isfinite(r).any() else 0.0
            target = lo if rate < 0 else hi
            proj = float(steps.max() + (target - last) / rate)
        return AxisProfile(axis, index, ratio, "healthy", None, None, rate, proj, layer)
    first = min(k for k in (k_v, k_e) if k is not None)
    verdict = "vanishing" if first == k_v else "exploding"
    return AxisProfile(axis, index, ratio, verdict, int(index[order][first]), int(steps[order][first]),
                       rate, None, layer)


def time_profile(model, x, layer: int, vanish: float, explode: float) -> AxisProfile:
    """``log10 ||dh_T/dh_{T-k}||_2`` (batch median) for ``k = 0..T``, of ``layer``."""
    norms = jacobians_over_time(model, x, layer=layer)
    med = np.median(norms.log_spectral, axis=0) * LOG10E        # (T,) indexed by t
    gap = np.concatenate([[0], norms.gap[::-1]])                # 0..T
    ratio = np.concatenate([[0.0], med[::-1]])
    return axis_profile("time", gap, gap, ratio, vanish, explode, layer)


def depth_profile(model, x, loss_fn, vanish: float, explode: float, backend: str | None = None):
    """``(profile, DepthProfile)``: ``log10 ||dL/dx_l|| / ||dL/dx_L||`` for ``l = 0..L``."""
    prof = gradient_through_depth(model, x, loss_fn, backend=backend)
    g = prof.log_grad_norm_total
    L = len(g) - 1
    with np.errstate(invalid="ignore"):
        ratio = (g - g[L]) * LOG10E
    layers = np.arange(L + 1)
    return axis_profile("depth", layers, L - layers, ratio, vanish, explode), prof
