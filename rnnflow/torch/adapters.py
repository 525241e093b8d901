"""torch modules researchers already have, as the analyzers take them (mirrors :mod:`rnnflow.jax.adapters`).

``nn.RNN``/``nn.LSTM``/``nn.GRU`` store exactly rnnflow's schema (``weight_ih_l{k}`` is
``layers[k].weight_ih``, gates i,f,g,o and r,z,n), and so do their cells: :func:`adapt` copies
the weights into an rnnflow model of the same dtype (float32 or float64). What stays the
user's: the module is read, never changed; a copy is taken at the call, so later training of
the module is not seen. Dropout between layers is not applied (the analyzers differentiate the
deterministic map). The layout, refusal and state handling are
:mod:`rnnflow.analysis.own_models`.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from ..analysis.own_models import OwnModel, OwnStack, describe
from ..config import GRUConfig, LSTMConfig, RNNConfig
from .build import build

__all__ = ["adapt", "adapt_stack", "RECURRENT", "STACKS"]

RECURRENT = ("nn.RNN/nn.LSTM/nn.GRU (unidirectional, no proj_size), nn.RNNCell/nn.LSTMCell/nn.GRUCell, "
             "an rnnflow model or config, or a step function `lambda h, x: ...` with h0")
STACKS = "torch nn.TransformerEncoder, nn.TransformerEncoderLayer, nn.Sequential or nn.ModuleList"

_SEQUENCES = {nn.RNN: RNNConfig, nn.LSTM: LSTMConfig, nn.GRU: GRUConfig}
_CELLS = {nn.RNNCell: RNNConfig, nn.LSTMCell: LSTMConfig, nn.GRUCell: GRUConfig}


def _numpy(t):
    return t.detach().cpu().numpy().copy()


def _name(m) -> str:
    extra = [f"num_layers={m.num_layers}"] if getattr(m, "num_layers", 1) != 1 else []
    extra += ["batch_first=True"] if getattr(m, "batch_first", False) else []
    return f"{describe(m)}({', '.join([str(m.input_size), str(m.hidden_size)] + extra)})"


def _layer(m, suffix: str) -> dict:
    """One layer's schema dict from ``m``'s ``weight_ih{suffix}`` ...; no bias: zeros."""
    w_ih, w_hh = _numpy(getattr(m, "weight_ih" + suffix)), _numpy(getattr(m, "weight_hh" + suffix))
    zeros = np.zeros(w_ih.shape[0], w_ih.dtype)
    return {"weight_ih": w_ih, "weight_hh": w_hh,
            "bias_ih": _numpy(getattr(m, "bias_ih" + suffix)) if m.bias else zeros,
            "bias_hh": _numpy(getattr(m, "bias_hh" + suffix)) if m.bias else zeros.copy()}


def _copy(m, config_cls, num_layers: int, suffix):
    what = _name(m)
    dtype = next(m.parameters()).dtype
    if str(dtype) not in ("torch.float32", "torch.float64"):
        raise TypeError(f"{what} has dtype {dtype}: the analyzers take float32 or float64 modules "
                        f"(convert a copy with .double())")
    kw = {"activation": m.nonlinearity} if config_cls is RNNConfig else {}
    cfg = config_cls(m.input_size, m.hidden_size, num_layers=num_layers, **kw)
    params = {"layers": [_layer(m, suffix(k)) for k in range(num_layers)]}
    return what, build(cfg, params)


def adapt(obj, params=None) -> OwnModel:
    """A user's torch module as an :class:`~rnnflow.analysis.own_models.OwnModel`.

    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (any ``num_layers``; ``batch_first`` honoured: xs
    ``(B, T, I)``; ``h0`` torch's own ``(L, B, H)``, LSTM ``(h0, c0)``) and
    ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` (``h0`` ``(B, H)``, LSTM ``(h, c)``): an
    exact rnnflow copy. ``bidirectional=True`` and ``proj_size > 0`` raise ``ValueError``.
    Any other module: ``model=None`` with a refusal (``gradient_reach`` still calls it as
    ``model(x)``).
    """
    if params is not None:
        raise ValueError(f"params= was given with a {describe(obj)}: a torch module carries its own parameters")
    kind = type(obj)
    if kind in _SEQUENCES:
        if obj.bidirectional:
            raise ValueError(f"{_name(obj)} has bidirectional=True: the analyzers follow one direction in time; "
                             f"pass a unidirectional module (accepted: {RECURRENT})")
        if getattr(obj, "proj_size", 0):
            raise ValueError(f"{_name(obj)} has proj_size={obj.proj_size}: rnnflow's LSTM has no projection; "
                             f"pass an nn.LSTM with proj_size=0 (accepted: {RECURRENT})")
        what, model = _copy(obj, _SEQUENCES[kind], obj.num_layers, lambda k: f"_l{k}")
        return OwnModel(what, model, "torch", batch_first=obj.batch_first, input_size=obj.input_size)
    if kind in _CELLS:
        what, model = _copy(obj, _CELLS[kind], 1, lambda k: "")
        return OwnModel(what, model, "torch", input_size=obj.input_size, state="cell")
    return OwnModel(describe(obj), backend="torch", callable_as_is=True, refusal=(
        f"a torch.nn.Module of type {kind.__name__} is not a step function: pass "
        f"`lambda h, x: m(x, h)` (in the order your module takes them) with h0, or one of {RECURRENT}"))


def adapt_stack(obj) -> OwnStack | None:
    """A torch module as a stack of layers for ``gradient_through_depth``, or None.

    ``nn.TransformerEncoder``: its ``layers`` with its final ``norm`` (if any) as the readout;
    ``nn.TransformerEncoderLayer``: itself; the batch axis is 0 for ``batch_first=True``, else 1
    (``x`` in the module's own layout). ``nn.Sequential``/``nn.ModuleList``: their layers (batch
    axis: the caller's ``batch_axis``, default 0). The modules run in the mode they are in
    (call ``.eval()`` first to switch dropout off).
    """
    if isinstance(obj, nn.TransformerEncoder):
        layers, readout = tuple(obj.layers), obj.norm
    elif isinstance(obj, nn.TransformerEncoderLayer):
        layers, readout = (obj,), None
    elif isinstance(obj, (nn.Sequential, nn.ModuleList)):
        return OwnStack(f"{describe(obj)} of {len(obj)} layers", tuple(obj))
    else:
        return None
    axis = 0 if layers and layers[0].self_attn.batch_first else 1
    return OwnStack(f"{describe(obj)}(batch_first={axis == 0})", layers, readout, axis)
