"""``rnnflow.diagnose``: one call that says whether, where and why gradients vanish or explode.

Written once over the public analyzers (``jacobians_over_time``, ``gradient_through_depth``),
the model contract (:class:`rnnflow.RecurrentModel`, :class:`rnnflow.StackModel`) and a
backend's array adapter; no backend is named here.
"""
from __future__ import annotations

import os

import numpy as np

from .. import _backend
from ..analysis.backends import prepare, prepare_stack
from ..analysis.own_models import module_backend
from ..analysis.trace import check_layer, is_recurrent_model, outputs, trace
from ..config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig
from ..io import write_json
from ..params import flatten
from . import factors as F
from .profiles import depth_profile, time_profile
from .stacked import sequence_layers
from .result import Diagnosis
from .rules import DPHI, EXPLODE, VANISH, combine, cure, recurrent_factors, stack_factors

ACCEPTED = ("an rnnflow RNN/LSTM/GRU, Transformer or MLP model (either backend), an rnnflow model config "
            "with params= and backend=, or a list of layer callables x_{l+1} = f_l(x_l)")
STACK_CONTRACT = ("stack_input", "blocks", "readout", "batch_axis")


def model_kind(model) -> str:
    """``"recurrent"`` | ``"transformer"`` | ``"mlp"`` | ``"stack"`` (a custom stack or a list of layers)."""
    if is_recurrent_model(model):
        return "recurrent"
    if isinstance(model, (list, tuple)) and model and all(callable(f) for f in model):
        return "stack"
    if all(hasattr(model, a) for a in STACK_CONTRACT):
        cfg = getattr(model, "config", None)
        return "transformer" if isinstance(cfg, TransformerConfig) else "mlp" if isinstance(cfg, MLPConfig) else "stack"
    raise TypeError(f"diagnose(model=...) got {_name(model)}: expected {ACCEPTED}")


def _prepare(model, x, params, backend):
    """``(model, Backend, x)``: an rnnflow model (built from a config, or copied from a user's
    torch/flax recurrent module, ``x`` then laid out time-major), or, for a user's stack
    module (``nn.TransformerEncoder``, ``nn.Sequential``, ...), its layers as a list (a final
    norm counted as the last layer)."""
    name = None if isinstance(model, (list, tuple)) else module_backend(model)
    if name is not None and _backend.load(name).adapters.adapt_stack(model) is not None:
        stack, bk = prepare_stack(model, x, params=params, backend=backend)
        return list(stack.layers) + ([stack.readout] if stack.readout is not None else []), bk, x
    model, bk, x, _ = prepare(model, x, params=params, backend=backend)
    return model, bk, x


def _name(obj) -> str:
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} item(s)" + ("" if obj else " (empty)")
    return f"a {type(obj).__module__}.{type(obj).__qualname__}"


def describe(model, kind: str) -> str:
    """A short name: config type and sizes."""
    c = getattr(model, "config", None)
    if kind == "recurrent":
        act = f"{c.activation}, " if hasattr(c, "activation") else ""
        return f"{type(c).__name__}({act}H={c.hidden_size}, layers={c.num_layers})"
    if kind == "transformer":
        return f"TransformerConfig(norm={c.norm}, residual={c.residual}, D={c.d_model}, layers={c.num_layers})"
    if kind == "mlp":
        return f"MLPConfig({c.activation}, width={c.width}, depth={c.depth})"
    n = len(model) if isinstance(model, (list, tuple)) else len(model.blocks())
    return f"stack of {n} layers"


def count_trainable(model) -> int | None:
    """Trainable parameter entries where the model can say (``parameters()`` of a module,
    honouring ``requires_grad``; the ``params`` pytree of an rnnflow JAX model); else ``None``."""
    items = model if isinstance(model, (list, tuple)) else [model]
    total, known = 0, False
    for m in items:
        if callable(getattr(m, "parameters", None)):
            known = True
            total += sum(int(np.prod(p.shape)) for p in m.parameters() if getattr(p, "requires_grad", True))
        elif isinstance(getattr(m, "params", None), dict):
            known = True
            total += sum(int(np.prod(np.shape(v))) for v in flatten(m.params).values())
    return total if known else None


