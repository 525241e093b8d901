r"""
curse_of_memory: sensitivity to lambda near the unit circle
============================================================

**Question.** A diagonal linear recurrence :math:`h_t=\lambda h_{t-1}+x_t` never has an exploding
state gradient (:math:`\partial h_T/\partial h_t=\lambda^{T-t}`), yet Zucchet & Orvieto (2024)
show that its sensitivity to :math:`\lambda` itself blows up as :math:`\lambda\to1`. How fast, and
what do the input normalisation :math:`\sqrt{1-\lambda^2}\,x_t` and the exponential
parametrisation :math:`\lambda=e^{-e^\nu}` of the LRU do to it?

**Method.** For white unit-variance input and the stationary state,
:math:`E\,h^2=1/(1-\lambda^2)` and :math:`E(\partial h/\partial\lambda)^2=(1+\lambda^2)/(1-\lambda^2)^3`;
normalised, :math:`1/(1-\lambda^2)^2`; with :math:`\lambda=e^{-e^\nu}` each is multiplied by
:math:`(\lambda\ln\lambda)^2` (derived in :mod:`rnnflow.analysis.memory`). So the rms sensitivity
grows like :math:`(1-\lambda)^{-3/2}`, :math:`(1-\lambda)^{-1}`, :math:`(1-\lambda)^{-1/2}` and
:math:`(1-\lambda)^{0}`. :func:`rnnflow.analysis.memory.curse_of_memory` measures all four by
Monte-Carlo: long white-noise sequences, the forward sensitivity recursion
:math:`s_t=h_{t-1}+\lambda s_{t-1}`, :math:`2\times10^7` squared terms per point over
:math:`1-\lambda\in[10^{-4},10^{-1}]`, and fits the log-log exponents.

**Regenerate**::

    rnnflow run curse_of_memory --backend torch --scale docs
    rnnflow run curse_of_memory --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("curse_of_memory", "torch")

# %%
# **What it shows.** The Monte-Carlo points (2 standard errors) sit on the closed forms, and the
# fitted exponents (``fitted_exponent`` above, in the legend) match :math:`-3/2`, :math:`-1`,
# :math:`-1/2` and :math:`0`; ``max_rel_error_vs_closed_form`` is the largest relative distance of
# a point from its closed form (largest at :math:`1-\lambda=10^{-4}`, where a sequence holds the
# fewest independent time constants). Only normalisation *and* the exponential parametrisation
# together keep the sensitivity bounded, which is why the LRU uses both.
#
# The simulation is NumPy, so the JAX run repeats the torch numbers exactly:

jax_result = run_for_docs("curse_of_memory", "jax", show_figures=False, compare_to=torch_result)
