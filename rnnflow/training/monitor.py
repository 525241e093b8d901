"""The gradient monitor in the core: its storage and its one contract across backends (framework-free).

What is kept (after the MATLAB example "detect vanishing gradients by plotting
gradient distributions", seed 004):

* every iteration, per group: the mean gradient entry and the gradient's L2 norm,
  plus the loss;
* at the end of every ``hist_every``-th epoch, per group: a histogram of the
  gradient entries of the epoch's last iteration.

A parameter's name is its path in the gradient pytree, parts joined with ``"."``
(dict keys, attribute names, sequence indices: ``"layers.0.weight_hh"``, torch's
``named_parameters()`` names, a flax NNX ``State``'s paths ``"blocks.0.attn.kernel"``).
A group is a parameter (``by="parameter"``), the module owning it (``by="module"``:
the name without its last part, ``"layers.0"``), or, for big models, the first ``d``
parts of the name (``by=d``, e.g. ``by=2`` puts everything under ``"blocks.3"`` in one
group). Names in the rnnflow schema are listed in schema order (input to output);
others in the order the gradients come (torch: the dict's order, i.e. ``named_parameters()``;
JAX: its pytree order, dict keys sorted, numbers numerically).

The backends reduce each parameter's gradient to ``(sum, L2 norm, count)`` on the
device and hand over only those numbers each iteration, so leaving a monitor on costs
one small transfer per step; full gradients travel only for histograms. Inside a
compiled train step, ``gradient_stats(grads, edges=monitor.edges)`` (both backends)
computes those numbers, and with a fixed ``bin_range`` the histogram counts too, as a
:class:`GradientStats` of arrays, which ``monitor.record_stats(stats, loss=loss)`` records
with no per-parameter host sync.

Histogram bins: ``bin_range=None`` is adaptive, ``bins`` equal bins over
``[min, max]`` of that histogram's finite entries (as MATLAB's ``histcounts(v, 30)``);
a fixed ``(lo, hi)`` uses the same edges everywhere and counts entries outside
it in ``below`` / ``above``. Non-finite entries are counted in ``nonfinite``, so
``counts.sum() + below + above + nonfinite`` is always the number of entries.
"""
from __future__ import annotations

import abc
import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..io import atomic_write_text, load_npz, save_npz
from ..params import is_buffer
from ..validation import check_int, fail
from .spectrum import SpectrumHistory, SpectrumRecorder, as_settings

GROUP_BY = ("parameter", "module")
SPECTRUM_CSV = "gradient_spectrum.csv"   # the spectrum record's tidy table, next to gradients.npz


# Names in the order the parameter schema (and the torch modules) define them, so that
# keys from a JAX pytree (whose dicts come back sorted) are listed input to output.
_SCHEMA_RANK = {name: i for i, name in enumerate((
    "embed", "pos", "layers", "attn", "in_proj", "out_proj", "fc1", "fc2", "norm1", "norm2",
    "linear", "bn", "prelu", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "final_norm", "head",
    "weight", "bias"))}


def is_schema_key(key: str) -> bool:
    """Whether every part of ``key`` is a layer index or an rnnflow schema name."""
    return all(p.isdigit() or p in _SCHEMA_RANK for p in key.split("."))


def schema_order(keys) -> list[str]:
    """``keys`` sorted as the rnnflow schema lists them (layer indices numerically; unknown
    names after known ones, alphabetically)."""
    def rank(key):
        return [(0, int(p), "") if p.isdigit() else (1, _SCHEMA_RANK.get(p, len(_SCHEMA_RANK)), p)
                for p in key.split(".")]
    return sorted(keys, key=rank)


def monitor_order(keys, *, natural: bool = False) -> list[str]:
    """The order a monitor lists parameter names in: schema order when every name is an
    rnnflow schema key; otherwise as given, or (``natural``, for JAX pytrees whose dict
    keys come sorted) part by part with numbers compared numerically."""
    keys = list(keys)
    if all(is_schema_key(k) for k in keys):
        return schema_order(keys)
    if natural:
        return sorted(keys, key=lambda k: [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in k.split(".")])
    return keys


def path_name(parts) -> str:
    """A parameter name from its pytree path: the parts (dict keys, attribute names,
    sequence indices) joined with ``"."``."""
    return ".".join(str(p) for p in parts)


