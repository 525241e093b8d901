r"""
jacobian_decay: how far back does the gradient reach?
=====================================================

**Question.** How does :math:`\|\partial h_T/\partial h_t\|` decay or grow with the gap
:math:`T - t`, for a tanh RNN whose :math:`W_{hh}` has spectral radius
:math:`\rho \in \{0.5, 0.9, 1.0, 1.1, 1.5\}`, and for an LSTM (forget-gate bias 0 and 1) and a GRU?

**Method.** :func:`rnnflow.analysis.jacobians_over_time` computes the norm for every :math:`t` in
one backward sweep, in float64 log space, on the same :math:`N(0,1)` input sequences; the dashed
lines are Pascanu et al.'s bound :math:`(T-t)\log(\gamma\,\sigma_{max})`.

**Regenerate** (the figure below is drawn by exactly this)::

    rnnflow run jacobian_decay --backend torch --scale docs
    rnnflow run jacobian_decay --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("jacobian_decay", "torch")

# %%
# **What it shows.** Each curve is a straight line after a short transient: the norm changes by a
# constant factor per step (its slope, printed above as ``slope_log10_per_step``, is the largest
# Lyapunov exponent in decades per step). Small :math:`\rho` vanishes fastest; as :math:`\rho`
# approaches and passes 1 the decay slows until, for :math:`\rho = 1.5`, the tanh network is at the
# edge of chaos and the norm no longer decays. The Pascanu bound is only informative when
# :math:`\gamma\,\sigma_{max} < 1` (here only :math:`\rho = 0.5`): for the others
# :math:`\sigma_{max}(W_{hh}) > 1` even when :math:`\rho < 1`, the bound grows, and the tanh
# derivative is what makes gradients vanish anyway. An LSTM with forget-gate bias 1 keeps its
# gradient longest among the gated cells.
#
# The same study in JAX, from the same parameters, next to the torch numbers:

jax_result = run_for_docs("jacobian_decay", "jax", show_figures=False, compare_to=torch_result)
