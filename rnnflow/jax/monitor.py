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

``grads`` is any pytree: an rnnflow schema dict (nested or flat; names are the flat
schema keys, ``"layers.0.weight_hh"``, the torch monitor's names, listed in schema order),
a flax NNX ``State`` from ``nnx.grad`` (names are its paths, ``"blocks.0.attn.kernel"``;
flax is imported only when one is passed), or any other (dict keys, attribute names and
sequence indices joined with ``"."``, numbers sorted numerically). Each gradient is reduced
to ``(sum, L2 norm)`` on its device by one jitted call; only those numbers are
transferred. JAX arrays are immutable, so keeping the last gradients for the epoch's
histogram costs no copy.

Inside a jitted train step, :func:`gradient_stats` computes the same numbers (and with
``edges``, the histogram counts) as a pytree the step returns::

    monitor = GradientMonitor(bin_range=(-1e-2, 1e-2))
    edges = monitor.edges                        # fixed (bins + 1,) edges

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        ...
        return params, opt_state, loss, gradient_stats(grads, edges=edges)

    params, opt_state, loss, stats = step(params, opt_state, x, y)
    monitor.record_stats(stats, loss=loss)       # one transfer, no sync per parameter
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..training.monitor import GradientMonitorBase, GradientStats, assemble_stats, named_gradients, path_name

jax.tree_util.register_dataclass(GradientStats, data_fields=list(GradientStats.DATA),
                                 meta_fields=list(GradientStats.META))


def _part(key):
    """One pytree path entry as a name part (DictKey, GetAttrKey, SequenceKey, ...)."""
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return getattr(key, attr)
    return str(key)


def named_leaves(grads) -> dict:
    """``{name: array}`` of a gradient pytree; a flax NNX ``State`` by its own paths
    (without the Variables' ``.value``)."""
    if type(grads).__module__.startswith("flax."):
        from flax import nnx  # optional: only for NNX gradients
        if isinstance(grads, nnx.State):
            return named_gradients({path_name(p): v.get_value() for p, v in nnx.to_flat_state(grads)}, grads)
    leaves = jax.tree_util.tree_flatten_with_path(grads)[0]
    return named_gradients({path_name(_part(k) for k in p): g for p, g in leaves}, grads)


def _counts(g, edges):
    """Entries of ``g`` per bin of ``edges`` (K+1,) as ``np.histogram`` bins them (the last
    bin closed), and the finite ones below / above, and the non-finite ones: (K,), 3 x ()."""
    v = jnp.ravel(g)
    edges = jnp.asarray(edges, dtype=g.dtype)
    finite = jnp.isfinite(v)
    lo, hi = edges[0], edges[-1]
    inside = finite & (v >= lo) & (v <= hi)
    k = jnp.clip(jnp.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    hist = jnp.bincount(jnp.where(inside, k, len(edges) - 1), length=len(edges))[:-1]
    return hist, jnp.sum(finite & (v < lo)), jnp.sum(finite & (v > hi)), jnp.sum(~finite)


def gradient_stats(grads, *, edges=None) -> GradientStats:
    """Per parameter: sum, L2 norm and entry count of the gradient pytree ``grads``, as a
    :class:`~rnnflow.training.monitor.GradientStats` pytree of arrays: pure, so it runs
    inside ``jax.jit``; with ``edges`` (K+1,) (``monitor.edges``) also histogram counts.
    For :meth:`GradientMonitor.record_stats`."""
    named = named_leaves(grads)
    sums = jnp.stack([jnp.sum(g) for g in named.values()])
    norms = jnp.stack([jnp.linalg.norm(jnp.ravel(g)) for g in named.values()])
    return assemble_stats(named, sums, norms, edges, _counts, jnp.stack)


_grad_stats = jax.jit(lambda leaves: (jnp.stack([jnp.sum(g) for g in leaves]),
                                      jnp.stack([jnp.linalg.norm(g.ravel()) for g in leaves])))


class GradientMonitor(GradientMonitorBase):
    """Per-group gradient statistics from gradient pytrees.

    Args: ``bins, bin_range, hist_every, by, params, spectrum`` as :class:`rnnflow.torch.GradientMonitor`
    (see :class:`~rnnflow.training.monitor.GradientMonitorBase`).
    """

    natural_order = True   # dict keys come sorted from a pytree: sort numbers numerically
    backend = "jax"

    def record(self, grads=None, *, loss=None) -> None:
        """Record one iteration's gradients: any pytree (a schema dict, nested or flat, a
        flax ``nnx.State``, ...); BatchNorm running-stat entries are ignored. ``grads`` is
        required."""
        if grads is None:
            raise TypeError("the JAX GradientMonitor.record needs grads, this iteration's gradient "
                            "pytree (JAX has no hooks to capture them)")
        keys, leaves = self._watched(grads)
        if any(isinstance(g, jax.core.Tracer) for g in leaves):
            raise TypeError("GradientMonitor.record(grads) was called inside a traced (jitted) function; it "
                            "records on the host: return gradient_stats(grads, edges=monitor.edges) from the "
                            "jitted step and call monitor.record_stats(stats, loss=loss) outside")
        sums, norms = jax.device_get(_grad_stats(leaves))
        self._add(sums, norms, leaves, loss)
        if self.recorder.wants_histogram():
            self._last = dict(zip(keys, leaves))

    def _histogram_gradients(self):
        return None if self._last is None else {k: np.asarray(v) for k, v in self._last.items()}

    def _named(self, grads) -> dict:
        return named_leaves(grads)

    def _host(self, arrays: list) -> list:
        return jax.device_get(arrays)
