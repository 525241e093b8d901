"""Transformer encoder in JAX: building blocks, one-block function and the stacked model.

Layout: inputs ``(T, B, I)`` (time-major), residual stream ``(T, B, D)``.
:func:`transformer_layer` takes one block's parameter dict (schema names) and is
the "step" the analyzers differentiate, ``x_l -> x_{l+1}``. Line for line the
same computation as :mod:`rnnflow.torch.transformer`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

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
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * p["weight"] + p["bias"]


def dropout(x, rate: float, train: bool, key=None):
    """Inverted dropout (kept values scaled by ``1 / (1 - rate)``); identity unless ``train``."""
    if not train or rate == 0:
        return x
    if key is None:
        raise ValueError(f"dropout={rate} in train mode needs a PRNG key: pass key=jax.random.key(seed) "
                         "(or train=False)")
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def positional_encoding(pos, length: int, config, dtype):
    """(T, D) table added to the embedded input, or None (``positional="none"``).

    ``pos`` is the ``pos`` parameter dict (learned positions) or None.
    """
    if config.positional == "sinusoidal":
        return jnp.asarray(sinusoidal_table(length, config.d_model), dtype=dtype)
    if config.positional == "learned":
        return pos["weight"][:length]
    return None


def causal_mask(length: int):
    """(T, T) bool, True where query t may attend to key s (s <= t)."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))


def attention(p, x, num_heads: int, *, mask=None, rate: float = 0.0, train: bool = False, key=None):
    """Multi-head self-attention; x (T, B, D) -> (T, B, D).

    ``q, k, v = split(x W_in^T + b_in)`` (stacked as in ``nn.MultiheadAttention``); per head
    ``A = softmax(q k^T / sqrt(D / heads))`` over keys, ``out = concat_h(A v) W_out^T + b_out``.
    ``mask`` (T, T) bool: True where query t may attend to key s; every row needs a True.
    Dropout (``rate``, train only, PRNG ``key``) acts on ``A``.
    """
    T, B, D = x.shape
    hd = D // num_heads
    q, k, v = (z.reshape(T, B, num_heads, hd) for z in jnp.split(linear(p["in_proj"], x), 3, axis=-1))
    scores = jnp.einsum("tbhd,sbhd->bhts", q, k) / math.sqrt(hd)  # (B, H, T, T)
    if mask is not None:
        scores = jnp.where(mask, scores, -jnp.inf)
    probs = dropout(jax.nn.softmax(scores, axis=-1), rate, train, key)
    out = jnp.einsum("bhts,sbhd->tbhd", probs, v).reshape(T, B, D)
    return linear(p["out_proj"], out)


# ---------------------------------------------------------------- one block
def transformer_layer(p, x, config, *, mask=None, train: bool = False, key=None):
    """One encoder block (schema names in ``p``); x (T, B, D) -> (T, B, D).

    post: ``x = LN1(x + Attn(x)); x = LN2(x + MLP(x))``
    pre:  ``x = x + Attn(LN1(x)); x = x + MLP(LN2(x))``
    ``residual=False`` drops the ``x +``; ``norm="none"`` drops LN1/LN2.
    ``MLP(x) = fc2(phi(fc1(x)))``. ``mask`` defaults to the causal mask if
    ``config.causal`` (else no mask). Dropout on attention weights and on both
    sublayer outputs when ``train`` (needs ``key`` if ``config.dropout > 0``).
    """
    if mask is None and config.causal:
        mask = causal_mask(x.shape[0])
    rate, phi = config.dropout, get_activation(config.activation)
    validation.check_dropout_key(config, train, key)
    k_probs, k_attn, k_mlp = jax.random.split(key, 3) if validation.needs_dropout_key(config, train) else (None,) * 3

    def attn(z):
        return dropout(attention(p["attn"], z, config.num_heads, mask=mask, rate=rate, train=train,
                                 key=k_probs), rate, train, k_attn)

    def mlp(z):
        return dropout(linear(p["fc2"], phi(linear(p["fc1"], z))), rate, train, k_mlp)

    def ln(name, z):
        return z if config.norm == "none" else layer_norm(p[name], z, config.layer_norm_eps)

    def add(z, f):
        return z + f if config.residual else f

    if config.norm == "pre":
        x = add(x, attn(ln("norm1", x)))
        return add(x, mlp(ln("norm2", x)))
    x = ln("norm1", add(x, attn(x)))  # "post"; ln is the identity for "none"
    return ln("norm2", add(x, mlp(x)))


# ---------------------------------------------------------------- sequence function
def stream_input(params, x, config):
    """The residual stream entering block 0: ``embed(x) + positions``, x (T, B, I) -> (T, B, D)."""
    validation.check_length(x.shape[0], config)
    h = linear(params["embed"], x)
    pe = positional_encoding(params.get("pos"), x.shape[0], config, h.dtype)
    return h if pe is None else h + pe[:, None, :]


