"""Running a recurrence for the analyzers, written once over a backend's array adapter.

:func:`trace` runs ``h_t = f(h_{t-1}, x_t)`` and returns a :class:`~rnnflow.types.Trace`
of NumPy arrays; the analyzers then ask the backend for step Jacobians chunk by chunk
(:func:`step_inputs` lays a chunk out). The model is either an rnnflow recurrent model,
reached only through its contract (``config``, ``dtype``, ``initial_state(batch)``,
``step(layer, state, x_t)``, ``layer_params(layer)``, ``model(x, state0)``), or a
user's step function ``step(h, x) -> h'`` on batched backend arrays. ``ops`` is the
backend's :mod:`arrays` module (``rnnflow.torch.arrays`` / ``rnnflow.jax.arrays``).
The checks here name the first bad time step so a user can find it.
"""
from __future__ import annotations

import numpy as np

from ..config import RECURRENT_CONFIGS, LSTMConfig, RNNConfig
from ..types import Trace
from ..validation import check_layer as check_layer, check_sequence as check_sequence
from .diagonal import is_diagonal_model
from .own_models import ParamStep


def is_recurrent_model(obj) -> bool:
    """True for an rnnflow recurrent model (either backend): it has a recurrent config."""
    return isinstance(getattr(obj, "config", None), RECURRENT_CONFIGS) and hasattr(obj, "step")


def parts(state) -> tuple:
    """A state as the tuple of its parts (a single array is a 1-tuple)."""
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def pack(state_parts: tuple):
    """The inverse of :func:`parts`."""
    return state_parts[0] if len(state_parts) == 1 else tuple(state_parts)


def trace(ops, model, xs, h0=None, *, layer: int = 0) -> Trace:
    """Run the recurrence over ``xs`` ``(T, B, I)`` and return its :class:`Trace`.

    model: an rnnflow recurrent model (``h0``: its ``state0``, ``(L, B, H)`` or an LSTM
           pair; default zeros) or a step function ``step(h, x) -> h'`` (``h0`` required:
           ``(B, H)`` or a tuple of ``(B, H_i)``).
    layer: which layer of a stacked model (its inputs are the layer below's states).
    """
    check_sequence(np.shape(xs))
    if is_recurrent_model(model):
        return _trace_model(ops, model, xs, h0, layer)
    if _is_diagonal(model):
        return _trace_diagonal(ops, model, xs, h0, layer)
    if not callable(model):
        raise TypeError(f"model must be an rnnflow recurrent model or a step function, got {type(model).__name__}")
    if h0 is None:
        raise ValueError(f"h0 is required for a step function: {ops.ARRAY_KIND} (B, H) or a tuple of them")
    state = tuple(ops.asarray(p) for p in parts(h0))
    x = ops.asarray(xs, state[0].dtype, ops.device_of(state[0]))
    check_state_shapes([p.shape for p in state], x.shape[1])
    with ops.no_grad():
        first = parts(model(pack(state), x[0]))
    check_step_output([p.shape for p in state], [getattr(p, "shape", ()) for p in first])
    check_step_dtypes([ops.dtype_name(p) for p in state], [ops.dtype_name(p) for p in first])
    seqs = ops.scan(model, pack(state), x)
    states = tuple(np.concatenate([ops.numpy(p)[None], ops.numpy(s)]) for p, s in zip(state, seqs))
    return Trace(states, ops.numpy(x), "step")