def group_of(key: str, by) -> str:
    """The group a parameter key belongs to: itself (``"parameter"``), its owning module
    (``"module"``: the last part dropped) or its first ``by`` parts (an int)."""
    if by == "parameter" or "." not in key:
        return key
    if by == "module":
        return key.rsplit(".", 1)[0]
    return ".".join(key.split(".")[:by])


@dataclass(frozen=True)
class GradientStats:
    """What ``gradient_stats(grads)`` returns (P parameters, K bins): arrays of the
    backend's kind, so a compiled train step can return it (a JAX pytree, ``names``,
    ``counts`` and ``edges`` static).

    Attributes:
        names:     (P,) parameter names (pytree paths), in the gradients' order
        counts:    (P,) entries per parameter (ints)
        sum:       (P,) sum of each gradient's entries
        norm:      (P,) L2 norm of each gradient
        edges:     None, or the (K+1,) fixed bin edges the histograms use (floats)
        hist:      None, or (P, K) entries per bin (a bin ``[e_k, e_k+1)``, the last one closed)
        below / above / nonfinite: None, or (P,) finite entries under ``edges[0]`` / over
                   ``edges[-1]``, and NaN/Inf entries
    """

    names: tuple[str, ...]
    counts: tuple[int, ...]
    sum: object
    norm: object
    edges: tuple[float, ...] | None = None
    hist: object = None
    below: object = None
    above: object = None
    nonfinite: object = None

    DATA = ("sum", "norm", "hist", "below", "above", "nonfinite")   # the array fields
    META = ("names", "counts", "edges")                              # the static ones


