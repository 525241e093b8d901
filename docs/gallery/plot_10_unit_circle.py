r"""
unit_circle: gradient reach in LRU, minGRU and a selective SSM
==============================================================

**Question.** The recurrences of the last few years (the LRU, minGRU/minLSTM, Mamba's selective
SSM) were designed so that the gradient reaches far back in time. How far does it reach, against
a tanh RNN, an LSTM and a GRU with the same number of parameters, and which of them learn the
adding problem and the copy task at longer :math:`T` in the same training budget?

**Method.** All of these newer layers update their state elementwise,
:math:`h_t=a_t\odot h_{t-1}+b_t`, so the state Jacobian is diagonal and
:math:`\log\|\partial h_T/\partial h_t\|_2=\max_i\sum_{k=t+1}^{T}\log|a_{k,i}|` exactly: a cumulative
sum, exact at any :math:`T` (:mod:`rnnflow.analysis.diagonal`). The classic cells go through the
dense log-space product. Every model has one layer and about the same parameter count (the counts
are in the legend). The study measures the reach at initialisation up to a gap of
:math:`10^4`, trains every model on the adding problem with the ``long_range`` protocol and on the
copy task at delays 20 and 50 (the same models re-sized to its one-hot input), and shows what
training did to the LRU's eigenvalues and to the selective SSM's per-token decay. See
:mod:`rnnflow.studies.unit_circle` for the exact settings.

**Regenerate**::

    rnnflow run unit_circle --backend torch --scale docs
    rnnflow run unit_circle --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("unit_circle", "torch")

# %%
# **What it shows.** At init the classic cells' state gradient falls below :math:`10^{-6}` of its
# start within 51 (GRU), 223 (tanh RNN, orthogonal) and 282 (LSTM, forget bias 1) steps
# (``gap_below_1e-6``), and minGRU's within 35: its decay :math:`1-z_t` is set by a gate that sits
# near 0.5 at init. The LRU's spectral norm follows its slowest unit: with :math:`|\lambda|` drawn up
# to :math:`r_{max}=0.999` it is still :math:`10^{-2.2}` to :math:`10^{-5.5}` at a gap of
# :math:`10^4` for :math:`r_{min}\ge 0.9`, and crosses :math:`10^{-6}` at 5763 steps for
# :math:`r_{min}=0`. The selective SSM, with Mamba's :math:`\Delta` in :math:`[10^{-3},10^{-1}]`,
# keeps :math:`10^{-4.7}` at :math:`10^4`.
#
# The spectral norm is a best case (it follows one direction); the ring's lower edge decides how
# many units remember that long, and training shows it matters: in the same budget (500 Adam
# steps) only the LRUs with :math:`r_{min}\ge 0.99` solve the adding problem at :math:`T=100`
# (solved rates 0.94 and 0.99 in both backends), the GRU solves :math:`T=50` only,
# and the LRU with :math:`r_{min}\le 0.9`, minGRU and the selective SSM solve neither. The LSTM is
# on the edge at :math:`T=50`: JAX's run solves it (rate 0.999), torch's does not (0.63), from the
# same initial parameters and batches; float32 rounding sent the two runs different ways. A long
# reach is necessary, not sufficient: the SSM reaches far but has not learned to select the marked
# tokens within this budget (its heat map is flat: mean decay rate 0.048 at the marks and
# elsewhere), and the :math:`r_{min}=0.9` LRU's eigenvalues barely move in training (the
# distance-to-circle panel).
#
# The copy task asks for more than reach: recalling 5 symbols (of 8) after a delay. With the same
# budget every LRU recalls them after a delay of 50 (accuracy 0.996 to 1.0 in both backends),
# whatever its ring, while no other model reaches 0.4 even after a delay of 20 (guessing gets
# 0.125; the LSTM falls below that at 50, emitting the blank). The LRU's near-unitary linear
# recurrence can carry a one-hot code unchanged; the gated cells must learn to hold it.
# JAX gives the same gaps and the same longest delays, and the same longest :math:`T` solved on
# the adding problem except the LSTM's (the table below).
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("unit_circle", "jax", show_figures=False, compare_to=torch_result)
