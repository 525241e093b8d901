"""The factors a diagnosis weighs, measured on NumPy arrays (framework-free).

* activation-derivative saturation: the fraction of unit evaluations with ``phi'(a) < dphi``
  (Elman: at the traced pre-activations; MLP: at each hidden layer, from its output);
* the recurrent weight: ``rho(W_hh)``, ``sigma_max(W_hh)`` against Pascanu's ``1/gamma``;
* gated cells: the gate pre-activations ``x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh`` along the
  trace give the mean forget gate (LSTM) / update gate (GRU), its bias, and gate saturation.

Contributions are in decades per step so they compare with the measured rate: for an Elman
cell ``log10 rho(W_hh)`` and ``log10`` of the RMS ``phi'`` (the gain of ``D_t = diag(phi'(a_t))``
on a random direction); for an LSTM the mean ``log10 f`` (the cell-state carry
``dc_t/dc_{t-1} = diag(f_t)``).
"""
from __future__ import annotations

import numpy as np

from ..activations import dphi as _dphi, phi as _phi
from ..analysis.theory import gamma as _gamma

TINY = 1e-300   # floor under a derivative before its log (relu's phi' = 0)


def _mean_log10(a) -> float:
    return float(np.mean(np.log10(np.maximum(np.abs(a), TINY))))


PIECEWISE_LINEAR = ("relu",)   # phi' is 0 or 1: a unit is "saturated" only when it is dead


def _log10_rms(d: np.ndarray) -> float:
    """The activation factor's typical gain per step, ``mean_{t,b} log10 sqrt(mean_i phi'^2)``:
    ``||D v|| / ||v||`` for a random direction ``v`` (relu's 0/1 mask with half the units on
    gives ``log10 sqrt(1/2) = -0.15``, not ``-inf``)."""
    ms = np.mean(np.asarray(d, dtype=np.float64) ** 2, axis=-1)
    return float(np.mean(0.5 * np.log10(np.maximum(ms, TINY))))


def saturation(d: np.ndarray, threshold: float, activation: str | None = None) -> float:
    """Fraction of the entries of ``d`` (derivatives, units on the last axis) below ``threshold``;
    for relu, whose ``phi' = 0`` on half the inputs of a healthy unit, the fraction of dead
    units (below ``threshold`` for every example and step)."""
    if not d.size:
        return float("nan")
    low = np.abs(d) < threshold
    if activation in PIECEWISE_LINEAR:
        return float(np.mean(low.reshape(-1, low.shape[-1]).all(axis=0)))
    return float(np.mean(low))


def weight_measures(w: np.ndarray, activation: str | None) -> dict:
    """``rho``, ``sigma_max`` of a square ``W_hh`` and ``gamma * sigma_max`` (Pascanu's product)."""
    w = np.asarray(w, dtype=np.float64)
    rho = float(np.max(np.abs(np.linalg.eigvals(w))))
    sig = float(np.linalg.norm(w, 2))
    g = _gamma(activation) if activation else None
    return {"spectral_radius": rho, "sigma_max": sig, "gamma": g,
            "gamma_sigma_max": None if g is None else g * sig,
            "log10_spectral_radius": float(np.log10(max(rho, TINY)))}


def elman_measures(preact: np.ndarray, weight_hh: np.ndarray, activation: str, threshold: float) -> dict:
    """Saturation at the pre-activations ``(T, B, H)`` and the recurrent-weight numbers."""
    d = _dphi(activation, preact.astype(np.float64))
    return {"saturation": saturation(d, threshold, activation), "log10_rms_dphi": _log10_rms(d),
            **weight_measures(weight_hh, activation)}


def _sigmoid(z):
    return _phi("sigmoid", z)


def gate_preactivations(p: dict, h_prev: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x W_ih^T + b_ih + h W_hh^T + b_hh`` ``(T, B, G*H)`` (for a GRU the ``n`` block is not
    the candidate's pre-activation, see :func:`gated_measures`)."""
    return x @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]


def gated_measures(cell: str, p: dict, h_prev: np.ndarray, x: np.ndarray, threshold: float) -> dict:
    """LSTM (gates i, f, g, o): the forget gate ``f``; GRU (r, z, n): the update gate ``z``
    (the carry ``h' = (1 - z) n + z h``). ``p`` holds NumPy arrays in schema names."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    H = p["weight_hh"].shape[1]
    a = gate_preactivations(p, h_prev.astype(np.float64), x.astype(np.float64))
    blocks = [a[..., k * H:(k + 1) * H] for k in range(a.shape[-1] // H)]
    if cell == "lstm":
        sig, tanh_ = [blocks[0], blocks[1], blocks[3]], [blocks[2]]
        carry, carry_block = _sigmoid(blocks[1]), 1
    else:
        r = _sigmoid(blocks[0])
        n = x.astype(np.float64) @ p["weight_ih"][2 * H:].T + p["bias_ih"][2 * H:] + r * (
            h_prev.astype(np.float64) @ p["weight_hh"][2 * H:].T + p["bias_hh"][2 * H:])
        sig, tanh_ = [blocks[0], blocks[1]], [n]
        carry, carry_block = _sigmoid(blocks[1]), 1
    derivs = [_dphi("sigmoid", z) for z in sig] + [_dphi("tanh", z) for z in tanh_]
    bias = float(np.mean(p["bias_ih"][carry_block * H:(carry_block + 1) * H]
                         + p["bias_hh"][carry_block * H:(carry_block + 1) * H]))
    gate = "forget" if cell == "lstm" else "update"
    return {"saturation": saturation(np.concatenate([d.ravel() for d in derivs]), threshold),
            f"{gate}_gate_mean": float(np.mean(carry)), f"{gate}_bias": bias,
            f"mean_log10_{gate}_gate": _mean_log10(carry),
            **weight_measures(p["weight_hh"][carry_block * H:(carry_block + 1) * H], None)}


def dphi_from_output(activation: str, y: np.ndarray) -> np.ndarray | None:
    """``phi'(a)`` from ``y = phi(a)`` where ``phi`` can be inverted through its output
    (sigmoid, tanh, relu, leaky relu, elu, identity); ``None`` otherwise (gelu, swish, prelu)."""
    y = y.astype(np.float64)
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "tanh":
        return 1.0 - y * y
    if activation == "relu":
        return (y > 0).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(y > 0, 1.0, 0.01)
    if activation == "elu":
        return np.where(y > 0, 1.0, y + 1.0)
    if activation == "identity":
        return np.ones_like(y)
    return None


def mlp_measures(acts: list, activation: str, residual: bool, threshold: float) -> dict:
    """Saturation of an MLP's hidden layers from the stack's activations ``x_1..x_L``
    (``x_{l+1} = phi(z)``, or ``x_l + phi(z)`` with residual skips for ``l > 0``)."""
    per_layer = []
    for l in range(1, len(acts)):
        a = acts[l] - acts[l - 1] if residual and l > 1 else acts[l]
        d = dphi_from_output(activation, np.asarray(a))
        if d is None:
            return {"saturation": None, "saturation_per_layer": None}
        per_layer.append(saturation(d, threshold, activation))
    return {"saturation": float(np.mean(per_layer)) if per_layer else None,
            "saturation_per_layer": per_layer}
