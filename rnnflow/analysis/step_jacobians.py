"""The sequence of step Jacobians ``A_t = dh_t/dh_{t-1}`` as the accumulators consume it.

Three forms, one container (index ``i`` holds ``A_{i+1}``, i.e. the step fed by ``xs[i]``):

* dense:  an array ``(T, B, N, N)``;
* lazy:   a function ``(lo, hi) -> (hi-lo, B, N, N)`` computing steps on demand, so a
          long LSTM run never holds all ``T * B * N^2`` numbers at once;
* elman:  ``A_t = diag(phi'(a_t)) W_hh`` from ``dphi`` ``(T, B, H)`` and ``W_hh`` ``(H, H)``,
          never materialised: ``M A_t = (M * phi'(a_t)) @ W_hh`` is one GEMM over the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class StepJacobians:
    """``A_t`` for ``t = 1..T`` and batch ``B``, each ``N x N`` (use the constructors)."""

    T: int
    B: int
    N: int
    dense_fn: Callable[[int, int], np.ndarray] | None = None
    dphi: np.ndarray | None = None      # (T, B, N), elman form
    weight: np.ndarray | None = None    # (N, N), elman form

    @classmethod
    def dense(cls, a) -> StepJacobians:
        """From an array ``(T, B, N, N)``."""
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 4 or a.shape[2] != a.shape[3] or 0 in a.shape:
            raise ValueError(f"step Jacobians have shape {a.shape}: expected (T, B, N, N), non-empty")
        return cls(a.shape[0], a.shape[1], a.shape[2], dense_fn=lambda lo, hi: a[lo:hi])

    @classmethod
    def lazy(cls, fn: Callable[[int, int], np.ndarray], T: int, B: int, N: int) -> StepJacobians:
        """From ``fn(lo, hi) -> (hi-lo, B, N, N)``."""
        return cls(int(T), int(B), int(N), dense_fn=fn)

    @classmethod
    def elman(cls, dphi, weight) -> StepJacobians:
        """``A_t = diag(dphi[t-1]) @ weight``; dphi ``(T, B, H)``, weight ``(H, H)``."""
        dphi = np.asarray(dphi, dtype=np.float64)
        weight = np.asarray(weight, dtype=np.float64)
        if dphi.ndim != 3 or 0 in dphi.shape:
            raise ValueError(f"dphi has shape {dphi.shape}: expected (T, B, H), non-empty")
        if weight.shape != (dphi.shape[2], dphi.shape[2]):
            raise ValueError(f"weight has shape {weight.shape}: expected (H, H) = "
                             f"{(dphi.shape[2], dphi.shape[2])} to match dphi {dphi.shape}")
        return cls(dphi.shape[0], dphi.shape[1], dphi.shape[2], dphi=dphi, weight=weight)

    @property
    def is_elman(self) -> bool:
        return self.weight is not None

    def block(self, lo: int, hi: int) -> np.ndarray:
        """Steps ``lo..hi-1`` as a dense float64 array ``(hi-lo, B, N, N)``, checked finite."""
        if self.is_elman:
            a = self.dphi[lo:hi, :, :, None] * self.weight
        else:
            a = np.asarray(self.dense_fn(lo, hi), dtype=np.float64)
            want = (hi - lo, self.B, self.N, self.N)
            if a.shape != want:
                raise ValueError(f"step Jacobians for steps {lo}..{hi - 1} have shape {a.shape}, "
                                 f"expected {want}")
        check_finite_steps(a, lo)
        return a


def check_finite_steps(a: np.ndarray, lo: int) -> None:
    """Raise ``ValueError`` naming the first step ``t`` (1-based) whose Jacobian is not finite."""
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    if bad.any():
        t = lo + int(np.argmax(bad)) + 1
        raise ValueError(f"the step Jacobian dh_t/dh_(t-1) is non-finite (NaN/Inf) first at step "
                         f"t={t} (input xs[{t - 1}])")


def chunk_size(B: int, N: int, budget_bytes: int = 32 << 20, cap: int = 64) -> int:
    """Time steps per chunk so that one ``(C, B, N, N)`` float64 block fits ``budget_bytes``."""
    return int(max(1, min(cap, budget_bytes // (8 * B * N * N))))
