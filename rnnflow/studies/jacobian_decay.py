"""jacobian_decay: how ``||dh_T/dh_t||`` decays or grows with the gap ``T - t``.

A tanh RNN whose ``W_hh`` is a Gaussian matrix rescaled to spectral radius
``rho`` in {0.5, 0.9, 1.0, 1.1, 1.5}, plus an LSTM (forget-gate bias 0 and 1) and a GRU,
driven by the same N(0, 1) inputs. For each: ``log ||dh_T/dh_t||_2`` for every t
(rnnflow.analysis.jacobians_over_time, float64 log space), its slope per step,
and Pascanu et al.'s bound ``(T-t) log(gamma sigma_max)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import analysis
from ..analysis import LOG10E
from ..config import GRUConfig, Init, LSTMConfig, RNNConfig
from ..models import build
from ..params import init_params
from ..plotting import plot_decay_family
from ..validation import check_int, check_real
from ._common import check_tuple
from ._training import one_thread

NAME = "jacobian_decay"
QUESTION = "How does ||dh_T/dh_t|| decay or grow with T - t, for tanh RNNs of spectral radius rho, LSTM and GRU?"
INPUT_SIZE = 4


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    hidden: int                 # H, hidden units of every model
    steps: int                  # T, length of the input sequences (gaps 0 .. T - 1)
    batch: int                  # B, input sequences (each curve is their mean, with a min-max band)
    rhos: tuple[float, ...]     # spectral radii of the tanh RNNs' W_hh, one model each

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        check_int(owner, "hidden", self.hidden)
        check_int(owner, "steps", self.steps, lo=2)     # a slope needs two gaps
        check_int(owner, "batch", self.batch)
        object.__setattr__(self, "rhos", check_tuple(owner, "rhos", self.rhos,
                                                     partial(check_real, lo=0.0, lo_open=True)))


SCALES = {
    "smoke": Settings(hidden=16, steps=40, batch=2, rhos=(0.5, 1.0, 1.5)),
    "docs": Settings(hidden=64, steps=200, batch=8, rhos=(0.5, 0.9, 1.0, 1.1, 1.5)),
    "full": Settings(hidden=128, steps=1000, batch=16, rhos=(0.5, 0.9, 1.0, 1.1, 1.5)),
}


def slope_per_step(norms, field: str = "log_spectral_h") -> float:
    """Least-squares slope of the batch-mean ``log10 ||J||`` against the gap, over the
    later half of the gaps (past the transient), in decades per step."""
    y = np.nanmean(getattr(norms, field), axis=0) * LOG10E
    gap = norms.gap.astype(np.float64)
    keep = (gap >= gap.max() / 2) & np.isfinite(y)
    return float(np.polyfit(gap[keep], y[keep], 1)[0])


def models(hidden: int, rhos) -> dict:
    out = {}
    for rho in rhos:
        out[f"tanh RNN, rho={rho:g}"] = RNNConfig(
            INPUT_SIZE, hidden, activation="tanh",
            init_hh=Init("normal", std=1.0 / np.sqrt(hidden), spectral_radius=float(rho)))
    out["LSTM"] = LSTMConfig(INPUT_SIZE, hidden)
    out["LSTM, forget bias 1"] = LSTMConfig(INPUT_SIZE, hidden, forget_bias=1.0)
    out["GRU"] = GRUConfig(INPUT_SIZE, hidden)
    return out


def run(ctx) -> dict:
    with one_thread(ctx.backend):   # small models: one thread is fastest, more spin on a busy machine
        return _run(ctx)


def _run(ctx) -> dict:
    s = ctx.settings
    rng = np.random.default_rng(ctx.seed)
    xs = rng.normal(size=(s.steps, s.batch, INPUT_SIZE))
    curves, bounds, results = {}, {}, {}
    for i, (label, config) in enumerate(ctx.tqdm(models(s.hidden, s.rhos).items(), desc=NAME)):
        params = init_params(config, seed=ctx.seed + i, dtype=np.float64)
        model = build(config, params, backend=ctx.backend, device=ctx.device)
        norms = analysis.jacobians_over_time(model, xs)
        curves[label] = norms
        row = {"slope_log10_per_step": slope_per_step(norms),
               "log10_norm_at_max_gap": float(np.mean(norms.log_spectral_h[:, 0]) * LOG10E)}
        if config.cell == "rnn":
            bound = analysis.pascanu_bound(params["layers"][0]["weight_hh"], "tanh")
            bounds[label] = bound
            row.update(sigma_max=bound.sigma_max, spectral_radius=bound.spectral_radius,
                       pascanu_verdict=bound.verdict)
        results[label] = row
        ctx.save_arrays(**{f"{label}/log_spectral_h": norms.log_spectral_h, f"{label}/gap": norms.gap})
    ctx.save_figure(plot_decay_family(curves, bounds=bounds,
                                      title=f"tanh RNN vs LSTM vs GRU, H={s.hidden}, T={s.steps} "
                                            f"({ctx.backend})"), "decay")
    return results
