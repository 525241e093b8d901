"""Lyapunov spectrum from step Jacobians by the QR (Benettin) method.

Engelken, Wolf & Abbott (2020), "Lyapunov spectra of chaotic recurrent neural networks";
Vogt et al. (2022), "On Lyapunov exponents for RNNs". An orthonormal tangent basis
``Q_0`` (``N x k``) is pushed through the step Jacobians and re-orthonormalised::

    Q_t R_t = A_t Q_{t-1}          lambda_i = (1 / S) sum_{t > warmup} log |(R_t)_ii|

with ``S = T - warmup`` steps. ``lambda_1`` is the growth rate of a generic tangent
vector, i.e. the slope of ``log ||dh_T/dh_t||`` against ``T - t`` on long runs.
"""
from __future__ import annotations

import numpy as np

from . import diagonal
from .backends import prepare
from .jacobians import run_trace, trace_step_jacobians
from .results import LyapunovSpectrum
from .spectral import random_basis
from .step_jacobians import StepJacobians, check_finite_steps, chunk_size
from .trace import check_layer, check_sequence


def lyapunov_exponents(steps: StepJacobians, k: int | None = None, *, warmup: int = 0,
                       seed: int = 0) -> LyapunovSpectrum:
    """The ``k`` largest Lyapunov exponents (default all ``N``) per example.

    steps:  ``A_t`` for ``t = 1..T`` (batch ``B``), in forward time order.
    warmup: leading steps that only align the basis (their ``R_t`` are discarded).
    seed:   seed of the random initial basis ``Q_0``.
    """
    T, B, N = steps.T, steps.B, steps.N
    k = N if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= N:
        raise ValueError(f"k={k!r} is invalid: expected an integer in [1, N={N}]")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= warmup < T:
        raise ValueError(f"warmup={warmup!r} is invalid: expected an integer in [0, T={T})")
    q = np.broadcast_to(random_basis(N, k, seed), (B, N, k)).copy()
    acc = np.zeros((B, k))
    C = chunk_size(B, N)
    with np.errstate(divide="ignore"):
        for lo in range(0, T, C):
            hi = min(T, lo + C)
            if steps.is_elman:
                blk = steps.dphi[lo:hi]
                check_finite_steps(blk, lo)
            else:
                blk = steps.block(lo, hi)
            for j in range(hi - lo):
                if steps.is_elman:
                    z = blk[j][:, :, None] * np.matmul(steps.weight, q)   # diag(d) W Q
                else:
                    z = np.matmul(blk[j], q)                              # (B, N, k)
                q, r = np.linalg.qr(z)
                if lo + j >= warmup:
                    acc += np.log(np.abs(np.diagonal(r, axis1=1, axis2=2)))
    exps = -np.sort(-(acc / (T - warmup)), axis=1)
    return LyapunovSpectrum(exponents=exps, steps=T - warmup, warmup=int(warmup))


def _driving_inputs(xs, T: int | None, batch: int, input_size: int | None):
    """Inputs ``(T, B, I)`` from ``None`` (zeros), a constant ``(I,)``/``(B, I)`` or a sequence."""
    if xs is not None and len(getattr(xs, "shape", np.shape(xs))) == 3:
        return xs
    if T is None:
        raise ValueError("steps is required unless xs is a (T, B, I) sequence")
    if xs is None:
        if input_size is None:
            raise ValueError("input_size is required for autonomous runs (xs=None) of a step function")
        return np.zeros((T, batch, input_size))
    c = np.asarray(xs)
    if c.ndim == 1:
        c = np.broadcast_to(c, (batch, c.shape[0]))
    if c.ndim != 2:
        raise ValueError(f"xs has shape {c.shape}: expected None, a constant (I,) or (B, I), or (T, B, I)")
    return np.ascontiguousarray(np.broadcast_to(c, (T,) + c.shape))


def lyapunov_spectrum(model, xs=None, h0=None, *, params=None, steps: int | None = None, warmup: int = 100,
                      k: int | None = None, layer: int = 0, batch: int = 1,
                      input_size: int | None = None, backend: str | None = None,
                      analytic: bool = True, seed: int = 0, route: str = "auto") -> LyapunovSpectrum:
    """Lyapunov exponents of a recurrent cell (QR/Benettin method), sorted descending.

    Driving: ``xs=None``: autonomous, ``x_t = 0``; ``xs`` of shape ``(I,)`` or ``(B, I)``:
    constant input; ``(T, B, I)``: input-driven (then ``warmup + steps = T``).
    The first ``warmup`` steps settle the state and the tangent basis and are not
    averaged. Exponents are per step, natural log: ``(B, k)`` (default ``k = N``).

    ``model``, ``params``, ``h0`` and ``layer`` are as in :func:`jacobians_over_time` (rnnflow
    models and configs, step functions, torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their cells,
    flax cells and ``RNN`` wrappers); a sequence ``xs`` is ``(T, B, I)``, or ``(B, T, I)`` for a
    batch-major module (torch ``batch_first=True``, flax ``RNN(time_major=False)``).

    ``route``: as in :func:`jacobians_over_time`. For a diagonal model the exponents are
    exactly the time averages of ``log|a_t|`` per real state coordinate after ``warmup``,
    sorted (:func:`rnnflow.analysis.diagonal.lyapunov`; no QR, ``seed`` unused).
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"steps={steps!r} is invalid: expected an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} is invalid: expected an integer >= 0")
    model, bk, xs, h0 = prepare(model, xs, h0, params=params, backend=backend, sequence=False)
    if input_size is None and hasattr(model, "config"):
        input_size = model.config.input_size
    if h0 is not None:  # the batch is fixed by h0: (B, H) for a step, (L, B, H) for a model
        first = h0[0] if isinstance(h0, (tuple, list)) else h0
        batch = int(tuple(first.shape)[1 if hasattr(model, "config") else 0])
    seq = _driving_inputs(xs, None if steps is None else warmup + steps, batch, input_size)
    T = int(seq.shape[0])
    if steps is not None and T != warmup + steps:
        raise ValueError(f"xs has T={T} steps but warmup + steps = {warmup + steps}")
    if T <= warmup:
        raise ValueError(f"warmup={warmup} leaves no steps of the T={T} inputs to average")
    if diagonal.check_route(route, model):
        check_sequence(np.shape(seq))
        return diagonal.lyapunov(bk, model, seq, h0, check_layer(layer, model.config.num_layers), k, warmup)
    tr = run_trace(bk, model, seq, h0, layer)
    return lyapunov_exponents(trace_step_jacobians(bk, model, tr, layer, analytic), k, warmup=warmup, seed=seed)
