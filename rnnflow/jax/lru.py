"""The Linear Recurrent Unit's recurrence in JAX (Orvieto et al. 2023); mirrors
:mod:`rnnflow.torch.lru`.

One layer, on its normed input u (..., D)::

    h_t = lambda * h_{t-1} + gamma * (B u_t)        lambda = exp(-exp(nu_log) + i exp(theta_log))
    o_t = Re(C h_t) + D * u_t                        gamma = exp(gamma_log) (1 without it)

The complex state (N units) is stored as real ``[Re h, Im h]`` (..., 2N).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


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
    return jnp.exp(-jnp.exp(p["nu_log"])), jnp.exp(p["theta_log"])


def to_complex(h):
    """Real ``[re, im]`` (..., 2N) -> complex (..., N)."""
    re, im = jnp.split(h, 2, axis=-1)
    return jax.lax.complex(re, im)


def to_real(h):
    """Complex (..., N) -> real ``[re, im]`` (..., 2N)."""
    return jnp.concatenate([jnp.real(h), jnp.imag(h)], axis=-1)


def lru_coefficients(p, u):
    """``a = lambda`` broadcast to (..., N) and ``b = gamma * (B u)`` (..., N), complex."""
    mod, phase = lambdas(p)
    re, im = u @ p["B_re"].T, u @ p["B_im"].T
    if "gamma_log" in p:
        g = jnp.exp(p["gamma_log"])
        re, im = re * g, im * g
    bu = jax.lax.complex(re, im)
    lam = jax.lax.complex(mod * jnp.cos(phase), mod * jnp.sin(phase))
    return jnp.broadcast_to(lam, bu.shape), bu


def lru_output(p, h, u):
    """``Re(C h) + D * u = h_re C_re^T - h_im C_im^T + D * u``; h (..., 2N), u (..., D)."""
    re, im = jnp.split(h, 2, axis=-1)
    return re @ p["C_re"].T - im @ p["C_im"].T + p["D"] * u


def lru_log_decay(p, u):
    """``log|lambda| = -exp(nu_log)`` per real coordinate, (..., 2N) for u (..., D)."""
    ld = -jnp.exp(p["nu_log"])
    return jnp.broadcast_to(jnp.concatenate([ld, ld]), (*u.shape[:-1], 2 * ld.shape[0]))


def lru_step(p, h, u):
    """One LRU step: h (B, 2N) ``[re, im]``, u (B, D) normed input -> h' (B, 2N)."""
    a, b = lru_coefficients(p, u)
    return to_real(a * to_complex(h) + b)


LRU_CELL = Cell(lru_coefficients, to_real, to_complex, lru_output, lru_log_decay, lru_step)
