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

from .results import LyapunovSpectrum
from .spectral import random_basis
from .step_jacobians import StepJacobians, check_finite_steps, chunk_size


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
