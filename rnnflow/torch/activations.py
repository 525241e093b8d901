"""Activation functions in torch, with the constants of :mod:`rnnflow.activations`."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..activations import ELU_ALPHA, LEAKY_SLOPE, canonical_activation

_TABLE = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "elu": lambda x: F.elu(x, ELU_ALPHA),
    "gelu": F.gelu,  # exact erf form
    "swish": F.silu,
    "identity": lambda x: x,
}


def get_activation(name: str):
    """The torch function for activation ``name`` (``prelu`` is a layer, see mlp.py)."""
    try:
        return _TABLE[canonical_activation(name)]
    except KeyError:
        raise ValueError(f"activation={name!r} is invalid: expected one of {tuple(_TABLE)}") from None
