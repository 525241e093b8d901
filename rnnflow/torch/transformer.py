"""Transformer encoder in torch: building blocks, one-block function and the stacked model.

Layout: inputs ``(T, B, I)`` (time-major), residual stream ``(T, B, D)``.
:func:`transformer_layer` takes one block's parameter dict (schema names) and is
the "step" the analyzers differentiate, ``x_l -> x_{l+1}``. Attention is written
out (not ``nn.MultiheadAttention``) so that :mod:`rnnflow.jax.transformer` is the
same computation line for line.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ..positional import sinusoidal_table
from ..types import SequenceOutput
from . import arrays
from .activations import get_activation


# ---------------------------------------------------------------- building blocks
def linear(p, x):
    """``x W^T + b``; x (..., in) -> (..., out)."""
    return x @ p["weight"].T + p["bias"]


def layer_norm(p, x, eps: float):
    """``(x - mean) / sqrt(var + eps) * w + b`` over the last dim (biased var, as torch)."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * p["weight"] + p["bias"]


def dropout(x, rate: float, train: bool):
    """Inverted dropout (kept values scaled by ``1 / (1 - rate)``); identity unless ``train``."""
    return F.dropout(x, rate, training=True) if train and rate > 0 else x


def positional_encoding(pos, length: int, config, dtype):
    """(T, D) table added to the embedded input, or None (``positional="none"``).

    ``pos`` is the ``pos`` parameter dict (learned positions) or None.
    """
    if config.positional == "sinusoidal":
        return torch.as_tensor(sinusoidal_table(length, config.d_model), dtype=dtype)
    if config.positional == "learned":
        return pos["weight"][:length]
    return None


def causal_mask(length: int):
    """(T, T) bool, True where query t may attend to key s (s <= t)."""
    return torch.ones(length, length, dtype=torch.bool).tril()


def attention(p, x, num_heads: int, *, mask=None, rate: float = 0.0, train: bool = False):
    """Multi-head self-attention; x (T, B, D) -> (T, B, D).

    ``q, k, v = split(x W_in^T + b_in)`` (stacked as in ``nn.MultiheadAttention``); per head
    ``A = softmax(q k^T / sqrt(D / heads))`` over keys, ``out = concat_h(A v) W_out^T + b_out``.
    ``mask`` (T, T) bool: True where query t may attend to key s; every row needs a True.
    Dropout (``rate``, train only) acts on ``A``.
    """
    T, B, D = x.shape
    hd = D // num_heads
    q, k, v = (z.reshape(T, B, num_heads, hd) for z in linear(p["in_proj"], x).chunk(3, dim=-1))
    scores = torch.einsum("tbhd,sbhd->bhts", q, k) / math.sqrt(hd)  # (B, H, T, T)
    if mask is not None:
        scores = torch.where(mask, scores, -math.inf)
    probs = dropout(torch.softmax(scores, dim=-1), rate, train)
    out = torch.einsum("bhts,sbhd->tbhd", probs, v).reshape(T, B, D)
    return linear(p["out_proj"], out)


# ---------------------------------------------------------------- one block
def transformer_layer(p, x, config, *, mask=None, train: bool = False):
    """One encoder block (schema names in ``p``); x (T, B, D) -> (T, B, D).

    post: ``x = LN1(x + Attn(x)); x = LN2(x + MLP(x))``
    pre:  ``x = x + Attn(LN1(x)); x = x + MLP(LN2(x))``
    ``residual=False`` drops the ``x +``; ``norm="none"`` drops LN1/LN2.
    ``MLP(x) = fc2(phi(fc1(x)))``. ``mask`` defaults to the causal mask if
    ``config.causal`` (else no mask). Dropout on attention weights and on both
    sublayer outputs when ``train``.
    """
    if mask is None and config.causal:
        mask = causal_mask(x.shape[0]).to(x.device)
    rate, phi = config.dropout, get_activation(config.activation)

    def attn(z):
        return dropout(attention(p["attn"], z, config.num_heads, mask=mask, rate=rate, train=train),
                       rate, train)

    def mlp(z):
        return dropout(linear(p["fc2"], phi(linear(p["fc1"], z))), rate, train)

    def ln(name, z):
        return z if config.norm == "none" else layer_norm(p[name], z, config.layer_norm_eps)

    def add(z, f):
        return z + f if config.residual else f

    if config.norm == "pre":
        x = add(x, attn(ln("norm1", x)))
        return add(x, mlp(ln("norm2", x)))
    x = ln("norm1", add(x, attn(x)))  # "post"; ln is the identity for "none"
    return ln("norm2", add(x, mlp(x)))


# ---------------------------------------------------------------- module
def as_tree(module: nn.Module) -> dict:
    """A module's parameters and buffers as a nested dict keyed by the schema names."""
    out: dict = {}
    for key, t in [*module.named_parameters(), *module.named_buffers()]:
        *path, leaf = key.split(".")
        d = out
        for k in path:
            d = d.setdefault(k, {})
        d[leaf] = t
    return out


