"""Eigenvalues, timescales and reach of diagonal recurrences, from parameters and log-norm profiles.

An LRU layer's state Jacobian is ``diag(lambda)`` with ``lambda = exp(-exp(nu_log) + i exp(theta_log))``
(:class:`rnnflow.config.LRUConfig`), so its eigenvalues are read off the parameters. A unit with
``|lambda| < 1`` forgets a perturbation by ``1/e`` in ``tau = -1 / log|lambda|`` steps: its timescale.
A task whose answer needs inputs ``T`` steps back needs units with ``tau`` of order ``T``.

All functions are NumPy only (framework-free); parameters are rnnflow's NumPy schema dicts.
"""
from __future__ import annotations

import math

import numpy as np

LN_1E6 = math.log(1e-6)   # the reach threshold: a gradient at 1e-6 of its start


def lru_eigenvalues(params: dict) -> list[np.ndarray]:
    """``[lambda_l]``: each LRU layer's N complex eigenvalues ``exp(-exp(nu_log) + i exp(theta_log))``,
    from an rnnflow LRU parameter dict (``params["layers"][l]["nu_log"]``, ``["theta_log"]``)."""
    layers = params.get("layers") if isinstance(params, dict) else None
    if not layers or any("nu_log" not in p or "theta_log" not in p for p in layers):
        raise ValueError("params is not an LRU parameter dict: expected params['layers'][l] with 'nu_log' "
                         "and 'theta_log' (rnnflow.init_params(LRUConfig(...)))")
    out = []
    for p in layers:
        nu, theta = np.asarray(p["nu_log"], np.float64), np.asarray(p["theta_log"], np.float64)
        out.append(np.exp(-np.exp(nu) + 1j * np.exp(theta)))
    return out


def timescales(log_abs) -> np.ndarray:
    """``tau = -1 / log|lambda|`` (steps) for ``log|lambda|`` values (any shape, all <= 0);
    ``inf`` where ``log|lambda| = 0`` (a unit that never forgets)."""
    la = np.asarray(log_abs, dtype=np.float64)
    if not np.isfinite(la).all() or (la > 0).any():
        raise ValueError("log|lambda| must be finite and <= 0 (a stable diagonal recurrence)")
    with np.errstate(divide="ignore"):
        return np.where(la == 0, np.inf, -1.0 / np.where(la == 0, -1.0, la))


def crossing_gap(gap, log_norm, threshold: float = LN_1E6):
    """The first gap at which ``log_norm`` (``(n,)`` natural-log norms over ``gap``, increasing
    gaps) falls below ``threshold`` (default ``log 1e-6``), or None if it never does within
    the gaps given. Non-finite values (``-inf``: an exact zero) count as below."""
    gap, ln = np.asarray(gap), np.asarray(log_norm, dtype=np.float64)
    if gap.ndim != 1 or ln.shape != gap.shape:
        raise ValueError(f"gap {gap.shape} and log_norm {ln.shape} must be 1-D of the same length")
    order = np.argsort(gap)
    gap, ln = gap[order], ln[order]
    below = ~(ln >= threshold)     # nan and -inf count as below
    return int(gap[np.argmax(below)]) if below.any() else None


def decades_per_step(gap, log_norm, lo: int = 1) -> float:
    """Least-squares slope of ``log10 ||J||`` against the gap over the finite values at gaps >= ``lo``
    (decades per step; negative: vanishing)."""
    gap, ln = np.asarray(gap, dtype=np.float64), np.asarray(log_norm, dtype=np.float64)
    ok = np.isfinite(ln) & (gap >= lo)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(gap[ok], ln[ok] / math.log(10), 1)[0])
