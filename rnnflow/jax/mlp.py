"""Deep MLP in JAX: BatchNorm, PReLU, one-hidden-layer function and the model.

Layout: inputs ``(B, I)``, hidden ``(B, W)``. :func:`mlp_layer` takes one hidden
layer's parameter dict (schema names) and is the "step" the analyzers
differentiate, ``h_l -> h_{l+1}``. Line for line the same computation as
:mod:`rnnflow.torch.mlp`; being pure, the functions return the updated BatchNorm
running stats instead of storing them.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation
from ..types import MLPOutput
from . import arrays
from .activations import get_activation
from .transformer import dropout, linear


def prelu(z, weight):
    """``max(0, z) + a * min(0, z)`` with a learned slope ``a`` (weight, shape (1,))."""
    return jnp.where(z > 0, z, weight * z)


def batch_norm(p, z, *, train: bool, momentum: float, eps: float):
    """BatchNorm over the batch dim, as ``torch.nn.BatchNorm1d``; z (B, W) -> ``(out, stats)``.

    train: normalise with the batch mean and biased variance, and return updated
    running stats ``r' = (1 - m) r + m s`` (m = momentum; the variance uses the
    unbiased batch variance). eval: normalise with the running stats (returned as is).
    Running stats are buffers, not trained: no gradient flows into or out of them.
    """
    if train:
        n = z.shape[0]
        mean = z.mean(0)
        var = ((z - mean) ** 2).mean(0)
        stats = jax.lax.stop_gradient(
            {"running_mean": (1 - momentum) * p["running_mean"] + momentum * mean,
             "running_var": (1 - momentum) * p["running_var"] + momentum * var * (n / (n - 1))})
    else:
        stats = jax.lax.stop_gradient({"running_mean": p["running_mean"], "running_var": p["running_var"]})
        mean, var = stats["running_mean"], stats["running_var"]
    return (z - mean) / jnp.sqrt(var + eps) * p["weight"] + p["bias"], stats


def mlp_layer(p, h, config, layer: int, *, train: bool = True, key=None):
    """Hidden layer ``layer`` (schema names in ``p``); h (B, I_l) -> ``(h', bn_stats)``.

    ``z = W h + b; z = BN(z) if batchnorm; a = dropout(phi(z)); h' = h + a`` if
    residual and layer > 0, else ``h' = a``. ``bn_stats`` is the layer's updated
    ``{"running_mean", "running_var"}`` (None without BatchNorm). ``key`` is
    required when ``train`` and dropout > 0.
    """
    validation.check_batchnorm_batch(h.shape[0], config, train)
    validation.check_dropout_key(config, train, key)
    z = linear(p["linear"], h)  # (B, W)
    stats = None
    if config.batchnorm:
        z, stats = batch_norm(p["bn"], z, train=train, momentum=config.bn_momentum, eps=config.bn_eps)
    a = prelu(z, p["prelu"]["weight"]) if config.activation == "prelu" else get_activation(config.activation)(z)
    a = dropout(a, config.dropout, train, key)
    return (h + a if config.residual and layer > 0 else a), stats


# ---------------------------------------------------------------- whole network
@partial(jax.jit, static_argnames=("config", "train"))
def mlp_forward(params, x, config, *, train: bool = True, key=None) -> MLPOutput:
    """All hidden layers and the head; x (B, I) -> ``MLPOutput(y, hidden, bn_stats)``.

    y ``(B, O)``, hidden ``(L, B, W)``, ``bn_stats`` the per-layer running stats
    after this call (updated in train mode; None without BatchNorm). Pure: the
    caller decides whether to keep the new stats (:class:`MLP` does).
    """
    validation.check_batchnorm_batch(x.shape[0], config, train)
    validation.check_dropout_key(config, train, key)
    keys = jax.random.split(key, config.depth) if validation.needs_dropout_key(config, train) else [None] * config.depth
    h, hs, bn_stats = x, [], []
    for l, (p, k) in enumerate(zip(params["layers"], keys)):
        h, stats = mlp_layer(p, h, config, l, train=train, key=k)
        hs.append(h)
        bn_stats.append(stats)
    y = linear(params["head"], h)
    return MLPOutput(y, jnp.stack(hs), bn_stats if config.batchnorm else None)


@dataclasses.dataclass(eq=False)
class MLP:
    """Deep MLP: ``depth`` hidden layers (:func:`mlp_layer`) and a linear head.

    ``model(x, train=True, key=None) -> MLPOutput(y, hidden, bn_stats)`` with x
    ``(B, I)``. Like a torch module in train mode (the default, as in torch), a
    train-mode call stores the updated BatchNorm running stats in ``model.params``
    (a new pytree; the old one is not mutated). Under a JAX transformation the
    stats are returned but not stored: differentiate
    ``mlp_forward(params, x, config)`` instead. Build with :func:`rnnflow.jax.build`.
    """

    config: Any        # the model's rnnflow config
    params: dict       # the parameter pytree (schema dict of jax arrays)

    @property
    def dtype(self):
        return self.params["head"]["weight"].dtype

    batch_axis = 0   # the stack's x_l are (B, W)

    def step(self, layer: int, h, *, train: bool = True, key=None):
        """Hidden layer ``layer`` alone: h (B, I_l) -> (B, W); leaves the running stats alone."""
        return mlp_layer(self.params["layers"][layer], h, self.config, layer, train=train, key=key)[0]

    def blocks(self) -> list:
        """The stack ``x_{l+1} = blocks[l](x_l)``, one callable per hidden layer."""
        return [partial(self.step, l) for l in range(self.config.depth)]

    def param_blocks(self) -> list:
        """``[(f, p)]`` per hidden layer: ``f(p, h) = blocks()[l](h)`` with layer ``l``'s parameter
        tree ``p`` an argument (the per-layer parameter gradients of ``gradient_through_depth``)."""
        return [(partial(_layer_of, config=self.config, layer=l), self.params["layers"][l])
                for l in range(self.config.depth)]

    def stack_input(self, x):
        """``x_0``: the input itself, (B, I)."""
        return x

    def readout(self, h):
        """The linear head on the last hidden layer's output, (B, W) -> (B, O)."""
        return linear(self.params["head"], h)

    def __call__(self, x, *, validate: bool = True, train: bool = True, key=None) -> MLPOutput:
        if validate:
            validation.check_model_input(arrays, x, self.config, self.dtype, rank=2)
        out = mlp_forward(self.params, x, self.config, train=train, key=key)
        traced = any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(out.bn_stats))
        if train and self.config.batchnorm and not traced:
            self.params = {**self.params, "layers": [
                {**p, "bn": {**p["bn"], **stats}} for p, stats in zip(self.params["layers"], out.bn_stats)]}
        return out


def _layer_of(p, h, *, config, layer: int):
    return mlp_layer(p, h, config, layer, train=True)[0]