def _trace_model(ops, model, xs, h0, layer: int) -> Trace:
    cfg = model.config
    layer = check_layer(layer, cfg.num_layers)
    x = ops.asarray(xs, model.dtype, ops.device_of(model))
    lstm = isinstance(cfg, LSTMConfig)
    if h0 is not None:  # NumPy states are welcome: cast them like xs
        h0 = tuple(ops.asarray(p, model.dtype, ops.device_of(model)) for p in h0) if lstm else ops.asarray(h0, model.dtype, ops.device_of(model))
    with ops.no_grad():
        out = model(x, h0)
        inputs = x if layer == 0 else out.hidden[layer - 1]
        s0 = model.initial_state(x.shape[1]) if h0 is None else h0
        first = (s0[0][layer], s0[1][layer]) if lstm else (s0[layer],)
        seqs = (out.hidden[layer], out.cell[layer]) if lstm else (out.hidden[layer],)
        states = tuple(np.concatenate([ops.numpy(f)[None], ops.numpy(s)]) for f, s in zip(first, seqs))
        p = model.layer_params(layer)
        h_prev = ops.asarray(states[0][:-1], None, ops.device_of(model))
        xw = ops.numpy(inputs @ p["weight_ih"].T + p["bias_ih"])      # (T, B, G): x_t W_ih^T + b_ih
        hw = ops.numpy(h_prev @ p["weight_hh"].T + p["bias_hh"])      # (T, B, G): h_{t-1} W_hh^T + b_hh
        w_hh = ops.numpy(p["weight_hh"])
        if isinstance(cfg, RNNConfig):                                # a_t = xw + hw, h_t = phi(a_t)
            return Trace(states, ops.numpy(inputs), "rnn", cfg.activation, w_hh, xw + hw)
        if isinstance(cfg, LSTMConfig):                               # gates i, f, g, o
            return Trace(states, ops.numpy(inputs), "lstm", None, w_hh, xw + hw)
        H = cfg.hidden_size                                           # GRU: r, z summed; n's two parts
        pre = np.concatenate([xw[..., :2 * H] + hw[..., :2 * H], xw[..., 2 * H:], hw[..., 2 * H:]], axis=-1)
        return Trace(states, ops.numpy(inputs), "gru", None, w_hh, pre)


def _is_diagonal(model) -> bool:
    return is_diagonal_model(model)


def _trace_diagonal(ops, model, xs, h0, layer: int) -> Trace:
    """A diagonal model's layer: its states ``(T+1, B, S)`` and its *normed* inputs ``u``
    ``(T, B, D)`` (what ``model.step_function()`` takes), cell = the config's cell name."""
    cfg = model.config
    layer = check_layer(layer, cfg.num_layers)
    x = ops.asarray(xs, model.dtype, ops.device_of(model))
    if h0 is not None:
        h0 = ops.asarray(h0, model.dtype, ops.device_of(model))
    with ops.no_grad():
        out = model(x, h0)
        s0 = model.initial_state(x.shape[1]) if h0 is None else h0
        states = np.concatenate([ops.numpy(s0[layer])[None], ops.numpy(out.hidden[layer])])
        u = ops.numpy(model.layer_inputs(x, layer, h0))
    return Trace((states,), u, cfg.cell)


class UserStep:
    """A user's ``step(h, x)`` as ``f(params, h, x)``, the form the backends differentiate;
    equal (and hashed) by the wrapped function, so JAX compiles it once."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, _params, state, x):
        return self.fn(state, x)

    def __hash__(self):
        return hash(self.fn)

    def __eq__(self, other):
        return isinstance(other, UserStep) and other.fn is self.fn


def step_function(model, layer: int = 0):
    """``(step, params)`` with ``step(params, state, x_t)`` one step of ``layer`` of an
    rnnflow recurrent model, or of a user's step function (``params=None``)."""
    if is_recurrent_model(model) or _is_diagonal(model):
        layer = check_layer(layer, model.config.num_layers)
        return model.step_function(), model.layer_params(layer)
    check_layer(layer, 1)
    if isinstance(model, ParamStep):
        return model.fn, model.params
    return UserStep(model), None


