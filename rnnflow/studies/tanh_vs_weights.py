"""tanh_vs_weights (seed 003): the Jacobian product split into its two factors.

``dh_T/dh_t = D_T W D_{T-1} W ... D_{t+1} W`` with ``D_k = diag(tanh'(a_k))``.
Two tanh RNNs: a *vanishing* one (rho(W_hh) = 0.9, inputs large enough to saturate
tanh) and an *exploding* one (rho = 1.2, inputs of size ``0.01 rho^-T`` so the state
stays in tanh's linear range, tanh' ~ 1, and ``W_hh^k`` dominates; with larger inputs
the state saturates within a few steps and tanh' caps the growth). rnnflow.analysis.elman_decomposition reports the activation
factor (``sum_k log max tanh'``, and the mean ``log tanh'``), the weight factor
``log ||W_hh^k||`` and its asymptote ``k log rho``, and the measured norm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import analysis
from .._backend import load
from ..analysis import LOG10E
from ..config import Init, RNNConfig
from ..models import build
from ..params import init_params
from ..plotting import plot_elman_decomposition_panels
from ..validation import check_int
from ._training import one_thread

NAME = "tanh_vs_weights"
QUESTION = "Is vanishing caused by tanh' and exploding by the repeated W_hh?"
REGIMES = {  # name: (spectral radius of W_hh, input scale; None: 0.01 * rho**-T)
    "vanishing": (0.9, 3.0),
    "exploding": (1.2, None),
}
INPUT_SIZE = 4


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    hidden: int     # H, hidden units of both RNNs
    steps: int      # T, length of the input sequences (gaps 1 .. T)
    batch: int      # B, input sequences (each curve is their mean, with a min-max band)

    def __post_init__(self):
        for name in ("hidden", "steps", "batch"):
            check_int(f"{NAME}.Settings", name, getattr(self, name))


SCALES = {
    "smoke": Settings(hidden=16, steps=30, batch=2),
    "docs": Settings(hidden=64, steps=100, batch=8),
    "full": Settings(hidden=128, steps=400, batch=16),
}


def run(ctx) -> dict:
    with one_thread(ctx.backend):   # small models: one thread is fastest, more spin on a busy machine
        return _run(ctx)


def _run(ctx) -> dict:
    s = ctx.settings
    arrays = load(ctx.backend).arrays
    panels, results = {}, {}
    for name, (rho, scale) in REGIMES.items():
        scale = scale if scale is not None else 0.01 * rho ** -s.steps
        config = RNNConfig(INPUT_SIZE, s.hidden, activation="tanh",
                           init_hh=Init("normal", std=1.0 / np.sqrt(s.hidden), spectral_radius=rho))
        model = build(config, init_params(config, seed=ctx.seed, dtype=np.float64), backend=ctx.backend, device=ctx.device)
        xs = scale * np.random.default_rng(ctx.seed).normal(size=(s.steps, s.batch, INPUT_SIZE))
        dec = analysis.elman_decomposition(model, xs)
        max_h = float(np.max(np.abs(arrays.numpy(model(arrays.asarray(xs)).hidden))))
        panels[f"{name}: rho(W_hh)={rho}, inputs ~{scale:.1g}, max|h|={max_h:.2g} ({ctx.backend})"] = dec
        k = -1 if dec.gap[0] < dec.gap[-1] else 0  # index of the largest gap
        results[name] = {
            "rho": rho, "input_scale": scale, "max_abs_h": max_h, "max_gap": int(dec.gap[k]),
            "log10_measured": float(np.mean(dec.log_jacobian[:, k]) * LOG10E),
            "log10_activation_factor_max": float(np.mean(dec.log_dphi_max[:, k]) * LOG10E),
            "log10_activation_factor_mean": float(np.mean(dec.log_dphi_mean[:, k]) * LOG10E),
            "log10_weight_power": float(dec.log_weight_power[k] * LOG10E),
            "log10_spectral_radius": float(dec.log_spectral_radius * LOG10E),
        }
        ctx.save_arrays(**{f"{name}/{f}": getattr(dec, f) for f in
                           ("gap", "log_jacobian", "log_dphi_max", "log_dphi_mean", "log_weight_power")})
    ctx.save_figure(plot_elman_decomposition_panels(panels), "decomposition")
    return results
