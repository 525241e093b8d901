"""Gradient-flow analysis on NumPy arrays (imports neither torch nor jax at import time).

Entry points take a model or step function from either backend and import that
backend lazily::

    norms = jacobians_over_time(model, xs)       # log ||dh_T/dh_t||, every t, per example
    norms = jacobians_over_time(config, xs, params=params, backend="jax")   # same, from a config
    dec = elman_decomposition(model, xs)         # phi' factor vs W_hh^k factor
    lyap = lyapunov_spectrum(model, steps=2000)  # QR/Benettin exponents (reortho=, trace=)
    d = largest_exponent_direct(model, h0, steps=2000)   # lambda_1 from two nearby trajectories
    reach = gradient_reach(model, xs)            # log ||dy_T/dx_t||
    depth = gradient_through_depth(layers, x, loss)
    verdict = pascanu_bound(W_hh, "tanh")        # Pascanu et al. (2013) section 2.1

The math on NumPy arrays is usable directly: :func:`product_norms` and
:func:`lyapunov_exponents` over :class:`StepJacobians`.
"""
from ..types import Trace as Trace
from .backends import as_model as as_model, resolve_backend as resolve_backend
from .chaos import (
    entropy_rate as entropy_rate, kaplan_yorke_dimension as kaplan_yorke_dimension,
    largest_exponent_direct as largest_exponent_direct, mean_field_max_exponent as mean_field_max_exponent,
)
from .clipping import CliffPath as CliffPath, cliff_loss_and_grad as cliff_loss_and_grad, descend as descend
from .decomposition import decompose_elman as decompose_elman, elman_decomposition as elman_decomposition
from .depth import gradient_through_depth as gradient_through_depth
from .diagonal import chunked_log_spectral as chunked_log_spectral
from .jacobians import jacobians_over_time as jacobians_over_time
from .mean_field import MeanField as MeanField, mean_field as mean_field
from .lyapunov import lyapunov_exponents as lyapunov_exponents, lyapunov_spectrum as lyapunov_spectrum
from .products import product_norms as product_norms
from .results import (
    LOG10E as LOG10E, DepthProfile as DepthProfile, ElmanDecomposition as ElmanDecomposition,
    DirectExponent as DirectExponent, JacobianNorms as JacobianNorms, LyapunovSpectrum as LyapunovSpectrum,
    ReachProfile as ReachProfile,
)
from .reach import gradient_reach as gradient_reach
from .spectra import (
    SingularSpectrum as SingularSpectrum, singular_spectrum_over_time as singular_spectrum_over_time,
    singular_spectrum_through_depth as singular_spectrum_through_depth,
)
from .spectral import exact_top_singular as exact_top_singular
from .step_jacobians import StepJacobians as StepJacobians
from .theory import (
    PascanuBound as PascanuBound, gamma as gamma, log_bound_curve as log_bound_curve,
    pascanu_bound as pascanu_bound, sigmoid_chain_log_bound as sigmoid_chain_log_bound,
)

__all__ = [
    "jacobians_over_time", "elman_decomposition", "lyapunov_spectrum", "gradient_reach",
    "gradient_through_depth", "resolve_backend", "as_model", "decompose_elman", "lyapunov_exponents",
    "product_norms", "exact_top_singular", "StepJacobians", "Trace", "JacobianNorms",
    "ElmanDecomposition", "ReachProfile", "DepthProfile", "LyapunovSpectrum", "LOG10E",
    "CliffPath", "cliff_loss_and_grad", "descend", "PascanuBound", "pascanu_bound", "gamma", "log_bound_curve", "sigmoid_chain_log_bound",
    "mean_field", "MeanField", "chunked_log_spectral", "singular_spectrum_through_depth",
    "singular_spectrum_over_time", "SingularSpectrum", "kaplan_yorke_dimension", "entropy_rate",
    "largest_exponent_direct", "mean_field_max_exponent", "DirectExponent",
]
