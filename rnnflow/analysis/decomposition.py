"""Split an Elman RNN's ``log ||dh_T/dh_t||`` into activation and weight contributions.

``J(t) = D_T W D_{T-1} W ... D_{t+1} W`` with ``D_k = diag(phi'(a_k))`` and ``W = W_hh``.
The activation factor shrinks (tanh' <= 1, and << 1 when units saturate); the
repeated weight factor ``W^k`` grows or shrinks like ``rho(W)^k``. Plotting both
against the gap ``k = T - t`` shows which one makes a gradient vanish or explode.
"""
from __future__ import annotations

import numpy as np

from .jacobians import jacobians_over_time
from .products import product_norms
from .results import ElmanDecomposition, JacobianNorms
from .step_jacobians import StepJacobians


def _suffix_sum(x: np.ndarray) -> np.ndarray:
    """``out[t] = sum_{i >= t} x[i]`` along axis 0."""
    return np.cumsum(x[::-1], axis=0)[::-1]


def decompose_elman(norms: JacobianNorms, *, spectral: str = "exact") -> ElmanDecomposition:
    """The decomposition for a :class:`JacobianNorms` of an Elman cell.

    Costs one more log-space product (``||W^k||`` for ``k = 1..T``) on top of ``norms``.
    """
    if norms.dphi is None or norms.weight_hh is None:
        raise ValueError(f"decompose_elman needs an Elman ('rnn') cell's JacobianNorms, got cell={norms.cell!r}")
    d, w = norms.dphi, norms.weight_hh                        # (T, B, H), (H, H)
    T, _, H = d.shape
    with np.errstate(divide="ignore"):
        ld = np.log(np.abs(d))                                # (T, B, H), -inf where phi' = 0
        dphi_max = _suffix_sum(ld.max(axis=2)).T              # (B, T)
        dphi_mean = _suffix_sum(ld.mean(axis=2)).T
        dphi_prod = _suffix_sum(ld).max(axis=2).T
        log_rho = float(np.log(np.max(np.abs(np.linalg.eigvals(w)))))
        log_sig = float(np.log(np.linalg.norm(w, 2)))
    powers = product_norms(StepJacobians.elman(np.ones((T, 1, H)), w), spectral=spectral)
    gap = norms.gap.astype(np.float64)
    return ElmanDecomposition(
        gap=norms.gap, log_jacobian=norms.log_spectral, log_dphi_max=dphi_max,
        log_dphi_mean=dphi_mean, log_dphi_product=dphi_prod,
        log_weight_power=powers["log_spectral"][0], log_spectral_radius=log_rho,
        log_sigma_max=log_sig, log_bound=dphi_max + gap * log_sig, activation=norms.activation)


def elman_decomposition(model, xs, h0=None, *, params=None, layer: int = 0, backend: str | None = None,
                        spectral: str = "exact") -> ElmanDecomposition:
    """:func:`jacobians_over_time` of an Elman layer, split into its ``phi'`` and ``W_hh`` factors.

    ``model``: an rnnflow Elman ``RNNConfig`` model, or a user's Elman cell: torch ``nn.RNN``/
    ``nn.RNNCell``, flax ``SimpleCell`` (linen with ``params=``, or NNX; not ``residual``);
    ``xs`` ``(T, B, I)``, or ``(B, T, I)`` for a batch-major module (see
    :func:`jacobians_over_time` for the models, layouts and ``h0``).
    """
    return decompose_elman(jacobians_over_time(model, xs, h0, params=params, layer=layer, backend=backend,
                                               spectral=spectral), spectral=spectral)
