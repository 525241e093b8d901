"""Which backend an analyzer runs in, and the two backend modules it uses there.

An analyzer takes a model (or step function, or layer list) from either backend; the
backend is named with ``backend=`` or detected from the model or its arrays, and is
imported only through the one lazy loader :func:`rnnflow._backend.load`. What an
analyzer then uses of it is its ``arrays`` adapter (to and from NumPy) and its
``jacobians`` module (the autodiff that must differ between frameworks).
"""
from __future__ import annotations

import sys
from typing import NamedTuple

from .. import _backend
from ..config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig


class Backend(NamedTuple):
    """A loaded backend as the analyzers see it."""

    name: str        # "torch" | "jax"
    ops: object      # rnnflow.<name>.arrays
    autodiff: object  # rnnflow.<name>.jacobians


def backend_modules(name: str) -> Backend:
    """The loaded backend ``name`` (a missing one raises an error naming the pip extra)."""
    mod = _backend.load(name)
    return Backend(name, mod.arrays, mod.jacobians)


def _array_backend(a):
    a = a[0] if isinstance(a, (tuple, list)) and a else a
    mod = type(a).__module__
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith(("jax", "jaxlib")):
        return "jax"
    return None


def resolve_backend(obj, *arrays, backend: str | None = None) -> str:
    """``backend`` if given, else the backend of ``obj`` (a model) or of the first tensor in ``arrays``."""
    if backend is not None:
        if backend not in _backend.BACKENDS:
            raise ValueError(f"backend={backend!r} is invalid: expected one of {_backend.BACKENDS}")
        return backend
    try:
        return _backend.detect(obj)
    except ValueError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return "torch"
    for a in arrays:
        found = _array_backend(a)
        if found:
            return found
    raise ValueError(f"cannot tell the backend of {getattr(obj, '__name__', type(obj).__name__)!r} "
                     f"from it or its inputs: pass backend='torch' or backend='jax'")


def as_model(model, params=None, backend: str | None = None):
    """``model`` itself, or, for an rnnflow config, the model ``build(config, params)`` in ``backend``."""
    if isinstance(model, RECURRENT_CONFIGS + (TransformerConfig, MLPConfig)):
        if backend is None:
            raise ValueError(f"analysing a {type(model).__name__} needs backend='torch' or backend='jax'")
        return _backend.load(backend).build(model, params)
    if params is not None:
        raise ValueError("params= goes with a config; a built model or step function carries its own parameters")
    return model


def prepare(model, *arrays, params=None, backend: str | None = None):
    """``(model, Backend)``: the model built from a config if need be, and its backend loaded."""
    model = as_model(model, params, backend)
    return model, backend_modules(resolve_backend(model, *arrays, backend=backend))
