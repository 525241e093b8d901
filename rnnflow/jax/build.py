"""Build JAX models from a config and a NumPy parameter set; export them back.

Mirrors :mod:`rnnflow.torch.build` function for function (same names and signatures); the
dispatch by config type and the parameter defaults are :mod:`rnnflow.models`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..devices import check_device
from ..models import float_dtype, model_class, model_params, params_dtype
from ..params import check_params, map_arrays
from . import arrays
from .diagonal import DiagonalNet
from .mlp import MLP
from .rnn import RecurrentNet
from .ssm import SelectiveSSM
from .transformer import Transformer

MODEL_CLASSES = {"recurrent": RecurrentNet, "transformer": Transformer, "mlp": MLP, "diagonal": DiagonalNet,
                 "ssm": SelectiveSSM}


def as_dtype(dtype) -> np.dtype:
    """JAX's dtype for ``dtype`` (a NumPy dtype or its name): ``float32`` or ``float64``;
    anything else raises ``ValueError``, and so does float64 while JAX's 64-bit mode is off."""
    dt = float_dtype(dtype)
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype=float64 needs JAX's 64-bit mode, which is off: call "
                         "jax.config.update('jax_enable_x64', True) before building (otherwise "
                         "JAX would silently compute in float32)")
    return dt


def build(config, params=None, *, seed: int = 0, dtype=None, device=None):
    """A JAX model for ``config`` holding ``params`` (NumPy schema dict).

    With ``params=None`` the parameters are ``rnnflow.init_params(config, seed, dtype)``.
    ``dtype`` defaults to the params' dtype (float32 when params is None). ``device``: where
    the model lives (:mod:`rnnflow.devices`: ``"cpu"``, ``"cuda[:N]"``, ``"auto"``; default
    JAX's default device, uncommitted); the same numbers are loaded whatever the device.
    """
    cls = model_class(config, MODEL_CLASSES)
    check_device("build", device)
    params, dtype = model_params(config, params, seed=seed, dtype=dtype)
    return cls(config, to_backend(params, dtype, device))


def load_params(model, params) -> None:
    """Replace ``model.params`` with a NumPy parameter set, in the model's dtype and on its
    device (checked against its schema)."""
    check_params(model.config, params)
    dt, dev = as_dtype(model.dtype), arrays.device_of(model)
    model.params = map_arrays(lambda a: arrays.asarray(np.asarray(a), dt, dev), params)


def export_params(model):
    """The model's parameters (and BatchNorm buffers) as a NumPy schema dict."""
    return map_arrays(lambda a: np.array(a), model.params)


def to_backend(params, dtype=None, device=None):
    """NumPy schema dict -> the same structure of jax arrays in ``dtype`` (default: the
    params' dtype) on ``device`` (:mod:`rnnflow.devices`; default JAX's default device,
    uncommitted), for the pure functions."""
    dt = as_dtype(params_dtype(params) if dtype is None else dtype)
    dev = arrays.device(check_device("to_backend", device))
    return map_arrays(lambda a: arrays.asarray(np.asarray(a), dt, dev), params)
