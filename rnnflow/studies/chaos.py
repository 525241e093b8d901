"""chaos: the transition to chaos of a random tanh RNN and its whole Lyapunov spectrum.

The autonomous network ``h_{t+1} = tanh(W h_t)``, ``W ~ N(0, g^2/N)`` (an rnnflow ``RNNConfig``
with zero input weights and biases, run with ``x_t = 0`` from a random ``h_0``): one standard
Gaussian matrix per ``N``, scaled by ``g``, so the g-sweep follows one network. Its step
Jacobians ``diag(1 - h_{t+1}^2) W`` come from the model in the study's backend through
:func:`rnnflow.analysis.lyapunov_spectrum` (QR method, float64). The study measures

* ``lambda_max`` against ``g`` at ``N = width`` next to the mean-field ``(1/2) ln chi``
  (:func:`rnnflow.analysis.chaos.mean_field_max_exponent`: ``ln g`` below 1, positive above;
  Sompolinsky, Crisanti & Sommers 1988), and the ``g`` where the measured ``lambda_max`` changes
  sign (interpolated; the first and the last change, as a finite network can sit at
  ``lambda_max = 0`` -- a limit cycle or torus -- just above ``g = 1``), and the smallest gain from
  which on ``lambda_max`` exceeds three standard errors;
* the same ``lambda_max`` by two trajectories ``1e-8`` apart over the same steps
  (:func:`~rnnflow.analysis.chaos.largest_exponent_direct`), each with a block-mean standard error;
* the spectra for ``N`` in ``sizes`` at each ``g`` of ``size_gains`` against ``i/N``: they
  collapse onto one curve (Engelken, Wolf & Abbott 2020: the spectrum is size-invariant), so the
  Kaplan-Yorke dimension and the entropy rate grow like ``N``;
* ``D_KY / N`` and the entropy rate ``sum_{lambda_i > 0} lambda_i`` against ``g``;
* the convergence of the running estimates (``trace=True``).

Trajectories are chaotic: torch and jax round differently, so for ``g > 1`` their trajectories
part after about ``ln(1e16) / lambda_max`` steps and the two backends agree on the exponents only
to their statistical error (the smoke scale's runs are short enough to agree to ~1e-8).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..analysis.chaos import (
    block_stderr, entropy_rate, kaplan_yorke_dimension, largest_exponent_direct, mean_field_max_exponent,
)
from ..analysis.lyapunov import lyapunov_spectrum
from ..config import Init, RNNConfig
from ..models import build
from ..params import init_params
from ..plotting.chaos import plot_convergence, plot_dimension_entropy, plot_size_collapse, plot_transition
from ..validation import check_int, check_real
from ._common import check_tuple
from ._training import one_thread

NAME = "chaos"
QUESTION = "Where does a random tanh RNN become chaotic, and does its Lyapunov spectrum follow mean-field theory?"
MIN_WIDTH = 16    # below this, finite-size effects swamp the mean-field and size-collapse claims


def _gain(owner, name, value):
    check_real(owner, name, value, lo=0.0, lo_open=True)


def _width(owner, name, value):
    check_int(owner, name, value, MIN_WIDTH)


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``)."""

    width: int                      # N of the g-sweep
    gains: tuple[float, ...]        # g swept, increasing
    sizes: tuple[int, ...]          # N of the size collapse, increasing
    size_gains: tuple[float, ...]   # g of the size collapse, increasing
    warmup: int                     # steps that settle the state and the tangent basis
    steps: int                      # steps averaged, by both methods (the same window of the trajectory)
    blocks: int                     # blocks of the standard errors
    reortho: int                    # steps between QRs (1: every step)

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        _width(owner, "width", self.width)
        check_int(owner, "warmup", self.warmup, 0)
        check_int(owner, "blocks", self.blocks, 2)
        check_int(owner, "steps", self.steps, max(self.blocks, 2))
        check_int(owner, "reortho", self.reortho)
        if self.reortho > self.steps:
            raise ValueError(f"{owner}.reortho={self.reortho!r} is invalid: expected an integer in "
                             f"[1, steps={self.steps}]")
        for name in ("gains", "size_gains"):
            object.__setattr__(self, name, check_tuple(owner, name, getattr(self, name), _gain, increasing=True,
                                                       min_len=2 if name == "gains" else 1))
        object.__setattr__(self, "sizes", check_tuple(owner, "sizes", self.sizes, _width, min_len=2,
                                                      increasing=True))


SCALES = {
    "smoke": Settings(width=24, gains=(0.5, 1.5, 2.5), sizes=(16, 32), size_gains=(2.0,), warmup=20,
                      steps=40, blocks=4, reortho=1),
    "docs": Settings(width=200, gains=(0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0),
                     sizes=(100, 200, 400), size_gains=(2.0, 4.0), warmup=500, steps=1500,
                     blocks=20, reortho=1),
    "full": Settings(width=400, gains=(0.5, 0.75, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0),
                     sizes=(100, 200, 400, 800), size_gains=(2.0, 4.0), warmup=1000, steps=5000,
                     blocks=20, reortho=1),
}


def config(N: int, g: float) -> RNNConfig:
    """``h' = tanh(W h)``: zero input weights and biases, ``W ~ N(0, g^2/N)``."""
    return RNNConfig(input_size=1, hidden_size=N, init_ih=Init("zeros"),
                     init_hh=Init("normal", std=g / math.sqrt(N)))


def crossing(gains, lam, last: bool = False) -> float | None:
    """The ``g`` of the first (``last``: the last) sign change of ``lam`` from ``< 0`` to ``>= 0``,
    linearly interpolated; None without one."""
    found = [float(g0 + (g1 - g0) * (-l0) / (l1 - l0))
             for (g0, l0), (g1, l1) in zip(zip(gains, lam), zip(gains[1:], lam[1:])) if l0 < 0 <= l1]
    return (found[-1] if last else found[0]) if found else None


