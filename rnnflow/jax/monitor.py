"""Gradient monitor for your own JAX training loop (you hand it the gradient pytree).

Mirrors :mod:`rnnflow.torch.monitor`: the same settings and methods
(:class:`rnnflow.training.monitor.GradientMonitorBase`); JAX has no hooks, so
:meth:`~GradientMonitor.record` needs the gradients and there is no ``module``::

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

from ..training.monitor import GradientMonitorBase


@jax.jit
def _grad_stats(leaves):
    """Per leaf: sum and L2 norm, as two (P,) arrays."""
    return (jnp.stack([jnp.sum(g) for g in leaves]),
            jnp.stack([jnp.linalg.norm(g.ravel()) for g in leaves]))


class GradientMonitor(GradientMonitorBase):
    """Per-group gradient statistics from gradient pytrees.

    Args: ``bins, bin_range, hist_every, by, params`` as :class:`rnnflow.torch.GradientMonitor`
    (see :class:`~rnnflow.training.monitor.GradientMonitorBase`).
    """

    def record(self, grads=None, *, loss=None) -> None:
        """Record one iteration's gradients: a pytree in the rnnflow schema (nested or
        flat dict); BatchNorm running-stat entries are ignored. ``grads`` is required."""
        if grads is None:
            raise TypeError("the JAX GradientMonitor.record needs grads, this iteration's gradient "
                            "pytree (JAX has no hooks to capture them)")
        keys, leaves = self._watched(grads)
        sums, norms = jax.device_get(_grad_stats(leaves))
        self._add(sums, norms, leaves, loss)
        if self.recorder.wants_histogram():
            self._last = dict(zip(keys, leaves))

    def _histogram_gradients(self):
        return None if self._last is None else {k: np.asarray(v) for k, v in self._last.items()}
