"""rnnflow: make vanishing and exploding gradients visible, measurable and fixable.

The core (configs, parameter schema, initialisers, NumPy math) imports neither
torch nor jax; the backends live in :mod:`rnnflow.torch` and :mod:`rnnflow.jax`
and are imported lazily (by :func:`build`, :func:`train` and the analyzers) through
:func:`rnnflow._backend.load`, whose error names the pip extra to install.
"""
from __future__ import annotations

from .config import (
    GRUConfig as GRUConfig, Init as Init, LSTMConfig as LSTMConfig, MLPConfig as MLPConfig,
    RNNConfig as RNNConfig, TransformerConfig as TransformerConfig,
)
from .config import SelectiveSSMConfig as SelectiveSSMConfig
from .config import LRUConfig as LRUConfig, MinGRUConfig as MinGRUConfig, MinLSTMConfig as MinLSTMConfig
from .diagnosis import Diagnosis as Diagnosis, diagnose as diagnose
from .models import build as build, export_params as export_params
from .params import check_params as check_params, flatten as flatten, init_params as init_params, param_shapes as param_shapes, unflatten as unflatten
from .training import (
    GradientHistory as GradientHistory, TrainConfig as TrainConfig, TrainResult as TrainResult,
    load_result as load_result, train as train,
)
from .types import (
    MLPOutput as MLPOutput, RecurrentModel as RecurrentModel, SequenceOutput as SequenceOutput,
    StackModel as StackModel,
)

from ._version import __version__ as __version__

