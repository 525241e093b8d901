"""What a training run records, as NumPy containers (framework-free).

Per step (length N = steps recorded, in step order): the loss, the global gradient
L2 norm before and after clipping, the L2 norm of every parameter group (a group
is one flat schema key, ``"layers.0.weight_hh"``, the same in both backends), and
whether the update was skipped. Non-finite events are kept as a list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

GROUP_PREFIX = "group_norm:"   # key prefix of per-group norms in flat array dicts / CSV columns
DIVERGED_FACTOR = 1e6          # a loss above this many times the first finite loss: "diverged"
STATUSES = ("finished", "stopped", "non-finite", "diverged")


@dataclass(frozen=True)
class Metrics:
    """Per-step training records; every array has length N (float64 unless noted).

    step:              (N,) int64, the step index (0-based)
    loss:              (N,) the batch loss (NaN/Inf kept as recorded)
    grad_norm:         (N,) global gradient L2 norm before clipping
    grad_norm_clipped: (N,) after clipping (the update's gradient); NaN where skipped
    skipped:           (N,) bool, True where no update was applied
    group_norms:       {group: (N,)} gradient L2 norm per parameter group, before clipping
    """

    step: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    grad_norm_clipped: np.ndarray
    skipped: np.ndarray
    group_norms: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.step)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.group_norms)

    def group_norm_matrix(self) -> np.ndarray:
        """(N, G) per-group norms, columns in :attr:`groups` order."""
        if not self.group_norms:
            return np.zeros((len(self), 0))
        return np.stack([self.group_norms[g] for g in self.groups], axis=1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` (per-group norms under ``"group_norm:<group>"``)."""
        out = {"step": self.step, "loss": self.loss, "grad_norm": self.grad_norm,
               "grad_norm_clipped": self.grad_norm_clipped, "skipped": self.skipped}
        out.update({GROUP_PREFIX + g: v for g, v in self.group_norms.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], groups=None) -> "Metrics":
        """Inverse of :meth:`to_arrays`; ``groups`` fixes the group order (default: as stored)."""
        if groups is None:
            groups = [k[len(GROUP_PREFIX):] for k in arrays if k.startswith(GROUP_PREFIX)]
        return cls(
            step=np.asarray(arrays["step"], dtype=np.int64),
            loss=np.asarray(arrays["loss"], dtype=np.float64),
            grad_norm=np.asarray(arrays["grad_norm"], dtype=np.float64),
            grad_norm_clipped=np.asarray(arrays["grad_norm_clipped"], dtype=np.float64),
            skipped=np.asarray(arrays["skipped"], dtype=bool),
            group_norms={g: np.asarray(arrays[GROUP_PREFIX + g], dtype=np.float64) for g in groups},
        )

    def csv_text(self) -> str:
        """Wide CSV: one row per step; floats in round-trip precision (``repr``)."""
        arrays = self.to_arrays()
        names = list(arrays)
        lines = [",".join(names)]
        cols = [arrays[n] for n in names]
        for i in range(len(self)):
            lines.append(",".join(_fmt(c[i]) for c in cols))
        return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


class MetricsLog:
    """Growing per-step records (mutable; :meth:`freeze` gives :class:`Metrics`)."""

    def __init__(self, groups):
        self.groups = tuple(groups)
        self._rows: list[tuple] = []
        self._norms: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, step: int, loss: float, grad_norm: float, grad_norm_clipped: float,
               group_norms, skipped: bool) -> None:
        norms = np.asarray(group_norms, dtype=np.float64)
        if norms.shape != (len(self.groups),):
            raise ValueError(f"group_norms has shape {norms.shape}, expected ({len(self.groups)},)")
        self._rows.append((int(step), float(loss), float(grad_norm), float(grad_norm_clipped), bool(skipped)))
        self._norms.append(norms)

    def extend(self, metrics: Metrics) -> None:
        """Append every row of ``metrics`` (a checkpoint's records, when resuming)."""
        if tuple(metrics.groups) != self.groups:
            raise ValueError(f"stored metrics have groups {metrics.groups}, this run has {self.groups}")
        mat = metrics.group_norm_matrix()
        for i in range(len(metrics)):
            self.append(metrics.step[i], metrics.loss[i], metrics.grad_norm[i],
                        metrics.grad_norm_clipped[i], mat[i], metrics.skipped[i])

    def freeze(self) -> Metrics:
        rows = self._rows

        def col(i, dtype):   # (N,): field i of every row
            return np.array([r[i] for r in rows], dtype=dtype)
        mat = np.stack(self._norms) if self._norms else np.zeros((0, len(self.groups)))
        return Metrics(step=col(0, np.int64), loss=col(1, np.float64), grad_norm=col(2, np.float64),
                       grad_norm_clipped=col(3, np.float64), skipped=col(4, bool),
                       group_norms={g: mat[:, j].copy() for j, g in enumerate(self.groups)})


