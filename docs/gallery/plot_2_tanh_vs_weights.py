r"""
tanh_vs_weights: is it tanh' or W_hh?
=====================================

**Question** (seed 003). The backward product
:math:`\partial h_T/\partial h_t = D_T W\,D_{T-1} W \cdots D_{t+1} W` with
:math:`D_k = \mathrm{diag}(\tanh'(a_k))` has two factors. Which one makes gradients vanish, and
which one makes them explode?

**Method.** :func:`rnnflow.analysis.elman_decomposition` on two tanh RNNs: a *vanishing* one
(:math:`\rho(W_{hh}) = 0.9`, inputs of size 3 that saturate tanh) and an *exploding* one
(:math:`\rho = 1.2`, inputs small enough that the state stays in tanh's linear range).

**Regenerate**::

    rnnflow run tanh_vs_weights --backend torch --scale docs
    rnnflow run tanh_vs_weights --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("tanh_vs_weights", "torch")

# %%
# **What it shows.** Left: the weights alone (orange, :math:`\log\|W_{hh}^k\|`) would shrink the
# gradient only slowly, but the saturated tanh units contribute
# :math:`\sum_k \text{mean}\log\tanh'(a_k)` (cyan), tens of decades: the measured norm (wide grey line)
# vanishes because of :math:`\tanh'`. Right: with the state near zero, :math:`\tanh' \approx 1`
# (blue and cyan at 0) and the measured norm lies on top of :math:`\log\|W_{hh}^k\|`, which grows
# like :math:`k\log\rho`: the explosion comes from the repeated matrix.
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("tanh_vs_weights", "jax", show_figures=False, compare_to=torch_result)
