"""minGRU and minLSTM recurrences in torch (Feng et al. 2024, "Were RNNs all we needed?").

One layer, on its normed input u (..., D), N real units::

    minGRU:   z = sigmoid(gate(u)),  h~ = cand(u),   h_t = (1 - z_t) h_{t-1} + z_t h~_t
    minLSTM:  f = sigmoid(forget(u)), i = sigmoid(input(u)), h~ = cand(u)
              h_t = f'_t h_{t-1} + i'_t h~_t,   f' = f / (f + i),  i' = i / (f + i)
    o_t = out(h_t)                                  (N -> D)

The gates depend on u only, so the sequence is one linear scan. h~ is the plain linear
candidate (not the paper's log-space ``g``), so the scan is the sign-exact linear scan of
:func:`rnnflow.torch.diagonal.linear_scan`; the decays come from their logarithms
(``log(1 - z) = -softplus(k)``, ``log f' = -softplus(log i - log f)``), as in the paper.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .lru import Cell


def _linear(p, x):
    return x @ p["weight"].T + p["bias"]


def mingru_log_gates(p, u):
    """``(log(1 - z), log z)`` (..., N): ``-softplus(k)`` and ``-softplus(-k)``, k = gate(u)."""
    k = _linear(p["gate"], u)
    return -F.softplus(k), -F.softplus(-k)


def minlstm_log_gates(p, u):
    """``(log f', log i')`` (..., N) with ``d = log i - log f = softplus(-k_f) - softplus(-k_i)``:
    ``log f' = -softplus(d)``, ``log i' = -softplus(-d)``."""
    d = F.softplus(-_linear(p["forget"], u)) - F.softplus(-_linear(p["input"], u))
    return -F.softplus(d), -F.softplus(-d)


def _coefficients(log_gates):
    def coefficients(p, u):
        log_a, log_w = log_gates(p, u)
        return torch.exp(log_a), torch.exp(log_w) * _linear(p["cand"], u)
    return coefficients


def _identity(h):
    return h


def min_output(p, h, u):
    """``out(h) = h W_o^T + b_o``; h (..., N) -> (..., D)."""
    return _linear(p["out"], h)


def _log_decay(log_gates):
    def log_decay(p, u):
        return log_gates(p, u)[0]
    return log_decay


def _step(coefficients):
    def step(p, h, u):
        a, b = coefficients(p, u)
        return a * h + b
    return step


mingru_coefficients = _coefficients(mingru_log_gates)
minlstm_coefficients = _coefficients(minlstm_log_gates)
mingru_step = _step(mingru_coefficients)
minlstm_step = _step(minlstm_coefficients)
MINGRU_CELL = Cell(mingru_coefficients, _identity, _identity, min_output, _log_decay(mingru_log_gates), mingru_step)
MINLSTM_CELL = Cell(minlstm_coefficients, _identity, _identity, min_output, _log_decay(minlstm_log_gates),
                    minlstm_step)
