"""The torch and flax models researchers already have, as the analyzers take them (framework-free part).

A backend's ``adapters.adapt(obj, params)`` (:mod:`rnnflow.torch.adapters`,
:mod:`rnnflow.jax.adapters`) recognises a user's module and returns an :class:`OwnModel`:

* where the module's structure is rnnflow's schema (torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and
  their cells; flax ``SimpleCell``/``LSTMCell``/``OptimizedLSTMCell``/``GRUCell``, linen and NNX,
  and their ``RNN`` wrappers) its weights are copied exactly into an rnnflow model
  (``rnnflow.build(config, params)``): the analyzers then use the closed forms and fused
  kernels of rnnflow's own cells;
* otherwise (flax ``MGUCell``, a residual or custom-activation cell, a user's ``f(params, h, x)``)
  it is wrapped as a step function ``f(params, state, x) -> state`` (:class:`ParamStep`) that
  calls the module in its own argument order;
* anything else has ``model=None`` and a refusal naming what was passed and what to pass: a
  module is never guessed at, and never called with its arguments swapped.

Layout: a batch-major module (torch ``batch_first=True``, flax ``RNN(time_major=False)``) takes
``xs`` in ITS layout ``(B, T, I)``: :func:`lay_out` checks it and transposes it to rnnflow's
``(T, B, I)`` at the boundary, and maps the module's initial state to the analyzers' ``h0``
(``(L, B, H)``; LSTM ``(h, c)``). rnnflow models, cells and step functions stay time-major.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import numpy as np

# How a module's own initial state maps to the analyzers' h0:
STATE_MAPS = (
    "layers",    # already (L, B, H) / an LSTM pair (h0, c0) of them (torch nn.RNN/LSTM/GRU)
    "cell",      # one layer's (B, H) (an LSTM cell: a pair (h, c)): a layer axis is added
    "carry_ch",  # a flax LSTM carry (c, h) of (B, H): reordered to (h, c), a layer axis added
    "step",      # a step function's own state, passed as it is
)


@dataclass(frozen=True)
class OwnModel:
    """What a backend's ``adapters.adapt`` made of a user's module."""

    what: str                      # the user's object as messages name it, e.g. "torch.nn.LSTM(8, 16)"
    model: Any = None              # an rnnflow recurrent model or a ParamStep; None: not a recurrence
    backend: str | None = None     # "torch" | "jax" (None: from the arrays)
    batch_first: bool = False      # the module takes xs (B, T, I)
    input_size: int | None = None  # I where known: checked on xs
    state: str = "layers"          # one of STATE_MAPS
    refusal: str = ""              # model=None: why it cannot be analysed and what to pass
    callable_as_is: bool = False   # model=None: model(x) still works for gradient_reach

    def __post_init__(self):
        if self.state not in STATE_MAPS:
            raise ValueError(f"OwnModel.state={self.state!r} is invalid: expected one of {STATE_MAPS}")

    @property
    def layout(self) -> str:
        return "(B, T, I) (batch-major)" if self.batch_first else "(T, B, I) (time-major)"


@dataclass(frozen=True)
class OwnStack:
    """A stack of layers ``x_{l+1} = layers[l](x_l)`` made of a user's list or module."""

    what: str
    layers: tuple                  # the layer callables
    readout: Any = None            # applied to x_L before the loss (e.g. an encoder's final norm)
    batch_axis: int | None = None  # where the batch sits in every x_l (None: the caller's, default 0)


class ParamStep:
    """A step function ``fn(params, state, x) -> state`` with its ``params`` bound.

    Called as ``step(state, x)`` (the form :func:`rnnflow.analysis.trace.trace` runs);
    :func:`rnnflow.analysis.trace.step_function` hands ``(fn, params)`` to the backend's
    autodiff, so ``params`` stay traced. Equal (and hashed) by ``fn`` and the identity of
    ``params``: JAX compiles it once per parameter set. ``fn`` must be hashable.
    """

    def __init__(self, fn, params):
        self.fn, self.params = fn, params

    def __call__(self, state, x):
        return self.fn(self.params, state, x)

    def __hash__(self):
        return hash((self.fn, id(self.params)))

    def __eq__(self, other):
        return isinstance(other, ParamStep) and other.fn == self.fn and other.params is self.params


def describe(obj) -> str:
    """A user's object as messages name it: ``torch.nn.GRUCell``, ``function f``."""
    if isinstance(obj, types.FunctionType):
        return f"function {obj.__qualname__}"
    t = type(obj)
    mod = t.__module__
    for public in ("torch.nn", "flax.linen", "flax.nnx"):
        if mod.startswith(public):
            return f"{public}.{t.__name__}"
    return f"{mod}.{t.__qualname__}"


