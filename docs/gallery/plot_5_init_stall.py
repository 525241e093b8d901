r"""
init_stall: an N(1, 1) sigmoid network stops learning
=====================================================

**Question** (seed 001). A 784-128-10 sigmoid MLP initialised with ``RandomNormal(mean=1,
stddev=1)`` stops learning after a couple of epochs. Why, and do Xavier initialisation,
He initialisation with ReLU, and BatchNorm each remove the stall?

**Method.** The seed's network on scikit-learn's digits upsampled to 28x28 (no download), Adam,
batch 128, cross-entropy; five variants with the same data. The trainer records per-layer
gradient norms at every step.

**Regenerate**::

    rnnflow run init_stall --backend torch --scale docs
    rnnflow run init_stall --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("init_stall", "torch")

# %%
# **What it shows.** With all weights near 1 every hidden pre-activation is about the sum of the
# pixels, every sigmoid outputs 1 and its derivative is 0 in float32: the first layer's gradient
# norm is exactly zero, the output layer can only learn class frequencies, and the loss settles at
# :math:`\ln 10 \approx 2.30`. Xavier init keeps the units out of saturation; He + ReLU removes
# saturation altogether; BatchNorm re-centres the pre-activations even with the bad init. Each
# fix's loss keeps falling.
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("init_stall", "jax", show_figures=False, compare_to=torch_result)
