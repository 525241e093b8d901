"""The Linear Recurrent Unit's recurrence in torch (Orvieto et al. 2023).

One layer, on its normed input u (..., D)::

    h_t = lambda * h_{t-1} + gamma * (B u_t)        lambda = exp(-exp(nu_log) + i exp(theta_log))
    o_t = Re(C h_t) + D * u_t                        gamma = exp(gamma_log) (1 without it)

The complex state (N units) is stored as real ``[Re h, Im h]`` (..., 2N).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch


class Cell(NamedTuple):
    """A diagonal recurrence ``h_t = a_t * h_{t-1} + b_t`` given by functions of one layer's
    params p and normed input u: ``coefficients(p, u) -> (a, b)`` (..., N) in the scan's
    representation, ``to_state`` / ``from_state`` between it and the real state (..., S),
    ``output(p, h, u) -> o`` (..., D), ``log_decay(p, u) -> log|a|`` (..., S), ``step(p, h, u)``."""

    coefficients: Callable
    to_state: Callable
    from_state: Callable
    output: Callable
    log_decay: Callable
    step: Callable


def lambdas(p):
    """``(|lambda|, phase)`` (N,): ``exp(-exp(nu_log))`` and ``exp(theta_log)``."""
    return torch.exp(-torch.exp(p["nu_log"])), torch.exp(p["theta_log"])


def to_complex(h):
    """Real ``[re, im]`` (..., 2N) -> complex (..., N)."""
    re, im = h.chunk(2, dim=-1)
    return torch.complex(re, im)


def to_real(h):
    """Complex (..., N) -> real ``[re, im]`` (..., 2N)."""
    return torch.cat([h.real, h.imag], dim=-1)


def lru_coefficients(p, u):
    """``a = lambda`` broadcast to (..., N) and ``b = gamma * (B u)`` (..., N), complex."""
    mod, phase = lambdas(p)
    bu = torch.complex(u @ p["B_re"].T, u @ p["B_im"].T)
    if "gamma_log" in p:
        bu = bu * torch.exp(p["gamma_log"])
    lam = torch.complex(mod * torch.cos(phase), mod * torch.sin(phase))
    return lam.expand(bu.shape), bu


def lru_output(p, h, u):
    """``Re(C h) + D * u = h_re C_re^T - h_im C_im^T + D * u``; h (..., 2N), u (..., D)."""
    re, im = h.chunk(2, dim=-1)
    return re @ p["C_re"].T - im @ p["C_im"].T + p["D"] * u


def lru_log_decay(p, u):
    """``log|lambda| = -exp(nu_log)`` per real coordinate, (..., 2N) for u (..., D)."""
    ld = -torch.exp(p["nu_log"])
    return torch.cat([ld, ld]).expand(*u.shape[:-1], 2 * ld.shape[0])


def lru_step(p, h, u):
    """One LRU step: h (B, 2N) ``[re, im]``, u (B, D) normed input -> h' (B, 2N)."""
    a, b = lru_coefficients(p, u)
    return to_real(a * to_complex(h) + b)


LRU_CELL = Cell(lru_coefficients, to_real, to_complex, lru_output, lru_log_decay, lru_step)
