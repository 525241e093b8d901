"""Building models (framework-free): :func:`build` in a backend named by the caller, and
what both backends' ``build`` share: dispatch by config type, the parameters a model is
built from, and the accepted dtypes.

Each backend keeps only a dict ``{kind: class}`` (``rnnflow/{torch,jax}/build.py``).
"""
from __future__ import annotations

import numpy as np

from ._backend import detect, load
from .config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from .config import DIAGONAL_CONFIGS, RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from .params import check_params, common_dtype, init_params

MODEL_KINDS = ("recurrent", "transformer", "mlp", "diagonal")
FLOAT_DTYPES = ("float32", "float64")


def model_kind(config) -> str:
    """``"recurrent"`` (RNN/LSTM/GRU), ``"transformer"``, ``"mlp"`` or ``"diagonal"`` (LRU,
    minGRU, minLSTM, selective SSM: :data:`rnnflow.config.DIAGONAL_CONFIGS`), by the type of
    ``config``."""
    if isinstance(config, RECURRENT_CONFIGS):
        return "recurrent"
    if isinstance(config, TransformerConfig):
        return "transformer"
    if isinstance(config, MLPConfig):
        return "mlp"
    if isinstance(config, DIAGONAL_CONFIGS):
        return "diagonal"
    raise TypeError(f"config must be an rnnflow model config (RNNConfig, LSTMConfig, GRUConfig, "
                    f"TransformerConfig, MLPConfig or a diagonal config: LRUConfig, MinGRUConfig, "
                    f"MinLSTMConfig, SelectiveSSMConfig), got {type(config).__module__}.{type(config).__name__}")


def model_class(config, classes: dict):
    """The backend class for ``config`` from a backend's ``{key: class}`` dict: keyed by
    :func:`model_kind`, except a diagonal model with its own class (keyed by its ``cell``,
    e.g. ``"ssm"``); the other diagonal cells share ``classes["diagonal"]``."""
    kind = model_kind(config)
    if kind == "diagonal" and config.cell in classes:
        return classes[config.cell]
    return classes[kind]


def float_dtype(dtype) -> np.dtype:
    """``dtype`` (a NumPy dtype or its name) as ``np.float32`` or ``np.float64``; anything
    else, None included, raises ``ValueError``."""
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in FLOAT_DTYPES:
        raise ValueError(f"dtype={dtype!r} is invalid: expected float32 or float64")
    return dt


def params_dtype(params) -> np.dtype:
    """The dtype of a parameter set, the one all its arrays share (mixed dtypes are refused)."""
    return common_dtype(params)


def model_params(config, params=None, *, seed: int = 0, dtype=None) -> tuple[dict, np.dtype]:
    """The parameters a model of ``config`` is built from and their dtype.

    ``params=None`` gives ``init_params(config, seed, dtype or float32)``; given params are
    checked against the schema (real, finite float arrays of the right shapes). The dtype
    rule: with ``dtype`` given every array is cast to it; without, all arrays must share one
    dtype, float32 or float64 (mixed dtypes are refused, never silently downcast).
    """
    dt = None if dtype is None else float_dtype(dtype)
    if params is None:
        params = init_params(config, seed, dt or np.float32)
    check_params(config, params)
    if dt is not None:
        return params, dt
    shared = params_dtype(params)
    if shared.name not in FLOAT_DTYPES:
        raise ValueError(f"params are {shared}: expected float32 or float64 arrays (or pass "
                         "dtype=np.float32 / np.float64 to build, which casts them)")
    return params, shared


def build(config, params=None, *, backend: str, seed: int = 0, dtype=None, device=None):
    """Build a model for ``config`` in ``backend`` (``"torch"`` or ``"jax"``).

    ``params`` is a NumPy schema dict (default: ``init_params(config, seed)``);
    the same dict gives the same model in both backends. ``device``: where it lives
    (:mod:`rnnflow.devices`; default the CPU / JAX's default device).
    """
    return load(backend).build(config, params, seed=seed, dtype=dtype, device=device)


def export_params(model, backend: str | None = None):
    """A model's parameters as a NumPy schema dict (backend detected from the model)."""
    return load(backend or detect(model)).export_params(model)
