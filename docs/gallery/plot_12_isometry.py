r"""
isometry: the whole singular spectrum of a deep Jacobian
========================================================

**Question.** Critical initialisation keeps the *norm* of the backpropagated gradient constant
through depth (see ``mean_field``). Dynamical isometry (Saxe et al. 2014; Pennington, Schoenholz &
Ganguli 2017) asks for more: every singular value of the input-output Jacobian
:math:`\partial x_L/\partial x_0` near 1. Which combinations of activation and weight
distribution achieve it, and how does the spectrum change with depth?

**Method.** MLPs of width :math:`N=256` and depth :math:`L\in\{8,32,128\}`, zero biases, at the
critical weight scale (:math:`\sigma_w^2=1` for linear and tanh, 2 for ReLU), Gaussian or scaled
orthogonal. :func:`rnnflow.analysis.spectra.singular_spectrum_through_depth` multiplies the
per-layer Jacobians in float64 with power-of-two rescaling and returns every
:math:`\log\sigma_i` with a flag for the values float64 resolves. For deep linear networks the
theory is closed-form: orthogonal weights give :math:`\sigma_i=1` exactly; Gaussian ones give
the Fuss-Catalan law as :math:`N\to\infty`, with second moment :math:`L+1`
(:func:`rnnflow.analysis.spectra.fuss_catalan_density`, drawn dashed). See
:mod:`rnnflow.studies.isometry`.

**Regenerate**::

    rnnflow run isometry --backend torch --scale docs
    rnnflow run isometry --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("isometry", "torch")

# %%
# **What it shows.** The orthogonal linear network is an exact isometry at every depth (all
# :math:`\sigma^2=1`). The Gaussian linear one is not, although its mean :math:`\sigma^2` stays 1:
# its spectrum spreads with depth as Fuss-Catalan predicts (second moment 8.95 against 9 at
# :math:`L=8`; at :math:`L=128`, where :math:`L/N=0.5` is far from the :math:`N\to\infty` limit,
# 151 against 129), and most of its singular values fall many decades below 1. ReLU spreads with
# depth for either init, as Pennington et al. show. Orthogonal tanh keeps the narrowest
# nonlinear spectrum, but at exactly :math:`(\sigma_w^2,\sigma_b^2)=(1,0)` it drifts below 1 with
# depth (the study's docstring says why). The numbers are in the table above.
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("isometry", "jax", show_figures=False, compare_to=torch_result)
