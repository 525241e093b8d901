"""Top singular values of the running product, exact or tracked by power iteration.

Both modes of :func:`rnnflow.analysis.product_norms` work on a chunk of matrices at once
(the ``n`` steps of a chunk times the batch ``B``), with batched matmuls and batched small
factorisations, warm-started per example from the chunk before: the leading left singular
vectors of ``J(t)`` live in ``h_T``'s space and drift slowly with ``t`` (``J(t-1) = J(t) A_t``).

* ``"exact"`` (:class:`TopSingular` with ``certify=True``, ``k = 1``): subspace iteration on
  ``M M^T`` gives Ritz values ``theta_1 >= theta_2 >= ...`` with ``theta_i <= lambda_i``
  (interlacing). ``lambda_1 < theta_1 (1 + tol)`` (``tol = 1e-11``, so ``sigma_1`` is known
  to ``tol / 2`` relative) is certified for free where ``||M||_F^2 - sum_{i>=2} theta_i``
  is below it (the spectrum's tail is negligible, typical at large gaps), else by a
  Cholesky factorisation of ``theta_1 (1 + tol) I - M M^T``. Matrices that fail get more
  iterations, then LAPACK's top eigenvalue of ``M M^T`` (``eigvalsh``, ~4-5x a matmul). Top-k values (``k > 1``) come from a full SVD
  (error ``~ eps sigma_1`` absolute, the floor of the float64 product anyway).
* ``"power"`` (``certify=False``): the same warm-started subspace iteration, ``iters``
  rounds, no certificate: lower bounds (see :func:`rnnflow.analysis.jacobians_over_time`
  for their measured accuracy).
"""
from __future__ import annotations

import numpy as np

SMALL = 12   # at or below this size an exact SVD is cheaper than anything else
TOL = 1e-11  # certified relative accuracy of lambda_1 = sigma_1^2 in "exact" mode
ROUNDS = 1   # extra rounds of iterations for matrices that fail the certificate
SUB = 8      # steps per warm-started sub-block of a chunk
EXTRA = 8    # extra vectors of the subspace (beyond k): resolves clustered top values faster


def random_basis(m: int, p: int, seed: int = 0) -> np.ndarray:
    """A fixed random orthonormal ``(m, p)`` basis (a start with no special alignment)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, p)))
    return q


def exact_top_singular(mats: np.ndarray, k: int = 1, method: str = "exact") -> np.ndarray:
    """``(K, k)`` largest singular values (descending) of each square matrix in ``mats``
    ``(K, m, m)``: a full SVD, or (``method="exact"``, ``k = 1``) LAPACK's top eigenvalue of
    ``M M^T`` (batched); no warm start (the one-off form of :class:`TopSingular`)."""
    K, m, _ = mats.shape
    if method == "svd" or m <= SMALL or k > 1:
        return np.linalg.svd(mats, compute_uv=False)[:, :k]
    return np.sqrt(np.maximum(np.linalg.eigvalsh(np.matmul(mats, mats.transpose(0, 2, 1)))[:, -1:], 0.0))


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
    vectors with Rayleigh-Ritz (``certify``: exact to ``TOL``, see the module docstring)."""

    def __init__(self, k: int, m: int, batch: int, iters: int = 2, certify: bool = False):
        self.k, self.iters, self.certify = k, max(1, int(iters)), certify
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
        if self.certify:
            s = self._certified(flat, u, s[:, 0].copy(), s)[:, None]
        else:
            s = s[:, :self.k]
        self.u = u.reshape(n, B, m, -1)[0]
        return s.reshape(n, B, self.k)

    def _certified(self, flat: np.ndarray, u: np.ndarray, s: np.ndarray, ritz: np.ndarray) -> np.ndarray:
        # free certificate (Cauchy interlacing: theta_i <= lambda_i): lambda_1 <= ||M||_F^2 - sum_{i>=2} theta_i
        upper = np.einsum("kij,kij->k", flat, flat) - (ritz[:, 1:] ** 2).sum(1)
        todo = np.flatnonzero(upper > s ** 2 * (1 + TOL))
        grams = {int(i): flat[i] @ flat[i].T for i in todo}          # (m, m), NumPy's syrk
        todo = [i for i in grams if not _below(grams[i], s[i] ** 2 * (1 + TOL))]
        for _ in range(ROUNDS):                                  # more iterations where it failed
            if not todo:
                break
            idx = np.array(todo)
            ss, uu = _ritz(flat[idx], _iterate(flat[idx], u[idx], 2 * self.iters))
            u[idx], s[idx] = uu, np.maximum(s[idx], ss[:, 0])
            todo = [i for i in todo if not _below(grams[i], s[i] ** 2 * (1 + TOL))]
        if todo:                                                 # LAPACK's top eigenvalues, batched
            top = np.linalg.eigvalsh(np.stack([grams[i] for i in todo]))[:, -1]
            s[np.array(todo)] = np.sqrt(np.maximum(top, 0.0))
        return s


def _below(g: np.ndarray, bound: float) -> bool:
    """Whether every eigenvalue of the symmetric ``g`` is below ``bound``: a Cholesky test."""
    try:
        np.linalg.cholesky(bound * np.eye(len(g)) - g)
    except np.linalg.LinAlgError:
        return False
    return True
