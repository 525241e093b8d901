"""The top-k singular values of ``J(t) = dh_T/dh_t`` for every ``t``, never forming ``J(t)``.

For large hidden sizes the dense product of :func:`rnnflow.analysis.products.product_norms`
(``2 N^3`` flops and ``N^2`` memory per step and example) is out of reach; this route costs
``O(T N^2 p)`` with ``p = k + oversample`` vectors: only products of a ``p x N`` block with
one step Jacobian, which for an Elman cell are one GEMM with ``W_hh`` and a scaling by
``phi'`` (``X A_t = (X * phi'(a_t)) W_hh``, ``A_t Z = phi'(a_t) * (W_hh Z)``).

Idea. ``sigma_i(Q^T J(t)) <= sigma_i(J(t))`` for any orthonormal ``Q`` ``(N, p)`` (Cauchy
interlacing), with equality for ``i <= k`` when ``span(Q)`` holds the top-``k`` LEFT singular
vectors ``U_k(t)`` of ``J(t)`` (in ``h_T``'s space). ``X_t = Q^T J(t)`` obeys the backward
recursion ``X_{t-1} = X_t A_t`` for a FIXED ``Q``, so one sweep gives every ``t`` -- if one
``Q`` fits them all. ``U_k(t)`` converges as the gap ``T - t`` grows (the right singular
vectors of the forward product ``J(t)^T = A_{t+1}^T ... A_T^T``, Oseledets), so one ``Q`` does
fit all gaps past some point, and not the short ones. Hence anchors:

1. forward sweep (range finder): for each anchor gap ``g_j``, ``Z = J(T - g_j) R`` with a random
   ``R`` ``(N, p)`` (``Z <- A_s Z``, re-orthonormalised by QR every step), ``Q_j = orth(Z)``;
2. backward sweep: ``X <- X A_t`` from ``X_T = Q_j^T``, kept as ``X_t = L_t Y_t`` with ``Y_t``
   orthonormal rows (an LQ factorisation every step) and the ``p x p`` lower-triangular
   ``L_t = K_t diag(exp(c_t))`` (unit columns ``K_t``, log column scales ``c_t``), so ratios
   ``sigma_i / sigma_1`` far below float64's ``1e-16`` (and norms far outside its range) are
   kept; ``log sigma_i(J(t)) ~ c_max + log sigma_i(K_t diag(exp(c_t - c_max)))``.

Anchor ``j`` serves the gaps ``[g_j / 2, g_j]`` (dyadic: ``g_j = 2, 4, 8, ...``); past
``warmup`` one anchor at ``min(T, 2 warmup)`` serves every larger gap. All anchors' vectors
share each step's one pass over ``W_hh`` (stacked rows). Cost, Elman: about
``T + 8 warmup`` steps of a ``(B p, N) x (N, N)`` GEMM.

Accuracy: lower bounds (for the tracked ``Q``); equal to the exact values to rounding once
the top-``k`` directions of ``J(t)`` have separated from the rest, and LOW (by up to a few
tenths in log, at short gaps and on clustered spectra) before; measured against ``"exact"`` in
``tests/test_topk.py`` and stated in :func:`rnnflow.analysis.jacobians_over_time`.
"""
from __future__ import annotations

import numpy as np

from .step_jacobians import StepJacobians, check_finite_steps, chunk_size

OVERSAMPLE = 8   # extra vectors beyond k: the Ritz values of the top k converge much faster
WARMUP = 64      # dyadic anchors up to this gap; one anchor serves all larger gaps
_EXP_CAP = 700.0  # exp() argument cap when rescaling L's columns (float64 overflows at ~709)


def anchor_gaps(T: int, warmup: int = WARMUP) -> list[tuple[int, int, int]]:
    """``(anchor gap, smallest gap served, largest gap served)`` per anchor, largest anchor first.

    Dyadic ``[g/2, g]`` bands with anchor ``g = 2, 4, ...`` up to ``warmup`` (band 1 is ``[1, 2]``),
    then one band ``[g_last + 1, T]`` anchored at ``min(T, 2 warmup)``."""
    out, lo, g = [], 1, 2
    while lo <= T and g <= max(2, warmup):
        hi = min(g, T)
        out.append((hi, lo, hi))
        lo, g = hi + 1, 2 * g
    if lo <= T:
        out.append((T, lo, T))
    return out[::-1]


