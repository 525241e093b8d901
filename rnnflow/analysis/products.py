"""Norms of the backward Jacobian product ``J(t) = dh_T/dh_t`` for every ``t``, in log space.

One backward sweep ``J(T) = I``, ``J(t-1) = J(t) A_t`` (``2 N^3`` flops per step and
example). The running product is kept as ``J(t) = exp(s_t) M_t`` with a float64 log-scale
``s_t``, and ``M_t`` is renormalised to ``||M_t||_F = 1`` whenever its norm leaves
``[1e-100, 1e100]``, so ``log ||J(t)||`` is exact where ``J(t)`` itself would be
``1e-300`` or ``1e+300`` (or overflow float64).

* ``log ||J(t)||_F = s_t + log ||M_t||_F``, nearly free (one pass over ``M_t``);
* ``log ||J(t)||_2 = s_t + log sigma_1(M_t)`` and the top-k ``log sigma_i``, by one of

  ==========  =====================================================  ===================
  spectral    how                                                    time / FLOP bound
                                                                     (N=128, measured)
  ==========  =====================================================  ===================
  "exact"     ``M M^T`` + LAPACK top eigenvalue, per matrix           ~5-6x
              (with top-k: full SVD, as "svd")                       (top-8: ~8-9x)
  "svd"       full SVD, chunk at a time                              ~6-8x
  "power"     subspace iteration, batched over 8 steps, warm-        ~2.5-3x
              started (lower bounds, up to ~0.1 low in log at
              small gaps: see ``jacobians_over_time``)
  "none"      Frobenius only (``log_spectral`` is nan)               ~1.5x
  ==========  =====================================================  ===================

  The FLOP bound is ``T * 2 N^3`` at the machine's ``N x N`` matmul rate
  (``benchmarks/bench_jacobian.py``).
  Matrices of size <= 12 always use an exact SVD. Singular values below ``~1e-15 sigma_1``
  are rounding noise of the float64 product; use :func:`rnnflow.analysis.lyapunov_exponents`
  for the small end of a spectrum.
"""
from __future__ import annotations

import numpy as np

from .spectral import SMALL, TopSingular, exact_top_singular
from .step_jacobians import StepJacobians, check_finite_steps, chunk_size

SPECTRAL = ("exact", "svd", "power", "none")
_RESCALE = 1e100  # keep ||M_t||_F within [1e-100, 1e100]: M M^T and its eigenvalues stay in range


