r"""
chaos: the transition to chaos and the whole Lyapunov spectrum
==============================================================

**Question.** A random recurrent network :math:`h_{t+1}=\tanh(W h_t)` with
:math:`W_{ij}\sim N(0, g^2/N)` decays to the origin for small gain :math:`g` and becomes chaotic for
large :math:`g` (Sompolinsky, Crisanti & Sommers 1988). Where is the transition, does the largest
Lyapunov exponent follow mean-field theory, and what do the other :math:`N-1` exponents say
(Engelken, Wolf & Abbott 2020)? A positive :math:`\lambda_{\max}` is the dynamical face of exploding
gradients: :math:`\|\partial h_T/\partial h_t\|` grows like :math:`e^{\lambda_{\max}(T-t)}`.

**Method.** One standard Gaussian matrix per size, scaled by :math:`g`, as an rnnflow ``RNNConfig``
with zero input weights and biases, run autonomously in float64 from a random :math:`h_0`.
:func:`rnnflow.analysis.lyapunov_spectrum` (QR method, ``trace=True``) takes the step Jacobians from
the model in each backend; 500 warmup steps, then 1500 averaged. The mean-field prediction
:math:`\lambda_{\max}=\tfrac12\ln\chi`, :math:`\chi=g^2\int Dz\,\tanh'(\sqrt{q^*}z)^2` at the fixed
point :math:`q^*=g^2\int Dz\tanh(\sqrt{q^*}z)^2` (:func:`rnnflow.analysis.chaos.mean_field_max_exponent`;
:math:`\ln g` below :math:`g=1`, where :math:`q^*=0`), is drawn as a line.
:func:`rnnflow.analysis.chaos.largest_exponent_direct` measures :math:`\lambda_{\max}` again from two
trajectories :math:`10^{-8}` apart, renormalised every step; both carry standard errors from 20 block
means. From each spectrum: the Kaplan-Yorke dimension :math:`D_{KY}` and the entropy rate
:math:`H=\sum_{\lambda_i>0}\lambda_i` (:func:`rnnflow.analysis.chaos.kaplan_yorke_dimension`,
:func:`rnnflow.analysis.chaos.entropy_rate`). See :mod:`rnnflow.studies.chaos`.

**Regenerate**::

    rnnflow run chaos --backend torch --scale docs
    rnnflow run chaos --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("chaos", "torch")

# %%
# **What it shows.** Below :math:`g=1` the measured :math:`\lambda_{\max}` lies above :math:`\ln g`
# by a finite-size margin (at the origin it is :math:`\ln|\mathrm{eig}_{\max} W|`, and the largest
# eigenvalue of a finite Gaussian matrix sits outside the circle of radius :math:`g`). Between
# :math:`g=1` and about 1.25 this network of 200 units sits at :math:`\lambda_{\max}\approx 0` (a
# fixed point, limit cycle or torus within the error bars: finite networks reach chaos through
# quasi-periodicity), so the measured sign
# change is near :math:`g=1` but noisy; from :math:`g=1.5` on :math:`\lambda_{\max}` is clearly
# positive and follows :math:`\tfrac12\ln\chi` from below: about 0.01 below at :math:`N=200`, less
# at :math:`N=400` (the finite-size correction). The two-trajectory estimate agrees with the QR method within its error bars.
# Plotted against :math:`i/N`, the spectra of 100, 200 and 400 units fall on one curve: the
# spectrum is size-invariant, so :math:`D_{KY}` (about a quarter of the units at :math:`g=2` to 4)
# and the entropy rate grow in proportion to :math:`N`. The numbers are in the table above.
#
# The same study in JAX, next to the torch numbers (the trajectories are chaotic, so the two
# backends' rounding makes them part after a few hundred steps: they agree to their error bars,
# not digit for digit):

jax_result = run_for_docs("chaos", "jax", show_figures=False, compare_to=torch_result)
