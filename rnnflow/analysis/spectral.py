"""Top singular values of the running product, exact or tracked by power iteration.

Two ways, one per mode of :func:`rnnflow.analysis.product_norms`, both on a chunk of
matrices (the ``n`` steps of a chunk times the batch ``B``):

* ``"exact"``: for the spectral norm alone, ``G = M M^T`` (``dsyrk``) and LAPACK's top
  eigenvalue (``dsyevr``, ``sigma_1 = sqrt(lambda_1)``, relative error ``~ N eps``), per
  matrix; top-k values come from a full SVD (error ``~ eps sigma_1`` absolute, the floor
  of the float64 product anyway: squaring in ``G`` would lose small ``sigma_i``).
* ``"power"``: :class:`TopSingular`, subspace iteration on ``k + 8`` vectors with
  Rayleigh-Ritz, batched over sub-blocks of ``SUB`` steps (a few batched matmuls, one
  batched QR per iteration and one batched SVD per sub-block), each sub-block warm-started
  from the one before: the leading left singular vectors of ``J(t)`` live in ``h_T``'s
  space and drift slowly with ``t`` (``J(t-1) = J(t) A_t``). Lower bounds; their measured
  accuracy is stated in :func:`rnnflow.analysis.jacobians_over_time`.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import dsyrk

SMALL = 12   # at or below this size an exact SVD is cheaper than anything else
SUB = 8      # steps per warm-started sub-block of a chunk
EXTRA = 8    # extra vectors of the subspace (beyond k): resolves clustered top values faster


def random_basis(m: int, p: int, seed: int = 0) -> np.ndarray:
    """A fixed random orthonormal ``(m, p)`` basis (a start with no special alignment)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, p)))
    return q


def exact_top_singular(mats: np.ndarray, k: int = 1, method: str = "exact") -> np.ndarray:
    """``(K, k)`` largest singular values (descending) of each square matrix in ``mats`` ``(K, m, m)``."""
    K, m, _ = mats.shape
    if method == "svd" or m <= SMALL or k > 1:
        return np.linalg.svd(mats, compute_uv=False)[:, :k]
    out = np.empty((K, 1))
    for i in range(K):
        g = dsyrk(1.0, mats[i].T, trans=1)                        # upper triangle of M M^T
        out[i] = lapack.dsyevr(g, compute_v=0, range="I", il=m, iu=m)[0][0]
    return np.sqrt(np.maximum(out, 0.0))


def _ritz(mats: np.ndarray, u: np.ndarray):
    """Ritz values (singular values of ``M^T U``, descending) and vectors ``U Y`` for bases ``u``."""
    _, s, vt = np.linalg.svd(np.matmul(mats.transpose(0, 2, 1), u), full_matrices=False)
    return s, np.matmul(u, vt.transpose(0, 2, 1))


def _iterate(mats: np.ndarray, u: np.ndarray, iters: int) -> np.ndarray:
    for _ in range(iters):                                # u <- orth(M M^T u), one batched QR
        u, _ = np.linalg.qr(np.matmul(mats, np.matmul(mats.transpose(0, 2, 1), u)))
    return u


class TopSingular:
    """The ``k`` largest singular values of chunks ``(n, B, m, m)`` of matrices whose left
    singular vectors drift slowly, by warm-started subspace iteration on ``p = k + 8``
    vectors with Rayleigh-Ritz: lower bounds, exact once the top direction separates."""

    def __init__(self, k: int, m: int, batch: int, iters: int = 2):
        self.k, self.iters = k, max(1, int(iters))
        p = min(k + EXTRA, m)
        self.u = np.broadcast_to(random_basis(m, p), (batch, m, p)).copy()   # (B, m, p)

    def __call__(self, mats: np.ndarray) -> np.ndarray:
        """``(n, B, k)`` values for ``mats`` ``(n, B, m, m)`` (``mats[j]`` is ``J(lo + j)``),
        in sub-blocks of ``SUB`` steps from the largest ``t`` down, each warm-started from the
        basis of the one before (the first from the previous call's)."""
        n, B, m, _ = mats.shape
        out = np.empty((n, B, self.k))
        for hi in range(n, 0, -SUB):
            lo = max(0, hi - SUB)
            out[lo:hi] = self._block(mats[lo:hi])
        return out

    def _block(self, mats: np.ndarray) -> np.ndarray:
        n, B, m, _ = mats.shape
        flat = mats.reshape(n * B, m, m)
        u = _iterate(flat, np.broadcast_to(self.u, (n,) + self.u.shape).reshape(n * B, m, -1), self.iters)
        s, u = _ritz(flat, u)
        s = s[:, :self.k]
        self.u = u.reshape(n, B, m, -1)[0]
        return s.reshape(n, B, self.k)
