r"""
unit_circle: gradient reach in LRU, minGRU and a selective SSM
==============================================================

**Question.** The recurrences of the last few years (the LRU, minGRU/minLSTM, Mamba's selective
SSM) were designed so that the gradient reaches far back in time. How far does it reach, against
a tanh RNN, an LSTM and a GRU with the same number of parameters, and which of them learn the
adding problem at longer :math:`T` in the same training budget?

**Method.** All of these newer layers update their state elementwise,
:math:`h_t=a_t\odot h_{t-1}+b_t`, so the state Jacobian is diagonal and
:math:`\log\|\partial h_T/\partial h_t\|_2=\max_i\sum_{k=t+1}^{T}\log|a_{k,i}|` exactly: a cumulative
sum, exact at any :math:`T` (:mod:`rnnflow.analysis.diagonal`). The classic cells go through the
dense log-space product. Every model has one layer and about the same parameter count (the counts
are in the legend). The study measures the reach at initialisation up to a gap of
:math:`10^4`, trains every model on the adding problem with the ``long_range`` protocol, and shows
what training did to the LRU's eigenvalues and to the selective SSM's per-token decay. See
:mod:`rnnflow.studies.unit_circle` for the exact settings.

**Regenerate**::

    rnnflow run unit_circle --backend torch --scale docs
    rnnflow run unit_circle --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("unit_circle", "torch")

# %%
# **What it shows.** The classic cells' state gradient falls below :math:`10^{-6}` of its start
# within tens to a few hundred steps (``gap_below_1e-6`` above). The LRU's spectral norm is set by its
# slowest unit: with :math:`|\lambda|` drawn up to :math:`r_{max}=0.999` it decays by
# :math:`\log_{10}0.999\approx-4.3\times10^{-4}` decades per step, so it is still far above
# :math:`10^{-6}` at a gap of :math:`10^4` even when :math:`r_{min}=0`. The spectral norm is a best
# case: it follows the single slowest direction, and the ring's lower edge :math:`r_{min}`
# decides how many units remember that long (the timescale histogram). The selective SSM's decay
# depends on the token (its heat map), and minGRU's on its gate, which at init sits near 0.5.
#
# A long reach is necessary, not sufficient: the solved-rate figure shows which models turned it into a
# solution within the budget. The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("unit_circle", "jax", show_figures=False, compare_to=torch_result)
