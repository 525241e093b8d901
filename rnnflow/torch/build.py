"""Build torch models from a config and a NumPy parameter set; export them back."""
from __future__ import annotations

import numpy as np
import torch

from ..config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from ..params import check_params, flatten, init_params, map_with_path, param_shapes


def _torch_dtype(dtype):
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is invalid: expected float32 or float64")
    return getattr(torch, name)


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


def build(config, params=None, *, seed: int = 0, dtype=None) -> torch.nn.Module:
    """A torch model for ``config`` holding ``params`` (NumPy schema dict).

    With ``params=None`` the parameters are ``rnnflow.init_params(config, seed, dtype)``.
    ``dtype`` defaults to the params' dtype (float32 when params is None).
    """
    if params is None:
        params = init_params(config, seed, dtype or np.float32)
    check_params(config, params)
    if dtype is None:
        dtype = next(iter(flatten(params).values())).dtype
    with torch.random.fork_rng(devices=[]):  # nn.Linear & co. draw a default init we overwrite;
        model = _model_class(config)(config, dtype=_torch_dtype(dtype))  # keep the caller's RNG
    load_params(model, params)
    return model


def _tensors(model) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def load_params(model, params) -> None:
    """Copy a NumPy parameter set into ``model`` in place (checked against its schema)."""
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


def to_backend(params, dtype=None, requires_grad: bool = False):
    """NumPy schema dict -> same structure of torch tensors (for the step functions)."""
    dt = _torch_dtype(dtype)
    def conv(a):
        t = torch.as_tensor(np.asarray(a))
        t = t.to(dt) if dt is not None else t
        return t.requires_grad_(requires_grad) if requires_grad else t
    from ..params import map_arrays
    return map_arrays(conv, params)
