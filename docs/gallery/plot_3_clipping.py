r"""
clipping: exploding gradients, with and without clipping
========================================================

**Question** (seed 002; Pascanu et al. 2013). A tanh RNN whose :math:`W_{hh}` has spectral
radius 1.8 is trained with plain SGD on the adding problem. What do clipping by norm and clipping
by value change: in the loss, in the gradient norm, in how many runs blow up?

**Method.** The same seeds (initial weights and batches) are trained three ways: no clipping,
``clip_grad_norm_`` with threshold 1, ``clip_grad_value_`` at 0.1 (``optax`` twins in JAX). The
trainer records the global gradient norm *before* clipping at every step. Divergence, spikes and
the solved rate are defined in :mod:`rnnflow.studies.clipping`. The second figure is Pascanu's
Fig. 6: the one-unit model :math:`x_t = w\,\sigma(x_{t-1}) + b` has a "cliff" in its error
surface; a gradient step on the wall throws the unclipped path away.

**Regenerate**::

    rnnflow run clipping --backend torch --scale docs
    rnnflow run clipping --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("clipping", "torch")

# %%
# **What it shows.** Without clipping, some seeds' pre-clip gradient norm shoots up by many orders
# of magnitude within the first hundred steps and the run ends in non-finite values (the trainer
# records and skips those steps: the bar along the top of the gradient-norm panel, with the count
# in its legend); the table counts them under ``diverged``. With
# norm clipping the pre-clip norm still starts far above the threshold, but every step taken is at
# most ``lr x c`` long, and no seed diverges; value clipping also bounds the step (changing its
# direction) with the same effect here. Clipping does not make the task learnable in the docs
# budget: the solved rates stay between the 0.64 of predicting 0.5 and 0.9. It keeps runs from
# blowing up. On the cliff, the unclipped step on the wall throws the parameters onto the far
# plateau; the clipped path steps down into the valley.
#
# The same study in JAX (unclipped SGD is chaotic here, so after the first spike the float32
# trajectories of the two backends part; the clipped runs stay close), next to the torch numbers:

jax_result = run_for_docs("clipping", "jax", show_figures=False, compare_to=torch_result)
