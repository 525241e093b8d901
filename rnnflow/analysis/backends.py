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
from ..devices import check_device
from ..config import DIAGONAL_CONFIGS, RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from .own_models import (
    OwnModel, OwnStack, ParamStep, first_leaf, describe, lay_out, module_backend, param_step, recurrence,
    sequence_model,
)

_CONFIGS = RECURRENT_CONFIGS + (TransformerConfig, MLPConfig) + DIAGONAL_CONFIGS


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


def own_model(obj, params=None, backend: str | None = None) -> OwnModel | None:
    """What the backend's ``adapters.adapt`` makes of a user's torch or flax module (or of a
    step function ``f(params, h, x)`` given with ``params``), or None for an rnnflow model,
    config, plain ``step(h, x)``, list or None. See :mod:`rnnflow.analysis.own_models`."""
    if obj is None or isinstance(obj, (list, tuple) + _CONFIGS):
        return None
    name = module_backend(obj)
    if name is None:
        if params is not None and callable(obj) and not hasattr(obj, "config"):
            return param_step(obj, params)
        return None
    if backend is not None and backend != name:
        raise ValueError(f"backend={backend!r} was given for a {describe(obj)}, which is a {name} module")
    return _backend.load(name).adapters.adapt(obj, params)


def _build(model, params, backend):
    if isinstance(model, _CONFIGS):
        if backend is None:
            raise ValueError(f"analysing a {type(model).__name__} needs backend='torch' or backend='jax'")
        return _backend.load(backend).build(model, params)
    if params is not None:
        raise ValueError(f"params= goes with a config, a flax module or a step function f(params, h, x); "
                         f"a {describe(model)} carries its own parameters")
    return model


def as_model(model, params=None, backend: str | None = None):
    """The model the analyzers of a recurrence use for ``model``: an rnnflow model itself; for a
    config, ``build(config, params)`` in ``backend``; for a user's torch/flax recurrent module,
    its exact rnnflow copy or its step function (see :func:`own_model`); a step function as is."""
    own = own_model(model, params, backend)
    return recurrence(own) if own is not None else _build(model, params, backend)


class Prepared(NamedTuple):
    """A model and its inputs as an analyzer of a recurrence uses them (all time-major)."""

    model: object    # an rnnflow model, a step function, or (reach) a callable model(x)
    bk: Backend
    xs: object       # (T, B, I), transposed from a batch-major module's (B, T, I)
    h0: object       # the analyzers' h0 (see rnnflow.analysis.own_models.STATE_MAPS)


def place(bk: Backend, model, device, owner: str = "device"):
    """``model`` on ``device`` (a :mod:`rnnflow.devices` spelling; None: where it is): an
    rnnflow model or a torch module is copied there when it lives elsewhere (the caller's
    object is never moved); a step function stays as it is and runs where its inputs are."""
    dev = bk.ops.device(check_device(owner, device))
    if dev is None:
        return model
    if isinstance(model, OwnStack):
        return OwnStack(model.what, tuple(bk.ops.place(f, dev) for f in model.layers),
                        None if model.readout is None else bk.ops.place(model.readout, dev), model.batch_axis)
    return bk.ops.place(model, dev)


def prepare(model, xs=None, h0=None, *, params=None, backend: str | None = None,
            role: str = "step", sequence: bool = True, device=None) -> Prepared:
    """``model`` built from a config or adapted from a user's module, its inputs laid out
    time-major, and its backend loaded.

    role: ``"step"`` (an analyzer of the recurrence: an unrecognised module is refused) or
          ``"sequence"`` (``gradient_reach``: ``model(x)``; a torch module it does not know
          is called as it is).
    sequence: ``xs`` must be ``(T, B, I)`` (or a batch-major module's ``(B, T, I)``).
    device:   where the model runs (:func:`place`); its inputs follow it there.
    """
    if role not in ("step", "sequence"):
        raise ValueError(f"role={role!r} is invalid: expected 'step' or 'sequence'")
    own = own_model(model, params, backend)
    if own is None:
        model = _build(model, params, backend)
    else:
        model = sequence_model(own, model) if role == "sequence" else recurrence(own)
        if isinstance(model, ParamStep) and h0 is None:
            raise ValueError(f"{own.what} runs as a step function f(params, state, x): pass h0, its "
                             f"initial state (a flax cell's carry, e.g. cell.initialize_carry(...))")
        xs, h0 = lay_out(own, xs, h0, sequence=sequence)
        backend = backend or own.backend
    arrays = (xs, h0) + ((first_leaf(model.params),) if isinstance(model, ParamStep) else ())
    bk = backend_modules(resolve_backend(model, *arrays, backend=backend))
    return Prepared(place(bk, model, device), bk, xs, h0)


def prepare_stack(model, x, *, params=None, backend: str | None = None, batch_axis: int | None = None,
                  device=None):
    """``(stack, Backend)`` for ``gradient_through_depth``: an :class:`OwnStack` for a list of
    layers or a user's module the backend's ``adapters.adapt_stack`` knows (torch
    ``nn.TransformerEncoder``/``nn.TransformerEncoderLayer``/``nn.Sequential``/``nn.ModuleList``,
    ``flax.nnx.Sequential``), else the rnnflow model (built from a config if need be), on
    ``device`` (:func:`place`)."""
    if isinstance(model, (list, tuple)):
        if params is not None:
            raise ValueError("params= goes with a config; a list of layers carries its own parameters")
        stack = OwnStack(f"a list of {len(model)} layers", tuple(model))
        probe = stack.layers[0] if stack.layers else None
    else:
        name = module_backend(model)
        stack = None if name is None else _backend.load(name).adapters.adapt_stack(model)
        if name is not None and stack is None:
            raise TypeError(f"gradient_through_depth got a {describe(model)}: expected an rnnflow Transformer "
                            f"or MLP (or its config), a list of layer callables, or "
                            f"{_backend.load(name).adapters.STACKS}")
        probe = model
        if stack is None:
            model = _build(model, params, backend)
            probe = model
    bk = backend_modules(resolve_backend(probe, x, backend=backend))
    if stack is None:
        return place(bk, model, device), bk
    if batch_axis is not None and stack.batch_axis is not None and batch_axis != stack.batch_axis:
        raise ValueError(f"batch_axis={batch_axis} was given for {stack.what}, whose batch axis is "
                         f"{stack.batch_axis}")
    axis = stack.batch_axis if stack.batch_axis is not None else (0 if batch_axis is None else batch_axis)
    return place(bk, OwnStack(stack.what, stack.layers, stack.readout, axis), device), bk
