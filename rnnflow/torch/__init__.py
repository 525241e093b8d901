"""PyTorch backend: ``torch.nn.Module`` models over rnnflow's parameter schema.

Mirrors :mod:`rnnflow.jax` file for file and function for function.
"""
try:
    import torch as _torch  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised only without torch
    from .._backend import missing
    raise missing("torch", _exc) from None

from . import adapters as adapters, arrays as arrays, jacobians as jacobians
from .activations import get_activation as get_activation
from .build import build as build, export_params as export_params, load_params as load_params, to_backend as to_backend
from .monitor import GradientMonitor as GradientMonitor, gradient_stats as gradient_stats
from .trainer import Stepper as Stepper
from .mlp import MLP as MLP
from .rnn import (
    RecurrentNet as RecurrentNet, gru_step as gru_step, lstm_step as lstm_step, rnn_step as rnn_step,
)
from .transformer import Transformer as Transformer, transformer_layer as transformer_layer
from .ssm import SelectiveSSM as SelectiveSSM, ssm_step as ssm_step
from .diagonal import DiagonalNet as DiagonalNet, linear_scan as linear_scan

__all__ = [
    "Stepper", "GradientMonitor", "gradient_stats", "build", "export_params", "load_params", "to_backend", "get_activation",
    "RecurrentNet", "rnn_step", "lstm_step", "gru_step", "Transformer", "transformer_layer", "MLP",
    "SelectiveSSM", "ssm_step",
    "DiagonalNet", "linear_scan",
]
