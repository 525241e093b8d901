"""Closed-form step Jacobians ``A_t = dz_t/dz_{t-1}`` of LSTM and GRU layers, in NumPy.

From the trace's gate pre-activations ``preact`` ``(T, B, 4H)`` (LSTM: ``a = xw + hw``,
GRU: ``[a_r, a_z, xw_n, hw_n]``, with ``xw = x_t W_ih^T + b_ih``, ``hw = h_{t-1} W_hh^T + b_hh``),
its states and ``W_hh`` ``(G, H)`` (``G = 4H`` LSTM, ``3H`` GRU); ``sigma'(a) = sigma (1 - sigma)``,
``W_k`` is gate ``k``'s ``(H, H)`` block of ``W_hh``, ``diag(v) W`` scales the rows of ``W``.

LSTM (gates ``i, f, g, o``; state ``z = (h, c)``, ``A_t`` is ``2H x 2H``)::

    c' = f c + i g,  h' = o tanh(c'),  k = o (1 - tanh^2 c')
    dc'/dh = diag(g sigma'(a_i)) W_i + diag(c sigma'(a_f)) W_f + diag(i (1 - g^2)) W_g
    dc'/dc = diag(f)
    dh'/dh = diag(tanh(c') sigma'(a_o)) W_o + diag(k) dc'/dh
    dh'/dc = diag(k f)

GRU (gates ``r, z, n``; torch convention ``n = tanh(xw_n + r hw_n)``, ``h' = (1 - z) n + z h``)::

    A_t = diag(z) + diag((h - n) sigma'(a_z)) W_z
        + diag((1 - z)(1 - n^2) r) W_n + diag((1 - z)(1 - n^2) hw_n sigma'(a_r)) W_r

Built with broadcasting over a chunk ``(n, B)`` of steps, no loop over examples. The LSTM's
``c``-columns are diagonal, so it is kept in split form (:meth:`StepJacobians.split`): the
product ``M A_t`` then costs ``8 H^3`` flops instead of a dense ``16 H^3``.
"""
from __future__ import annotations

import numpy as np

from ..types import Trace
from .step_jacobians import StepJacobians, check_finite_steps, dense_from_split

GATED = ("lstm", "gru")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))   # no overflow warning for large |a|


def lstm_step_parts(preact: np.ndarray, c_prev: np.ndarray, weight_hh: np.ndarray) -> tuple:
    """The LSTM step Jacobians in split form (:class:`StepJacobians.split`): the ``h``-columns
    ``[dh'/dh; dc'/dc_h]`` ``(n, B, 2H, H)`` and the diagonals of ``dh'/dc`` and ``dc'/dc``
    ``(n, B, H)``; preact ``(n, B, 4H)``, c_prev ``(n, B, H)`` (``c_{t-1}``), weight_hh ``(4H, H)``."""
    H = preact.shape[-1] // 4
    ai, af, ag, ao = np.split(preact, 4, axis=-1)                                # (n, B, H) each
    i, f, o, g = _sigmoid(ai), _sigmoid(af), _sigmoid(ao), np.tanh(ag)
    tc = np.tanh(f * c_prev + i * g)                                              # tanh(c')
    k = o * (1.0 - tc * tc)
    w = weight_hh.reshape(4, H, H)
    left = np.empty(preact.shape[:-1] + (2 * H, H))
    dcdh = left[..., H:, :]
    np.multiply((g * i * (1.0 - i))[..., None], w[0], out=dcdh)
    dcdh += (c_prev * f * (1.0 - f))[..., None] * w[1]
    dcdh += (i * (1.0 - g * g))[..., None] * w[2]
    dhdh = left[..., :H, :]
    np.multiply(k[..., None], dcdh, out=dhdh)
    dhdh += (tc * o * (1.0 - o))[..., None] * w[3]
    return left, k * f, f                                                         # dh'/dc, dc'/dc diagonals


