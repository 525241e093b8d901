"""clipping: exploding gradients on the adding problem, without clipping and with norm or value clipping.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
networks", and seed 002 (``clip_grad_norm_`` / ``clip_grad_value_``). A tanh RNN
(``H`` units, linear readout) whose ``W_hh`` is a Gaussian matrix rescaled to spectral
radius ``rho = 1.8`` (``Init("normal", std=1/sqrt(H), spectral_radius=1.8)``: the
exploding regime) is trained with plain SGD (lr 0.05, batch 32, MSE at the last step,
float32) on the adding problem (:func:`rnnflow.training.adding_data`), for several seeds
(seed ``s`` fixes both the initial weights and the batches), three ways:

* ``none``   no clipping;
* ``norm``   ``g <- g min(1, c / ||g||)`` with ``c = 1`` (global L2 norm);
* ``value``  ``g_i <- clamp(g_i, -0.1, 0.1)`` entrywise.

Definitions used in the headline numbers (per clipping mode, over the seeds):

* a run **diverged** if the trainer met a non-finite loss, gradient or update
  (``TrainResult.events``; the step is skipped and the run goes on) *or* its final loss
  (mean over the last 10 % of steps) is above ``2 * ADDING_BASELINE_MSE`` = 1/12, twice
  the error of always predicting 0.5 (which every run reaches within a few dozen steps);
* a **spike** is a step, after the first 10 % of the run, whose loss exceeds
  ``10 * ADDING_BASELINE_MSE``; ``runs_with_spikes`` counts the runs that have one;
* the **solved rate** is the fraction of 1000 held-out sequences (one fixed batch, the
  same for every run) with squared error below 0.04 (:func:`rnnflow.tasks.adding_solved`);
  predicting 0.5 already scores 0.64 (see :mod:`rnnflow.tasks.adding`).

Plus Pascanu's Fig. 6: the one-unit model ``x_t = w sigmoid(x_{t-1}) + b`` over 50
steps (:mod:`rnnflow.analysis.clipping`), 80 steps of gradient descent (lr 0.1) started on
the high-error plateau just below the wall, at ``(w, b) = (4.25, -2.9)``: the unclipped
path reaches the wall, takes one step of length ~4 and lands on the far plateau, where
the gradient is ~0 and it stays; the norm-clipped one (``c = 1``) steps down into the
valley.

Scales: ``docs`` (H 32, T 20, 1000 steps, 5 seeds) is a reduced version of the paper's
setting (sequences of 50 steps and more, far longer training) that fits the docs build;
``full`` uses H 50, T 50, 20000 steps and 10 seeds. At the docs
budget even the clipped runs only partly learn the task (solved rate above the 0.64
baseline, below 0.9); what it shows is the divergence. Unclipped SGD is chaotic here:
torch and JAX agree on the first steps, but after a spike their float32 trajectories
part, so which seeds diverge can differ between the backends.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis import cliff_loss_and_grad, descend
from ..config import Init, RNNConfig
from ..params import init_params
from ..plotting import plot_cliff_descent, plot_grad_norm_panels, plot_loss_panels
from ..tasks import ADDING_BASELINE_MSE, adding_batch, adding_solved
from ..training import TrainConfig, adding_data
from ..validation import check_int, check_real
from ._training import fit, predict

NAME = "clipping"
QUESTION = ("Does gradient clipping (by norm or by value) stop a tanh RNN with an exploding W_hh "
            "from diverging on the adding problem?")


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    hidden: int       # H, hidden units of the tanh RNN
    T: int            # length of the adding problem's sequences
    steps: int        # SGD steps per run
    seeds: int        # runs per clipping mode, seeds seed .. seed + seeds - 1
    lr: float         # SGD learning rate
    rho: float        # spectral radius of the initial W_hh (> 1: the exploding regime)
    n_eval: int       # held-out sequences for the solved rate

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        for name in ("hidden", "steps", "seeds", "n_eval"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "T", self.T, lo=2)          # two marked values
        check_real(owner, "lr", self.lr, lo=0.0, lo_open=True)
        check_real(owner, "rho", self.rho, lo=0.0, lo_open=True)


SCALES = {
    "smoke": Settings(hidden=16, T=10, steps=60, seeds=2, lr=0.05, rho=1.8, n_eval=200),
    "docs": Settings(hidden=32, T=20, steps=1000, seeds=5, lr=0.05, rho=1.8, n_eval=1000),
    "full": Settings(hidden=50, T=50, steps=20000, seeds=10, lr=0.05, rho=1.8, n_eval=1000),
}
BATCH = 32
CLIP_NORM = 1.0          # c for norm clipping
CLIP_VALUE = 0.1         # entrywise bound for value clipping
MODES = {"none": "no clipping", "norm": f"norm clipping, c = {CLIP_NORM:g}",
         "value": f"value clipping, |g_i| <= {CLIP_VALUE:g}"}
DIVERGED_LOSS = 2.0 * ADDING_BASELINE_MSE
SPIKE_LOSS = 10.0 * ADDING_BASELINE_MSE
# the cliff (Pascanu Fig. 6): start, learning rate, iterations, window
CLIFF = dict(w0=4.25, b0=-2.9, lr=0.1, iters=80, threshold=1.0, w=(2.5, 8.5), b=(-4.5, 1.5), grid=301)


def model_config(hidden: int, rho: float) -> RNNConfig:
    return RNNConfig(2, hidden, activation="tanh", output_size=1,
                     init_hh=Init("normal", std=1.0 / np.sqrt(hidden), spectral_radius=float(rho)))


def summarise(loss: np.ndarray, n_events: int) -> dict:
    """Final loss (last 10 %), spike count and the divergence verdict of one run."""
    n = len(loss)
    tail = loss[n - max(1, n // 10):]
    with np.errstate(all="ignore"):
        final = float(np.mean(tail)) if np.isfinite(tail).all() else float("inf")
        spikes = int(np.sum(~(loss[n // 10:] <= SPIKE_LOSS)))  # NaN and Inf count as spikes
    return {"final_loss": final, "spikes": spikes, "nonfinite_events": int(n_events),
            "diverged": bool(n_events > 0 or not final <= DIVERGED_LOSS)}


def run(ctx) -> dict:
    s = ctx.settings
    config = model_config(s.hidden, s.rho)
    x_eval, y_eval = adding_batch(np.random.default_rng([ctx.seed, 10**6]), s.n_eval, s.T)
    data = adding_data(s.T, BATCH)
    runs = {mode: {} for mode in MODES}
    per_run = {mode: [] for mode in MODES}
    jobs = [(mode, ctx.seed + k) for k in range(s.seeds) for mode in MODES]
    for mode, seed in ctx.tqdm(jobs, desc=NAME):
        tc = TrainConfig(optimizer="sgd", lr=s.lr, batch_size=BATCH, steps=s.steps, loss="mse_last",
                         clip=mode, clip_value=CLIP_VALUE if mode == "value" else CLIP_NORM, seed=seed)
        r = fit(ctx, config, init_params(config, seed=seed, dtype=np.float32), data, tc)
        runs[mode][f"seed {seed}"] = r
        with np.errstate(all="ignore"):
            solved = float(np.mean(adding_solved(predict(ctx.backend, config, r.params, x_eval)[-1], y_eval)))
        m = r.metrics
        row = summarise(m.loss, len(r.events))
        row.update(seed=seed, solved_rate=solved, max_grad_norm=_nanmax(m.grad_norm),
                   max_grad_norm_after_clipping=_nanmax(m.grad_norm_clipped))
        per_run[mode].append(row)
        ctx.save_arrays(**{f"{mode}/seed{seed}/{k}": getattr(m, k)
                           for k in ("loss", "grad_norm", "grad_norm_clipped", "skipped")})
    results = {mode: _totals(rows) for mode, rows in per_run.items()}
    results["settings"] = {"T": s.T, "hidden": s.hidden, "spectral_radius": s.rho, "lr": s.lr,
                           "clip_norm": CLIP_NORM, "clip_value": CLIP_VALUE, "diverged_loss": DIVERGED_LOSS,
                           "spike_loss": SPIKE_LOSS, "baseline_mse": ADDING_BASELINE_MSE}

    where = f"tanh RNN H={s.hidden}, rho={s.rho:g}, adding T={s.T}, SGD lr {s.lr:g} ({ctx.backend})"
    panels = {MODES[mode]: runs[mode] for mode in MODES}
    ctx.save_figure(plot_loss_panels(panels, baseline=ADDING_BASELINE_MSE, baseline_label="predict 0.5 (1/24)",
                                     smooth=max(1, s.steps // 100), sharey=False,
                                     title=f"Training loss, {s.seeds} seeds: {where}"), "loss")
    ctx.save_figure(plot_grad_norm_panels(panels, thresholds={MODES["none"]: CLIP_NORM, MODES["norm"]: CLIP_NORM},
                                          sharey=False, title=f"Gradient norm before clipping: {where}"),
                    "grad_norms")
    results["cliff"] = _cliff(ctx)
    return results


def _cliff(ctx) -> dict:
    c = CLIFF
    W, B = np.meshgrid(np.linspace(*c["w"], c["grid"]), np.linspace(*c["b"], c["grid"]))
    E, _, _ = cliff_loss_and_grad(W, B)
    paths = {"no clipping": descend(c["w0"], c["b0"], lr=c["lr"], iters=c["iters"]),
             f"norm clipping (c = {c['threshold']:g})": descend(c["w0"], c["b0"], lr=c["lr"], iters=c["iters"],
                                                                     clip="norm", threshold=c["threshold"])}
    ctx.save_figure(plot_cliff_descent(W, B, E, paths, lr=c["lr"]), "cliff")
    out = {"start": [c["w0"], c["b0"]], "lr": c["lr"], "iterations": c["iters"]}
    for label, path in paths.items():
        steps = np.linalg.norm(np.diff(path.points, axis=0), axis=1)
        out[label] = {"max_grad_norm": float(path.grad_norm.max()), "max_step": float(steps.max()),
                      "final_error": float(path.loss[-1]), "end": path.points[-1].tolist()}
        ctx.save_arrays(**{f"cliff/{label}/points": path.points, f"cliff/{label}/loss": path.loss})
    return out


def _nanmax(v) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.max()) if v.size else float("nan")


def _totals(rows) -> dict:
    return {
        "runs": len(rows),
        "diverged": sum(r["diverged"] for r in rows),
        "diverged_seeds": [r["seed"] for r in rows if r["diverged"]],
        "runs_with_nonfinite_steps": sum(r["nonfinite_events"] > 0 for r in rows),
        "runs_with_spikes": sum(r["spikes"] > 0 for r in rows),
        "solved_rate_mean": float(np.mean([r["solved_rate"] for r in rows])),
        "solved_rate_per_seed": [round(r["solved_rate"], 4) for r in rows],
        "final_loss_median": float(np.median([r["final_loss"] for r in rows])),
        "max_grad_norm": _nanmax([r["max_grad_norm"] for r in rows]),
        "max_grad_norm_after_clipping": _nanmax([r["max_grad_norm_after_clipping"] for r in rows]),
    }
