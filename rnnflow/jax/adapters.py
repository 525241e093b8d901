"""flax models researchers already have, as the analyzers take them (mirrors :mod:`rnnflow.torch.adapters`).

flax's cells are rnnflow's cells with kernels stored ``(in, out)`` (rnnflow, as torch:
``(out, in)``) and fewer biases, so :func:`adapt` copies them exactly into an rnnflow model:

* ``SimpleCell``: ``h' = phi(x W_i + b_i + h W_h)`` -> ``bias_hh = 0``;
* ``LSTMCell``/``OptimizedLSTMCell``: no input-side bias -> ``bias_ih = 0``, the hidden-side
  biases (gates i, f, g, o) are ``bias_hh``; the carry is ``(c, h)``, rnnflow's state ``(h, c)``;
* linen ``GRUCell``: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` with ``b_ir, b_iz, b_in``
  on the input side and only ``b_hn`` on the hidden side -> ``bias_hh = [0, 0, b_hn]``, exactly
  torch's equation; NNX ``GRUCell`` has no hidden-side bias at all -> ``bias_hh = 0``.

What does not match (``MGUCell``, ``residual=True``, other gate or activation functions, a
compute ``dtype``, any other ``RNNCellBase``) runs as a step function calling the cell as flax
does, ``cell(carry, x)``. flax is imported inside the functions: it is the optional extra
``rnnflow[flax]``.
"""
from __future__ import annotations

import numpy as np

from ..analysis.own_models import OwnModel, OwnStack, ParamStep, describe
from ..config import GRUConfig, LSTMConfig, RNNConfig
from .build import build

__all__ = ["adapt", "adapt_stack", "RECURRENT", "STACKS"]

RECURRENT = ("flax SimpleCell/LSTMCell/OptimizedLSTMCell/GRUCell/MGUCell or another RNNCellBase (linen: with "
             "its variables as params=; NNX: as is), flax.linen.RNN / flax.nnx.RNN of one (reverse=False), "
             "an rnnflow model or config, a step function f(params, h, x) with params=, or `lambda h, x: ...` with h0")
STACKS = "flax.nnx.Sequential"


class _LinenStep:
    """``f(variables, carry, x) = cell.apply(variables, carry, x)[0]``; hashed by the cell."""

    def __init__(self, cell):
        self.cell = cell

    def __call__(self, variables, carry, x):
        return self.cell.apply(variables, carry, x)[0]

    def __hash__(self):
        return id(self.cell)

    def __eq__(self, other):
        return isinstance(other, _LinenStep) and other.cell is self.cell


class _NNXStep:
    """``f(state, carry, x) = nnx.merge(graphdef, state)(carry, x)[0]``; hashed by the graphdef."""

    def __init__(self, graphdef):
        self.graphdef = graphdef

    def __call__(self, state, carry, x):
        from flax import nnx
        return nnx.merge(self.graphdef, state)(carry, x)[0]

    def __hash__(self):
        return hash(self.graphdef)

    def __eq__(self, other):
        return isinstance(other, _NNXStep) and other.graphdef == self.graphdef


def _np(a):
    return np.asarray(a[...])   # a jax array, or an nnx.Param's value


_NNX_NAMES = {"i": "dense_i", "h": "dense_h", "if": "if_"}


def _get(p, nnx: bool, name: str, field: str) -> np.ndarray:
    """A cell's kernel ``(in, out)`` or bias as NumPy: linen ``p[name][field]`` (its variables),
    NNX ``cell.<name>.<field>`` (the module)."""
    if nnx:
        return _np(getattr(getattr(p, _NNX_NAMES.get(name, name)), field))
    return _np(p[name][field])


def _activation(fn):
    import jax
    import jax.numpy as jnp
    return {jnp.tanh: "tanh", jax.nn.tanh: "tanh", jax.nn.relu: "relu", jax.nn.sigmoid: "sigmoid"}.get(fn)


