"""mean_field: the mean-field phase diagram of deep MLPs, measured (Poole et al. 2016; Schoenholz et al. 2017).

For a random MLP with ``W ~ N(0, sigma_w^2 / N)``, ``b ~ N(0, sigma_b^2)`` the backpropagated
gradient changes by ``sqrt(chi_1)`` per layer (rnnflow.analysis.mean_field). The study

* draws the tanh ``(sigma_w^2, sigma_b^2)`` phase diagram (``ln(chi_1) / 2`` and the ``chi_1 = 1``
  line, ``xi_c`` contours) and measures the per-layer slope of ``log ||dL/dy^l||`` on wide MLPs
  (``measure_slope``: rnnflow.analysis.gradient_through_depth, float64) at 15 points, tanh and
  ReLU, ordered, critical and chaotic, next to the prediction;
* trains tanh MLPs on the 8x8 digits for a small fixed budget over ``(sigma_w^2, depth)`` and
  draws the ``6 xi_c`` depth scale that bounds the trainable region in Schoenholz et al. Fig. 5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..analysis.mean_field import measure_slope, phase_grid, trainability
from ..plotting.mean_field import plot_phase_diagram, plot_trainability
from ..validation import check_int, check_real
from ._common import check_tuple
from ._training import one_thread

NAME = "mean_field"
QUESTION = "Does the per-layer gradient slope of a wide random MLP follow ln(chi_1)/2, and where does it stop training?"
# (activation, sigma_w^2, sigma_b^2): ordered, critical and chaotic tanh; ReLU around (2, 0)
POINTS = (("tanh", 0.5, 0.0), ("tanh", 0.8, 0.05), ("tanh", 1.0, 0.0), ("tanh", 1.3, 0.0),
          ("tanh", 1.5, 0.05), ("tanh", 2.0, 0.1), ("tanh", 2.5, 0.3), ("tanh", 3.0, 0.01),
          ("tanh", 4.0, 0.2), ("tanh", 1.2, 0.5), ("relu", 1.6, 0.0), ("relu", 1.8, 0.05),
          ("relu", 2.0, 0.0), ("relu", 2.2, 0.0), ("relu", 2.5, 0.1))
TOL = 0.01            # the claim: |measured - predicted| <= max(TOL, 5% of predicted) per layer
SIGMA_B2_TRAIN = 0.05


def _positive(owner, name, value):
    check_real(owner, name, value, lo=0.0, lo_open=True)


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``)."""

    width: int                        # N, hidden units of the measured MLPs
    depth: int                        # L, hidden layers of the measured MLPs
    batch: int                        # B, examples per measurement
    nets: int                         # independent networks averaged per point
    grid: int                         # the phase diagram's resolution per axis
    train_width: int                  # hidden units of the trained MLPs
    train_steps: int                  # the fixed training budget (RMSProp steps)
    train_depths: tuple[int, ...]     # depths trained, increasing
    train_sigma_w2: tuple[float, ...]  # sigma_w^2 trained, increasing

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        for name in ("width", "batch", "nets", "train_width"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "depth", self.depth, 3)
        check_int(owner, "grid", self.grid, 4)
        check_int(owner, "train_steps", self.train_steps, 10)
        object.__setattr__(self, "train_depths", check_tuple(owner, "train_depths", self.train_depths, check_int,
                                                             min_len=1, increasing=True))
        object.__setattr__(self, "train_sigma_w2", check_tuple(owner, "train_sigma_w2", self.train_sigma_w2,
                                                               _positive, min_len=2, increasing=True))


SCALES = {
    "smoke": Settings(width=64, depth=6, batch=4, nets=1, grid=8, train_width=16, train_steps=10,
                      train_depths=(2, 4), train_sigma_w2=(1.0, 2.0)),
    "docs": Settings(width=512, depth=24, batch=8, nets=2, grid=40, train_width=64, train_steps=200,
                     train_depths=(5, 10, 20, 40), train_sigma_w2=(1.0, 1.75, 2.5, 3.25, 4.0)),
    "full": Settings(width=1024, depth=48, batch=16, nets=4, grid=80, train_width=128, train_steps=2000,
                     train_depths=(5, 10, 20, 40, 80, 160), train_sigma_w2=(1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)),
}


def run(ctx) -> dict:
    s = ctx.settings
    slopes, results = [], {}
    for act, w2, b2 in ctx.tqdm(POINTS, desc=f"{NAME} slopes"):
        r = measure_slope(act, math.sqrt(w2), math.sqrt(b2), width=s.width, depth=s.depth, batch=s.batch,
                          nets=s.nets, backend=ctx.backend, seed=ctx.seed, device=ctx.device)
        slopes.append(r)
        results[f"{act} sigma_w^2={w2:g} sigma_b^2={b2:g}"] = {
            "measured": r.measured, "predicted": r.predicted, "error": r.error,
            "within_claim": bool(abs(r.error) <= max(TOL, 0.05 * abs(r.predicted)))}
        ctx.save_arrays(**{f"slopes/{act}/{w2:g}/{b2:g}/log_grad_norm": r.log_grad_norm})
    err = np.array([abs(r.error) for r in slopes])
    results["all points"] = {"points": len(slopes), "within_claim": int(sum(v["within_claim"] for k, v in
                                                                            results.items())),
                             "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}
    sw2, sb2 = np.linspace(0.3, 4.5, s.grid), np.linspace(0.0, 0.6, s.grid)
    grid = phase_grid("tanh", sw2, sb2)
    ctx.save_arrays(**{f"phase/{k}": v for k, v in grid.items()}, **{"phase/sigma_w2": sw2, "phase/sigma_b2": sb2})
    fig = plot_phase_diagram(sw2, sb2, grid, slopes, tol=TOL)
    fig.suptitle(f"Mean-field phase diagram and per-layer gradient slopes: width {s.width}, depth {s.depth}, "
                 f"{s.nets} net(s) per point ({ctx.backend})", fontsize="medium")
    ctx.save_figure(fig, "phase_diagram")
    with one_thread(ctx.backend):
        tr = trainability("tanh", s.train_sigma_w2, s.train_depths, sigma_b2=SIGMA_B2_TRAIN, width=s.train_width,
                          steps=s.train_steps, backend=ctx.backend, seed=ctx.seed, device=ctx.device)
    ctx.save_arrays(**{"train/loss": tr.loss, "train/xi_c": tr.xi_c, "train/depths": tr.depths,
                       "train/sigma_w2": tr.sigma_w2})
    ctx.save_figure(plot_trainability(tr), "trainability")
    for i, d in enumerate(tr.depths):
        results[f"trained, depth {d}"] = {f"loss at sigma_w^2={a:g}": float(tr.loss[i, j])
                                          for j, a in enumerate(tr.sigma_w2)}
    results["trained, 6 xi_c"] = {f"sigma_w^2={a:g}": float(6 * x) for a, x in zip(tr.sigma_w2, tr.xi_c)}
    return results
