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


@dataclass(frozen=True)
class TrainResult:
    """What :func:`rnnflow.train` returns (in either backend).

    Attributes:
      status: "finished" (all steps) or "stopped" (non-finite, policy "stop").
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
