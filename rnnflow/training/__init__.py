"""Training, shared by both backends (framework-free): config, records, results folder,
the step loop, gradient-monitor storage and ready-made data functions.

The trainer is :func:`train` (also :func:`rnnflow.train`), which takes the backend by
name; a backend supplies only its ``Stepper`` (``rnnflow/{torch,jax}/trainer.py``) and its
``GradientMonitor`` (:class:`rnnflow.torch.GradientMonitor`, :class:`rnnflow.jax.GradientMonitor`,
one contract: :class:`~rnnflow.training.monitor.GradientMonitorBase`), whose optional spectrum
record (:mod:`rnnflow.training.spectrum`) follows the eigenvalues and Lyapunov exponents.
"""
from __future__ import annotations

from .config import (
    CLIP_MODES as CLIP_MODES, LOSSES as LOSSES, NONFINITE_POLICIES as NONFINITE_POLICIES,
    OPTIMIZERS as OPTIMIZERS, TrainConfig as TrainConfig,
)
from .data import adding_data as adding_data, copy_data as copy_data, digits_data as digits_data
from .loop import check_batch as check_batch, data_rng as data_rng, train as train, trainable_keys as trainable_keys
from .monitor import (
    GradientHistory as GradientHistory, GradientRecorder as GradientRecorder, GradientStats as GradientStats,
)
from .spectrum import (
    SpectrumHistory as SpectrumHistory, SpectrumRecorder as SpectrumRecorder, SpectrumSettings as SpectrumSettings,
    probe_inputs as probe_inputs,
)
from .records import Metrics as Metrics, NonFiniteEvent as NonFiniteEvent, TrainResult as TrainResult
from .results import (
    CheckpointError as CheckpointError, ForeignCheckpointError as ForeignCheckpointError,
    ResultsDir as ResultsDir, config_from_dict as config_from_dict, config_to_dict as config_to_dict,
    load_result as load_result,
)

__all__ = [
    "TrainConfig", "OPTIMIZERS", "CLIP_MODES", "LOSSES", "NONFINITE_POLICIES",
    "Metrics", "NonFiniteEvent", "TrainResult", "GradientHistory", "GradientRecorder", "GradientStats",
    "SpectrumSettings", "SpectrumHistory", "SpectrumRecorder", "probe_inputs",
    "ResultsDir", "load_result", "config_to_dict", "config_from_dict", "CheckpointError", "ForeignCheckpointError",
    "train", "check_batch", "data_rng", "trainable_keys", "adding_data", "copy_data", "digits_data",
]
