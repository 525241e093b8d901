"""rnnflow: make vanishing and exploding gradients visible, measurable and fixable.

The core (configs, parameter schema, initialisers, NumPy math) imports neither
torch nor jax; the backends live in :mod:`rnnflow.torch` and :mod:`rnnflow.jax`
and are imported lazily by :func:`build`.
"""
from __future__ import annotations

from .config import (
    GRUConfig as GRUConfig, Init as Init, LSTMConfig as LSTMConfig, MLPConfig as MLPConfig,
    RNNConfig as RNNConfig, TransformerConfig as TransformerConfig,
)
from .params import check_params as check_params, flatten as flatten, init_params as init_params, param_shapes as param_shapes, unflatten as unflatten
from .training import (
    GradientHistory as GradientHistory, TrainConfig as TrainConfig, TrainResult as TrainResult,
    load_result as load_result, train as train,
)
from .types import MLPOutput as MLPOutput, SequenceOutput as SequenceOutput

__version__ = "0.1.0"


def build(config, params=None, *, backend: str, seed: int = 0, dtype=None):
    """Build a model for ``config`` in ``backend`` (``"torch"`` or ``"jax"``).

    ``params`` is a NumPy schema dict (default: ``init_params(config, seed)``);
    the same dict gives the same model in both backends.
    """
    from ._backend import load
    return load(backend).build(config, params, seed=seed, dtype=dtype)


def export_params(model, backend: str | None = None):
    """A model's parameters as a NumPy schema dict (backend detected from the model)."""
    from ._backend import detect, load
    return load(backend or detect(model)).export_params(model)
