"""Activation functions in JAX, with the constants of :mod:`rnnflow.activations`."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..activations import ELU_ALPHA, LEAKY_SLOPE, canonical_activation

_TABLE = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jnp.where(x > 0, x, LEAKY_SLOPE * x),  # slope at 0 as torch: 0.01
    "elu": lambda x: jax.nn.elu(x, ELU_ALPHA),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),  # exact erf form, as torch
    "swish": jax.nn.silu,
    "identity": lambda x: x,
}


def get_activation(name: str):
    """The JAX function for activation ``name`` (``prelu`` is a layer, see mlp.py)."""
    try:
        return _TABLE[canonical_activation(name)]
    except KeyError:
        raise ValueError(f"activation={name!r} is invalid: expected one of {tuple(_TABLE)}") from None
