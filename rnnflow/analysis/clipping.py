"""Pascanu et al. (2013), Fig. 6: the "cliff" of a one-unit recurrent model.

    x_t = w * sigmoid(x_{t-1}) + b,   x_0 = 0.5,   E(w, b) = (sigmoid(x_T) - target)^2

With T = 50 the error surface is flat almost everywhere and drops off a steep wall
where the map's fixed points bifurcate; a gradient step that lands on the wall is
huge. Forward-mode derivatives are exact and vectorised over any grid of (w, b):

    dx_t/dw = sigmoid(x_{t-1}) + w sigmoid'(x_{t-1}) dx_{t-1}/dw
    dx_t/db = 1 + w sigmoid'(x_{t-1}) dx_{t-1}/db
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cliff_loss_and_grad(w, b, *, steps: int = 50, x0: float = 0.5, target: float = 0.7):
    """``(E, dE/dw, dE/db)`` for arrays ``w``, ``b`` of any (broadcastable) shape."""
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    x = np.full(w.shape, float(x0))
    dw = np.zeros(w.shape)
    db = np.zeros(w.shape)
    for _ in range(steps):
        s = _sigmoid(x)
        ds = s * (1.0 - s)
        dw = s + w * ds * dw
        db = 1.0 + w * ds * db
        x = w * s + b
    s = _sigmoid(x)
    r = s - target
    g = 2.0 * r * s * (1.0 - s)
    return r * r, g * dw, g * db


@dataclass(frozen=True)
class CliffPath:
    """A gradient-descent path on the cliff surface: ``(steps + 1, 2)`` points (w, b),
    the loss at each point and the gradient norm before clipping at each step."""

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clip: str


def descend(w0: float, b0: float, *, lr: float, iters: int, clip: str = "none", threshold: float = 1.0,
            steps: int = 50, x0: float = 0.5, target: float = 0.7) -> CliffPath:
    """Plain gradient descent from ``(w0, b0)`` with clipping ``none | norm | value``."""
    if clip not in ("none", "norm", "value"):
        raise ValueError(f"clip={clip!r} is invalid: expected 'none', 'norm' or 'value'")
    p = np.array([w0, b0], dtype=np.float64)
    pts, losses, norms = [p.copy()], [], []
    for _ in range(iters):
        e, gw, gb = cliff_loss_and_grad(p[0], p[1], steps=steps, x0=x0, target=target)
        g = np.array([gw, gb], dtype=np.float64)
        n = float(np.linalg.norm(g))
        losses.append(float(e))
        norms.append(n)
        if clip == "norm" and n > threshold:
            g *= threshold / n
        elif clip == "value":
            g = np.clip(g, -threshold, threshold)
        p = p - lr * g
        pts.append(p.copy())
    e, _, _ = cliff_loss_and_grad(p[0], p[1], steps=steps, x0=x0, target=target)
    losses.append(float(e))
    return CliffPath(np.array(pts), np.array(losses), np.array(norms), clip)
