"""copy_spectra: where the recurrent spectra of a tanh RNN and an LSTM go while they learn the copy task.

Both models (``hidden`` units, orthogonal recurrent init, the LSTM with forget bias 1) are trained
with Adam and norm clipping 1 on the copying memory task (:mod:`rnnflow.tasks.copy`: ``n_copy``
symbols, a delay of ``delay`` steps, cross-entropy at every step), with the gradient monitor's
spectrum record on (:mod:`rnnflow.training.spectrum`): before the first step and after every
monitor epoch of ``epoch_steps`` steps,

* the eigenvalues, spectral radius and ``sigma_max`` of the tanh RNN's ``W_hh`` and of each of the
  LSTM's gate blocks of ``weight_hh`` (``i, f, g, o``);
* the top-``k`` Lyapunov exponents of each model on a fixed probe batch of ``probe_batch`` copy
  sequences (``lambda_max > 0``: the state's sensitivity grows along the sequence, the dynamical
  face of exploding gradients; ``< 0``: it decays, vanishing ones).

The headline numbers: each matrix's spectral radius and ``sigma_max`` and each model's
``lambda_max`` before and after training, how many eigenvalues lie outside the unit circle, and
the copy accuracy on ``n_eval`` held-out sequences (the recalled symbols; chance ``1/n_symbols``)
next to the final loss and the memoryless baseline ``n_copy log(n_symbols) / (delay + 2 n_copy)``.
Training runs in float32 from the same parameters and batches in both backends.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import load
from ..config import LSTMConfig, RNNConfig
from ..params import init_params
from ..plotting import plot_eigenvalue_migration, plot_loss_curves, plot_spectrum_trace
from ..tasks import copy_baseline
from ..training import SpectrumSettings, TrainConfig, copy_data
from ..validation import check_int, check_real, fail
from ._training import fit, predict

NAME = "copy_spectra"
QUESTION = "Where do the recurrent eigenvalues and Lyapunov exponents of a tanh RNN and an LSTM go as they learn to copy?"
CLIP = 1.0     # gradient-norm clipping of both models
MODELS = ("tanh RNN", "LSTM")
RIM = 1e-4     # |lambda| > 1 + RIM counts as outside the unit circle (an orthogonal init lies on it, to float32 rounding)


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``)."""

    delay: int          # steps between the last symbol and the marker (sequences of delay + 2 n_copy)
    n_copy: int         # symbols to remember
    n_symbols: int      # data symbols (one-hot width n_symbols + 2)
    hidden: int         # H of both models
    steps: int          # Adam steps
    batch: int          # sequences per step
    epoch_steps: int    # steps per monitor epoch: a spectrum record after each
    lr: float           # Adam learning rate of both models
    k: int              # Lyapunov exponents recorded per model
    probe_batch: int    # sequences of the fixed probe batch
    n_eval: int         # held-out sequences of the copy accuracy

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        for name in ("delay", "n_copy", "n_symbols", "hidden", "batch", "n_eval", "probe_batch"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "epoch_steps", self.epoch_steps)
        check_int(owner, "steps", self.steps)
        check_real(owner, "lr", self.lr, lo=0.0, lo_open=True)
        check_int(owner, "k", self.k, 0)
        if self.k > self.hidden:
            fail(owner, "k", self.k, f"an integer in [0, hidden={self.hidden}] (the tanh RNN's state size)")
        if self.probe_batch > self.batch:
            fail(owner, "probe_batch", self.probe_batch, f"an integer in [1, batch={self.batch}]")


SCALES = {
    "smoke": Settings(delay=10, n_copy=3, n_symbols=4, hidden=16, steps=60, batch=16, epoch_steps=10, lr=1e-2,
                      k=4, probe_batch=2, n_eval=64),
    "docs": Settings(delay=20, n_copy=5, n_symbols=8, hidden=64, steps=3000, batch=32, epoch_steps=150,
                     lr=2e-3, k=4, probe_batch=4, n_eval=512),
    "full": Settings(delay=100, n_copy=10, n_symbols=8, hidden=128, steps=20000, batch=64, epoch_steps=500,
                     lr=1e-3, k=8, probe_batch=8, n_eval=2048),
}


def configs(s: Settings) -> dict:
    K = s.n_symbols + 2
    return {"tanh RNN": RNNConfig(K, s.hidden, activation="tanh", output_size=K),
            "LSTM": LSTMConfig(K, s.hidden, output_size=K, forget_bias=1.0)}