@dataclass(frozen=True)
class GradientHistory:
    """A monitor's records as arrays (G groups, N iterations, E histograms, K bins).

    Attributes:
        groups:          (G,) group names
        iteration:       (N,) int64, 0-based iteration index
        epoch:           (N,) int64, the epoch each iteration belongs to
        loss:            (N,) float64 (NaN where no loss was given)
        mean:            (N, G) mean gradient entry per group
        norm:            (N, G) gradient L2 norm per group
        hist_epoch:      (E,) int64, the epoch each histogram closes
        hist_edges:      (E, G, K+1) bin edges
        hist_counts:     (E, G, K) int64 entries per bin
        hist_below / hist_above / hist_nonfinite: (E, G) int64 entries outside a fixed
                         range / NaN or Inf
        bins, bin_range: the binning (``bin_range`` None: adaptive)
        spectrum:        None, or the :class:`~rnnflow.training.spectrum.SpectrumHistory` of a
                         monitor with ``spectrum=...`` (eigenvalues, sigma_max, Lyapunov exponents)
    """

    groups: tuple[str, ...]
    iteration: np.ndarray
    epoch: np.ndarray
    loss: np.ndarray
    mean: np.ndarray
    norm: np.ndarray
    hist_epoch: np.ndarray
    hist_edges: np.ndarray
    hist_counts: np.ndarray
    hist_below: np.ndarray
    hist_above: np.ndarray
    hist_nonfinite: np.ndarray
    bins: int
    bin_range: tuple[float, float] | None
    spectrum: SpectrumHistory | None = None

    def histogram(self, group: str, k: int = -1):
        """``(edges (K+1,), counts (K,))`` of histogram ``k`` for ``group``."""
        j = self.groups.index(group)
        return self.hist_edges[k, j], self.hist_counts[k, j]

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        out["groups"] = np.array(self.groups, dtype=str)
        out["bins"] = np.array(self.bins)
        out["bin_range"] = np.array(self.bin_range if self.bin_range is not None else (np.nan, np.nan))
        if self.spectrum is not None:
            out.update({f"spectrum/{k}": v for k, v in self.spectrum.to_arrays().items()})
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "GradientHistory":
        rng = tuple(float(v) for v in np.asarray(arrays["bin_range"]))
        spec = {k[len("spectrum/"):]: v for k, v in arrays.items() if k.startswith("spectrum/")}
        return cls(groups=tuple(str(g) for g in np.asarray(arrays["groups"])),
                   bins=int(arrays["bins"]), bin_range=None if math.isnan(rng[0]) else rng,
                   spectrum=SpectrumHistory.from_arrays(spec) if spec else None,
                   **{name: np.asarray(arrays[name]) for name in _ARRAY_FIELDS})

    def iterations_csv(self) -> str:
        """Long format: ``iteration,epoch,group,mean,norm,loss`` (one row per iteration and group)."""
        lines = ["iteration,epoch,group,mean,norm,loss"]
        for i in range(len(self.iteration)):
            it, ep, lo = int(self.iteration[i]), int(self.epoch[i]), repr(float(self.loss[i]))
            for j, g in enumerate(self.groups):
                lines.append(f"{it},{ep},{g},{float(self.mean[i, j])!r},{float(self.norm[i, j])!r},{lo}")
        return "\n".join(lines) + "\n"

    def histograms_csv(self) -> str:
        """Long format: ``epoch,group,bin,lo,hi,count`` plus rows ``bin=below|above|nonfinite``."""
        lines = ["epoch,group,bin,lo,hi,count"]
        for e in range(len(self.hist_epoch)):
            ep = int(self.hist_epoch[e])
            for j, g in enumerate(self.groups):
                edges, counts = self.hist_edges[e, j], self.hist_counts[e, j]
                for b in range(len(counts)):
                    lines.append(f"{ep},{g},{b},{float(edges[b])!r},{float(edges[b + 1])!r},{int(counts[b])}")
                for name, arr in (("below", self.hist_below), ("above", self.hist_above),
                                  ("nonfinite", self.hist_nonfinite)):
                    lines.append(f"{ep},{g},{name},,,{int(arr[e, j])}")
        return "\n".join(lines) + "\n"

    def save(self, directory) -> dict[str, str]:
        """Write ``gradients.npz``, ``gradient_iterations.csv`` and ``gradient_histograms.csv``
        (and with a spectrum record ``gradient_spectrum.csv``), atomically, into ``directory``;
        returns their paths."""
        os.makedirs(directory, exist_ok=True)
        paths = {"npz": os.path.join(directory, "gradients.npz"),
                 "iterations": os.path.join(directory, "gradient_iterations.csv"),
                 "histograms": os.path.join(directory, "gradient_histograms.csv")}
        save_npz(paths["npz"], self.to_arrays())
        atomic_write_text(paths["iterations"], self.iterations_csv())
        atomic_write_text(paths["histograms"], self.histograms_csv())
        if self.spectrum is not None:
            paths["spectrum"] = os.path.join(directory, SPECTRUM_CSV)
            atomic_write_text(paths["spectrum"], self.spectrum.csv_text())
        return paths

    def to_tensorboard(self, logdir, *, run: str | None = None) -> str:
        """Write TensorBoard event files under ``logdir`` (or ``logdir/run``): per-group norm and
        mean scalars, the loss, the histograms (:mod:`rnnflow.training.tensorboard`; needs
        ``pip install "rnnflow[tensorboard]"``); returns the file's path."""
        from .tensorboard import write_history
        return write_history(self, logdir, run=run)

    @classmethod
    def load(cls, path) -> "GradientHistory":
        """Read ``gradients.npz`` (a file, or the directory holding it)."""
        if os.path.isdir(path):
            path = os.path.join(path, "gradients.npz")
        return cls.from_arrays(load_npz(path))


_ARRAY_FIELDS = ("iteration", "epoch", "loss", "mean", "norm", "hist_epoch", "hist_edges",
                 "hist_counts", "hist_below", "hist_above", "hist_nonfinite")


