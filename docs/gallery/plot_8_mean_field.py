r"""
mean_field: the phase diagram of deep networks, measured
=========================================================

**Question.** For a deep MLP with weights :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)` and biases
:math:`b_i\sim\mathcal N(0,\sigma_b^2)`, mean-field theory (Poole et al. 2016; Schoenholz et al.
2017) predicts that the backpropagated gradient changes by :math:`\sqrt{\chi_1}` per layer, with
:math:`\chi_1=\sigma_w^2\int\!Dz\,\phi'(\sqrt{q^*}z)^2` at the fixed point :math:`q^*` of the length
map: it vanishes in the ordered phase (:math:`\chi_1<1`), explodes in the chaotic phase
(:math:`\chi_1>1`) and is flat on the critical line, through :math:`(1, 0)` for tanh and at
:math:`(2, 0)` for ReLU (He initialisation). Does a real network of finite width follow it, and
does the depth scale :math:`\xi_c=-1/\ln\chi_c` bound how deep a network still trains?

**Method.** :func:`rnnflow.analysis.mean_field.mean_field` computes :math:`q^*`, :math:`c^*`,
:math:`\chi_1`, :math:`\xi_q` and :math:`\xi_c` by Gaussian quadrature (Schoenholz et al. eq. 3-9);
:func:`~rnnflow.analysis.mean_field.measure_slope` fits the per-layer slope of
:math:`\log\|\partial L/\partial y^l\|` (from :func:`rnnflow.analysis.gradient_through_depth`) on
width-512, depth-24 MLPs at 15 points, tanh and ReLU, both phases and the critical line. The last
figure trains tanh MLPs (width 64, :math:`\sigma_b^2=0.05`) on the 8x8 digits for 200 RMSProp steps
at each :math:`(\sigma_w^2, L)` and draws :math:`6\xi_c`, the bound of Schoenholz et al. Fig. 5.

**Regenerate**::

    rnnflow run mean_field --backend torch --scale docs
    rnnflow run mean_field --backend jax --scale docs
"""
from rnnflow_docs import run_for_docs

torch_result = run_for_docs("mean_field", "torch")

# %%
# **What it shows.** In the phase diagram every measured dot has the colour of the prediction
# under it, and in the second panel the points lie on :math:`y=x`: the numbers above (``error``
# per point; ``all points / max_abs_error``) state the agreement, against the claim
# :math:`|{\rm measured}-{\rm predicted}|\le\max(0.01, 5\%)` per layer (``within_claim``).
# Chaotic ReLU (:math:`\sigma_w^2>2`) has no fixed point :math:`q^*`, but its :math:`\chi_1=\sigma_w^2/2`
# does not depend on :math:`q`, so the prediction still holds.
#
# The trainability figure is the small-budget version of Schoenholz et al. Fig. 5: with 200 steps
# only the shallow nets train at all, and the failures start on the ordered side, where
# :math:`6\xi_c` is smallest; the budget is far below the paper's, so the deep end does not
# reproduce their boundary (``--scale full`` trains longer and deeper).
#
# The same study in JAX, next to the torch numbers:

jax_result = run_for_docs("mean_field", "jax", show_figures=False, compare_to=torch_result)