def copy_accuracy(y_pred: np.ndarray, y: np.ndarray, n_copy: int) -> float:
    """The fraction of the recalled symbols (the last ``n_copy`` steps) predicted right;
    ``y_pred`` ``(L, B, K)`` logits, ``y`` ``(L, B)`` labels."""
    return float(np.mean(np.argmax(y_pred[-n_copy:], axis=-1) == y[-n_copy:]))


def _spectrum_row(sp) -> dict:
    row = {}
    for j, m in enumerate(sp.matrices):
        lam = sp.eigenvalues[:, j]
        row[m] = {"spectral_radius_init": float(sp.spectral_radius[0, j]),
                  "spectral_radius_final": float(sp.spectral_radius[-1, j]),
                  "sigma_max_init": float(sp.sigma_max[0, j]), "sigma_max_final": float(sp.sigma_max[-1, j]),
                  "outside_unit_circle_init": int((np.abs(lam[0]) > 1 + RIM).sum()),
                  "outside_unit_circle_final": int((np.abs(lam[-1]) > 1 + RIM).sum())}
    if sp.lyapunov.shape[-1]:
        lam_max = sp.lambda_max[:, 0]
        row["lambda_max_init"] = float(lam_max[0])
        row["lambda_max_final"] = float(lam_max[-1])
        row["lambda_max_highest"] = float(lam_max.max())
        row["lambda_max_highest_epoch"] = int(sp.epoch[int(np.argmax(lam_max))])
    return row


def run(ctx) -> dict:
    s = ctx.settings
    data = copy_data(s.delay, s.batch, n_symbols=s.n_symbols, n_copy=s.n_copy)
    x_eval, y_eval = copy_data(s.delay, s.n_eval, n_symbols=s.n_symbols, n_copy=s.n_copy)(
        0, np.random.default_rng([ctx.seed, 10**6]))
    baseline = copy_baseline(s.delay, n_symbols=s.n_symbols, n_copy=s.n_copy)
    monitor_cls = load(ctx.backend).GradientMonitor
    spectrum = SpectrumSettings(every=1, k=s.k, probe_batch=s.probe_batch, seed=ctx.seed)
    results = {"baseline_loss": baseline, "chance_accuracy": 1.0 / s.n_symbols}
    spectra, losses = {}, {}
    for name, config in ctx.tqdm(list(configs(s).items()), desc=NAME):
        tc = TrainConfig(optimizer="adam", lr=s.lr, batch_size=s.batch, steps=s.steps, loss="xent_all", clip="norm",
                         clip_value=CLIP, hist_every=s.epoch_steps, log_every=s.epoch_steps, seed=ctx.seed)
        r = fit(ctx, config, init_params(config, seed=ctx.seed, dtype=np.float32), data, tc,
                monitor=monitor_cls(hist_every=0, spectrum=spectrum))
        sp = spectra[name] = r.gradients.spectrum
        losses[name] = r.metrics
        with np.errstate(all="ignore"):
            acc = copy_accuracy(predict(ctx.backend, config, r.params, x_eval), y_eval, s.n_copy)
        tail = max(1, s.steps // 10)
        results[name] = {"copy_accuracy": acc, "final_loss": float(np.mean(r.metrics.loss[-tail:])),
                         "status": r.status, **_spectrum_row(sp)}
        key = name.replace(" ", "_")
        ctx.save_arrays(**{f"{key}/loss": r.metrics.loss, f"{key}/epoch": sp.epoch,
                           f"{key}/eigenvalues": sp.eigenvalues, f"{key}/spectral_radius": sp.spectral_radius,
                           f"{key}/sigma_max": sp.sigma_max, f"{key}/lyapunov": sp.lyapunov})
    where = (f"copy task, delay {s.delay}, {s.n_copy} symbols; H = {s.hidden}; {s.steps} Adam steps, "
             f"a record every {s.epoch_steps} ({ctx.backend})")
    ctx.save_figure(plot_eigenvalue_migration(spectra, ncols=3, title=f"Eigenvalues of the recurrent matrices "
                                                                      f"during training: {where}"), "eigenvalues")
    ctx.save_figure(plot_spectrum_trace(spectra, title=f"Spectral radius, sigma_max and lambda_max: {where}"),
                    "spectrum_trace")
    fig = plot_loss_curves({n: losses[n] for n in MODELS}, smooth=max(1, s.steps // 50), baseline=baseline,
                           baseline_label="memoryless baseline")
    fig.axes[0].set_title(f"Copy-task loss: {where}", fontsize="medium")
    ctx.save_figure(fig, "loss")
    return results
