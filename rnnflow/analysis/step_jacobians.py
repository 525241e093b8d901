"""The sequence of step Jacobians ``A_t = dh_t/dh_{t-1}`` as the accumulators consume it.

Three forms, one container (index ``i`` holds ``A_{i+1}``, i.e. the step fed by ``xs[i]``):

* dense:  an array ``(T, B, N, N)``;
* lazy:   a function ``(lo, hi) -> (hi-lo, B, N, N)`` computing steps on demand, so a
          long LSTM run never holds all ``T * B * N^2`` numbers at once;
* elman:  ``A_t = diag(phi'(a_t)) W_hh`` from ``dphi`` ``(T, B, H)`` and ``W_hh`` ``(H, H)``,
          never materialised: ``M A_t = (M * phi'(a_t)) @ W_hh`` is one GEMM over the batch.
* split:  ``A_t = [L_t | diag-blocks]`` for a state ``(h, c)`` whose ``c``-columns are
          diagonal (LSTM): a function ``(lo, hi) -> (L, d_h, d_c)`` with ``L`` ``(n, B, N, H)``
          the ``h``-columns and ``d_h, d_c`` ``(n, B, H)`` the diagonals of ``dh'/dc`` and
          ``dc'/dc``; ``M A_t = [M L_t | M_h d_h + M_c d_c]`` is half the flops of a dense step.

Any form may also carry ``tangent_fn``: ``(lo, hi) -> push`` with ``push(j, Q) = A_{lo+j+1} Q``
for a basis ``Q`` ``(B, N, k)``, computed without forming ``A`` (the LSTM's: ``W_hh Q_h`` and
the gates' derivatives, O(B H^2 k) a step instead of the split form's O(B H^2) entries to build);
the Lyapunov QR iteration, which only ever needs ``A_t Q``, takes it.
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
    split_fn: Callable[[int, int], tuple] | None = None   # split form: (lo, hi) -> (L, d_h, d_c)
    tangent_fn: Callable[[int, int], Callable] | None = None   # (lo, hi) -> push(j, Q) = A Q

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

    @classmethod
    def split(cls, fn: Callable[[int, int], tuple], T: int, B: int, N: int,
              tangent_fn: Callable[[int, int], Callable] | None = None) -> StepJacobians:
        """From ``fn(lo, hi) -> (L (n, B, N, H), d_h (n, B, H), d_c (n, B, H))``, ``N = 2H``
        (and optionally ``tangent_fn``, see the module docstring)."""
        if N % 2:
            raise ValueError(f"a split-form step Jacobian needs N = 2H, got N={N}")
        return cls(int(T), int(B), int(N), split_fn=fn, tangent_fn=tangent_fn)

    @property
    def is_elman(self) -> bool:
        return self.weight is not None

    @property
    def is_split(self) -> bool:
        return self.split_fn is not None

    def split_block(self, lo: int, hi: int) -> tuple:
        """The split form's ``(L, d_h, d_c)`` for steps ``lo..hi-1``, checked finite."""
        left, dh, dc = self.split_fn(lo, hi)
        for a in (left, dh, dc):
            check_finite_steps(a, lo)
        return left, dh, dc

    def block(self, lo: int, hi: int) -> np.ndarray:
        """Steps ``lo..hi-1`` as a dense float64 array ``(hi-lo, B, N, N)``, checked finite."""
        if self.is_elman:
            a = self.dphi[lo:hi, :, :, None] * self.weight
        elif self.is_split:
            a = dense_from_split(*self.split_fn(lo, hi))
        else:
            a = np.asarray(self.dense_fn(lo, hi), dtype=np.float64)
            want = (hi - lo, self.B, self.N, self.N)
            if a.shape != want:
                raise ValueError(f"step Jacobians for steps {lo}..{hi - 1} have shape {a.shape}, "
                                 f"expected {want}")
        check_finite_steps(a, lo)
        return a


def dense_from_split(left: np.ndarray, dh: np.ndarray, dc: np.ndarray) -> np.ndarray:
    """``A = [left | [diag(dh); diag(dc)]]`` ``(n, B, 2H, 2H)`` from the split form."""
    H = dh.shape[-1]
    out = np.zeros(left.shape[:-1] + (2 * H,))
    out[..., :H] = left
    idx = np.arange(H)
    out[..., idx, H + idx] = dh
    out[..., H + idx, H + idx] = dc
    return out


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