def _schema(cell, p, nnx: bool):
    """``(config, layer params, dtype)`` of rnnflow's copy of a flax cell, or None where it
    does not match. ``p``: the cell's parameters, a dict (linen) or the NNX module itself."""
    dtype = _compute_dtype(cell, p, nnx)
    found = None if dtype is None else _layer_schema(cell, type(cell).__name__, p, nnx)
    return None if found is None else found + (dtype,)


def _compute_dtype(cell, p, nnx: bool):
    """The dtype the cell computes in: its ``dtype`` (flax promotes the parameters to it; NNX
    cells default to float32) or else its parameters'; None unless float32/float64."""
    dtype = getattr(cell, "dtype", None)
    if dtype is None:
        import jax
        if nnx:
            from flax import nnx as nnx_mod
            p = nnx_mod.state(p, nnx_mod.Param)
        leaves = jax.tree_util.tree_leaves(p)
        dtype = leaves[0].dtype if leaves else None
    name = None if dtype is None else np.dtype(dtype).name
    return name if name in ("float32", "float64") else None


def _layer_schema(cell, kind: str, p, nnx: bool):
    """One rnnflow layer (weights ``(out, in)``, gates i,f,g,o / r,z,n) from a flax cell."""
    def k(name):
        return _get(p, nnx, name, "kernel").T

    def b(name):
        return _get(p, nnx, name, "bias")
    fused = nnx and kind in ("OptimizedLSTMCell", "GRUCell")   # NNX: one dense_i, one dense_h for all gates
    if kind == "SimpleCell":                                    # h' = phi(x W_i + b_i + h W_h)
        act = _activation(cell.activation_fn)
        if cell.residual or act is None:
            return None
        w_ih, b_ih, w_hh = k("i"), b("i"), k("h")
        layer = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": np.zeros_like(b_ih)}
        return RNNConfig(w_ih.shape[1], w_hh.shape[0], activation=act), layer
    if _activation(getattr(cell, "gate_fn", None)) != "sigmoid" or _activation(cell.activation_fn) != "tanh":
        return None
    if kind in ("LSTMCell", "OptimizedLSTMCell"):               # no input-side bias
        if fused:
            w_ih, w_hh, b_hh = k("i"), k("h"), b("h")
        else:
            w_ih = np.concatenate([k("i" + g) for g in "ifgo"])    # (4H, I): i, f, g, o
            w_hh = np.concatenate([k("h" + g) for g in "ifgo"])    # (4H, H)
            b_hh = np.concatenate([b("h" + g) for g in "ifgo"])
        layer = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": np.zeros_like(b_hh), "bias_hh": b_hh}
        return LSTMConfig(w_ih.shape[1], w_hh.shape[1]), layer
    if kind == "GRUCell":
        if fused:                                               # NNX: no hidden-side bias
            w_ih, b_ih, w_hh = k("i"), b("i"), k("h")
            b_hh = np.zeros_like(b_ih)
        else:                                                   # linen: b_ir, b_iz, b_in and b_hn only
            w_ih = np.concatenate([k("i" + g) for g in "rzn"])     # (3H, I): r, z, n
            b_ih = np.concatenate([b("i" + g) for g in "rzn"])
            w_hh = np.concatenate([k("h" + g) for g in "rzn"])
            b_hn = b("hn")
            b_hh = np.concatenate([np.zeros_like(b_hn), np.zeros_like(b_hn), b_hn])
        layer = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh}
        return GRUConfig(w_ih.shape[1], w_hh.shape[1]), layer
    return None


def _cell_input_size(cell, p, nnx: bool):
    if nnx:
        return getattr(cell, "in_features", None)
    kernels = [v["kernel"] for k, v in p.items() if k.startswith("i") and isinstance(v, dict) and "kernel" in v]
    return int(np.shape(kernels[0])[0]) if kernels else None


