"""Training, shared by both backends (framework-free): config, records, results folder,
the step loop, gradient-monitor storage and ready-made data functions.

The trainers themselves are :func:`rnnflow.torch.train` and :func:`rnnflow.jax.train`
(same signature); the monitors :class:`rnnflow.torch.GradientMonitor` and
:class:`rnnflow.jax.GradientMonitor`.
"""
from __future__ import annotations

from .config import (
    CLIP_MODES as CLIP_MODES, LOSSES as LOSSES, NONFINITE_POLICIES as NONFINITE_POLICIES,
    OPTIMIZERS as OPTIMIZERS, TrainConfig as TrainConfig,
)
from .data import adding_data as adding_data, copy_data as copy_data, digits_data as digits_data
from .loop import check_batch as check_batch, data_rng as data_rng, trainable_keys as trainable_keys
from .monitor import GradientHistory as GradientHistory, GradientRecorder as GradientRecorder
from .records import Metrics as Metrics, NonFiniteEvent as NonFiniteEvent, TrainResult as TrainResult
from .results import (
    ResultsDir as ResultsDir, config_from_dict as config_from_dict, config_to_dict as config_to_dict,
    load_result as load_result,
)

__all__ = [
    "TrainConfig", "OPTIMIZERS", "CLIP_MODES", "LOSSES", "NONFINITE_POLICIES",
    "Metrics", "NonFiniteEvent", "TrainResult", "GradientHistory", "GradientRecorder",
    "ResultsDir", "load_result", "config_to_dict", "config_from_dict",
    "check_batch", "data_rng", "trainable_keys", "adding_data", "copy_data", "digits_data",
]