def histogram(values: np.ndarray, bins: int, bin_range=None):
    """``(edges (bins+1,), counts (bins,), below, above, nonfinite)`` of ``values`` (any shape)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(v)
    nonfinite = int(v.size - finite.sum())
    v = v[finite]
    if bin_range is None:
        if v.size == 0:
            return np.full(bins + 1, np.nan), np.zeros(bins, np.int64), 0, 0, nonfinite
        lo, hi = float(v.min()), float(v.max())
        below = above = 0
    else:
        lo, hi = bin_range
        below, above = int((v < lo).sum()), int((v > hi).sum())
        v = v[(v >= lo) & (v <= hi)]
    edges = bin_edges(lo, hi, bins)
    counts, _ = np.histogram(v, bins=edges)
    return edges, counts.astype(np.int64), below, above, nonfinite


def bin_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """``bins`` equal bins over ``[lo, hi]`` that stay finite for huge ranges; a range too
    narrow to split (a constant) becomes ``lo +- 0.5`` as in NumPy (``+- 1e-6 |lo|`` when
    ``|lo| > 0.5e6``)."""
    scale = max(abs(lo), abs(hi))
    edges = scale * np.linspace(lo / scale, hi / scale, bins + 1) if scale > 0 else np.zeros(bins + 1)
    edges[0], edges[-1] = lo, hi
    if not np.all(np.diff(edges) > 0):
        half = max(0.5, abs(lo) * 1e-6)
        edges = np.linspace(lo - half, lo + half, bins + 1)
    return edges


def _combine_norms(norms: np.ndarray, index: np.ndarray, G: int) -> np.ndarray:
    """Group norms ``sqrt(sum_k n_k^2)``, scaled by each group's largest norm so that
    huge-but-finite norms do not overflow; NaN and Inf propagate."""
    big = np.zeros(G)
    with np.errstate(invalid="ignore"):
        np.maximum.at(big, index, np.abs(norms))
    scale = np.where(np.isfinite(big) & (big > 0), big, 1.0)
    ok = np.isfinite(norms)
    sq = np.bincount(index, weights=np.where(ok, norms / scale[index], 0.0) ** 2, minlength=G)
    out = np.sqrt(sq) * scale
    bad = np.bincount(index, weights=~ok, minlength=G) > 0
    return np.where(bad, big, out)  # big is Inf or NaN wherever a member norm is


class GradientRecorder:
    """Accumulates per-iteration gradient statistics and per-epoch histograms.

    Backend monitors feed it; use it directly only to build a new front end.
    ``bind(keys)`` fixes the parameter keys (in order) before the first record.
    """

    def __init__(self, *, bins: int = 30, bin_range: Sequence[float] | None = None,
                 hist_every: int = 1, by: str = "parameter", params: Sequence[str] | None = None,
                 spectrum=None):
        c = "GradientMonitor"
        check_int(c, "bins", bins)
        if bin_range is not None:
            ok = (isinstance(bin_range, (tuple, list)) and len(bin_range) == 2
                  and all(isinstance(b, (int, float)) and math.isfinite(b) for b in bin_range)
                  and bin_range[0] < bin_range[1])
            if not ok:
                fail(c, "bin_range", bin_range, "None (adaptive) or a pair (lo, hi) of finite numbers, lo < hi")
            bin_range = (float(bin_range[0]), float(bin_range[1]))
        check_int(c, "hist_every", hist_every, lo=0)
        if by not in GROUP_BY and not (isinstance(by, int) and not isinstance(by, bool) and by >= 1):
            fail(c, "by", by, f"one of {', '.join(map(repr, GROUP_BY))}, or an int d >= 1 (a group per "
                 "first d parts of the name)")
        if params is not None:
            if isinstance(params, str) or not all(isinstance(p, str) for p in params):
                fail(c, "params", params, "None (all parameters) or a list of flat parameter keys")
            params = tuple(params)
        self.bins, self.bin_range, self.hist_every, self.by, self.params = bins, bin_range, hist_every, by, params
        settings = as_settings(spectrum)
        self.spectrum = None if settings is None else SpectrumRecorder(settings)
        self.keys: tuple[str, ...] | None = None     # monitored parameter keys, in order
        self.groups: tuple[str, ...] = ()
        self._group_index = np.zeros(0, np.int64)    # key i -> group index
        self.epoch = 0
        self._iter: list[tuple[int, float, np.ndarray, np.ndarray]] = []
        self._hists: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------ setup
    def select(self, keys: Sequence[str]) -> tuple[str, ...]:
        """Which of ``keys`` are monitored (trainable, and in ``params`` when given)."""
        keys = [k for k in keys if not is_buffer(k)]
        if self.params is None:
            return tuple(keys)
        missing = sorted(set(self.params) - set(keys))
        if missing:
            fail("GradientMonitor", "params", list(self.params),
                 f"keys of the model's parameters; {missing[0]!r} is not one (have {keys})")
        return tuple(k for k in keys if k in self.params)

    def bind(self, keys: Sequence[str]) -> None:
        keys = tuple(keys)
        if self.keys is not None:
            if keys != self.keys:
                raise ValueError(f"GradientMonitor is bound to parameters {self.keys}, got {keys}")
            return
        groups: list[str] = []
        for k in keys:
            g = group_of(k, self.by)
            if g not in groups:
                groups.append(g)
        self.keys, self.groups = keys, tuple(groups)
        self._group_index = np.array([groups.index(group_of(k, self.by)) for k in keys], np.int64)

    # ------------------------------------------------------------ recording
    @property
    def iterations(self) -> int:
        return len(self._iter)

    def wants_histogram(self) -> bool:
        """Whether the current epoch ends with a histogram (backends keep its last gradients)."""
        return self.hist_every > 0 and self.epoch % self.hist_every == 0

    def add_iteration(self, sums, norms, counts, loss=None) -> None:
        """One iteration: per monitored parameter (in :attr:`keys` order) the sum, the L2 norm
        and the number of its gradient entries."""
        if self.keys is None:
            raise RuntimeError("GradientRecorder.bind(keys) must come before add_iteration")
        sums, norms, counts = (np.asarray(a, dtype=np.float64) for a in (sums, norms, counts))
        G = len(self.groups)
        gsum = np.bincount(self._group_index, weights=sums, minlength=G)
        gcount = np.bincount(self._group_index, weights=counts, minlength=G)
        gnorm = _combine_norms(norms, self._group_index, G)
        loss = float("nan") if loss is None else float(loss)
        self._iter.append((self.epoch, loss, gsum / gcount, gnorm))

    def end_epoch(self, grads: dict | None) -> None:
        """Close the epoch; ``grads`` (``{key: array}``, the epoch's last gradients) give the
        histograms when this epoch is scheduled for one."""
        if self.wants_histogram() and grads is not None and self.keys is not None:
            K, G = self.bins, len(self.groups)
            edges = np.zeros((G, K + 1))
            counts = np.zeros((G, K), np.int64)
            extra = np.zeros((G, 3), np.int64)  # below, above, nonfinite
            for j, g in enumerate(self.groups):
                vals = [np.asarray(grads[k]).ravel() for k, gi in zip(self.keys, self._group_index) if gi == j]
                e, c, b, a, n = histogram(np.concatenate(vals), K, self.bin_range)
                edges[j], counts[j], extra[j] = e, c, (b, a, n)
            self._hists.append((self.epoch, edges, counts, extra))
        self.epoch += 1

    def end_epoch_counts(self, edges, hist, extra) -> None:
        """Close the epoch with histograms counted on the device: per monitored key (in
        :attr:`keys` order) ``hist`` (P, K) counts over the fixed ``edges`` (K+1,) and
        ``extra`` (P, 3) below / above / nonfinite, summed here per group."""
        if self.wants_histogram() and self.keys is not None:
            G = len(self.groups)
            hist, extra = np.asarray(hist, np.int64), np.asarray(extra, np.int64)
            counts, out = np.zeros((G, self.bins), np.int64), np.zeros((G, 3), np.int64)
            np.add.at(counts, self._group_index, hist)
            np.add.at(out, self._group_index, extra)
            self._hists.append((self.epoch, np.tile(np.asarray(edges, np.float64), (G, 1)), counts, out))
        self.epoch += 1

    # ------------------------------------------------------------ results
    def history(self) -> GradientHistory:
        N, G, K = len(self._iter), len(self.groups), self.bins
        E = len(self._hists)

        def mat(i):   # (N, G): field i of every iteration record
            return np.stack([r[i] for r in self._iter]) if N else np.zeros((0, G))
        extra = np.stack([h[3] for h in self._hists]) if E else np.zeros((0, G, 3), np.int64)
        return GradientHistory(
            groups=self.groups, iteration=np.arange(N, dtype=np.int64),
            epoch=np.array([r[0] for r in self._iter], np.int64),
            loss=np.array([r[1] for r in self._iter], np.float64),
            mean=mat(2), norm=mat(3),
            hist_epoch=np.array([h[0] for h in self._hists], np.int64),
            hist_edges=np.stack([h[1] for h in self._hists]) if E else np.zeros((0, G, K + 1)),
            hist_counts=np.stack([h[2] for h in self._hists]) if E else np.zeros((0, G, K), np.int64),
            hist_below=extra[..., 0], hist_above=extra[..., 1], hist_nonfinite=extra[..., 2],
            bins=K, bin_range=self.bin_range,
            spectrum=None if self.spectrum is None else self.spectrum.history())

    def settings(self) -> dict:
        out = {"bins": self.bins, "bin_range": self.bin_range, "hist_every": self.hist_every,
               "by": self.by, "params": self.params}
        if self.spectrum is not None:   # absent (not None) without one: older folders' meta still matches
            out["spectrum"] = self.spectrum.settings.to_dict()
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything recorded so far, as arrays (for checkpoints)."""
        out = self.history().to_arrays()
        out["current_epoch"] = np.array(self.epoch)
        out["keys"] = np.array(self.keys or (), dtype=str)
        out["hist_every"] = np.array(self.hist_every)
        out["by"] = np.array(self.by)
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (settings must match)."""
        h = GradientHistory.from_arrays(state)
        theirs = {"bins": h.bins, "bin_range": h.bin_range, "hist_every": int(state["hist_every"]),
                  "by": str(state["by"])}
        mine = {k: str(v) if k == "by" else v for k, v in self.settings().items() if k in theirs}
        if theirs != mine:
            raise ValueError(f"saved gradient monitor settings {theirs} differ from this monitor's {mine}")
        saved = h.spectrum is not None
        if saved != (self.spectrum is not None):
            raise ValueError("saved gradient monitor " + ("has" if saved else "has no") + " spectrum record, this "
                             "monitor " + ("has none" if saved else "has one") + ": pass the same spectrum= setting")
        if saved:
            self.spectrum.load_history(h.spectrum)
        keys = tuple(str(k) for k in np.asarray(state["keys"]))
        self.keys = None
        if keys:
            self.bind(keys)
        self.epoch = int(state["current_epoch"])
        self._iter = [(int(h.epoch[i]), float(h.loss[i]), h.mean[i].copy(), h.norm[i].copy())
                      for i in range(len(h.iteration))]
        self._hists = [(int(h.hist_epoch[e]), h.hist_edges[e].copy(), h.hist_counts[e].copy(),
                        np.stack([h.hist_below[e], h.hist_above[e], h.hist_nonfinite[e]], axis=1))
                       for e in range(len(h.hist_epoch))]


def assemble_stats(named: dict, sums, norms, edges, counter, stack) -> GradientStats:
    """A backend's :class:`GradientStats`: ``named`` ``{name: gradient}``, its (P,) ``sums``
    and ``norms``; with ``edges`` also ``counter(gradient, edges (K+1,) float64) -> (hist (K,),
    below, above, nonfinite)`` per parameter, stacked with the backend's ``stack``."""
    counts = tuple(int(math.prod(g.shape)) for g in named.values())
    if edges is None:
        return GradientStats(tuple(named), counts, sums, norms)
    e = np.asarray(edges, np.float64)
    if e.ndim != 1 or len(e) < 2 or not np.all(np.diff(e) > 0):
        raise ValueError(f"gradient_stats(edges=...) got shape {e.shape} {e[:3]}...: expected increasing "
                         "(K+1,) bin edges, e.g. monitor.edges")
    hist, below, above, nonfinite = (stack(list(c)) for c in zip(*[counter(g, e) for g in named.values()]))
    return GradientStats(tuple(named), counts, sums, norms, edges=tuple(e.tolist()), hist=hist,
                         below=below, above=above, nonfinite=nonfinite)


def named_gradients(named: dict, grads) -> dict:
    """Check a backend's ``{name: gradient}`` of ``grads``: a bare array (no names) or an
    empty tree is refused, naming what was passed. ``None`` entries (a frozen torch
    parameter's ``.grad``) are dropped."""
    named = {k: v for k, v in named.items() if v is not None}
    if "" in named or not named:
        raise TypeError(f"grads must be a pytree of gradient arrays with names (a dict, nested dicts "
                        f"or lists, a flax nnx.State, ...), got {type(grads).__module__}.{type(grads).__name__}"
                        + ("" if named else " holding no arrays"))
    return named


# ---------------------------------------------------------------- the monitors' one contract
class GradientMonitorBase(abc.ABC):
    """Per-group gradient statistics: per iteration the mean entry and L2 norm of each
    group's gradient and the loss, per epoch histograms (see :mod:`rnnflow.training.monitor`).

    The arguments are keyword-only and the same in both backends.

    Args:
      bins: histogram bins.
      bin_range: None (adaptive: each histogram spans its own min..max) or a fixed
        ``(lo, hi)``; entries outside are counted as below/above. A fixed range lets a
        compiled step count the histograms itself (``gradient_stats(grads, edges=monitor.edges)``).
      hist_every: a histogram at the end of every ``hist_every``-th epoch (0: never).
      by: ``"parameter"`` (a group per parameter, ``"layers.0.weight_hh"``), ``"module"``
        (per owning module, ``"layers.0"``) or an int ``d`` (per first ``d`` parts of the
        name: ``by=2`` makes ``"blocks.3"`` one group of a big model).
      params: None (every parameter) or the names to watch (e.g. weights only).
      spectrum: None (off), True (the default
        :class:`~rnnflow.training.spectrum.SpectrumSettings`) or a ``SpectrumSettings``: a record
        of the recurrent matrices' eigenvalues, spectral radius, sigma_max and the top-k Lyapunov
        exponents on a fixed probe batch every ``every``-th epoch and before the first step
        (:mod:`rnnflow.training.spectrum`). :func:`rnnflow.train` feeds it; in your own loop call
        :meth:`bind_model` once, :meth:`record_spectrum` before training and pass
        ``epoch_end(params=...)`` when :meth:`spectrum_due`.
    """

    natural_order = False   # list non-schema names as given (torch) or naturally sorted (JAX)
    backend = ""            # the backend's name, which runs the spectrum's probe

    def __init__(self, *, bins: int = 30, bin_range=None, hist_every: int = 1,
                 by: str = "parameter", params=None, spectrum=None):
        self.recorder = GradientRecorder(bins=bins, bin_range=bin_range, hist_every=hist_every,
                                         by=by, params=params, spectrum=spectrum)
        self._last: dict | None = None  # {key: gradient} of the last iteration, for a histogram
        self._last_stats = None         # (GradientStats, key indices) of the last record_stats

    @property
    def edges(self) -> np.ndarray | None:
        """The ``(bins + 1,)`` histogram edges of a fixed ``bin_range`` (None: adaptive), to
        pass to ``gradient_stats(grads, edges=monitor.edges)``."""
        r = self.recorder.bin_range
        return None if r is None else bin_edges(r[0], r[1], self.recorder.bins)

    @abc.abstractmethod
    def record(self, grads=None, *, loss=None) -> None:
        """Record one iteration: ``grads`` (any pytree of gradient arrays: a schema dict,
        nested or flat, a dict of ``named_parameters()`` names, a flax ``nnx.State``;
        BatchNorm running-stat entries are ignored) and the scalar ``loss``."""

    @abc.abstractmethod
    def _histogram_gradients(self) -> dict | None:
        """``{key: np.ndarray}`` of the last recorded gradients, or None."""

    @abc.abstractmethod
    def _named(self, grads) -> dict:
        """``{name: gradient array}`` of a gradient pytree (names: :func:`path_name`)."""

    @abc.abstractmethod
    def _host(self, arrays: list) -> list:
        """The backend's arrays (or plain numbers) as NumPy / Python values, in one transfer."""

    def _bind(self, names) -> tuple[str, ...]:
        """The monitored keys (bound on the first call) after checking ``names`` holds them."""
        if self.recorder.keys is None:
            self.recorder.bind(self.recorder.select(monitor_order(names, natural=self.natural_order)))
        keys = self.recorder.keys
        have = set(names)
        missing = [k for k in keys if k not in have]
        if missing:
            raise ValueError(f"grads lack {missing[0]!r}, which this monitor records")
        return keys

    def _watched(self, grads) -> tuple[tuple[str, ...], list]:
        """The monitored keys (bound on the first call) and their gradients."""
        named = self._named(grads)
        keys = self._bind(named)
        return keys, [named[k] for k in keys]

    def _add(self, sums, norms, leaves, loss) -> None:
        counts = np.array([math.prod(g.shape) for g in leaves], np.float64)
        self.recorder.add_iteration(sums, norms, counts, None if loss is None else float(loss))
        self._last_stats = None

    def record_stats(self, stats: GradientStats, *, loss=None) -> None:
        """Record one iteration from ``gradient_stats(grads, edges=...)`` (computed anywhere,
        e.g. returned by a jitted / compiled train step): one transfer of (P,) sums and
        norms, and in an epoch that ends with a histogram its counts (then ``stats`` must
        have been counted over :attr:`edges`, i.e. with a fixed ``bin_range``)."""
        if not isinstance(stats, GradientStats):
            raise TypeError(f"record_stats(stats=...) takes the GradientStats of gradient_stats(grads), "
                            f"got {type(stats).__name__}")
        keys = self._bind(stats.names)
        pos = {n: i for i, n in enumerate(stats.names)}
        idx = np.array([pos[k] for k in keys], np.int64)
        wants = self.recorder.wants_histogram()
        if wants:
            mine = self.edges
            if stats.hist is None or mine is None or not np.array_equal(np.asarray(stats.edges), mine):
                raise ValueError(
                    "record_stats: this epoch ends with a histogram, so stats needs histogram counts over "
                    "monitor.edges: pass gradient_stats(grads, edges=monitor.edges) (a fixed bin_range=(lo, hi); "
                    f"this monitor's is {self.recorder.bin_range}), or use hist_every=0"
                    + ("" if stats.edges is None else f"; got edges {stats.edges[0]:.3g}..{stats.edges[-1]:.3g} "
                       f"({len(stats.edges) - 1} bins)"))
        sums, norms, loss = self._host([stats.sum, stats.norm, loss])
        counts = np.asarray(stats.counts, np.float64)[idx]
        self.recorder.add_iteration(np.asarray(sums)[idx], np.asarray(norms)[idx], counts,
                                    None if loss is None else float(loss))
        self._last, self._last_stats = None, ((stats, idx) if wants else None)

    # ------------------------------------------------------------ the spectrum record
    def bind_model(self, model_config, probe) -> None:
        """Fix the model and the probe inputs ``(T, P, I)`` of the spectrum record
        (:func:`rnnflow.training.spectrum.probe_inputs` draws them from a ``data_fn``)."""
        self._spectrum("bind_model").bind(model_config, probe, self.backend)

    def spectrum_due(self) -> bool:
        """Whether the epoch closing next ends with a spectrum record (then pass
        ``epoch_end(params=...)``)."""
        s = self.recorder.spectrum
        return s is not None and (self.recorder.epoch + 1) % s.settings.every == 0

    def record_spectrum(self, params) -> None:
        """A spectrum record now, from the NumPy schema ``params`` (flat or nested), labelled
        with the epochs closed so far (0 before training) and the iterations recorded."""
        self._spectrum("record_spectrum").record(params, self.recorder.epoch, self.recorder.iterations)

    def _spectrum(self, what: str) -> SpectrumRecorder:
        if self.recorder.spectrum is None:
            raise ValueError(f"GradientMonitor.{what}: this monitor has no spectrum record (spectrum=None); "
                             "construct it with spectrum=True or a SpectrumSettings")
        return self.recorder.spectrum

    def epoch_end(self, params=None) -> None:
        """Close the epoch: histograms of the last recorded gradients, if scheduled; and, when
        :meth:`spectrum_due`, a spectrum record from ``params`` (the NumPy schema dict after the
        epoch's last update), which it then needs."""
        due = self.spectrum_due()
        if due and params is None:
            raise ValueError("GradientMonitor.epoch_end: this epoch ends with a spectrum record "
                             f"(SpectrumSettings.every={self.recorder.spectrum.settings.every}): pass "
                             "epoch_end(params=...), the NumPy schema params after the epoch's last update")
        self._close_epoch()
        if due:
            self.record_spectrum(params)

    def _close_epoch(self) -> None:
        if self._last_stats is not None:
            stats, idx = self._last_stats
            hist, *extra = self._host([stats.hist, stats.below, stats.above, stats.nonfinite])
            extra = np.stack([np.asarray(e) for e in extra], axis=1)[idx]
            self.recorder.end_epoch_counts(stats.edges, np.asarray(hist)[idx], extra)
        else:
            self.recorder.end_epoch(self._histogram_gradients())
        self._last = self._last_stats = None

    def history(self) -> GradientHistory:
        return self.recorder.history()

    def save(self, directory) -> dict[str, str]:
        """Write ``gradients.npz`` and the tidy CSVs into ``directory``."""
        return self.history().save(directory)

    def to_tensorboard(self, logdir, *, run: str | None = None) -> str:
        """Write the history as TensorBoard event files (:meth:`GradientHistory.to_tensorboard`);
        returns the file's path."""
        return self.history().to_tensorboard(logdir, run=run)