def check_batch(kind: str, model, shape: tuple) -> None:
    """The batch must be ``(T, B, I)`` for sequence models and ``(B, I)`` for an MLP."""
    c = getattr(model, "config", None)
    if kind == "stack" and c is None:
        return
    rank, layout = (2, "(B, I)") if kind == "mlp" else (3, "(T, B, I)")
    I = getattr(c, "input_size", None)
    if len(shape) != rank or (I is not None and shape[-1] != I) or 0 in shape:
        want = layout.replace("I)", f"I={I})") if I is not None else layout
        raise ValueError(f"diagnose(x=...) has shape {shape}: expected {want} for a {type(c).__name__} model"
                         + (" (time-major)" if rank == 3 else ""))


def _as_numpy(bk, a):
    return np.asarray(bk.ops.numpy(a)) if bk.ops.is_array(a) else np.asarray(a)


def make_loss(loss_fn, targets, bk, dtype):
    """``loss_fn``, or the MSE against ``targets``, or ``sum(y^2) / 2``."""
    if loss_fn is not None and targets is not None:
        raise ValueError("diagnose(loss_fn=..., targets=...): pass one of them (targets= means the MSE)")
    if loss_fn is not None:
        if not callable(loss_fn):
            raise TypeError(f"diagnose(loss_fn=...) got {_name(loss_fn)}: expected a callable loss_fn(y) -> scalar")
        return loss_fn, getattr(loss_fn, "__name__", "loss_fn")
    if targets is not None:
        t = bk.ops.asarray(_as_numpy(bk, targets), dtype)
        return (lambda y: ((y - bk.ops.asarray(t, None, bk.ops.device_of(y))) ** 2).mean()), "mse"
    return (lambda y: (y * y).sum() / 2), "sum(y^2)/2"


def evaluate_loss(loss_fn, y, name: str, targets):
    """``loss_fn(y)``, checked: ``targets`` shaped like ``y``, the loss a scalar."""
    if targets is not None and tuple(np.shape(targets)) != tuple(y.shape):
        raise ValueError(f"diagnose(targets=...) has shape {tuple(np.shape(targets))}: expected the model "
                         f"output's shape {tuple(y.shape)}")
    loss = loss_fn(y)
    shape = tuple(np.shape(loss))
    if int(np.prod(shape)) != 1:
        raise ValueError(f"diagnose(loss_fn={name}) returned shape {shape}: expected a scalar")
    return loss


def _first_bad(arrays) -> int | None:
    for i, a in enumerate(arrays):
        if not np.isfinite(a).all():
            return i
    return None