def step_inputs(tr: Trace, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The points at which steps ``t = lo+1..hi`` are differentiated, flattened over
    ``(t, b)``: states ``z`` ``(n*B, N)`` (the parts concatenated, ``N = sum H_i``) and
    inputs ``x`` ``(n*B, I)``, ``n = hi - lo``."""
    n = hi - lo
    z = np.concatenate([s[lo:hi] for s in tr.states], axis=-1).reshape(n * tr.B, -1)
    return z, tr.inputs[lo:hi].reshape(n * tr.B, -1)


def outputs(out):
    """A model's outputs ``y``: ``out.y`` of a :class:`~rnnflow.types.SequenceOutput`, else ``out``."""
    return out.y if hasattr(out, "y") else out


def check_sequence_output(y_shape, x_shape) -> None:
    """A sequence model maps ``x`` ``(T, B, I)`` to ``y`` ``(T, B, O)``."""
    if len(y_shape) != 3 or tuple(y_shape[:2]) != tuple(x_shape[:2]):
        raise ValueError(f"the model output has shape {tuple(y_shape)}: expected (T, B, O) = "
                         f"({x_shape[0]}, {x_shape[1]}, O)")


def check_state_shapes(parts_shapes, batch: int, what: str = "h0") -> None:
    """Each state part must be ``(B, H_i)`` with the batch of ``xs``."""
    for i, s in enumerate(parts_shapes):
        s = tuple(s)
        if len(s) != 2 or s[0] != batch or s[1] == 0:
            name = what if len(parts_shapes) == 1 else f"{what}[{i}]"
            raise ValueError(f"{name} has shape {s}: expected (B, H) with B={batch} (the batch of xs)")


def check_step_output(in_shapes, out_shapes) -> None:
    """A step function must return a state of the structure and shapes it was given."""
    in_shapes, out_shapes = [tuple(s) for s in in_shapes], [tuple(s) for s in out_shapes]
    if in_shapes != out_shapes:
        raise ValueError(f"the step function returned a state with shapes {out_shapes}, "
                         f"expected the input state's {in_shapes}")


def check_step_dtypes(in_dtypes, out_dtypes) -> None:
    """A step function must return its state in the dtypes it was given (a scan needs it)."""
    if list(in_dtypes) != list(out_dtypes):
        raise ValueError(f"the step function returned a state of dtype(s) {list(out_dtypes)} for h0 of "
                         f"{list(in_dtypes)}: pass h0 in the dtype the step computes in")


def check_trace(tr: Trace) -> None:
    """Raise ``ValueError`` naming the first step ``t`` whose hidden state is NaN/Inf."""
    T1 = tr.T + 1
    bad = np.zeros(T1, dtype=bool)
    for s in tr.states:
        if s.shape[0] != T1 or s.shape[1] != tr.B:
            raise ValueError(f"state part has shape {s.shape}, expected ({T1}, {tr.B}, H)")
        bad |= ~np.isfinite(s.reshape(T1, -1)).all(axis=1)
    if bad.any():
        t = int(np.argmax(bad))
        parts = [i for i, s in enumerate(tr.states) if not np.isfinite(s[t]).all()]
        rows = sorted({int(b) for s in tr.states for b in np.flatnonzero(~np.isfinite(s[t]).all(axis=-1))})
        where = "in h0 (t=0)" if t == 0 else f"first at step t={t} (h_t after input xs[{t - 1}])"
        raise ValueError(f"the hidden state is non-finite (NaN/Inf) {where}; state part(s) {parts}, "
                         f"batch element(s) {rows[:8]}")
    if not np.isfinite(tr.inputs).all():
        t = int(np.argmax(~np.isfinite(tr.inputs.reshape(tr.T, -1)).all(axis=1)))
        raise ValueError(f"the inputs are non-finite (NaN/Inf) first at xs[{t}] (step t={t + 1})")


def check_directions(directions, out_size: int) -> np.ndarray:
    """Output directions ``u_k`` as float64 ``(K, O)``, ``O = out_size`` (default: the unit basis)."""
    if directions is None:
        return np.eye(out_size)
    try:
        d = np.asarray(directions, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"directions={directions!r} is invalid: expected an array (K, O) of real numbers") from None
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] != out_size:
        raise ValueError(f"directions has shape {d.shape}: expected (K, O) with O = {out_size} (the model's "
                         f"output size), one output direction per row")
    return d