def topk_norms(steps: StepJacobians, k: int = 1, *, oversample: int = OVERSAMPLE,
               warmup: int = WARMUP, power_iters: int = 0, seed: int = 0, dtype: str = "float64",
               chunk: int | None = None) -> dict:
    """``log sigma_i(J(t))`` for ``i = 1..k`` and ``t = 0..T-1``, ``J(t) = A_T ... A_{t+1}``.

    steps:      the step Jacobians (any form; the Elman and split forms are never made dense).
    k:          how many of the largest singular values.
    oversample: extra vectors tracked (``p = min(N, k + oversample)``).
    warmup:     gaps up to which dyadic anchors are used (see the module docstring).
    power_iters: extra subspace iterations of each anchor's range finder (each costs two
                sweeps over the anchor's gap; they help short gaps and clustered spectra).
    seed:       seed of the random start vectors ``R``.
    dtype:      of the backward sweep's ``p x N`` products: ``"float64"`` (default) or
                ``"float32"`` (about half the time at large N, where the GEMM is memory-bound;
                adds ~1e-6 relative rounding per step to ``log sigma_i``). The range finder
                always runs in float32: only its subspace is used, re-orthonormalised in
                float64, so the values stay exact lower bounds for it.

    Returns ``{"log_singular": (B, T, k), "log_spectral": (B, T)}`` (``log_spectral`` is the
    first column), natural logs, descending in ``i``; lower bounds of the exact values.
    """
    T, B, N = steps.T, steps.B, steps.N
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= N:
        raise ValueError(f"topk_norms(k={k!r}) is invalid: expected an integer in [1, N={N}]")
    for name, v, lo in (("oversample", oversample, 0), ("warmup", warmup, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"topk_norms({name}={v!r}) is invalid: expected an integer >= {lo}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"topk_norms(dtype={dtype!r}) is invalid: expected 'float64' or 'float32'")
    if steps.is_elman and not np.isfinite(steps.weight).all():
        raise ValueError("weight_hh contains NaN or Inf")
    p = min(N, int(k) + int(oversample))
    C = chunk or chunk_size(B, N)
    bands = anchor_gaps(T, warmup)
    qs = _range_finder(steps, [g for g, _, _ in bands], p, seed, C, power_iters)   # (B, S, p, N), rows = Q_j^T
    out = np.full((B, T, k), np.nan)
    _backward(steps, qs, bands, k, C, out, np.dtype(dtype))
    return {"log_singular": out, "log_spectral": out[:, :, 0].copy()}


# ------------------------------------------------------------------ products with A_t
def _load(steps: StepJacobians, lo: int, hi: int, dtype):
    if steps.is_elman:
        d = steps.dphi[lo:hi]
        check_finite_steps(d, lo)
        return d.astype(dtype, copy=False)
    if steps.is_split:
        return tuple(a.astype(dtype, copy=False) for a in steps.split_block(lo, hi))
    return steps.block(lo, hi).astype(dtype, copy=False)


def _rows_times_a(steps: StepJacobians, w, blk, j: int, x: np.ndarray) -> np.ndarray:
    """``X A`` for step ``j`` of a loaded block; x ``(B, r, N)``, w: ``W_hh`` (Elman) in x's dtype."""
    B, r, N = x.shape
    if steps.is_elman:                                     # (X * phi') W: one (B r, N) x (N, N) GEMM
        return ((x * blk[j][:, None, :]).reshape(B * r, N) @ w).reshape(B, r, N)
    if steps.is_split:                                     # A = [L | [diag(d_h); diag(d_c)]]
        left, dh, dc = blk
        H = dh.shape[-1]
        return np.concatenate([np.matmul(x, left[j]),
                               x[..., :H] * dh[j][:, None, :] + x[..., H:] * dc[j][:, None, :]], axis=-1)
    return np.matmul(x, blk[j])


def _rows_times_at(steps: StepJacobians, w, blk, j: int, z: np.ndarray) -> np.ndarray:
    """``Z A^T`` (the rows of ``A Z^T``) for step ``j`` of a loaded block; z ``(B, r, N)``."""
    B, r, N = z.shape
    if steps.is_elman:                                     # (W Z^T)^T * phi'
        return (z.reshape(B * r, N) @ w.T).reshape(B, r, N) * blk[j][:, None, :]
    if steps.is_split:
        left, dh, dc = blk
        H = dh.shape[-1]
        zc = z[..., H:]
        return np.matmul(z[..., :H], left[j].transpose(0, 2, 1)) + np.concatenate(
            [zc * dh[j][:, None, :], zc * dc[j][:, None, :]], axis=-1)
    return np.matmul(z, blk[j].transpose(0, 2, 1))


def _orth_rows(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LQ of row blocks ``z`` ``(..., p, N)``: ``z = R Y`` with ``R`` lower ``(..., p, p)``, ``Y`` orthonormal rows."""
    q, r = np.linalg.qr(np.swapaxes(z, -1, -2))
    return np.swapaxes(r, -1, -2), np.swapaxes(q, -1, -2)


# ------------------------------------------------------------------ the two sweeps
def _range_finder(steps: StepJacobians, anchors: list[int], p: int, seed: int, C: int,
                  power_iters: int = 0) -> np.ndarray:
    """``orth((J J^T)^q J R)^T`` ``(B, S, p, N)`` with ``J = J(T - g)`` per anchor gap ``g``
    (descending): one forward sweep, then ``q = power_iters`` backward + forward sweeps."""
    T, B, N = steps.T, steps.B, steps.N
    rng = np.random.default_rng(seed)
    w = _weight(steps, np.float32)
    starts = [_orth_rows(rng.standard_normal((B, 1, p, N)).astype(np.float32))[1] for _ in anchors]
    z = _forward(steps, w, anchors, starts, C)
    for _ in range(power_iters):
        z = _forward(steps, w, anchors, _back_basis(steps, w, anchors, z, C), C)
    return _orth_rows(z.astype(np.float64))[1]     # exactly orthonormal in float64: exact lower bounds


def _weight(steps: StepJacobians, dtype):
    return steps.weight.astype(dtype) if steps.is_elman else None


def _back_basis(steps: StepJacobians, w, anchors: list[int], q: np.ndarray, C: int) -> list:
    """Orthonormal rows of ``Q_j^T J(T - g_j)`` per anchor (a list of ``(B, 1, p, N)``)."""
    T, B, N = steps.T, steps.B, steps.N
    p = q.shape[2]
    y, got = q, [None] * len(anchors)
    for hi in range(T, T - anchors[0], -C):
        lo = max(T - anchors[0], hi - C)
        blk = _load(steps, lo, hi, y.dtype)
        for j in range(hi - lo - 1, -1, -1):
            t = lo + j
            S = y.shape[1]
            y = _orth_rows(_rows_times_a(steps, w, blk, j, y.reshape(B, S * p, N)).reshape(B, S, p, N))[1]
            while y.shape[1] and T - anchors[y.shape[1] - 1] == t:
                got[y.shape[1] - 1] = y[:, -1:]
                y = y[:, :-1]
    return got


def _forward(steps: StepJacobians, w, anchors: list[int], starts: list, C: int) -> np.ndarray:
    """``orth(J(T - g_j) Z_j)^T`` from start rows ``starts[j]`` ``(B, 1, p, N)``, one forward sweep."""
    T, B, N = steps.T, steps.B, steps.N
    p = starts[0].shape[2]
    z = np.empty((B, 0, p, N), dtype=starts[0].dtype)
    joined = 0
    for lo in range(T - anchors[0], T, C):
        hi = min(T, lo + C)
        blk = _load(steps, lo, hi, z.dtype)
        for j in range(hi - lo):
            t = lo + j                                     # applying A_{t+1} = steps[t]: J(t) R -> ...
            while joined < len(anchors) and T - anchors[joined] == t:
                z = np.concatenate([z, starts[joined]], axis=1)
                joined += 1
            S = z.shape[1]
            z = _rows_times_at(steps, w, blk, j, z.reshape(B, S * p, N)).reshape(B, S, p, N)
            z = _orth_rows(z)[1]
    return z


def _backward(steps: StepJacobians, qs: np.ndarray, bands, k: int, C: int, out: np.ndarray,
              dtype=np.float64) -> None:
    """``X <- X A_t`` from ``X_T = Q_j^T`` per band, writing ``log sigma_i`` into ``out`` ``(B, T, k)``."""
    T, B, N = steps.T, steps.B, steps.N
    S, p = qs.shape[1], qs.shape[2]
    y = qs.astype(dtype)                                    # (B, S, p, N) orthonormal rows
    w = _weight(steps, dtype)
    kmat = np.broadcast_to(np.eye(p), (B, S, p, p)).copy()   # L = K diag(exp(c)), K unit columns
    c = np.zeros((B, S, p))
    tri = np.tril(np.ones((p, p), dtype=bool))
    for hi in range(T, 0, -C):
        lo = max(0, hi - C)
        blk = _load(steps, lo, hi, dtype)
        for j in range(hi - lo - 1, -1, -1):
            t = lo + j                                      # J(t) = J(t+1) A_{t+1}, A_{t+1} = steps[t]
            gap = T - t
            act = sum(1 for g in bands if g[2] >= gap)      # bands sorted by largest gap, descending
            y, kmat, c = y[:, :act], kmat[:, :act], c[:, :act]
            z = _rows_times_a(steps, w, blk, j, y.reshape(B, act * p, N)).reshape(B, act, p, N)
            r, y = _orth_rows(z)                            # X A = K e^c R Y'
            r = r.astype(np.float64, copy=False)            # K, c and the values: float64 always
            diff = np.minimum(c[..., :, None] - c[..., None, :], _EXP_CAP)   # c_i - c_j
            m = np.where(tri, r * np.exp(np.where(tri, diff, 0.0)), 0.0)   # e^{c_i - c_j} R_ij (lower)
            km = np.matmul(kmat, m)
            nrm = np.sqrt(np.einsum("bsij,bsij->bsj", km, km))
            with np.errstate(divide="ignore"):
                c = c + np.log(nrm)
            kmat = km / np.where(nrm > 0, nrm, 1.0)[..., None, :]
            s = next(i for i, g in enumerate(bands) if g[1] <= gap <= g[2])
            out[:, t] = _log_singular(kmat[:, s], c[:, s], k)


def _log_singular(kmat: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` ``log sigma_i(K diag(exp(c)))`` ``(B, k)``; K ``(B, p, p)`` unit columns, c ``(B, p)``.

    The columns are scaled by ``exp(c - max c)``; a column that underflows (below ``e^-700``,
    beyond any float64 product) gets the graded estimate ``c_i + log |R_ii|`` of ``K = QR``."""
    cmax = c.max(axis=-1, keepdims=True)
    sc = c - cmax
    a = kmat * np.exp(np.maximum(sc, -_EXP_CAP))[:, None, :]
    with np.errstate(divide="ignore"):
        logs = np.log(np.linalg.svd(a, compute_uv=False)) + cmax      # (B, p) descending
    if (sc < -_EXP_CAP).any():
        order = np.argsort(-c, axis=-1)
        kk = np.take_along_axis(kmat, order[:, None, :], axis=-1)
        graded = np.take_along_axis(c, order, axis=-1) + np.log(np.abs(
            np.diagonal(np.linalg.qr(kk)[1], axis1=-2, axis2=-1)))
        deep = np.take_along_axis(sc, order, axis=-1) < -_EXP_CAP
        logs = np.where(deep, graded, logs)
    return logs[:, :k]
