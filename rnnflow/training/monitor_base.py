"""The one contract of both backends' ``GradientMonitor`` (framework-free).

:class:`rnnflow.torch.GradientMonitor` and :class:`rnnflow.jax.GradientMonitor` take the
same settings and have the same methods; they differ only in how gradients reach them
(torch: parameter hooks, or a dict of tensors; JAX: a pytree), which is :meth:`record`.
The numbers go into a :class:`~rnnflow.training.monitor.GradientRecorder`.
"""
from __future__ import annotations

import abc
import math

import numpy as np

from ..params import flatten
from .monitor import GradientHistory, GradientRecorder, schema_order


class GradientMonitorBase(abc.ABC):
    """Per-group gradient statistics: per iteration the mean entry and L2 norm of each
    group's gradient and the loss, per epoch histograms (see :mod:`rnnflow.training.monitor`).

    Args (keyword-only, the same in both backends):
      bins: histogram bins.
      bin_range: None (adaptive: each histogram spans its own min..max) or a fixed
        ``(lo, hi)``; entries outside are counted as below/above.
      hist_every: a histogram at the end of every ``hist_every``-th epoch (0: never).
      by: ``"parameter"`` (a group per parameter, ``"layers.0.weight_hh"``) or
        ``"module"`` (per owning module, ``"layers.0"``).
      params: None (every parameter) or the flat keys to watch (e.g. weights only).
    """

    def __init__(self, *, bins: int = 30, bin_range=None, hist_every: int = 1,
                 by: str = "parameter", params=None):
        self.recorder = GradientRecorder(bins=bins, bin_range=bin_range, hist_every=hist_every,
                                         by=by, params=params)
        self._last: dict | None = None  # {key: gradient} of the last iteration, for a histogram

    @abc.abstractmethod
    def record(self, grads=None, *, loss=None) -> None:
        """Record one iteration: ``grads`` (a schema dict, nested or flat, of gradient
        arrays; BatchNorm running-stat entries are ignored) and the scalar ``loss``."""

    @abc.abstractmethod
    def _histogram_gradients(self) -> dict | None:
        """``{key: np.ndarray}`` of the last recorded gradients, or None."""

    def _watched(self, grads) -> tuple[tuple[str, ...], list]:
        """The monitored keys (bound on the first call, in schema order) and their gradients."""
        flat = flatten(grads)
        if self.recorder.keys is None:
            self.recorder.bind(self.recorder.select(schema_order(flat)))
        keys = self.recorder.keys
        missing = [k for k in keys if k not in flat]
        if missing:
            raise ValueError(f"grads lack {missing[0]!r}, which this monitor records")
        return keys, [flat[k] for k in keys]

    def _add(self, sums, norms, leaves, loss) -> None:
        counts = np.array([math.prod(g.shape) for g in leaves], np.float64)
        self.recorder.add_iteration(sums, norms, counts, None if loss is None else float(loss))

    def epoch_end(self) -> None:
        """Close the epoch: histograms of the last recorded gradients, if scheduled."""
        self.recorder.end_epoch(self._histogram_gradients())
        self._last = None

    def history(self) -> GradientHistory:
        return self.recorder.history()

    def save(self, directory) -> dict[str, str]:
        """Write ``gradients.npz`` and the tidy CSVs into ``directory``."""
        return self.history().save(directory)
