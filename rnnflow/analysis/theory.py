"""Pascanu, Mikolov & Bengio (2013), "On the difficulty of training RNNs", section 2.1.

For ``h_t = phi(W_hh h_{t-1} + ...)``, ``||dh_t/dh_{t-1}|| <= gamma * sigma_max(W_hh)`` with
``gamma = sup |phi'|`` (1 for tanh, 1/4 for sigmoid). Hence::

    sigma_max < 1 / gamma   is sufficient for vanishing:  ||dh_T/dh_t|| <= (gamma sigma_max)^(T-t)
    sigma_max > 1 / gamma   is necessary for exploding (not sufficient)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import MAX_DERIVATIVE, canonical_activation

SIGMOID_GAMMA = 0.25  # sup sigmoid' = sigmoid'(0) = 1/4


def gamma(activation: str) -> float:
    """``sup_x |phi'(x)|`` of ``activation``."""
    name = canonical_activation(activation)
    if name not in MAX_DERIVATIVE:
        raise ValueError(f"activation={activation!r} is invalid: expected one of {tuple(MAX_DERIVATIVE)}")
    return float(MAX_DERIVATIVE[name])


def log_bound_curve(gap, gamma_: float, sigma_max: float) -> np.ndarray:
    """``(T - t) * log(gamma * sigma_max)``: the upper bound on ``log ||dh_T/dh_t||``."""
    with np.errstate(divide="ignore"):
        return np.asarray(gap, dtype=np.float64) * np.log(gamma_ * sigma_max)


def sigmoid_chain_log_bound(n, weight_norm: float = 1.0) -> np.ndarray:
    """``log(0.25^n * weight_norm^n)``: a gradient through ``n`` sigmoids shrinks at least this much."""
    return log_bound_curve(n, SIGMOID_GAMMA, weight_norm)


@dataclass(frozen=True)
class PascanuBound:
    """The section 2.1 verdict for one recurrent matrix and activation.

    verdict: ``"vanishing"`` (sigma_max < 1/gamma: gradients must vanish),
             ``"may explode"`` (sigma_max > 1/gamma: the necessary condition holds),
             ``"boundary"`` (equal within 1e-12).
    """

    activation: str
    gamma: float
    sigma_max: float
    spectral_radius: float
    threshold: float   # 1 / gamma
    verdict: str

    def log_bound(self, gap) -> np.ndarray:
        """``gap * log(gamma * sigma_max)`` for an overlay on ``log ||dh_T/dh_t||``."""
        return log_bound_curve(gap, self.gamma, self.sigma_max)


def pascanu_bound(weight_hh, activation: str = "tanh") -> PascanuBound:
    """Verdict and bound for ``W_hh`` ``(H, H)`` with activation ``phi``."""
    w = np.asarray(weight_hh, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.size == 0:
        raise ValueError(f"weight_hh has shape {w.shape}: expected a square (H, H) matrix")
    if not np.isfinite(w).all():
        raise ValueError("weight_hh contains NaN or Inf")
    g = gamma(activation)
    sig = float(np.linalg.norm(w, 2))
    thr = 1.0 / g
    if abs(sig - thr) <= 1e-12 * thr:
        verdict = "boundary"
    else:
        verdict = "vanishing" if sig < thr else "may explode"
    return PascanuBound(canonical_activation(activation), g, sig,
                        float(np.max(np.abs(np.linalg.eigvals(w)))), thr, verdict)
