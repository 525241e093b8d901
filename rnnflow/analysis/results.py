"""Result containers of the analyzers: frozen dataclasses of NumPy arrays (framework-free).

All logarithms are natural logs. Time indices follow one convention throughout::

    h_0 = h0,   h_t = f(h_{t-1}, x_t)   for t = 1..T      (x_t is ``xs[t-1]``)
    J(t) = dh_T/dh_t                   for t = 0..T-1     (gap k = T - t = 1..T)

so ``log_spectral[b, t]`` is ``log ||dh_T/dh_t||_2`` of example ``b``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG10E = float(np.log10(np.e))  #: natural log -> log10: multiply


@dataclass(frozen=True)
class JacobianNorms:
    """Norms of ``J(t) = dh_T/dh_t`` for every ``t``, per example.

    ``J(T) = I`` and ``J(t-1) = J(t) A_t`` with the step Jacobian ``A_t = dh_t/dh_{t-1}``.
    For a tuple state (LSTM ``(h, c)``) the state is the concatenation, ``J(t)`` is
    ``N x N`` with ``N = sum(state_sizes)``, and the ``*_h`` fields are the norms
    of the leading ``H x H`` block ``dh_T/dh_t`` (``c_t`` held fixed). For a single
    state the ``*_h`` fields equal the full ones.

    Args:
      t:              ``(T,)`` ints ``0..T-1``
      gap:            ``(T,)`` ints ``T - t`` (steps between ``h_t`` and ``h_T``)
      log_spectral:   ``(B, T)`` ``log ||J(t)||_2`` (``nan`` if ``spectral="none"``)
      log_frobenius:  ``(B, T)`` ``log ||J(t)||_F``
      log_spectral_h, log_frobenius_h: ``(B, T)`` the same for the ``h`` block
      log_singular:   ``(B, T, k)`` top-k ``log sigma_i(J(t))`` descending, or ``None``
      state_sizes:    sizes of the state parts, e.g. ``(H, H)`` for an LSTM
      cell:           ``"rnn" | "lstm" | "gru" | "step"`` (a user step function)
      activation:     Elman activation name, else ``None``
      dphi:           ``(T, B, H)`` ``phi'(a_t)`` at the pre-activations (Elman only)
      weight_hh:      ``(H, H)`` recurrent matrix (Elman only)
      backend:        ``"torch"`` or ``"jax"``
    """

    t: np.ndarray
    gap: np.ndarray
    log_spectral: np.ndarray
    log_frobenius: np.ndarray
    log_spectral_h: np.ndarray
    log_frobenius_h: np.ndarray
    log_singular: np.ndarray | None
    state_sizes: tuple
    cell: str
    activation: str | None = None
    dphi: np.ndarray | None = None
    weight_hh: np.ndarray | None = None
    backend: str | None = None


@dataclass(frozen=True)
class ElmanDecomposition:
    """Where an Elman RNN's ``log ||dh_T/dh_t||`` comes from.

    ``J(t) = D_T W D_{T-1} W ... D_{t+1} W`` with ``D_k = diag(phi'(a_k))``, ``W = W_hh``.
    By submultiplicativity ``log ||J(t)|| <= log_dphi_max + gap * log sigma_max(W)``.

    Args:
      gap:                    ``(T,)`` ``k = T - t``
      log_jacobian:           ``(B, T)`` the measured ``log ||J(t)||_2``
      log_dphi_max:           ``(B, T)`` ``sum_{k>t} log max_i |phi'(a_k)_i|`` (product of ``||D_k||``)
      log_dphi_mean:          ``(B, T)`` ``sum_{k>t} mean_i log |phi'(a_k)_i|`` (typical shrink;
                              ``-inf`` once a unit has ``phi' = 0``, e.g. relu)
      log_dphi_product:       ``(B, T)`` ``log ||prod_{k>t} D_k||_2 = log max_i prod_k |phi'(a_k)_i|``
      log_weight_power:       ``(T,)`` ``log ||W^k||_2`` for ``k = gap``
      log_spectral_radius:    ``log rho(W)`` (``log max |eig W|``); ``gap * this`` is the asymptote
                              of ``log ||W^k||``
      log_sigma_max:          ``log ||W||_2``
      log_bound:              ``(B, T)`` ``log_dphi_max + gap * log_sigma_max`` (upper bound)
      activation:             name of ``phi``
    """

    gap: np.ndarray
    log_jacobian: np.ndarray
    log_dphi_max: np.ndarray
    log_dphi_mean: np.ndarray
    log_dphi_product: np.ndarray
    log_weight_power: np.ndarray
    log_spectral_radius: float
    log_sigma_max: float
    log_bound: np.ndarray
    activation: str


@dataclass(frozen=True)
class ReachProfile:
    """Gradient reach ``||dy_T/dx_t||_F`` (Frobenius over output and input features).

    y_T is the model output at the last position ``y[T-1]``; ``t`` indexes ``xs[t]``.

    Args:
      t:          ``(T,)`` ``0..T-1``
      gap:        ``(T,)`` ``T - 1 - t`` (0 = the last input)
      log_norm:   ``(B, T)`` ``log ||dy_T/dx_t||_F`` (``-inf`` where the gradient is exactly 0)
      log_norm_per_direction: ``(K, B, T)`` ``log ||d(u_k . y_T)/dx_t||`` for the given output
                  directions, or ``None`` when the directions were the unit basis
      label:      a name for plots (architecture)
    """

    t: np.ndarray
    gap: np.ndarray
    log_norm: np.ndarray
    log_norm_per_direction: np.ndarray | None = None
    label: str = ""


@dataclass(frozen=True)
class DepthProfile:
    """Gradient flow through a stack ``x_{l+1} = f_l(x_l)``, ``l = 0..L-1``, loss ``L(x_L)``.

    Args:
      layer:                  ``(L+1,)`` ``0..L`` (``x_0`` is the stack's input)
      log_grad_norm:          ``(B, L+1)`` per-example ``log ||dL/dx_l||_F``
      log_grad_norm_total:    ``(L+1,)`` ``log ||dL/dx_l||_F`` over the whole batch
      log_jacobian_spectral:  ``(B, L)`` ``log ||dx_{l+1}/dx_l||_2`` per example, or ``None``
      log_jacobian_frobenius: ``(B, L)`` ``log ||dx_{l+1}/dx_l||_F`` per example, or ``None``
      log_param_grad_norm:    ``{name: (L,)}`` ``log ||dL/dW_l||_F`` of each block parameter
                              (the block's own names, e.g. ``fc2.weight``; ``l = 0..L-1``), or
                              ``None`` (``param_grads=False``)
      label:                  a name for plots
    """

    layer: np.ndarray
    log_grad_norm: np.ndarray
    log_grad_norm_total: np.ndarray
    log_jacobian_spectral: np.ndarray | None = None
    log_jacobian_frobenius: np.ndarray | None = None
    log_param_grad_norm: dict | None = None
    label: str = ""


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Lyapunov exponents of ``h_t = f(h_{t-1}, x_t)`` by the QR (Benettin) method.

    ``Q_t R_t = A_t Q_{t-1}``;  ``lambda_i = (1 / steps) sum_t log |(R_t)_ii|`` over the
    steps after ``warmup`` (natural log, per step; ``> 0`` expands, ``< 0`` contracts).
    With ``reortho = m`` the QR runs every ``m`` steps after warmup (``Q R = A_{t+m} ... A_{t+1} Q``).

    Args:
      exponents:  ``(B, k)`` sorted descending, per example
      steps:      steps averaged over
      warmup:     initial steps whose ``R_t`` were discarded (state and basis settle)
      reortho:    steps between re-orthonormalisations after warmup
      local:      ``(n, B, k)`` or None (``trace=False``): the local (time-resolved) exponents,
                  ``log |(R)_ii|`` of each QR block divided by the block's length, in the
                  columns of ``exponents`` (the same sort); ``n = ceil(steps / reortho)``
      trace_steps: ``(n,)`` or None: steps after warmup at the end of each block
                  (``reortho, 2 reortho, ..., steps``; the last block may be shorter)
    """

    exponents: np.ndarray
    steps: int
    warmup: int
    reortho: int = 1
    local: np.ndarray | None = None
    trace_steps: np.ndarray | None = None

    @property
    def max_exponent(self) -> np.ndarray:
        """``(B,)`` the largest exponent."""
        return self.exponents[:, 0]

    @property
    def mean(self) -> np.ndarray:
        """``(k,)`` exponents averaged over the batch."""
        return self.exponents.mean(axis=0)

    @property
    def running(self) -> np.ndarray | None:
        """``(n, B, k)`` the convergence trace: the running estimate after each block,
        ``sum_{blocks <= b} len * local / trace_steps[b]`` (its last row is ``exponents``);
        None without ``trace=True``."""
        if self.local is None:
            return None
        lengths = np.diff(self.trace_steps, prepend=0)[:, None, None]
        return np.cumsum(self.local * lengths, axis=0) / self.trace_steps[:, None, None]


@dataclass(frozen=True)
class DirectExponent:
    """The largest Lyapunov exponent from two nearby trajectories (renormalised every step).

    ``d_t = y_t - h_t`` after one step from ``y_{t-1} = h_{t-1} + eps u_{t-1}``;
    ``lambda_1 ~ (1/S) sum_t log(|d_t| / eps)``, ``u_t = d_t / |d_t|``.

    Args:
      exponent: ``(B,)`` the estimate per example (natural log per step)
      stderr:   ``(B,)`` its standard error from ``blocks`` consecutive block means,
                ``std(block means, ddof=1) / sqrt(blocks)``
      local:    ``(S, B)`` ``log(|d_t| / eps)`` per step after warmup
      steps, warmup, eps, blocks: as passed
    """

    exponent: np.ndarray
    stderr: np.ndarray
    local: np.ndarray
    steps: int
    warmup: int
    eps: float
    blocks: int