class _Attention(nn.Module):
    def __init__(self, d: int, dtype):
        super().__init__()
        self.in_proj = nn.Linear(d, 3 * d, dtype=dtype)   # q, k, v stacked
        self.out_proj = nn.Linear(d, d, dtype=dtype)


class _Block(nn.Module):
    def __init__(self, config, dtype):
        super().__init__()
        d, f = config.d_model, config.d_ff
        self.attn = _Attention(d, dtype)
        self.fc1 = nn.Linear(d, f, dtype=dtype)
        self.fc2 = nn.Linear(f, d, dtype=dtype)
        if config.norm != "none":  # parameter holders; the math is layer_norm above
            self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps, dtype=dtype)
            self.norm2 = nn.LayerNorm(d, eps=config.layer_norm_eps, dtype=dtype)


def stream_input(params, x, config):
    """The residual stream entering block 0: ``embed(x) + positions``, x (T, B, I) -> (T, B, D)."""
    validation.check_length(x.shape[0], config)
    h = linear(params["embed"], x)
    pe = positional_encoding(params.get("pos"), x.shape[0], config, h.dtype)
    return h if pe is None else h + pe.to(h.device)[:, None, :]


class Transformer(nn.Module):
    """Transformer encoder: embed -> + positions -> blocks -> [final LN] -> [head].

    ``forward(x) -> SequenceOutput(y, hidden, None)`` with x ``(T, B, I)``, y
    ``(T, B, O)`` (``(T, B, D)`` without a head) and hidden ``(L+1, T, B, D)``: the
    residual stream entering block 0 and leaving each block (before the final LN).
    Dropout is active in train mode (``module.train()``, torch's default).
    Parameters are placeholders until loaded: use :func:`rnnflow.torch.build`.
    """

    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = nn.Linear(config.input_size, d, dtype=dtype)
        self.pos = (nn.Embedding(config.max_len, d, dtype=dtype)
                    if config.positional == "learned" else None)
        self.layers = nn.ModuleList(_Block(config, dtype) for _ in range(config.num_layers))
        self.final_norm = (nn.LayerNorm(d, eps=config.layer_norm_eps, dtype=dtype)
                           if config.final_norm else None)
        self.head = (nn.Linear(d, config.output_size, dtype=dtype)
                     if config.output_size is not None else None)

    @property
    def dtype(self):
        return self.embed.weight.dtype

    batch_axis = 1   # the stack's x_l are (T, B, D)

    def step(self, layer: int, x):
        """Block ``layer`` alone: x (T, B, D) -> (T, B, D) (causal mask from the config)."""
        return transformer_layer(as_tree(self.layers[layer]), x, self.config, train=self.training)

    def blocks(self) -> list:
        """The stack ``x_{l+1} = blocks[l](x_l)``, one callable per block."""
        return [functools.partial(self.step, l) for l in range(self.config.num_layers)]

    def param_blocks(self) -> list:
        """``[(f, p)]`` per block: ``f(p, x) = blocks()[l](x)`` with block ``l``'s parameter tree
        ``p`` an argument (the per-layer parameter gradients of ``gradient_through_depth``)."""
        f = functools.partial(_block_of, config=self.config, train=self.training)
        return [(f, as_tree(self.layers[l])) for l in range(self.config.num_layers)]

    def stack_input(self, x):
        """``x_0``: the residual stream entering block 0 (embedding + positions), (T, B, D)."""
        validation.check_model_input(arrays, x, self.config, self.dtype, rank=3)
        with torch.no_grad():
            return stream_input(self._stream_params(), x, self.config)

    def _stream_params(self) -> dict:
        return {"embed": as_tree(self.embed), **({} if self.pos is None else {"pos": as_tree(self.pos)})}

    def readout(self, h):
        """The final LayerNorm (if any) and the head on the stream leaving the last block."""
        if self.final_norm is not None:
            h = layer_norm(as_tree(self.final_norm), h, self.config.layer_norm_eps)
        return linear(as_tree(self.head), h) if self.head is not None else h

    def forward(self, x, *, validate: bool = True) -> SequenceOutput:
        cfg = self.config
        if validate:
            validation.check_model_input(arrays, x, cfg, self.dtype, rank=3)
        T = x.shape[0]
        h = stream_input(self._stream_params(), x, cfg)  # (T, B, D)
        mask = causal_mask(T).to(h.device) if cfg.causal else None
        hs = [h]
        for layer in self.layers:
            h = transformer_layer(as_tree(layer), h, cfg, mask=mask, train=self.training)
            hs.append(h)
        return SequenceOutput(self.readout(h), torch.stack(hs), None)


def _block_of(p, x, *, config, train: bool):
    return transformer_layer(p, x, config, train=train)
