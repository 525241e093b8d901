r"""
long_range: how long a dependency can each architecture learn?
==============================================================

**Question.** On the adding problem, up to which sequence length :math:`T` do a tanh RNN, an
IRNN (ReLU with identity :math:`W_{hh}`), an LSTM (forget-gate bias 1), a GRU and a Transformer
encoder reach a solved rate of 0.9 in the same training budget?

**Method.** Each architecture is trained with Adam and norm clipping for the same number of steps
at each :math:`T`; the solved rate is measured on 1000 held-out sequences (predicting 0.5 scores
0.64 already). See :mod:`rnnflow.studies.long_range` for the exact settings.

**Regenerate**::

    rnnflow run long_range --backend torch --scale docs
    rnnflow run long_range --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("long_range", "torch")

# %%
# **What it shows.** The solved rate falls toward the 0.64 baseline as :math:`T` grows, earliest
# for the tanh RNN, whose gradient from the marked steps vanishes (see ``jacobian_decay``). Gated
# cells and attention, which give the gradient a short path to early inputs, hold out longer. The
# docs budget is small: this shows the ordering, not each architecture's limit.
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("long_range", "jax", show_figures=False, compare_to=torch_result)
