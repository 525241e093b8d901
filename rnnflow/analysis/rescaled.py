"""Backward passes kept in range: the cotangent is rescaled by a power of two after every
link (layer or time step) and its log-scale accumulated in float64.

A VJP is linear in its cotangent, and multiplying by ``2^k`` is exact in binary floating
point, so ``g = 2^k u`` with ``max |u|`` in ``[0.5, 1)`` gives the same
digits as the plain backward pass wherever that one stays in range, and finite, correct
log-norms ``k ln 2 + log ||u||`` where it would overflow to ``inf`` or underflow to ``0``.
"""
from __future__ import annotations

import numpy as np

LN2 = float(np.log(2.0))


def exponent(m: np.ndarray) -> np.ndarray:
    """The integer ``e`` with ``m * 2^-e`` in ``[0.5, 1)`` (``0`` where ``m == 0``), for the
    largest magnitudes ``m`` (float64, finite, ``>= 0``) of cotangents: dividing by ``2^e``
    keeps every entry within ``[-1, 1]``, so their squares cannot overflow."""
    _, e = np.frexp(m)
    return np.where(m > 0, e, 0)


def log_norm(log_scale, sq) -> np.ndarray:
    """``log_scale + log sqrt(sq)``: ``-inf`` where ``sq == 0`` (a gradient exactly zero)."""
    with np.errstate(divide="ignore"):
        return log_scale + 0.5 * np.log(sq)


def check_finite_backward(sq, where: str, dtype) -> None:
    """A backward step whose rescaled cotangent is non-finite: one link's own Jacobian left
    the float range (or the model produced NaN), which no rescaling can repair."""
    if not np.isfinite(sq).all():
        raise ValueError(f"the backward pass left the {dtype} range at {where} (a single link's "
                         f"Jacobian is non-finite): use float64 or a smaller init")