@dataclass(frozen=True)
class NonFiniteEvent:
    """A step whose loss, gradient or update was not finite.

    Attributes:
      kind: "loss" (the loss), "grad" (a gradient group, or the global norm overflowed)
        or "update" (the update made parameters non-finite; it was undone).
      groups: the parameter groups concerned (empty when only the loss was non-finite).
      action: what the trainer did: "skip" | "stop" | "raise".
    """

    step: int
    kind: str
    groups: tuple[str, ...]
    action: str

    def to_dict(self) -> dict:
        return {"step": self.step, "kind": self.kind, "groups": list(self.groups), "action": self.action}

    @classmethod
    def from_dict(cls, d: dict) -> "NonFiniteEvent":
        return cls(int(d["step"]), str(d["kind"]), tuple(d["groups"]), str(d["action"]))

    def describe(self) -> str:
        what = {"loss": "loss", "grad": "gradient", "update": "parameters after the update"}[self.kind]
        where = f" in {', '.join(self.groups)}" if self.groups else ""
        return f"non-finite {what} at step {self.step}{where}"


def first_nonfinite_step(metrics: Metrics, events=()) -> int | None:
    """The first step whose loss, gradient norm or update was NaN/Inf (None: none was)."""
    bad = ~(np.isfinite(metrics.loss) & np.isfinite(metrics.grad_norm))
    steps = [int(s) for s in metrics.step[bad]] + [int(e.step) for e in events]
    return min(steps) if steps else None


def first_diverged_step(metrics: Metrics, factor: float = DIVERGED_FACTOR) -> int | None:
    """The first step whose finite loss exceeded ``factor`` times the first finite, positive
    loss (None: never, or no such first loss)."""
    loss = metrics.loss
    finite = np.isfinite(loss)
    if not finite.any() or not loss[finite][0] > 0:
        return None
    grew = finite & (loss > factor * loss[finite][0])
    return int(metrics.step[np.argmax(grew)]) if grew.any() else None


def run_status(ended: str, metrics: Metrics, events=()) -> str:
    """The honest status of a run that ``ended`` ``"finished"`` (every step done) or
    ``"stopped"`` (policy ``nonfinite="stop"``): a finished run whose loss or gradient
    became non-finite anywhere is ``"non-finite"`` (even though those steps were skipped),
    else one whose loss grew past ``DIVERGED_FACTOR`` times its first value ``"diverged"``."""
    if ended != "finished":
        return ended
    if first_nonfinite_step(metrics, events) is not None:
        return "non-finite"
    return "diverged" if first_diverged_step(metrics) is not None else "finished"


@dataclass(frozen=True)
class TrainResult:
    """What :func:`rnnflow.train` returns (in either backend).

    Attributes:
      status: "finished" (all steps, loss and gradients stayed finite and the loss did not
        grow past ``DIVERGED_FACTOR`` x its first value), "non-finite" (all steps, but some
        loss, gradient or update was NaN/Inf: those steps were skipped, see ``events``),
        "diverged" (all steps, finite, but the loss grew past that factor) or "stopped"
        (non-finite, policy "stop"); :meth:`describe` says where.
      steps_done: steps recorded (= len(metrics)).
      metrics: :class:`Metrics`.
      params: final parameters as the NumPy schema dict (never non-finite).
      events: the :class:`NonFiniteEvent` s, in step order.
      gradients: the monitor's :class:`~rnnflow.training.monitor.GradientHistory`, or None.
      resumed_from: steps already done when this call started (0: fresh; ``steps_done``:
        a finished run loaded from ``out_dir``, nothing recomputed).
    """

    status: str
    steps_done: int
    metrics: Metrics
    params: dict
    events: tuple[NonFiniteEvent, ...]
    train_config: Any
    model_config: Any
    backend: str
    gradients: Any = None
    out_dir: str | None = None
    resumed_from: int = 0

    @property
    def final_loss(self) -> float:
        """The last finite recorded loss (NaN if none)."""
        finite = self.metrics.loss[np.isfinite(self.metrics.loss)]
        return float(finite[-1]) if len(finite) else float("nan")

    @property
    def first_nonfinite_step(self) -> int | None:
        """The first step with a NaN/Inf loss, gradient or update (None: none)."""
        return first_nonfinite_step(self.metrics, self.events)

    @property
    def first_diverged_step(self) -> int | None:
        """The first step whose loss exceeded ``DIVERGED_FACTOR`` x the first finite loss."""
        return first_diverged_step(self.metrics)

    def describe(self) -> str:
        """One line: the status, and where a run went wrong, e.g. ``"non-finite: non-finite
        loss at step 1; 39 of 40 steps skipped"``."""
        parts = []
        if self.events:
            skipped = int(self.metrics.skipped.sum())
            parts.append(f"{self.events[0].describe()}; {skipped} of {self.steps_done} steps skipped")
        elif self.first_nonfinite_step is not None:
            parts.append(f"non-finite loss or gradient norm first at step {self.first_nonfinite_step}")
        step = self.first_diverged_step
        if step is not None:
            m = self.metrics
            first = m.loss[np.isfinite(m.loss)][0]
            top = np.nanmax(np.where(np.isfinite(m.loss), m.loss, np.nan))
            parts.append(f"loss grew past {DIVERGED_FACTOR:.0e} x its first value {first:.3g} at step {step} "
                         f"(largest finite loss {top:.3g})")
        return self.status + (": " + "; ".join(parts) if parts else "")

    def status_summary(self) -> dict:
        """The status fields ``summary.json`` keeps next to the run's lifecycle status."""
        return {"outcome": self.status, "first_nonfinite_step": self.first_nonfinite_step,
                "first_diverged_step": self.first_diverged_step, "outcome_detail": self.describe()}
