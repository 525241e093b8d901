r"""
transformer_depth: residuals and LayerNorm through depth
========================================================

**Question.** How does the gradient reaching each layer of a Transformer encoder at
initialisation change with depth, for post-LN, pre-LN, pre-LN without residual connections, and
residual connections without LayerNorm?

**Method.** :func:`rnnflow.analysis.gradient_through_depth` gives
:math:`\|\partial L/\partial x_l\|` on the residual stream entering every layer, for
:math:`L = \|y\|^2/2` on a linear head, with 6 to 48 layers.

**Regenerate**::

    rnnflow run transformer_depth --backend torch --scale docs
    rnnflow run transformer_depth --backend jax --scale docs
"""
from rnnflow.studies import run_for_docs

torch_result = run_for_docs("transformer_depth", "torch")

# %%
# **What it shows.** With LayerNorm (post or pre) the residual-stream gradient stays within about
# a decade across 48 layers. Without LayerNorm the residual stream's scale grows with every layer
# (each block adds its output), and so do the gradients reaching the early layers: many decades
# at 48 layers. Note this measures the gradient with respect to activations; Xiong et al. (2020)
# discuss the gradient with respect to each layer's *weights*, which in post-LN is largest near
# the output.
#
# Same numbers from JAX:

jax_result = run_for_docs("transformer_depth", "jax", show_figures=False)