def diagnose(model, x, loss_fn=None, *, targets=None, params=None, backend: str | None = None,
             layer: int = 0, vanish: float = VANISH, explode: float = EXPLODE, dphi: float = DPHI,
             out_dir=None, figure: bool = True) -> Diagnosis:
    """Do this model's gradients vanish or explode on batch ``x``, where, and why?

    Args:
      model:    an rnnflow model of either backend (RNN/LSTM/GRU: over time; Transformer/MLP:
                over depth), a model config with ``params`` and ``backend``, or a list of layer
                callables ``[f_0, ...]`` (over depth, ``L = loss_fn(x_L)``).
      x:        the batch: ``(T, B, I)`` for sequence models (time-major), ``(B, I)`` for an MLP;
                NumPy or backend arrays.
      loss_fn:  scalar loss of the output ``y`` in backend operations (default ``sum(y^2) / 2``);
                or ``targets`` (shaped like ``y``) for the MSE. Used over depth; the time
                profile ``||dh_T/dh_t||`` does not depend on the loss (it is still checked).
      layer:    which recurrent layer's time profile to measure.
      vanish, explode: the thresholds on a gradient's ratio to its start (1e-6, 1e+6).
      dphi:     a unit with ``phi'`` below this is saturated (0.01).
      out_dir:  if given, ``diagnosis.json`` (atomic) and, with ``figure``, ``diagnosis.png`` there.

    Returns a :class:`Diagnosis`; ``print(d.summary())`` gives the verdict in a few lines.
    Raises ``ValueError`` / ``TypeError`` naming what was passed and what is accepted.
    """
    if not (0 < vanish < 1 < explode) or not np.isfinite(explode):
        raise ValueError(f"diagnose(vanish={vanish!r}, explode={explode!r}): expected 0 < vanish < 1 < explode < inf")
    if not 0 < dphi < 1:
        raise ValueError(f"diagnose(dphi={dphi!r}): expected a derivative threshold in (0, 1)")
    if isinstance(model, (list, tuple)) and not model:
        raise TypeError(f"diagnose(model=...) got {_name(model)}: expected {ACCEPTED}")
    try:
        model, bk, x = _prepare(model, x, params, backend)
    except ValueError:          # "cannot tell the backend": first say if the object is no model at all
        if not isinstance(model, RECURRENT_CONFIGS + (TransformerConfig, MLPConfig)):
            model_kind(model)
        raise
    kind = model_kind(model)
    xn = _as_numpy(bk, x)
    check_batch(kind, model, tuple(xn.shape))
    n = count_trainable(model)
    if n == 0:
        raise ValueError(f"diagnose(model=...) got {_name(model)} with no trainable parameters: nothing to "
                         f"train, so nothing to diagnose; expected a model with at least one trainable parameter")
    dtype = getattr(model, "dtype", None)
    if dtype is None and kind == "stack":
        dtype = bk.ops.asarray(xn).dtype
    loss, loss_name = make_loss(loss_fn, targets, bk, dtype)
    thresholds = {"vanish": vanish, "explode": explode, "dphi": dphi}
    args = (model, bk, xn, loss, loss_name, targets, thresholds)
    d = _recurrent(*args, layer) if kind == "recurrent" else _stack(kind, *args)
    if out_dir is not None:
        write_diagnosis(d, out_dir, figure=figure)
    return d


def _recurrent(model, bk, xn, loss, loss_name, targets, thr, layer) -> Diagnosis:
    layer = check_layer(layer, model.config.num_layers)
    cfg = model.config
    base = dict(model=describe(model, "recurrent"), kind="recurrent", backend=bk.name, thresholds=thr)
    xb = bk.ops.asarray(xn, model.dtype, bk.ops.device_of(model))
    with bk.ops.no_grad():
        y = outputs(model(xb))
        value = evaluate_loss(loss, y, loss_name, targets)
    tr = trace(bk.ops, model, xn, layer=layer)
    bad = _first_bad([np.concatenate([s[t].ravel() for s in tr.states]) for t in range(tr.T + 1)])
    if bad is not None:
        return _nonfinite(base, f"the hidden state of layer {layer} first at step t={bad} "
                                f"(h_t after input x[{bad - 1}])" if bad else f"the initial state of layer {layer}")
    if not np.isfinite(_as_numpy(bk, value)).all():
        return _nonfinite(base, f"the loss {loss_name} (the hidden states are finite: the readout overflowed)")
    try:
        prof = time_profile(model, xn, layer, thr["vanish"], thr["explode"])
    except ValueError as e:   # a step Jacobian was NaN/Inf
        return _nonfinite(base, f"a step Jacobian of layer {layer}: {e}")
    if tr.cell == "rnn":
        m = F.elman_measures(tr.preact, tr.weight_hh, tr.activation, thr["dphi"])
    else:
        p = {k: _as_numpy(bk, v) for k, v in model.layer_params(layer).items()}
        m = F.gated_measures(tr.cell, p, tr.states[0][:-1], tr.inputs, thr["dphi"])
    if cfg.cell == "lstm":
        m["config_forget_bias"] = cfg.forget_bias
    factors, name = recurrent_factors(tr.cell, m, prof.verdict, thr["dphi"])
    text, study = cure(name, "time", prof.verdict, m)
    depth = None
    if cfg.num_layers > 1:   # the gradient through the stacked layers, L = loss(readout(h^(L-1)))
        layers = sequence_layers(model, bk.ops, xn.shape[0])
        depth, raw = depth_profile(layers, xb, lambda h: loss(model.readout(h)), thr["vanish"], thr["explode"],
                                   backend=bk.name)
        g = raw.log_grad_norm_total
        if np.isnan(g).any() or np.isposinf(g).any():
            return _nonfinite(base, "the gradient through the stacked layers")
        dfactors, dname = stack_factors("recurrent", {}, depth.verdict, thr["dphi"], depth.rate)
        factors = factors + dfactors
        if name is None and dname is not None:
            name = dname
            text, study = cure(name, "depth", depth.verdict, m)
    return Diagnosis(**base, verdict=combine([prof.verdict] + ([depth.verdict] if depth else [])), factor=name,
                     cure=text, study=study, time=prof, depth=depth, factors=factors, measures=m)


