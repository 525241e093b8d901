r"""
transformer_depth: residuals and LayerNorm through depth
========================================================

**Question.** How does the gradient reaching each layer of a Transformer encoder at
initialisation change with depth, for post-LN, pre-LN, pre-LN without residual connections, and
residual connections without LayerNorm?

**Method.** :func:`rnnflow.analysis.gradient_through_depth` gives
:math:`\|\partial L/\partial x_l\|` on the residual stream entering every layer, for
:math:`L = \|y\|^2/2` on a linear head, with 6 to 48 layers; the same backward pass
(``param_grads=True``) gives :math:`\|\partial L/\partial W_l\|` for each layer's second MLP
weight, the quantity Xiong et al. (2020) study.

**Regenerate**::

    rnnflow run transformer_depth --backend torch --scale docs
    rnnflow run transformer_depth --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("transformer_depth", "torch")

# %%
# **What it shows.** With LayerNorm (post or pre) the residual-stream gradient stays within about
# a decade across 48 layers. Without LayerNorm the residual stream's scale grows with every layer
# (each block adds its output), and so do the gradients reaching the early layers: many decades
# at 48 layers. For the weights (second figure) without residual connections the early layers'
# weight gradients fall behind the late ones'. The last figure follows the last layer's weight
# gradient as layers are added (``log10_weight_grad_last`` in the table): post-LN's does not
# shrink, while pre-LN's falls with depth with a fitted exponent (in the legend) close to the
# :math:`O(1/\sqrt{L})` Xiong et al. derive for pre-LN (dashed). A large last-layer gradient is
# why post-LN needs a learning-rate warm-up and pre-LN does not. (The no-LayerNorm variant sits
# many decades higher and is left out of that figure; its numbers are in the table.)
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("transformer_depth", "jax", show_figures=False, compare_to=torch_result)
