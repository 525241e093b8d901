"""Build JAX models from a config and a NumPy parameter set; export them back."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from ..params import check_params, flatten, init_params, map_arrays


def _np_dtype(dtype):
    dt = np.dtype(dtype)
    if dt.name not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is invalid: expected float32 or float64")
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype=float64 needs JAX's 64-bit mode, which is off: call "
                         "jax.config.update('jax_enable_x64', True) before building (otherwise "
                         "JAX would silently compute in float32)")
    return dt


def _model_class(config):
    if isinstance(config, RECURRENT_CONFIGS):
        from .rnn import RecurrentNet
        return RecurrentNet
    if isinstance(config, TransformerConfig):
        from .transformer import Transformer
        return Transformer
    if isinstance(config, MLPConfig):
        from .mlp import MLP
        return MLP
    raise TypeError(f"config must be an rnnflow model config, got {type(config).__name__}")


def build(config, params=None, *, seed: int = 0, dtype=None):
    """A JAX model for ``config`` holding ``params`` (NumPy schema dict).

    With ``params=None`` the parameters are ``rnnflow.init_params(config, seed, dtype)``.
    ``dtype`` defaults to the params' dtype (float32 when params is None).
    """
    if params is None:
        params = init_params(config, seed, dtype or np.float32)
    check_params(config, params)
    model = _model_class(config)(config, None)
    load_params(model, params, dtype=dtype)
    return model


def load_params(model, params, dtype=None) -> None:
    """Replace ``model.params`` with a NumPy parameter set (checked against its schema)."""
    check_params(model.config, params)
    model.params = to_backend(params, dtype)


def export_params(model):
    """The model's parameters (and BatchNorm buffers) as a NumPy schema dict."""
    return map_arrays(lambda a: np.array(a), model.params)


def to_backend(params, dtype=None):
    """NumPy schema dict -> same structure of jax arrays (for the pure functions)."""
    if dtype is None:
        dtype = next(iter(flatten(params).values())).dtype
    dt = _np_dtype(dtype)
    return map_arrays(lambda a: jnp.asarray(np.asarray(a), dtype=dt), params)
