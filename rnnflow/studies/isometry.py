"""isometry: the whole singular spectrum of a deep network's input-output Jacobian (dynamical isometry).

For MLPs of width ``N`` and depth L in ``Settings.depths`` with zero biases, critical weight
scales (``sigma_w^2 = 1`` for linear and tanh, 2 for ReLU: He) drawn either Gaussian
``N(0, sigma_w^2/N)`` or scaled orthogonal, the study computes every singular value of
``dx_L/dx_0`` (:func:`rnnflow.analysis.spectra.singular_spectrum_through_depth`) on
``Settings.examples`` Gaussian inputs, pools them over the examples, and draws histograms of
``log10 sigma^2`` per depth with the theory where it has a closed form:

* linear, orthogonal: every ``sigma = 1`` exactly (Saxe et al. 2014);
* linear, Gaussian: the Fuss-Catalan law of the product of L Gaussian matrices as
  ``N -> infinity`` (:func:`rnnflow.analysis.spectra.fuss_catalan_density`), whose second moment
  ``L + 1`` grows with depth: no isometry;
* tanh and ReLU: Pennington, Schoenholz & Ganguli (2017) give the spectra through S-transforms
  that need the pre-activation distribution at every layer; no closed-form density is drawn here
  (the panels say so). Their result is that orthogonal tanh near criticality keeps a narrow
  spectrum while ReLU spreads with depth for either init. At exactly ``(sigma_w^2, sigma_b^2) =
  (1, 0)`` with unit-variance inputs, tanh's ``chi = E phi'(h)^2 < 1`` while the pre-activations
  shrink, so the orthogonal tanh spectrum stays narrow but drifts below 1 with depth.

Headline per case and depth: the median ``log10 sigma^2`` (values float64 cannot resolve count as
``-inf``: they lie many decades below the largest), the fraction of ``sigma^2`` within a factor of
10 of 1, the mean and second moment of ``sigma^2`` (against Fuss-Catalan's 1 and
L + 1 for linear Gaussian), and the fraction of values resolved in float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..analysis.spectra import fuss_catalan_density, fuss_catalan_moment, singular_spectrum_through_depth
from ..config import Init, MLPConfig
from ..models import build
from ..params import init_params
from ..plotting.spectra import plot_isometry
from ..validation import check_int
from ._common import check_tuple
from ._training import one_thread

NAME = "isometry"
QUESTION = "Which deep networks keep every singular value of their input-output Jacobian near 1?"

ACTIVATIONS = {"linear": "identity", "tanh": "tanh", "ReLU": "relu"}
GAIN = {"linear": 1.0, "tanh": 1.0, "ReLU": math.sqrt(2.0)}   # sigma_w: critical (ReLU: He)
INITS = ("Gaussian", "orthogonal")
NO_CLOSED_FORM = "no closed-form density drawn\n(Pennington et al. 2017: S-transforms)"


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``)."""

    width: int                  # N, units per layer (= the input size)
    depths: tuple[int, ...]     # L, hidden layers, increasing
    examples: int               # inputs whose spectra are pooled

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        check_int(owner, "width", self.width, 2)
        check_int(owner, "examples", self.examples)
        object.__setattr__(self, "depths", check_tuple(owner, "depths", self.depths, partial(check_int, lo=1),
                                                       increasing=True))


SCALES = {
    "smoke": Settings(width=32, depths=(2, 8), examples=2),
    "docs": Settings(width=256, depths=(8, 32, 128), examples=4),
    "full": Settings(width=512, depths=(8, 32, 128), examples=8),
}


def config(act: str, init: str, N: int, L: int) -> MLPConfig:
    g = GAIN[act]
    w = Init("orthogonal", gain=g) if init == "orthogonal" else Init("normal", std=g / math.sqrt(N))
    return MLPConfig(input_size=N, output_size=1, width=N, depth=L, activation=ACTIVATIONS[act], init_weight=w)


def log_density(L: int):
    """Fuss-Catalan as a density of ``u = log10 x``: ``rho(x) x ln 10``."""
    x, rho = fuss_catalan_density(L, points=4001)
    return np.log10(x), rho * x * math.log(10)


def run(ctx) -> dict:
    s = ctx.settings
    rng = np.random.default_rng([ctx.seed, 3])
    spectra, results = {}, {}
    cases = [(a, i, L) for a in ACTIVATIONS for i in INITS for L in s.depths]
    for act, init, L in ctx.tqdm(cases, desc=NAME):
        cfg = config(act, init, s.width, L)
        x = rng.normal(size=(s.examples, s.width))
        with one_thread(ctx.backend):
            sp = singular_spectrum_through_depth(build(cfg, init_params(cfg, seed=ctx.seed, dtype=np.float64),
                                                       backend=ctx.backend, device=ctx.device), x)
        log10_sq = 2 * sp.log_singular / math.log(10)                      # (B, N)
        ok = sp.resolved
        # unresolved values lie far below the largest (rnnflow.analysis.spectra): drawn as "outside"
        spectra.setdefault((act, init), {})[L] = np.where(ok, log10_sq, -np.inf).ravel()
        sq = np.exp(2 * sp.log_singular)
        row = {"median_log10_sigma2": float(np.median(np.where(ok, log10_sq, -np.inf))),
               "fraction_within_10x_of_1": float(np.mean(ok & (np.abs(log10_sq) < 1))),
               "mean_sigma2": float(sq.mean()), "second_moment_sigma2": float((sq ** 2).mean()),
               "fraction_resolved": float(ok.mean())}
        if act == "linear" and init == "Gaussian":
            row["fuss_catalan_second_moment"] = fuss_catalan_moment(L, 2)
        results.setdefault(f"{act}, {init}", {})[f"L={L}"] = row
        ctx.save_arrays(**{f"{act}/{init}/L{L}/log_singular": sp.log_singular, f"{act}/{init}/L{L}/resolved": ok})
    theory = {("linear", "orthogonal"): 1.0, ("linear", "Gaussian"): {L: log_density(L) for L in s.depths}}
    for act in ("tanh", "ReLU"):
        for init in INITS:
            theory[(act, init)] = NO_CLOSED_FORM
    fig = plot_isometry(spectra, theory, rows=list(ACTIVATIONS), cols=list(INITS),
                        title=f"Squared singular values of $\\partial x_L/\\partial x_0$, width N = {s.width}, "
                              f"{s.examples} inputs pooled, critical weight scale ({ctx.backend})")
    ctx.save_figure(fig, "spectra")
    return results
