"""JAX backend: pure functions over parameter pytrees (the rnnflow schema dict).

Why pure functions rather than flax NNX modules: the parameter schema already
*is* a pytree, so ``jax.grad``/``jacrev``/``vmap``/``lax.scan`` apply to the
model with no split/merge step, and the step functions the analyzers
differentiate are plain ``f(params, state, x)``. Thin final classes
(``RecurrentNet``, ``Transformer``, ``MLP``) hold ``(config, params)`` so code
reads the same as in :mod:`rnnflow.torch`, which this package mirrors file for
file and function for function.
"""
try:
    import jax as _jax  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised only without jax
    from .._backend import missing
    raise missing("jax", _exc) from None

from . import adapters as adapters, arrays as arrays, jacobians as jacobians
from .activations import get_activation as get_activation
from .build import build as build, export_params as export_params, load_params as load_params, to_backend as to_backend
from .monitor import GradientMonitor as GradientMonitor, gradient_stats as gradient_stats
from .trainer import Stepper as Stepper
from .mlp import MLP as MLP, mlp_forward as mlp_forward
from .rnn import (
    RecurrentNet as RecurrentNet, gru_step as gru_step, lstm_step as lstm_step,
    recurrent_forward as recurrent_forward, rnn_step as rnn_step,
)
from .transformer import Transformer as Transformer, transformer_forward as transformer_forward, transformer_layer as transformer_layer
from .ssm import SelectiveSSM as SelectiveSSM, ssm_forward as ssm_forward, ssm_step as ssm_step
from .diagonal import DiagonalNet as DiagonalNet, diagonal_forward as diagonal_forward, linear_scan as linear_scan

__all__ = [
    "Stepper", "GradientMonitor", "gradient_stats", "build", "export_params", "load_params", "to_backend", "get_activation",
    "RecurrentNet", "recurrent_forward", "rnn_step", "lstm_step", "gru_step",
    "Transformer", "transformer_forward", "transformer_layer", "MLP", "mlp_forward",
    "SelectiveSSM", "ssm_forward", "ssm_step",
    "DiagonalNet", "diagonal_forward", "linear_scan",
]