def _own(obj, cell, p, nnx: bool, batch_first: bool, step_params) -> OwnModel:
    what = describe(obj) + (f"({describe(cell)}, time_major={not batch_first})" if cell is not obj else "")
    found = _schema(cell, p, nnx)
    if found is not None:
        cfg, layer, dtype = found
        state = "carry_ch" if isinstance(cfg, LSTMConfig) else "cell"
        return OwnModel(what, build(cfg, {"layers": [layer]}, dtype=dtype), "jax", batch_first=batch_first,
                        input_size=cfg.input_size, state=state)
    if nnx:
        from flax import nnx as nnx_mod
        graphdef, state = nnx_mod.split(cell)
        step = ParamStep(_NNXStep(graphdef), state)
    else:
        step = ParamStep(_LinenStep(cell), step_params)
    return OwnModel(what, step, "jax", batch_first=batch_first, input_size=_cell_input_size(cell, p, nnx),
                    state="step")


def _refuse(obj, why: str, callable_as_is: bool = False) -> OwnModel:
    return OwnModel(describe(obj), backend="jax", callable_as_is=callable_as_is,
                    refusal=f"a {describe(obj)} {why}: pass one of {RECURRENT}")


def adapt(obj, params=None) -> OwnModel:
    """A user's flax module as an :class:`~rnnflow.analysis.own_models.OwnModel`.

    linen cells need their variables as ``params=`` (``cell.init(...)``'s dict); NNX cells
    carry theirs. ``RNN`` wrappers: batch-major ``(B, T, I)`` unless ``time_major=True``;
    ``reverse=True`` raises ``ValueError``. ``h0`` is the cell's carry: ``(B, H)``, an LSTM's
    ``(c, h)``. A matching cell is copied exactly into an rnnflow model; any other
    ``RNNCellBase`` runs as a step function; other modules are refused.
    """
    import flax.linen as nn
    from flax import nnx

    if isinstance(obj, nnx.Module):
        if params is not None:
            raise ValueError(f"params= was given with a {describe(obj)}: an NNX module carries its own parameters")
        cell, batch_first = obj, False
        if isinstance(obj, nnx.RNN):
            cell, batch_first = _unwrap(obj)
        if not isinstance(cell, nnx.RNNCellBase):
            return _refuse(obj, "is not a recurrent cell (an nnx.RNNCellBase) or an nnx.RNN of one", True)
        return _own(obj, cell, cell, True, batch_first, None)
    if isinstance(obj, nn.Module):
        cell, batch_first, variables = obj, False, params
        if isinstance(obj, nn.RNN):
            cell, batch_first = _unwrap(obj)
            if params is not None:
                variables = {"params": _variables(obj, params)["cell"]}
        if not isinstance(cell, nn.RNNCellBase):
            return _refuse(obj, "is not a recurrent cell (an nn.RNNCellBase) or an nn.RNN of one")
        if params is None:
            raise ValueError(f"a {describe(obj)} needs its variables: pass params=variables "
                             f"(the dict that {type(obj).__name__}.init returned)")
        return _own(obj, cell, _variables(cell, variables), False, batch_first, variables)
    return _refuse(obj, "is not a flax recurrent module")


def _variables(module, variables) -> dict:
    """The ``params`` collection of linen variables (``{"params": {...}}`` or the bare dict)."""
    if not isinstance(variables, dict) and not hasattr(variables, "keys"):
        raise ValueError(f"params= for a {describe(module)} must be its variables dict, got a {describe(variables)}")
    return variables["params"] if "params" in variables else variables


def _unwrap(rnn):
    if rnn.reverse:
        raise ValueError(f"a {describe(rnn)} with reverse=True runs backwards in time: pass one with "
                         f"reverse=False (accepted: {RECURRENT})")
    return rnn.cell, not rnn.time_major


def adapt_stack(obj) -> OwnStack | None:
    """A flax module as a stack of layers for ``gradient_through_depth``, or None:
    ``flax.nnx.Sequential`` gives its ``layers`` (batch axis: the caller's, default 0)."""
    from flax import nnx
    if isinstance(obj, nnx.Sequential):
        return OwnStack(f"{describe(obj)} of {len(obj.layers)} layers", tuple(obj.layers))
    return None
