"""Activation functions: names, constants, and NumPy reference forms.

The backends implement the same functions with their own primitives; the NumPy
forms here are the reference the analyzers and tests use. Constants follow
PyTorch's defaults so both backends agree exactly:

* ``leaky_relu``: slope ``LEAKY_SLOPE = 0.01`` for x < 0
* ``elu``: ``ELU_ALPHA = 1.0``
* ``gelu``: the exact erf form ``x * Phi(x)`` (not the tanh approximation)
* ``swish`` (alias ``silu``): ``x * sigmoid(x)``
* ``prelu`` (MLP only): ``max(0, x) + a * min(0, x)`` with a learned ``a`` (init 0.25)
"""
from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "elu", "gelu", "swish", "identity")
MLP_ACTIVATIONS = ACTIVATIONS + ("prelu",)
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
PRELU_INIT = 0.25

# gamma = sup_x |phi'(x)|: Pascanu et al. (2013) use it to bound ||dh_t/dh_{t-1}||.
# swish' peaks at 1.099839 (x ~ 2.40), gelu' at 1.128904 (x ~ 1.41): rounded *up*, since
# gamma is used in upper bounds.
MAX_DERIVATIVE = {
    "tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "leaky_relu": 1.0, "elu": 1.0,
    "gelu": 1.12891, "swish": 1.09984, "identity": 1.0,
}


def canonical_activation(name: str) -> str:
    """``"silu"`` -> ``"swish"``; every other name unchanged."""
    return "swish" if name == "silu" else name


def _erf(x):
    from scipy.special import erf
    return erf(x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form


def phi(name: str, x: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` elementwise (NumPy reference)."""
    name = canonical_activation(name)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x >= 0, x, LEAKY_SLOPE * x)
    if name == "elu":
        return np.where(x > 0, x, ELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == "swish":
        return x * _sigmoid(x)
    if name == "identity":
        return np.asarray(x)
    raise ValueError(f"activation={name!r} is invalid: expected one of {ACTIVATIONS}")


def dphi(name: str, x: np.ndarray) -> np.ndarray:
    """Derivative ``phi'(x)`` of activation ``name`` (subgradient 0 at relu's kink,
    matching autograd in both backends)."""
    name = canonical_activation(name)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "sigmoid":
        s = _sigmoid(x)
        return s * (1.0 - s)
    if name == "relu":
        return (x > 0).astype(np.result_type(x, np.float32))
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, LEAKY_SLOPE).astype(np.result_type(x, np.float32))
    if name == "elu":
        return np.where(x > 0, 1.0, ELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    if name == "gelu":
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return 0.5 * (1.0 + _erf(x / math.sqrt(2.0))) + x * pdf
    if name == "swish":
        s = _sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    if name == "identity":
        return np.ones_like(x)
    raise ValueError(f"activation={name!r} is invalid: expected one of {ACTIVATIONS}")
