"""Gradient monitor for your own torch training loop (hooks on the parameters).

Mirrors :mod:`rnnflow.jax.monitor`; both store into the framework-free
:class:`rnnflow.training.monitor.GradientRecorder`::

    monitor = GradientMonitor(model, bins=30)          # hooks every parameter
    for epoch in range(E):
        for x, y in batches:
            loss = loss_fn(model(x), y); loss.backward()
            monitor.step(loss)                         # per-layer mean / norm, loss
            clip(...); opt.step(); opt.zero_grad()
        monitor.epoch_end()                            # histograms of the last gradients
    monitor.history()   # -> GradientHistory (arrays); monitor.save(dir) -> npz + tidy CSVs

The hook (``register_post_accumulate_grad_hook``) reads each gradient as soon as
backward has accumulated it, so what is recorded is the raw gradient even if the
loop clips in place before :meth:`step`. It reduces the gradient to ``(sum, L2
norm)`` on its device; :meth:`step` moves those 2 numbers per parameter in one
transfer. Only in an epoch that ends with a histogram does the hook also keep a
copy of the gradient.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from ..training.monitor import GradientHistory, GradientRecorder


class GradientMonitor:
    """Per-group gradient statistics of a ``torch.nn.Module`` via parameter hooks.

    Args:
      module: the model to watch, or None to :meth:`attach` later (``rnnflow.torch.train``
        attaches its own model).
      bins: histogram bins.
      bin_range: None (adaptive: each histogram spans its own min..max) or a fixed
        ``(lo, hi)``; entries outside are counted as below/above.
      hist_every: a histogram at the end of every ``hist_every``-th epoch (0: never).
      by: ``"parameter"`` (a group per parameter, ``"layers.0.weight_hh"``) or
        ``"module"`` (per owning module, ``"layers.0"``).
      params: None (every parameter) or the flat keys to watch (e.g. weights only).
    """

    def __init__(self, module=None, *, bins: int = 30, bin_range=None, hist_every: int = 1,
                 by: str = "parameter", params=None):
        self.recorder = GradientRecorder(bins=bins, bin_range=bin_range, hist_every=hist_every,
                                         by=by, params=params)
        self.module = None
        self._handles: list = []
        self._stats: dict[str, torch.Tensor] = {}
        self._last: dict[str, torch.Tensor] = {}
        if module is not None:
            self.attach(module)

    def attach(self, module) -> None:
        """Register a gradient hook on every watched parameter of ``module``."""
        if self.module is module:
            return
        if self.module is not None:
            raise ValueError("this GradientMonitor is attached to another module: call remove() first")
        named = dict(module.named_parameters())
        keys = self.recorder.select(list(named))
        self.recorder.bind(keys)
        self._numel = np.array([named[k].numel() for k in keys], np.float64)
        self._handles = [named[k].register_post_accumulate_grad_hook(partial(self._hook, k)) for k in keys]
        self.module = module

    def remove(self) -> None:
        """Remove the hooks (the records stay)."""
        for h in self._handles:
            h.remove()
        self._handles, self.module = [], None

    def _hook(self, key: str, param) -> None:
        g = param.grad.detach()
        self._stats[key] = torch.stack([g.sum(), torch.linalg.vector_norm(g)])
        if self.recorder.wants_histogram():
            self._last[key] = g.clone()

    def step(self, loss=None) -> None:
        """Record this iteration (call after backward). A parameter whose hook did not fire
        (no gradient) counts as a zero gradient."""
        if self.module is None:
            raise RuntimeError("GradientMonitor.step() before attach(module)")
        keys = self.recorder.keys
        ref = next(iter(self._stats.values()), None)
        zero = torch.zeros(2, dtype=torch.float64) if ref is None else torch.zeros_like(ref)
        stats = torch.stack([self._stats.get(k, zero) for k in keys]).to(torch.float64).cpu().numpy()
        if torch.is_tensor(loss):
            loss = loss.detach().item()
        self.recorder.add_iteration(stats[:, 0], stats[:, 1], self._numel, loss)
        self._stats = {}

    def epoch_end(self) -> None:
        """Close the epoch: histograms of the last recorded gradients, if scheduled."""
        grads = ({k: t.to(torch.float64).cpu().numpy() for k, t in self._last.items()}
                 if self._last else None)
        if grads is not None and len(grads) < len(self.recorder.keys):
            grads = {k: grads.get(k, np.zeros(int(n))) for k, n in zip(self.recorder.keys, self._numel)}
        self.recorder.end_epoch(grads)
        self._last = {}

    def history(self) -> GradientHistory:
        return self.recorder.history()

    def save(self, directory) -> dict[str, str]:
        """Write ``gradients.npz`` and the tidy CSVs into ``directory``."""
        return self.history().save(directory)