def _stack(kind, model, bk, xn, loss, loss_name, targets, thr) -> Diagnosis:
    base = dict(model=describe(model, kind), kind=kind, backend=bk.name, thresholds=thr)
    layers = list(model) if isinstance(model, (list, tuple)) else model.blocks()
    dtype = getattr(model, "dtype", None)
    with bk.ops.no_grad():
        h = bk.ops.asarray(xn, dtype, bk.ops.device_of(model))
        h = h if isinstance(model, (list, tuple)) else model.stack_input(h)
        acts = [_as_numpy(bk, h)]
        for f in layers:
            h = f(h)
            acts.append(_as_numpy(bk, h))
        y = h if isinstance(model, (list, tuple)) else model.readout(h)
        value = evaluate_loss(loss, y, loss_name, targets)
    bad = _first_bad(acts)
    if bad is not None:
        return _nonfinite(base, "the stack input x_0" if bad == 0 else
                          f"the output of layer {bad - 1} (x_{bad}) in the forward pass")
    if not np.isfinite(_as_numpy(bk, value)).all():
        return _nonfinite(base, f"the loss {loss_name} (every layer's output is finite)")
    x_in = acts[0] if isinstance(model, (list, tuple)) else xn
    prof, raw = depth_profile(model, x_in, loss, thr["vanish"], thr["explode"], backend=bk.name)
    g = raw.log_grad_norm_total
    if np.isnan(g).any() or np.isposinf(g).any():
        top = int(np.flatnonzero(np.isnan(g) | np.isposinf(g)).max())
        return _nonfinite(base, f"the gradient dL/dx_l, first (from the top) at layer {top}")
    m: dict = {"loss": float(_as_numpy(bk, value).reshape(())) if np.size(_as_numpy(bk, value)) == 1 else None}
    cfg = getattr(model, "config", None)
    if isinstance(cfg, MLPConfig):
        m.update(F.mlp_measures(acts, cfg.activation, cfg.residual, thr["dphi"]))
    if isinstance(cfg, TransformerConfig):
        m.update(norm=cfg.norm, residual=cfg.residual)
    factors, name = stack_factors(kind, m, prof.verdict, thr["dphi"], prof.rate)
    verdict = combine([prof.verdict])
    if verdict == "healthy" and name is not None:
        verdict = "at risk"
    text, study = cure(name, "depth", prof.verdict, m)
    return Diagnosis(**base, verdict=verdict, factor=name, cure=text, study=study, time=None, depth=prof,
                     factors=factors, measures=m)


def _nonfinite(base: dict, where: str) -> Diagnosis:
    text, study = cure("non-finite values", None, None, {})
    return Diagnosis(**base, verdict="non-finite", factor="non-finite values", cure=text, study=study,
                     time=None, depth=None, nonfinite=where)


def write_diagnosis(d: Diagnosis, out_dir, *, figure: bool = True) -> list[str]:
    """Write ``diagnosis.json`` (atomic) and ``diagnosis.png`` (atomic) into ``out_dir``; their paths."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "diagnosis.json")]
    write_json(paths[0], d.to_dict())
    if figure:
        import io as _io

        from ..io import atomic_write_bytes
        from ..plotting.diagnosis import plot_diagnosis
        buf = _io.BytesIO()
        plot_diagnosis(d).savefig(buf, format="png", dpi=110)
        paths.append(os.path.join(out_dir, "diagnosis.png"))
        atomic_write_bytes(paths[1], buf.getvalue())
    return paths