def lstm_tangent(preact: np.ndarray, c_prev: np.ndarray, weight_hh: np.ndarray, lo: int = 0):
    """``push(j, Q) = A_j Q`` ``(B, 2H, k)`` for the LSTM steps of ``preact`` ``(n, B, 4H)`` and
    ``c_prev`` ``(n, B, H)``, ``Q`` ``(B, 2H, k)`` (rows ``h`` then ``c``), never forming ``A_j``::

        z_c = (g i (1-i)) W_i Q_h + (c f (1-f)) W_f Q_h + (i (1-g^2)) W_g Q_h + f Q_c
        z_h = o (1 - tanh(c')^2) z_c + (tanh(c') o (1-o)) W_o Q_h

    (the products of :func:`lstm_step_parts`, summed in another order). Raises ``ValueError``
    naming the first step (``lo`` + 1-based index) whose coefficients are not finite."""
    H = preact.shape[-1] // 4
    ai, af, ag, ao = np.split(preact, 4, axis=-1)                                # (n, B, H) each
    i, f, o, g = _sigmoid(ai), _sigmoid(af), _sigmoid(ao), np.tanh(ag)
    tc = np.tanh(f * c_prev + i * g)
    coef = np.stack([g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g), f,
                     o * (1.0 - tc * tc), tc * o * (1.0 - o)], axis=2)[..., None]  # (n, B, 6, H, 1)
    check_finite_steps(coef, lo)

    def push(j: int, q: np.ndarray) -> np.ndarray:
        a = coef[j]                                                               # (B, 6, H, 1)
        wq = np.matmul(weight_hh, q[:, :H])                                       # (B, 4H, k)
        zc = a[:, 0] * wq[:, :H] + a[:, 1] * wq[:, H:2 * H] + a[:, 2] * wq[:, 2 * H:3 * H] + a[:, 3] * q[:, H:]
        return np.concatenate([a[:, 4] * zc + a[:, 5] * wq[:, 3 * H:], zc], axis=1)
    return push


def lstm_step_jacobians(preact: np.ndarray, c_prev: np.ndarray, weight_hh: np.ndarray) -> np.ndarray:
    """``(n, B, 2H, 2H)`` step Jacobians of the state ``(h, c)`` (dense form of :func:`lstm_step_parts`)."""
    return dense_from_split(*lstm_step_parts(preact, c_prev, weight_hh))


def gru_step_jacobians(preact: np.ndarray, h_prev: np.ndarray, weight_hh: np.ndarray) -> np.ndarray:
    """``(n, B, H, H)`` step Jacobians; preact ``(n, B, 4H)`` ``[a_r, a_z, xw_n, hw_n]``,
    h_prev ``(n, B, H)``, weight_hh ``(3H, H)``."""
    H = preact.shape[-1] // 4
    ar, az, xn, hn = np.split(preact, 4, axis=-1)
    r, z = _sigmoid(ar), _sigmoid(az)
    n = np.tanh(xn + r * hn)
    w = weight_hh.reshape(3, H, H)
    dn = (1.0 - z) * (1.0 - n * n)                                                # dh'/d(n preact)
    out = (dn * hn * r * (1.0 - r))[..., None] * w[0]
    out += ((h_prev - n) * z * (1.0 - z))[..., None] * w[1]
    out += (dn * r)[..., None] * w[2]
    idx = np.arange(H)
    out[..., idx, idx] += z
    return out


def gated_step_jacobians(tr: Trace) -> StepJacobians:
    """The closed-form step Jacobians along an LSTM or GRU trace, built chunk by chunk."""
    if tr.cell not in GATED or tr.preact is None or tr.weight_hh is None:
        raise ValueError(f"closed-form step Jacobians need an LSTM or GRU trace with its gate "
                         f"pre-activations, got cell={tr.cell!r}")
    w = np.asarray(tr.weight_hh, dtype=np.float64)
    pre = tr.preact
    carry = tr.states[1] if tr.cell == "lstm" else tr.states[0]    # c_{t-1} (LSTM) or h_{t-1} (GRU)
    N = sum(tr.sizes)
    if tr.cell == "lstm":
        return StepJacobians.split(
            lambda lo, hi: lstm_step_parts(pre[lo:hi].astype(np.float64), carry[lo:hi].astype(np.float64), w),
            tr.T, tr.B, N,
            tangent_fn=lambda lo, hi: lstm_tangent(pre[lo:hi].astype(np.float64), carry[lo:hi].astype(np.float64),
                                                   w, lo))
    return StepJacobians.lazy(lambda lo, hi: gru_step_jacobians(
        pre[lo:hi].astype(np.float64), carry[lo:hi].astype(np.float64), w), tr.T, tr.B, N)