def product_norms(steps: StepJacobians, *, topk: int = 0, spectral: str = "exact",
                  h_size: int | None = None, power_iters: int = 2, chunk: int | None = None) -> dict:
    """Log-norms of ``J(t) = A_T ... A_{t+1}`` for ``t = 0..T-1``.

    steps:       the step Jacobians ``A_t`` (``T`` steps, batch ``B``, ``N x N``).
    topk:        also return the ``topk`` largest log singular values.
    spectral:    ``"exact"`` | ``"svd"`` | ``"power"`` | ``"none"`` (see the module docstring).
    h_size:      if set, also the norms of the leading ``h_size x h_size`` block.
    power_iters: power iterations per step for ``spectral="power"``.

    Returns a dict of ``(B, T)`` arrays ``log_frobenius``, ``log_spectral``,
    ``log_frobenius_h``, ``log_spectral_h`` (equal to the full ones without ``h_size``)
    and ``log_singular`` ``(B, T, topk)`` or ``None``.
    """
    if spectral not in SPECTRAL:
        raise ValueError(f"spectral={spectral!r} is invalid: expected one of {SPECTRAL}")
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or not 0 <= topk <= steps.N:
        raise ValueError(f"topk={topk!r} is invalid: expected an integer in [0, N={steps.N}]")
    if topk and spectral == "none":
        raise ValueError("topk > 0 needs spectral='exact', 'svd' or 'power', got spectral='none'")
    if h_size is not None and not 0 < h_size <= steps.N:
        raise ValueError(f"h_size={h_size!r} is invalid: expected an integer in [1, N={steps.N}]")
    if steps.is_elman and not np.isfinite(steps.weight).all():
        raise ValueError("weight_hh contains NaN or Inf")
    T, B, N = steps.T, steps.B, steps.N
    C = chunk or chunk_size(B, N)
    kk = max(topk, 1)
    # per block ("full", "h"): (size, k, tracker or None for chunked exact values)
    blocks = {"full": (N, kk), **({"h": (h_size, 1)} if h_size is not None else {})}
    trackers = {name: _estimator(spectral, k, m, B, power_iters) for name, (m, k) in blocks.items()}
    out = {"log_frobenius": np.empty((B, T)), "log_spectral": np.full((B, T), np.nan),
           "log_singular": np.empty((B, T, topk)) if topk else None}
    if h_size is not None:
        out["log_frobenius_h"], out["log_spectral_h"] = np.empty((B, T)), np.full((B, T), np.nan)
    buf = np.empty((C, B, N, N))                 # normalised M_t of one chunk of t
    sig = {name: np.empty((C, B, k)) for name, (m, k) in blocks.items()}
    scale, frob = np.empty((C, B)), np.empty((C, B))
    m = np.broadcast_to(np.eye(N), (B, N, N)).copy()
    s = np.zeros(B)
    with np.errstate(divide="ignore"):
        for hi in range(T, 0, -C):
            lo = max(0, hi - C)
            n = hi - lo
            blk = _load(steps, lo, hi)
            for j in range(n - 1, -1, -1):
                prod = buf[j]
                _right_multiply(steps, blk, j, m, prod)            # J(t) = J(t+1) A_{t+1}, t = lo + j
                f = np.sqrt(np.einsum("bij,bij->b", prod, prod))   # (B,) ||M_t||_F
                frob[j] = s + np.log(f)
                if ((f > _RESCALE) | (f < 1.0 / _RESCALE)).any():    # rescale only when far from 1
                    prod *= (1.0 / np.where(f > 0, f, 1.0))[:, None, None]
                    s = frob[j].copy()
                scale[j] = s                                        # J(t) = exp(s) M_t
                m = prod
            m = m.copy()                                            # buf is reused by the next chunk
            sc = scale[:n].T                                        # (B, n)
            out["log_frobenius"][:, lo:hi] = frob[:n].T
            if h_size is not None:
                mh = buf[:n, :, :h_size, :h_size]
                out["log_frobenius_h"][:, lo:hi] = 0.5 * np.log(np.einsum("nbij,nbij->bn", mh, mh)) + sc
            if spectral == "none":
                continue
            for name, (size, k) in blocks.items():
                if trackers[name] is None:
                    mats = np.ascontiguousarray(buf[:n, :, :size, :size]).reshape(n * B, size, size)
                    sig[name][:n] = exact_top_singular(mats, k, "svd" if spectral == "power" else spectral
                                                       ).reshape(n, B, k)
                else:                                   # "power": batched over the chunk, warm-started
                    sig[name][:n] = trackers[name](buf[:n, :, :size, :size])
                logs = np.log(sig[name][:n]).transpose(1, 0, 2) + sc[:, :, None]   # (B, n, k)
                if name == "h":
                    out["log_spectral_h"][:, lo:hi] = logs[:, :, 0]
                else:
                    out["log_spectral"][:, lo:hi] = logs[:, :, 0]
                    if topk:
                        out["log_singular"][:, lo:hi] = logs[:, :, :topk]
    if h_size is None:
        out["log_frobenius_h"], out["log_spectral_h"] = out["log_frobenius"], out["log_spectral"]
    return out


def _estimator(spectral: str, k: int, m: int, B: int, power_iters: int) -> TopSingular | None:
    """The chunk estimator of one block's top-k values, or None for a full SVD per chunk."""
    return TopSingular(k, m, B, power_iters) if spectral == "power" and m > SMALL else None


def _load(steps: StepJacobians, lo: int, hi: int):
    if steps.is_elman:
        d = steps.dphi[lo:hi]
        check_finite_steps(d, lo)
        return d
    if steps.is_split:
        return steps.split_block(lo, hi)
    return steps.block(lo, hi)


def _right_multiply(steps: StepJacobians, blk, j: int, m: np.ndarray, out: np.ndarray) -> None:
    """``out = m @ A`` for step ``j`` of the loaded block; m, out ``(B, N, N)``."""
    if steps.is_elman:  # m diag(d) W as one (B*N, N) x (N, N) GEMM
        B, N = steps.B, steps.N
        np.matmul((m * blk[j][:, None, :]).reshape(B * N, N), steps.weight, out=out.reshape(B * N, N))
    elif steps.is_split:  # [M L | M_h diag(d_h) + M_c diag(d_c)]: half a dense step's flops
        left, dh, dc = blk
        H = dh.shape[-1]
        np.matmul(m, left[j], out=out[..., :H])
        np.multiply(m[..., :H], dh[j][:, None, :], out=out[..., H:])
        out[..., H:] += m[..., H:] * dc[j][:, None, :]
    else:
        np.matmul(m, blk[j], out=out)
