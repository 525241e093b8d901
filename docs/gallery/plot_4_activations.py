r"""
activations: gradient distributions per layer, ReLU vs sigmoid
==============================================================

**Question** (seed 004). In a narrow four-layer MLP, how does the distribution of each layer's
weight gradient evolve over training with sigmoid, and with ReLU, leaky ReLU, ELU, GELU and Swish?

**Method.** Glorot-initialised 784-10-10-10-10 networks on scikit-learn's digits upsampled to
28x28, Adam, batch 128. A :class:`rnnflow.torch.GradientMonitor` (or its JAX twin) records each
layer's gradient mean and norm at every iteration and a histogram every few epochs.

**Regenerate**::

    rnnflow run activations --backend torch --scale docs
    rnnflow run activations --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("activations", "torch")

# %%
# **What it shows.** With sigmoid, :math:`\sigma' \le 1/4` shrinks the gradient at every layer
# on its way to the input: the first layer's histogram is a needle next to the last layer's, and
# the ratio ``||dL/dW_1|| / ||dL/dW_4||`` printed above is far below 1. With ReLU and its
# non-saturating relatives the layers' distributions keep comparable widths and the loss falls
# faster.
#
# The ``fc4`` panel of the mean-gradient figure sits at zero (about :math:`10^{-8}`, float32
# rounding) for every activation, and must: with softmax cross-entropy,
# :math:`\partial L/\partial W_4[i, j] = \operatorname{mean}_b (p_{bi} - y_{bi})\, h_{bj}` and
# :math:`\sum_i (p_{bi} - y_{bi}) = 0` for every sample, so the entries of the last layer's
# weight gradient sum to zero. Its histogram and its norm (last figure) still show the signal; the
# mean is informative only for the hidden layers.
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("activations", "jax", show_figures=False, compare_to=torch_result)
