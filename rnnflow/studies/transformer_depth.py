"""transformer_depth: per-layer gradient norms at initialisation vs depth.

Transformer encoders of 6..48 layers in four variants: post-LN, pre-LN, pre-LN with no
residual connections, residual with no LayerNorm. At initialisation, for a random batch:

* ``||dL/dx_l||`` on the residual stream entering every layer ``l``
  (rnnflow.analysis.gradient_through_depth, ``L = ||y||^2 / 2`` on a linear head);
* ``||dL/dW_l||`` for each layer's second MLP weight ``layers.l.fc2.weight`` (the quantity
  of Xiong et al. 2020, Fig. 3) for the same loss, from the same backward pass
  (``param_grads=True``, float64).

Xiong et al. (2020) report post-LN weight gradients growing toward the last layers
(hence its need for warm-up) and pre-LN staying flat; for pre-LN they derive a last-layer
weight gradient of order ``1/sqrt(L)``, drawn as a reference in ``last_layer_vs_depth``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import analysis
from ..analysis import LOG10E
from ..config import TransformerConfig
from ..models import build
from ..params import init_params
from ..plotting import plot_depth_profile, plot_depth_ratio, plot_depth_scaling, plot_weight_grad_profile
from ..validation import check_int, fail
from ._common import check_tuple
from ._training import one_thread

NAME = "transformer_depth"
QUESTION = "How does the per-layer gradient norm at init change with depth for post-LN, pre-LN, no residual, no LayerNorm?"
VARIANTS = {  # label: (norm placement, residual)
    "post-LN": ("post", True),
    "pre-LN": ("pre", True),
    "pre-LN, no residual": ("pre", False),
    "residual, no LayerNorm": ("none", True),
}
INPUT_SIZE = 8
OFF_SCALE_DECADES = 2   # last_layer_vs_depth leaves out (and names) a variant this far above the rest


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    depths: tuple[int, ...]   # numbers of layers L, increasing; the figures per layer use the largest
    d_model: int              # D, width of the residual stream
    heads: int                # attention heads per layer (a divisor of d_model)
    steps: int                # T, length of the input sequences
    batch: int                # B, input sequences

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        object.__setattr__(self, "depths", check_tuple(owner, "depths", self.depths, check_int, min_len=2,
                                                       increasing=True))
        for name in ("d_model", "heads", "steps", "batch"):
            check_int(owner, name, getattr(self, name))
        if self.d_model % self.heads:
            fail(owner, "heads", self.heads, f"a divisor of d_model={self.d_model}")


SCALES = {
    "smoke": Settings(depths=(2, 6), d_model=16, heads=2, steps=8, batch=2),
    "docs": Settings(depths=(6, 12, 24, 48), d_model=32, heads=4, steps=16, batch=4),
    "full": Settings(depths=(6, 12, 24, 48), d_model=128, heads=8, steps=64, batch=8),
}


def _loss(y):
    return (y * y).sum() / 2


def run(ctx) -> dict:
    with one_thread(ctx.backend):   # small models: one thread is fastest, more spin on a busy machine
        return _run(ctx)


def _run(ctx) -> dict:
    s = ctx.settings
    xs = np.random.default_rng(ctx.seed).normal(size=(s.steps, s.batch, INPUT_SIZE))
    profiles, results, weight_norms = {}, {}, {}
    jobs = [(label, depth) for depth in s.depths for label in VARIANTS]
    for label, depth in ctx.tqdm(jobs, desc=NAME):
        norm, residual = VARIANTS[label]
        config = TransformerConfig(INPUT_SIZE, d_model=s.d_model, num_heads=s.heads, num_layers=depth,
                                   norm=norm, residual=residual, output_size=INPUT_SIZE)
        model = build(config, init_params(config, seed=ctx.seed, dtype=np.float64), backend=ctx.backend, device=ctx.device)
        prof = analysis.gradient_through_depth(model, xs, _loss, param_grads=True, label=label)
        g = prof.log_grad_norm_total * LOG10E   # (L+1,)
        results[f"{label}, L={depth}"] = {
            "log10_grad_first_layer": float(g[0]), "log10_grad_last_layer": float(g[-2]),
            "log10_ratio_first_over_last": float(g[0] - g[-2]),
        }
        w = np.exp(prof.log_param_grad_norm["fc2.weight"])   # (L,) the same loss and pass
        results[f"{label}, L={depth}"].update(
            log10_weight_grad_first=float(np.log10(w[0])), log10_weight_grad_last=float(np.log10(w[-1])))
        ctx.save_arrays(**{f"{label}/L{depth}/log_grad_norm_total": prof.log_grad_norm_total,
                           f"{label}/L{depth}/fc2_weight_grad_norm": w})
        if depth == max(s.depths):
            profiles[label] = prof
            weight_norms[label] = w
    fig = plot_depth_profile(profiles)
    fig.axes[0].set_title(f"Gradient at init through {max(s.depths)} Transformer layers ({ctx.backend})")
    ctx.save_figure(fig, "per_layer")
    ctx.save_figure(plot_weight_grad_profile(
        weight_norms, weight="fc2",
        title=f"Weight gradient per layer at init, {max(s.depths)} layers ({ctx.backend})"), "weight_grads")
    ratios = {label: [results[f"{label}, L={d}"]["log10_ratio_first_over_last"] for d in s.depths]
              for label in VARIANTS}
    ctx.save_figure(plot_depth_ratio(s.depths, ratios, title=f"First-layer vs last-layer gradient at init "
                                                             f"({ctx.backend})"), "ratio_vs_depth")
    last = {label: np.array([10.0 ** results[f"{label}, L={d}"]["log10_weight_grad_last"] for d in s.depths])
            for label in VARIANTS}
    off = "residual, no LayerNorm"   # grows with depth; decades above the others, it would flatten them
    left_out = {}
    if np.log10(last[off].max() / max(v.max() for k, v in last.items() if k != off)) > OFF_SCALE_DECADES:
        lo, hi = np.log10(last.pop(off)[[0, -1]])
        left_out[off] = (f"$10^{{{lo:.1f}}}$ at $L$={s.depths[0]}, $10^{{{hi:.1f}}}$ at $L$={s.depths[-1]}: "
                         f"over {OFF_SCALE_DECADES} decades above the others")
    fig = plot_depth_scaling(
        s.depths, last, reference="pre-LN", exponent=-0.5, left_out=left_out,
        ylabel=r"$\|\partial L/\partial W^{fc2}_{L}\|_F$, last layer (loss units per weight unit)",
        title=f"Last layer's weight gradient at init vs depth ({ctx.backend})")
    ctx.save_figure(fig, "last_layer_vs_depth")
    return results
