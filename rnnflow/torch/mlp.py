"""Deep MLP in torch: BatchNorm, PReLU, one-hidden-layer function and the model.

Layout: inputs ``(B, I)``, hidden ``(B, W)``. :func:`mlp_layer` takes one hidden
layer's parameter dict (schema names) and is the "step" the analyzers
differentiate, ``h_l -> h_{l+1}``. BatchNorm follows ``nn.BatchNorm1d`` exactly and
is written out so that :mod:`rnnflow.jax.mlp` is the same computation line for line.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from .. import validation
from ..activations import PRELU_INIT
from ..types import MLPOutput
from . import arrays
from .activations import get_activation
from .transformer import as_tree, dropout, linear


def prelu(z, weight):
    """``max(0, z) + a * min(0, z)`` with a learned slope ``a`` (weight, shape (1,))."""
    return torch.where(z > 0, z, weight * z)


def batch_norm(p, z, *, train: bool, momentum: float, eps: float):
    """BatchNorm over the batch dim, as ``nn.BatchNorm1d``; z (B, W) -> ``(out, stats)``.

    train: normalise with the batch mean and biased variance, and return updated
    running stats ``r' = (1 - m) r + m s`` (m = momentum; the variance uses the
    unbiased batch variance). eval: normalise with the running stats (returned as is).
    """
    if train:
        n = z.shape[0]
        mean = z.mean(0)
        var = ((z - mean) ** 2).mean(0)
        with torch.no_grad():
            stats = {"running_mean": (1 - momentum) * p["running_mean"] + momentum * mean,
                     "running_var": (1 - momentum) * p["running_var"] + momentum * var * (n / (n - 1))}
    else:
        mean, var = p["running_mean"], p["running_var"]
        stats = {"running_mean": mean, "running_var": var}
    return (z - mean) / torch.sqrt(var + eps) * p["weight"] + p["bias"], stats


def mlp_layer(p, h, config, layer: int, *, train: bool = True):
    """Hidden layer ``layer`` (schema names in ``p``); h (B, I_l) -> ``(h', bn_stats)``.

    ``z = W h + b; z = BN(z) if batchnorm; a = dropout(phi(z)); h' = h + a`` if
    residual and layer > 0, else ``h' = a``. ``bn_stats`` is the layer's updated
    ``{"running_mean", "running_var"}`` (None without BatchNorm).
    """
    validation.check_batchnorm_batch(h.shape[0], config, train)
    z = linear(p["linear"], h)  # (B, W)
    stats = None
    if config.batchnorm:
        z, stats = batch_norm(p["bn"], z, train=train, momentum=config.bn_momentum, eps=config.bn_eps)
    a = prelu(z, p["prelu"]["weight"]) if config.activation == "prelu" else get_activation(config.activation)(z)
    a = dropout(a, config.dropout, train)
    return (h + a if config.residual and layer > 0 else a), stats


# ---------------------------------------------------------------- module
class _BatchNorm(nn.Module):
    """Holds BatchNorm's parameters and running stats under the schema names."""

    def __init__(self, w: int, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(w, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(w, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(w, dtype=dtype))
        self.register_buffer("running_var", torch.ones(w, dtype=dtype))


class _PReLU(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.full((1,), PRELU_INIT, dtype=dtype))


class _Layer(nn.Module):
    def __init__(self, in_f: int, config, dtype):
        super().__init__()
        self.linear = nn.Linear(in_f, config.width, dtype=dtype)
        if config.batchnorm:
            self.bn = _BatchNorm(config.width, dtype)
        if config.activation == "prelu":
            self.prelu = _PReLU(dtype)


class MLP(nn.Module):
    """Deep MLP: ``depth`` hidden layers (:func:`mlp_layer`) and a linear head.

    ``forward(x) -> MLPOutput(y, hidden, bn_stats)`` with x ``(B, I)``, y ``(B, O)``,
    hidden ``(L, B, W)`` and ``bn_stats`` the running stats after the call (None
    without BatchNorm). In train mode (torch's default) BatchNorm uses batch
    statistics and updates its buffers in place, and dropout is active.
    Parameters are placeholders until loaded: use :func:`rnnflow.torch.build`.
    """

    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(
            _Layer(config.input_size if l == 0 else config.width, config, dtype) for l in range(config.depth))
        self.head = nn.Linear(config.width, config.output_size, dtype=dtype)

    @property
    def dtype(self):
        return self.head.weight.dtype

    batch_axis = 0   # the stack's x_l are (B, W)

    def step(self, layer: int, h):
        """Hidden layer ``layer`` alone: h (B, I_l) -> (B, W); leaves the running stats alone."""
        return mlp_layer(as_tree(self.layers[layer]), h, self.config, layer, train=self.training)[0]

    def blocks(self) -> list:
        """The stack ``x_{l+1} = blocks[l](x_l)``, one callable per hidden layer."""
        return [functools.partial(self.step, l) for l in range(self.config.depth)]

    def param_blocks(self) -> list:
        """``[(f, p)]`` per hidden layer: ``f(p, h) = blocks()[l](h)`` with layer ``l``'s parameter
        tree ``p`` an argument (the per-layer parameter gradients of ``gradient_through_depth``)."""
        return [(functools.partial(_layer_of, config=self.config, layer=l, train=self.training),
                 as_tree(self.layers[l])) for l in range(self.config.depth)]

    def stack_input(self, x):
        """``x_0``: the input itself, (B, I)."""
        return x

    def readout(self, h):
        """The linear head on the last hidden layer's output, (B, W) -> (B, O)."""
        return linear(as_tree(self.head), h)

    def forward(self, x, *, validate: bool = True) -> MLPOutput:
        cfg = self.config
        if validate:
            validation.check_model_input(arrays, x, cfg, self.dtype, rank=2)
        h, hs = x, []
        for l, layer in enumerate(self.layers):
            h, stats = mlp_layer(as_tree(layer), h, cfg, l, train=self.training)
            if cfg.batchnorm and self.training:
                with torch.no_grad():
                    for name, value in stats.items():
                        getattr(layer.bn, name).copy_(value)
            hs.append(h)
        y = self.readout(h)
        bn_stats = ([{name: getattr(layer.bn, name).detach().clone() for name in ("running_mean", "running_var")}
                     for layer in self.layers] if cfg.batchnorm else None)
        return MLPOutput(y, torch.stack(hs), bn_stats)


def _layer_of(p, h, *, config, layer: int, train: bool):
    return mlp_layer(p, h, config, layer, train=train)[0]
