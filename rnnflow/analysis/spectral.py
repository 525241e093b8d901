"""Top singular values of the running product, exact or tracked by power iteration.

Two ways, one per mode of :func:`rnnflow.analysis.product_norms`:

* exact, on a chunk of matrices at once: for the spectral norm alone ``"exact"`` forms
  ``G = M M^T`` (``dsyrk``) and asks LAPACK ``dsyevr`` for its top eigenvalue only
  (``sigma_1 = sqrt(lambda_1)``, relative error ``~ N eps``), about half the cost of an
  SVD; top-k values come from a full SVD (error ``~ eps sigma_1`` absolute, the floor of
  the float64 product anyway: squaring in ``G`` would lose small ``sigma_i``).
* tracked, inside the backward sweep: :class:`PowerTracker` keeps the leading left
  singular vectors of ``J(t)`` (they live in ``h_T``'s space, and ``J(t-1) = J(t) A_t``
  keeps ``J(t)``'s column space) and refines them with a few power iterations per
  ``t``. Its values are lower bounds that become exact once the leading direction
  separates; for clustered top singular values (small gaps, near-orthogonal ``W_hh``)
  they can be low by ~1e-3 relative.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import dsyrk

SMALL = 12  # at or below this size an exact SVD is cheaper than anything else


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


class PowerTracker:
    """Leading singular values of a sequence of ``(B, m, m)`` matrices whose left singular
    vectors drift slowly: warm-started subspace iteration on ``p = k + 2`` vectors with
    Rayleigh-Ritz (a plain single-vector power iteration converges far slower when
    ``sigma_2 ~ sigma_1``, which is common at small gaps)."""

    def __init__(self, k: int, m: int, batch: int, iters: int = 2):
        self.k, self.iters = k, max(1, int(iters))
        self.u = np.broadcast_to(random_basis(m, min(k + 2, m)), (batch, m, min(k + 2, m))).copy()

    def __call__(self, mat: np.ndarray) -> np.ndarray:
        """``(B, k)`` estimates (lower bounds) for ``mat`` ``(B, m, m)``; updates the vectors."""
        u, mt = self.u, mat.transpose(0, 2, 1)
        for _ in range(self.iters):
            x, s, _ = np.linalg.svd(np.matmul(mt, u), full_matrices=False)  # Ritz values of U^T M M^T U
            u, _ = np.linalg.qr(np.matmul(mat, x))                          # next basis: orth(M M^T U)
        self.u = u
        return s[:, :self.k]