def chaotic_from(gains, lam, se, z: float = 3.0) -> float | None:
    """The smallest gain from which on every ``lam - z se > 0`` (significantly chaotic); None if none."""
    out = None
    for g, l, e in reversed(list(zip(gains, lam, se))):
        if l - z * e <= 0:
            break
        out = float(g)
    return out


def _measure(ctx, N: int, g: float, direct: bool) -> dict:
    s = ctx.settings
    model = build(config(N, g), init_params(config(N, g), seed=ctx.seed, dtype=np.float64), backend=ctx.backend, device=ctx.device)
    h0 = 0.5 * np.random.default_rng([ctx.seed, N]).standard_normal((1, 1, N))   # (L, B, H)
    with one_thread(ctx.backend):
        sp = lyapunov_spectrum(model, h0=h0, steps=s.steps, warmup=s.warmup, reortho=s.reortho, trace=True,
                               backend=ctx.backend, device=ctx.device)
        d = largest_exponent_direct(model, h0, steps=s.steps, warmup=s.warmup, blocks=s.blocks) \
            if direct else None
    e = sp.exponents[0]
    return {"exponents": e, "running": sp.running[:, 0], "trace_steps": sp.trace_steps,
            "stderr": float(block_stderr(sp.local[:, 0, 0], s.blocks)), "direct": d,
            "kaplan_yorke": kaplan_yorke_dimension(e), "entropy_rate": entropy_rate(e)}


def _row(m: dict, N: int, g: float) -> dict:
    row = {"lambda_max": float(m["exponents"][0]), "lambda_max_stderr": m["stderr"],
           "mean_field_lambda_max": mean_field_max_exponent(g), "lambda_min": float(m["exponents"][-1]),
           "kaplan_yorke": m["kaplan_yorke"], "kaplan_yorke_per_N": m["kaplan_yorke"] / N,
           "entropy_rate": m["entropy_rate"], "positive_exponents": int((m["exponents"] > 0).sum())}
    if m["direct"] is not None:
        d = m["direct"]
        row.update({"lambda_max_direct": float(d.exponent[0]), "direct_stderr": float(d.stderr[0]),
                    "direct_minus_qr_in_stderrs": float((d.exponent[0] - row["lambda_max"])
                                                        / math.hypot(d.stderr[0], row["lambda_max_stderr"]))})
    return row


def run(ctx) -> dict:
    s = ctx.settings
    runs, results = {}, {}
    cases = [(s.width, g) for g in s.gains] + [(N, g) for g in s.size_gains for N in s.sizes
                                                if not (N == s.width and g in s.gains)]
    for N, g in ctx.tqdm(cases, desc=NAME):
        runs[N, g] = m = _measure(ctx, N, g, direct=N == s.width)
        results[f"N={N}, g={g:g}"] = _row(m, N, g)
        ctx.save_arrays(**{f"N{N}/g{g:g}/exponents": m["exponents"], f"N{N}/g{g:g}/running_max": m["running"][:, 0]})
        if m["direct"] is not None:
            ctx.save_arrays(**{f"N{N}/g{g:g}/direct_local": m["direct"].local[:, 0]})
    lam = [results[f"N={s.width}, g={g:g}"]["lambda_max"] for g in s.gains]
    se = [results[f"N={s.width}, g={g:g}"]["lambda_max_stderr"] for g in s.gains]
    z = [abs(results[f"N={s.width}, g={g:g}"]["direct_minus_qr_in_stderrs"]) for g in s.gains]
    results["transition"] = {"crossing_g": crossing(s.gains, lam), "last_crossing_g": crossing(s.gains, lam, True),
                             "chaotic_from_g": chaotic_from(s.gains, lam, se), "mean_field_crossing_g": 1.0,
                             "max_abs_direct_minus_qr_in_stderrs": float(max(z))}
    grid = np.linspace(min(s.gains) * 0.9, max(s.gains) * 1.05, 241)
    theory = np.array([mean_field_max_exponent(float(g)) for g in grid])
    ctx.save_arrays(**{"theory/g": grid, "theory/lambda_max": theory})
    sweep = [runs[s.width, g] for g in s.gains]
    title = f"({ctx.backend}, float64, {s.steps} QR steps after {s.warmup} warmup)"
    ctx.save_figure(plot_transition(s.gains, sweep, grid, theory, width=s.width,
                                    crossing=results["transition"]["crossing_g"],
                                    title=f"Transition to chaos of h' = tanh(W h), N = {s.width} {title}"),
                    "transition")
    ctx.save_figure(plot_size_collapse({g: {N: runs[N, g]["exponents"] for N in s.sizes} for g in s.size_gains},
                                       {g: runs[s.width, g]["exponents"] for g in s.gains}, width=s.width,
                                       title=f"Lyapunov spectra against i/N {title}"), "spectra")
    ctx.save_figure(plot_dimension_entropy(s.gains, sweep, {(N, g): runs[N, g] for N in s.sizes
                                                            for g in s.size_gains}, width=s.width,
                                           title=f"Attractor dimension and entropy rate {title}"),
                    "dimension_entropy")
    g_conv = s.size_gains[0]
    m = runs[s.width, g_conv] if (s.width, g_conv) in runs else runs[s.sizes[0], g_conv]
    ctx.save_figure(plot_convergence(m, g=g_conv, mean_field=mean_field_max_exponent(g_conv),
                                     title=f"Convergence of the running estimates {title}"), "convergence")
    return results
