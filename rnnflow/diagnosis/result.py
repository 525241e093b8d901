"""What :func:`rnnflow.diagnose` returns: frozen dataclasses of NumPy arrays and numbers (framework-free).

Ratios are ``log10`` of a gradient norm over the norm where the gradient starts:

* time (recurrent models): ``log10 ||dh_T/dh_{T-k}||_2`` at gap ``k`` (``J(T) = I``, so the
  start is 1), the median over the batch;
* depth (Transformer, MLP, a list of layers): ``log10 ||dL/dx_l|| - log10 ||dL/dx_L||``, the
  gradient reaching layer ``l`` over the one at the top of the stack (whole batch).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..io import json_safe

VERDICTS = ("healthy", "vanishing", "exploding", "vanishing and exploding", "non-finite", "at risk")


@dataclass(frozen=True)
class AxisProfile:
    """The gradient along one axis and where it crosses the thresholds.

    Args:
      axis:       ``"time"`` (index = gap ``k`` = steps back from ``T``) or ``"depth"``
                  (index = layer ``l``; ``L`` is the top of the stack)
      index:      ``(n,)`` ints: gaps ``0..T`` or layers ``0..L``
      log10_ratio: ``(n,)`` log10 of the gradient over its start (``-inf``: exactly zero)
      verdict:    ``"vanishing"`` | ``"exploding"`` | ``"healthy"``
      crossing:   the first gap (time) / the highest layer (depth) where the ratio is at or
                  past a threshold, or ``None``
      steps_back: steps (gap) or layers (``L - l``) from the start to ``crossing``, or ``None``
      rate:       decades per step / per layer down (a least-squares slope over the far half)
      projected:  steps / layers back at which ``rate`` would reach the threshold when no
                  crossing was measured (``None`` when the rate points away from both)
      layer:      the recurrent layer the time profile is of (``None`` for depth)
    """

    axis: str
    index: np.ndarray
    log10_ratio: np.ndarray
    verdict: str
    crossing: int | None
    steps_back: int | None
    rate: float
    projected: float | None = None
    layer: int | None = None

    def to_dict(self) -> dict:
        return {"axis": self.axis, "index": self.index.tolist(), "log10_ratio": self.log10_ratio.tolist(),
                "verdict": self.verdict, "crossing": self.crossing, "steps_back": self.steps_back,
                "rate_decades_per_step": self.rate, "projected_steps_back": self.projected, "layer": self.layer}


@dataclass(frozen=True)
class Factor:
    """One measured cause. ``value`` is the number the rule looked at (``None``: not measurable
    for this model); ``responsible`` marks the factor the verdict names."""

    name: str            # e.g. "saturation", "recurrent weight", "forget gate", "LayerNorm placement"
    value: float | str | None
    detail: str          # the number in words, with its threshold
    responsible: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "detail": self.detail, "responsible": self.responsible}


@dataclass(frozen=True)
class Diagnosis:
    """Why a model's gradients vanish or explode, for one batch.

    Args:
      model:     a short description (config type and sizes)
      kind:      ``"recurrent"`` | ``"transformer"`` | ``"mlp"`` | ``"stack"`` (a list of layers)
      backend:   ``"torch"`` | ``"jax"``
      verdict:   one of :data:`VERDICTS`
      factor:    the name of the responsible factor (``None`` when healthy)
      cure:      what to try, in words (``""`` when healthy)
      study:     the rnnflow study that shows the cure (``rnnflow run <study>``), or ``None``
      time:      the time profile (recurrent models) or ``None``
      depth:     the depth profile (stacks; recurrent models with ``num_layers > 1``: through the
                 stacked layers) or ``None``
      factors:   every factor measured, the responsible one marked
      nonfinite: where a value first became NaN/Inf, in words, or ``None``
      measures:  the raw numbers behind the factors (``{name: number or None}``)
      thresholds: ``{"vanish": 1e-6, "explode": 1e6, "dphi": 0.01, ...}`` as used
    """

    model: str
    kind: str
    backend: str
    verdict: str
    factor: str | None
    cure: str
    study: str | None
    time: AxisProfile | None
    depth: AxisProfile | None
    factors: tuple = ()
    nonfinite: str | None = None
    measures: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return json_safe({
            "model": self.model, "kind": self.kind, "backend": self.backend, "verdict": self.verdict,
            "factor": self.factor, "cure": self.cure, "study": self.study,
            "time": None if self.time is None else self.time.to_dict(),
            "depth": None if self.depth is None else self.depth.to_dict(),
            "factors": [f.to_dict() for f in self.factors], "nonfinite": self.nonfinite,
            "measures": self.measures, "thresholds": self.thresholds})

    def to_json(self) -> str:
        """Strict JSON (NaN/Inf as null) of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @property
    def responsible(self) -> Factor | None:
        return next((f for f in self.factors if f.responsible), None)

    def summary(self) -> str:
        """A few plain-text lines: verdict, the factor and its number, the crossing, the cure."""
        lines = [f"{self.model} [{self.backend}]: {self.verdict.upper()}"]
        for p in (self.time, self.depth):
            if p is not None:
                lines.append("  " + _axis_line(p, self.thresholds))
        if self.nonfinite:
            lines.append(f"  non-finite: {self.nonfinite}")
        f = self.responsible
        if f is not None:
            lines.append(f"  factor: {f.name}: {f.detail}")
        for g in self.factors:
            if g.name == "LayerNorm placement" and not g.responsible and g.value == "post":
                lines.append(f"  note: {g.detail}")
        if self.cure:
            lines.append(f"  cure: {self.cure}" + (f" (see: rnnflow run {self.study})" if self.study else ""))
        return "\n".join(lines)


def _axis_line(p: AxisProfile, thr: dict) -> str:
    unit = "step" if p.axis == "time" else "layer"
    what = (f"over time (layer {p.layer}), gap 1..{int(p.index[-1])}" if p.axis == "time"
            else f"over depth, layers {int(p.index[-1])}..0")
    end = float(p.log10_ratio[-1]) if p.axis == "time" else float(p.log10_ratio[0])
    end_text = "exactly 0" if np.isneginf(end) else f"1e{end:+.1f}"
    rate = "(a gradient exactly 0)" if np.isneginf(p.rate) else f"{p.rate:+.3g} decades per {unit}"
    head = f"{what}: {p.verdict}, {rate}, ratio at the far end {end_text}"
    if p.crossing is not None:
        t = thr.get("vanish") if p.verdict == "vanishing" else thr.get("explode")
        where = f"gap {p.crossing}" if p.axis == "time" else f"layer {p.crossing} ({p.steps_back} below the top)"
        return head + f"; crosses {t:.0e} at {where}"
    if p.projected is not None:
        return head + f"; would cross a threshold ~{p.projected:.0f} {unit}s back"
    return head
