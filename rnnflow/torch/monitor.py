"""Gradient monitor for your own torch training loop (hooks on the parameters).

Mirrors :mod:`rnnflow.jax.monitor`: the same settings and methods
(:class:`rnnflow.training.monitor.GradientMonitorBase`); ``module`` is torch's own
first argument, since only torch can hook a model::

    monitor = GradientMonitor(model, bins=30)          # hooks every trainable parameter
    for epoch in range(E):
        for x, y in batches:
            loss = loss_fn(model(x), y); loss.backward()
            monitor.record(loss=loss)                  # per-layer mean / norm, loss
            clip(...); opt.step(); opt.zero_grad()
        monitor.epoch_end()                            # histograms of the last gradients
    monitor.history()   # -> GradientHistory (arrays); monitor.save(dir) -> npz + tidy CSVs

The hook (``register_post_accumulate_grad_hook``) reads each gradient as soon as
backward has accumulated it, so what is recorded is the raw gradient even if the
loop clips in place before :meth:`~GradientMonitor.record`. It reduces the gradient to
``(sum, L2 norm)`` on its device; ``record`` moves those 2 numbers per parameter in one
transfer. Only in an epoch that ends with a histogram does the hook also keep a
copy of the gradient. Parameters with ``requires_grad=False`` (frozen) have no gradient
and are not watched. Group names are ``named_parameters()`` names, in that order (the
rnnflow models' are the schema keys).

In a compiled step (or to batch the reductions yourself), :func:`gradient_stats` reduces a
``{name: gradient}`` dict on the device and :meth:`~GradientMonitor.record_stats` records it::

    stats = gradient_stats({k: p.grad for k, p in model.named_parameters()}, edges=monitor.edges)
    monitor.record_stats(stats, loss=loss)     # with a fixed bin_range, histograms included
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from ..params import flatten
from ..training.monitor import GradientMonitorBase, GradientStats, assemble_stats, named_gradients


def _stats(g: torch.Tensor) -> torch.Tensor:
    """(2,) sum and L2 norm of a gradient, on its device."""
    return torch.stack([g.sum(), torch.linalg.vector_norm(g)])


def named_leaves(grads) -> dict:
    """``{name: tensor}`` of a dict (flat ``named_parameters()`` names or nested dicts /
    lists) of gradients; ``None`` entries (frozen parameters) are dropped."""
    return named_gradients(flatten(grads), grads)


def _counts(g: torch.Tensor, edges: np.ndarray):
    """Entries of ``g`` per bin of ``edges`` (K+1,) as ``np.histogram`` bins them (the last
    bin closed), and the finite ones below / above, and the non-finite ones: (K,), 3 x ()."""
    v = g.reshape(-1)
    edges = torch.as_tensor(edges, dtype=g.dtype, device=g.device)
    finite = torch.isfinite(v)
    lo, hi = edges[0], edges[-1]
    inside = finite & (v >= lo) & (v <= hi)
    k = (torch.searchsorted(edges, v.contiguous(), right=True) - 1).clamp(0, len(edges) - 2)
    hist = torch.bincount(torch.where(inside, k, len(edges) - 1), minlength=len(edges))[:-1]
    return hist, (finite & (v < lo)).sum(), (finite & (v > hi)).sum(), (~finite).sum()


def gradient_stats(grads, *, edges=None) -> GradientStats:
    """Per parameter: sum, L2 norm and entry count of ``grads`` (a ``{name: gradient}`` dict,
    flat or nested) as a :class:`~rnnflow.training.monitor.GradientStats` of tensors on their
    device (no host sync); with ``edges`` (K+1,) (``monitor.edges``) also histogram counts.
    For :meth:`GradientMonitor.record_stats`."""
    named = {k: g.detach() for k, g in named_leaves(grads).items()}
    s = torch.stack([_stats(g) for g in named.values()])                          # (P, 2)
    return assemble_stats(named, s[:, 0], s[:, 1], edges, _counts, torch.stack)


class GradientMonitor(GradientMonitorBase):
    """Per-group gradient statistics of a ``torch.nn.Module`` via parameter hooks.

    Args:
      module: the model to watch, or None to :meth:`attach` later (``rnnflow.train``
        attaches its own model), or to pass the gradients to :meth:`record` yourself.
      bins, bin_range, hist_every, by, params, spectrum: as :class:`rnnflow.jax.GradientMonitor`
        (see :class:`~rnnflow.training.monitor.GradientMonitorBase`).
    """

    backend = "torch"

    def __init__(self, module=None, *, bins: int = 30, bin_range=None, hist_every: int = 1,
                 by: str = "parameter", params=None, spectrum=None):
        super().__init__(bins=bins, bin_range=bin_range, hist_every=hist_every, by=by, params=params,
                         spectrum=spectrum)
        self.module = None
        self._handles: list = []
        self._hooked: list[torch.Tensor] = []        # the watched parameters, in key order
        self._stats: dict[str, torch.Tensor] = {}    # key -> (sum, norm) from the hooks
        if module is not None:
            self.attach(module)

    def attach(self, module) -> None:
        """Register a gradient hook on every watched parameter of ``module`` (those with
        ``requires_grad``)."""
        if self.module is module:
            return
        if self.module is not None:
            raise ValueError("this GradientMonitor is attached to another module: call remove() first")
        named = dict(module.named_parameters())
        frozen = [k for k, p in named.items() if not p.requires_grad]
        asked = self.recorder.params or ()
        if any(k in frozen for k in asked):
            bad = next(k for k in asked if k in frozen)
            raise ValueError(f"GradientMonitor.params={list(asked)} is invalid: {bad!r} has requires_grad=False "
                             "(frozen), so it has no gradient to record; leave it out")
        keys = self.recorder.select([k for k in named if k not in frozen])
        self.recorder.bind(keys)
        self._hooked = [named[k] for k in keys]
        self._handles = [named[k].register_post_accumulate_grad_hook(partial(self._hook, k)) for k in keys]
        self.module = module

    def remove(self) -> None:
        """Remove the hooks (the records stay)."""
        for h in self._handles:
            h.remove()
        self._handles, self._hooked, self.module = [], [], None

    def _hook(self, key: str, param) -> None:
        g = param.grad.detach()
        self._stats[key] = _stats(g)
        if self.recorder.wants_histogram():
            if self._last is None:
                self._last = {}
            self._last[key] = g.clone()

    def record(self, grads=None, *, loss=None) -> None:
        """Record this iteration (call after backward).

        ``grads=None``: the gradients the hooks captured (needs :meth:`attach`); a watched
        parameter whose hook did not fire (no gradient) counts as a zero gradient. Or
        ``grads``: this iteration's gradients as a schema dict (nested or flat) of tensors,
        as :meth:`rnnflow.jax.GradientMonitor.record` takes them.
        """
        if grads is None:
            if self.module is None:
                raise RuntimeError("GradientMonitor.record() without grads before attach(module): "
                                   "attach the model, or pass grads={key: gradient}")
            keys, leaves = self.recorder.keys, self._hooked
            stats = self._stats
        else:
            keys, leaves = self._watched(grads)
            leaves = [g.detach() for g in leaves]
            stats = {k: _stats(g) for k, g in zip(keys, leaves)}
            if self.recorder.wants_histogram():
                self._last = {k: g.clone() for k, g in zip(keys, leaves)}
        ref = next(iter(stats.values()), None)
        zero = torch.zeros(2, dtype=torch.float64) if ref is None else torch.zeros_like(ref)
        s = torch.stack([stats.get(k, zero) for k in keys]).to(torch.float64).cpu().numpy()
        self._add(s[:, 0], s[:, 1], leaves, loss.detach().item() if torch.is_tensor(loss) else loss)
        self._stats = {}

    def _histogram_gradients(self):
        if not self._last:
            return None
        grads = {k: t.to(torch.float64).cpu().numpy() for k, t in self._last.items()}
        if len(grads) < len(self.recorder.keys):
            grads = {k: grads.get(k, np.zeros(p.numel())) for k, p in zip(self.recorder.keys, self._hooked)}
        return grads

    def _named(self, grads) -> dict:
        return named_leaves(grads)

    def _host(self, arrays: list) -> list:
        return [a.detach().cpu().numpy() if torch.is_tensor(a) else a for a in arrays]