def module_backend(obj) -> str | None:
    """``"torch"`` for a ``torch.nn.Module``, ``"jax"`` for a flax (linen or NNX) module, None
    otherwise (rnnflow's own models included): found by the classes' modules, so neither
    framework is imported here."""
    if type(obj).__module__.startswith("rnnflow."):
        return None
    mods = [c.__module__ for c in type(obj).__mro__]
    if any(m.startswith("torch.nn") for m in mods):
        return "torch"
    if any(m.startswith(("flax.linen", "flax.nnx")) for m in mods):
        return "jax"
    return None


def first_leaf(tree):
    while isinstance(tree, (dict, list, tuple)) and tree:
        tree = next(iter(tree.values())) if isinstance(tree, dict) else tree[0]
    return tree


def param_step(fn, params) -> OwnModel:
    """A user's ``fn(params, h, x) -> h`` given with ``params=``, as an :class:`OwnModel`."""
    if not callable(fn):
        raise TypeError(f"params= was given with a {describe(fn)}: expected a config or a step "
                        f"function f(params, h, x) -> h")
    mod = type(first_leaf(params)).__module__
    backend = "torch" if mod.startswith("torch") else "jax" if mod.startswith(("jax", "jaxlib")) else None
    return OwnModel(what=describe(fn), model=ParamStep(fn, params), backend=backend, state="step")


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", np.shape(a)))


def _swap01(a):
    a = a if hasattr(a, "swapaxes") else np.asarray(a)
    return a.swapaxes(0, 1)


def _state_batch(own: OwnModel, h0):
    first = h0[0] if isinstance(h0, (tuple, list)) else h0
    s = _shape(first)
    axis = 1 if own.state == "layers" else 0
    return s[axis] if len(s) > axis else None


def lay_out(own: OwnModel | None, xs, h0=None, *, sequence: bool = True):
    """``(xs, h0)`` as the analyzers take them from a user's module's own layout.

    xs: ``(B, T, I)`` for a batch-major module (transposed here to ``(T, B, I)``), else
        ``(T, B, I)``; with ``sequence=False`` (Lyapunov's constant drive) an ``xs`` of another
        rank (or None) passes unchanged.
    h0: the module's own initial state (see :data:`STATE_MAPS`), mapped to ``(L, B, H)``.
    """
    if own is None:
        return xs, h0
    mapped = map_state(own, h0)   # checks the state's own shape first
    if xs is not None:
        shape = _shape(xs)
        if len(shape) != 3:
            if sequence:
                raise ValueError(f"xs has shape {shape}: {own.what} takes xs {own.layout}")
        else:
            if own.input_size is not None and shape[-1] != own.input_size:
                raise ValueError(f"xs has shape {shape}: {own.what} takes xs {own.layout} "
                                 f"with I={own.input_size} features")
            batch = shape[0] if own.batch_first else shape[1]
            if h0 is not None and _state_batch(own, h0) not in (None, batch):
                raise ValueError(f"xs has shape {shape} but h0 has batch {_state_batch(own, h0)}: "
                                 f"{own.what} takes xs {own.layout}, so its batch is {batch}")
            if own.batch_first:
                xs = _swap01(xs)
    return xs, mapped


def map_state(own: OwnModel, h0):
    """The module's own initial state as the analyzers' ``h0`` (see :data:`STATE_MAPS`)."""
    if h0 is None or own.state in ("layers", "step"):
        return h0
    want = {"cell": "(B, H) (an LSTM cell: a pair (h, c))", "carry_ch": "a carry (c, h) of (B, H)"}[own.state]
    pair = isinstance(h0, (tuple, list))
    if own.state == "carry_ch" and not (pair and len(h0) == 2):
        raise ValueError(f"h0 for {own.what} must be {want}, got a {describe(h0)}")
    parts = tuple(h0) if pair else (h0,)
    if any(len(_shape(p)) != 2 for p in parts):
        raise ValueError(f"h0 for {own.what} has shape(s) {[_shape(p) for p in parts]}: expected {want}")
    if own.state == "carry_ch":
        parts = parts[::-1]
    parts = tuple((p if hasattr(p, "shape") else np.asarray(p))[None] for p in parts)
    return parts if len(parts) > 1 else parts[0]


def recurrence(own: OwnModel):
    """The model an analyzer of the recurrence uses for ``own``, or ``TypeError`` with its refusal."""
    if own.model is None:
        raise TypeError(own.refusal)
    return own.model


def sequence_model(own: OwnModel, original):
    """What ``gradient_reach`` calls as ``model(x)`` for ``own``: the converted rnnflow model,
    or the user's module itself where it can be called so; a step function is refused."""
    if own.model is None:
        if own.callable_as_is:
            return original
        raise TypeError(own.refusal)
    if isinstance(own.model, ParamStep):
        raise TypeError(f"gradient_reach needs a sequence model y = model(x) with x (T, B, I); "
                        f"{own.what} is run as a step function: pass `lambda x: ...` returning (T, B, O)")
    return own.model
