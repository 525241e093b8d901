"""Gradient monitor for your own JAX training loop (you hand it the gradient pytree).

Mirrors :mod:`rnnflow.torch.monitor`; both store into the framework-free
:class:`rnnflow.training.monitor.GradientRecorder`::

    monitor = GradientMonitor(bins=30)
    for epoch in range(E):
        for x, y in batches:
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            monitor.record(grads, loss=loss)           # per-layer mean / norm, loss
            params, state = update(params, state, grads)
        monitor.epoch_end()                            # histograms of the last gradients
    monitor.history()   # -> GradientHistory (arrays); monitor.save(dir) -> npz + tidy CSVs

Groups are the flat schema keys of the pytree (``"layers.0.weight_hh"``), the same
names as the torch monitor's, in schema order (input to output), not the sorted order
JAX gives dicts. Each gradient is reduced to ``(sum, L2 norm)`` on its
device by one jitted call; only those numbers are transferred. JAX arrays are
immutable, so keeping the last gradients for the epoch's histogram costs no copy.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..params import flatten
from ..training.monitor import GradientHistory, GradientRecorder, schema_order


@jax.jit
def _grad_stats(leaves):
    """Per leaf: sum and L2 norm, as two (P,) arrays."""
    return (jnp.stack([jnp.sum(g) for g in leaves]),
            jnp.stack([jnp.linalg.norm(g.ravel()) for g in leaves]))


class GradientMonitor:
    """Per-group gradient statistics from gradient pytrees.

    Args:
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
        self._last = None

    def record(self, grads, loss=None) -> None:
        """Record one iteration's gradients: a pytree in the rnnflow schema (nested or
        flat dict); BatchNorm running-stat entries are ignored."""
        flat = flatten(grads)
        if self.recorder.keys is None:
            self.recorder.bind(self.recorder.select(schema_order(flat)))
        keys = self.recorder.keys
        missing = [k for k in keys if k not in flat]
        if missing:
            raise ValueError(f"grads lack {missing[0]!r}, which this monitor records")
        leaves = [flat[k] for k in keys]
        sums, norms = jax.device_get(_grad_stats(leaves))
        counts = np.array([np.size(g) for g in leaves], np.float64)
        self.recorder.add_iteration(sums, norms, counts, None if loss is None else float(loss))
        if self.recorder.wants_histogram():
            self._last = dict(zip(keys, leaves))

    def epoch_end(self) -> None:
        """Close the epoch: histograms of the last recorded gradients, if scheduled."""
        grads = None if self._last is None else {k: np.asarray(v) for k, v in self._last.items()}
        self.recorder.end_epoch(grads)
        self._last = None

    def history(self) -> GradientHistory:
        return self.recorder.history()

    def save(self, directory) -> dict[str, str]:
        """Write ``gradients.npz`` and the tidy CSVs into ``directory``."""
        return self.history().save(directory)
