"""Build torch models from a config and a NumPy parameter set; export them back.

Mirrors :mod:`rnnflow.jax.build` function for function (same names and signatures); the
dispatch by config type and the parameter defaults are :mod:`rnnflow.models`.
"""
from __future__ import annotations

import numpy as np
import torch

from ..devices import check_device
from ..models import FLOAT_DTYPES, float_dtype, model_class, model_params, params_dtype
from ..params import check_params, flatten, map_arrays, map_with_path, param_shapes
from . import arrays
from .diagonal import DiagonalNet
from .mlp import MLP
from .rnn import RecurrentNet
from .ssm import SelectiveSSM
from .transformer import Transformer

MODEL_CLASSES = {"recurrent": RecurrentNet, "transformer": Transformer, "mlp": MLP, "diagonal": DiagonalNet,
                 "ssm": SelectiveSSM}


def as_dtype(dtype) -> torch.dtype:
    """torch's dtype for ``dtype`` (a NumPy or torch dtype, or its name): ``torch.float32``
    or ``torch.float64``; anything else raises ``ValueError``."""
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
        if name not in FLOAT_DTYPES:
            raise ValueError(f"dtype={dtype!r} is invalid: expected float32 or float64")
        return dtype
    return getattr(torch, float_dtype(dtype).name)


def build(config, params=None, *, seed: int = 0, dtype=None, device=None) -> torch.nn.Module:
    """A torch model for ``config`` holding ``params`` (NumPy schema dict).

    With ``params=None`` the parameters are ``rnnflow.init_params(config, seed, dtype)``.
    ``dtype`` defaults to the params' dtype (float32 when params is None). ``device``: where
    the model lives (:mod:`rnnflow.devices`: ``"cpu"``, ``"cuda[:N]"``, ``"auto"``; default
    the CPU); the same numbers are loaded whatever the device.
    """
    cls = model_class(config, MODEL_CLASSES)
    dev = arrays.device(check_device("build", device))
    params, dtype = model_params(config, params, seed=seed, dtype=dtype)
    with torch.random.fork_rng(devices=[]):  # nn.Linear & co. draw a default init we overwrite;
        model = cls(config, dtype=as_dtype(dtype))  # keep the caller's RNG
    load_params(model, params)
    return model if dev is None or dev.type == "cpu" else model.to(dev)


def _tensors(model) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def load_params(model, params) -> None:
    """Copy a NumPy parameter set into ``model`` in place, in the model's dtype (checked
    against its schema)."""
    check_params(model.config, params)
    targets = _tensors(model)
    with torch.no_grad():
        for key, value in flatten(params).items():
            targets[key].copy_(torch.as_tensor(np.asarray(value)))


def export_params(model):
    """The model's parameters (and BatchNorm buffers) as a NumPy schema dict."""
    tensors = _tensors(model)
    return map_with_path(lambda key, _s: tensors[key].detach().cpu().numpy().copy(),
                         param_shapes(model.config))


def to_backend(params, dtype=None, device=None):
    """NumPy schema dict -> the same structure of new torch tensors in ``dtype`` (default:
    the params' dtype) on ``device`` (:mod:`rnnflow.devices`; default the CPU), for the step
    functions."""
    dt = as_dtype(params_dtype(params) if dtype is None else dtype)
    dev = arrays.device(check_device("to_backend", device))
    return map_arrays(lambda a: torch.tensor(np.asarray(a), dtype=dt, device=dev), params)