@partial(jax.jit, static_argnames=("config", "train"))
def transformer_forward(params, x, config, *, train: bool = False, key=None) -> SequenceOutput:
    """Embed -> + positions -> blocks -> [final LN] -> [head]; x (T, B, I).

    Returns ``SequenceOutput(y, hidden, None)``: y ``(T, B, O)`` (``(T, B, D)`` without a
    head), hidden ``(L+1, T, B, D)``. ``key`` is required when ``train`` and dropout > 0.
    """
    T = x.shape[0]
    validation.check_dropout_key(config, train, key)
    h = stream_input(params, x, config)  # (T, B, D)
    mask = causal_mask(T) if config.causal else None
    # lax.scan over the layers' stacked parameters: one compiled block whatever the depth
    # (a Python loop unrolls L blocks into the program; compile time then grows with L).
    # params["layers"] is a list of per-layer dicts, or one dict of (L, ...) arrays
    # (rnnflow.training.packing, as the trainer passes it).
    layers = params["layers"]
    stacked = layers if isinstance(layers, dict) else jax.tree_util.tree_map(lambda *a: jnp.stack(a), *layers)
    keyed = validation.needs_dropout_key(config, train)
    keys = jax.random.split(key, config.num_layers) if keyed else jnp.zeros((config.num_layers,))

    def block(h, pk):
        p, k = pk
        h = transformer_layer(p, h, config, mask=mask, train=train, key=k if keyed else None)
        return h, h

    h0 = h
    h, hs = jax.lax.scan(block, h0, (stacked, keys))
    hs = jnp.concatenate([h0[None], hs])  # (L+1, T, B, D)
    if config.final_norm:
        h = layer_norm(params["final_norm"], h, config.layer_norm_eps)
    y = linear(params["head"], h) if "head" in params else h
    return SequenceOutput(y, hs, None)


@dataclasses.dataclass(eq=False)
class Transformer:
    """Transformer encoder: embed -> + positions -> blocks -> [final LN] -> [head].

    ``model(x, train=False, key=None) -> SequenceOutput(y, hidden, None)`` with x
    ``(T, B, I)``, y ``(T, B, O)`` (``(T, B, D)`` without a head) and hidden
    ``(L+1, T, B, D)``: the residual stream entering block 0 and leaving each block
    (before the final LN). ``model.params`` is the pytree to differentiate:
    ``transformer_forward(params, x, config)``. Build with :func:`rnnflow.jax.build`.
    """

    config: Any        # the model's rnnflow config
    params: dict       # the parameter pytree (schema dict of jax arrays)

    @property
    def dtype(self):
        return self.params["embed"]["weight"].dtype

    batch_axis = 1   # the stack's x_l are (T, B, D)

    def step(self, layer: int, x, *, train: bool = False, key=None):
        """Block ``layer`` alone: x (T, B, D) -> (T, B, D) (causal mask from the config); in
        eval mode one compiled program shared by every block of this shape (:func:`compiled_block`)."""
        if train:
            return transformer_layer(self.params["layers"][layer], x, self.config, train=True, key=key)
        return compiled_block(self.config)(self.params["layers"][layer], x)

    def blocks(self) -> list:
        """The stack ``x_{l+1} = blocks[l](x_l)``, one callable per block."""
        return [partial(self.step, l) for l in range(self.config.num_layers)]

    def param_blocks(self) -> list:
        """``[(f, p)]`` per block: ``f(p, x) = blocks()[l](x)`` with block ``l``'s parameter tree
        ``p`` an argument (the per-layer parameter gradients of ``gradient_through_depth``)."""
        f = compiled_block(self.config)
        return [(f, self.params["layers"][l]) for l in range(self.config.num_layers)]

    def stack_input(self, x):
        """``x_0``: the residual stream entering block 0 (embedding + positions), (T, B, D);
        eager, so no program is compiled for the whole model."""
        validation.check_model_input(arrays, x, self.config, self.dtype, rank=3)
        return stream_input(self.params, x, self.config)

    def readout(self, h):
        """The final LayerNorm (if any) and the head on the stream leaving the last block."""
        if self.config.final_norm:
            h = layer_norm(self.params["final_norm"], h, self.config.layer_norm_eps)
        return linear(self.params["head"], h) if "head" in self.params else h

    def __call__(self, x, *, validate: bool = True, train: bool = False, key=None) -> SequenceOutput:
        if validate:
            validation.check_model_input(arrays, x, self.config, self.dtype, rank=3)
        return transformer_forward(self.params, x, self.config, train=train, key=key)


def compiled_block(config):
    """``jit(p, x -> transformer_layer(p, x, config))`` in eval mode, one per block shape: the
    analyzers pull back block by block, and eager dispatch of a block's ~100 operations costs
    more than the block's arithmetic. The config's ``num_layers`` does not shape a block, so
    stacks of any depth share the program."""
    return _compiled_block(dataclasses.replace(config, num_layers=1))


@functools.lru_cache(maxsize=64)
def _compiled_block(config):
    return jax.jit(partial(transformer_layer, config=config))
