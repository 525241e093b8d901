"""activations: per-layer gradient distributions of a deep, narrow MLP with ReLU, sigmoid and four others.

Seed 004 (MATLAB, "detect vanishing gradients by plotting gradient distributions"):
four fully connected layers (three hidden layers of 10 units, then 10 outputs),
Glorot-initialised, Adam (lr 1e-3), batch 128, on 28x28 digit images; ReLU against
sigmoid, watching each layer's weight gradients every iteration and their
distribution every epoch. With sigmoid (``sigma' <= 1/4``) the gradient shrinks
layer by layer toward the input, so the first layer's distribution is a needle; with
ReLU it keeps its width.

Here: scikit-learn's digits upsampled to 28x28 (``digits_data(form="flat", size=28)``,
1438 training images, 11 batches per epoch; smoke scale uses the 8x8 images) and six
activations: ReLU, sigmoid, leaky ReLU, ELU, GELU and Swish; the same seed gives every
activation the same initial weights and batches. A
:class:`~rnnflow.torch.GradientMonitor` (or its JAX twin) records the four weight
matrices: per-iteration mean and norm, and a histogram (30 adaptive bins) of the last
gradient of every epoch, drawn for every ``epochs // 10``-th epoch so the ridges stay
readable.

Headline numbers per activation: the final loss (mean over the last epoch), the test
accuracy on the held-out 20 %, and ``||dL/dW_1|| / ||dL/dW_4||``, the first layer's
weight-gradient norm over the last layer's, at the first iteration and as the median
over the run. W_1 has 7840 entries and W_4 100, so a ratio near 1 already means smaller
entries in W_1 (many input pixels are always 0, and their weights get no gradient); the
contrast is between activations: sigmoid's ratio is about ten times below the others'.
The mean gradient of W_4 is ~0 for every activation: the softmax cross-entropy gradient
of each row of logits sums to zero over the classes.

Scales: docs is the seed's setting on the smaller data set (50 epochs = 550 iterations;
the seed's 50 epochs on 5000 MATLAB digits are ~2000). full runs 200 epochs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import load
from ..activations import LEAKY_SLOPE
from ..config import Init, MLPConfig
from ..params import init_params
from ..plotting import plot_gradient_histograms, plot_group_norm_comparison, plot_loss_curves, plot_mean_gradients
from ..tasks import load_digits_split, upsample_digits
from ..training import TrainConfig, digits_data
from ..validation import check_int
from ._training import epoch_means, fit, predict

NAME = "activations"
QUESTION = ("How do per-layer gradient distributions differ between ReLU, sigmoid, leaky ReLU, ELU, GELU "
            "and Swish in a 4-layer, 10-unit-wide MLP?")


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    size: int | None    # side of the digit images, upsampled from 8x8 (None: the 8x8 images)
    epochs: int         # passes over the training images (11 batches each)

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        if self.size is not None:
            check_int(owner, "size", self.size, lo=2)
        check_int(owner, "epochs", self.epochs)


SCALES = {
    "smoke": Settings(size=None, epochs=4),
    "docs": Settings(size=28, epochs=50),
    "full": Settings(size=28, epochs=200),
}
BATCH = 128
WIDTH = 10
DEPTH = 3                       # hidden layers; with the output layer, 4 fully connected layers
LR = 1e-3
ACTIVATIONS = {"ReLU": "relu", "Sigmoid": "sigmoid", "Leaky ReLU": "leaky_relu", "ELU": "elu",
               "GELU": "gelu", "Swish": "swish"}
SEED_PAIR = ("ReLU", "Sigmoid")  # the seed's comparison: histograms and mean gradients
WEIGHTS = tuple(f"layers.{l}.linear.weight" for l in range(DEPTH)) + ("head.weight",)
LAYER_NAMES = {k: f"fc{i + 1} weight" for i, k in enumerate(WEIGHTS)}


def run(ctx) -> dict:
    s = ctx.settings
    data = digits_data(BATCH, form="flat", size=s.size, seed=ctx.seed)
    spe = data.steps_per_epoch
    split = load_digits_split(ctx.seed)
    x_test = split["x_test"] if s.size is None else upsample_digits(split["x_test"], s.size)
    side = 8 if s.size is None else s.size
    tc = TrainConfig(optimizer="adam", lr=LR, batch_size=BATCH, steps=s.epochs * spe, loss="xent",
                     hist_every=spe, seed=ctx.seed, log_every=spe)
    monitor_cls = load(ctx.backend).GradientMonitor
    runs, results = {}, {}
    for label, act in ctx.tqdm(ACTIVATIONS.items(), desc=NAME):
        config = MLPConfig(side * side, 10, width=WIDTH, depth=DEPTH, activation=act,
                           init_weight=Init("xavier_uniform"))
        r = fit(ctx, config, init_params(config, seed=ctx.seed, dtype=np.float32), data, tc,
                monitor=monitor_cls(params=list(WEIGHTS), bins=30, hist_every=max(1, s.epochs // 10)))
        runs[label] = r
        h = r.gradients
        first, last = h.norm[:, h.groups.index(WEIGHTS[0])], h.norm[:, h.groups.index(WEIGHTS[-1])]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = first / last
        acc = float(np.mean(predict(ctx.backend, config, r.params, x_test).argmax(-1) == split["y_test"]))
        results[label] = {
            "final_loss": float(epoch_means(r.metrics.loss, spe)[-1]), "test_accuracy": acc,
            "grad_ratio_first_over_last_at_start": float(ratio[0]),
            "grad_ratio_first_over_last_median": float(np.median(ratio)),
        }
        ctx.save_arrays(**{f"{label}/loss": r.metrics.loss, f"{label}/mean": h.mean, f"{label}/norm": h.norm,
                           f"{label}/hist_counts": h.hist_counts, f"{label}/hist_edges": h.hist_edges})
    where = f"MLP {side * side}-10-10-10-10, Adam lr {LR:g}, batch {BATCH} ({ctx.backend})"
    for label in SEED_PAIR:
        fig = plot_gradient_histograms(runs[label].gradients, groups=list(WEIGHTS), ncols=2, xlim="shared",
                                       title=f"Weight-gradient distributions with {label} layers, {where}")
        for ax, key in zip(fig.axes, WEIGHTS):
            ax.set_title(ax.get_title().replace(key, LAYER_NAMES[key]), fontsize="small")
        ctx.save_figure(fig, f"histograms_{label.lower()}")
    fig = plot_mean_gradients({k: runs[k].gradients for k in SEED_PAIR}, groups=list(WEIGHTS), ncols=2,
                              title=f"Mean weight gradient per layer, {where}")
    for ax, key in zip(fig.axes, WEIGHTS):
        ax.set_title(LAYER_NAMES[key], fontsize="small")
        ax.set_xlabel("iteration (optimizer updates)")
    ctx.save_figure(fig, "mean_gradients")
    fig = plot_loss_curves(runs, smooth=spe, logy=True)
    fig.axes[0].set_title(f"Training loss (moving average over one epoch = {spe} iterations)\n{where}",
                          fontsize="medium")
    _why_coinciding(fig)
    ctx.save_figure(fig, "loss")
    fig = plot_group_norm_comparison(
        {k: r.gradients for k, r in runs.items()}, (WEIGHTS[0], WEIGHTS[-1]),
        group_labels={WEIGHTS[0]: f"first layer (fc1, {side * side} -> 10)", WEIGHTS[-1]: "last layer (fc4, 10 -> 10)"},
        title=f"Weight-gradient norm of the first and last layers, {where}")
    _why_coinciding(fig)
    ctx.save_figure(fig, "grad_norms")
    return results


def _why_coinciding(fig) -> None:
    """Say under ``fig`` why Leaky ReLU's line lies on ReLU's, where the plot found that it does
    (a short run: at smoke scale, or early in a longer one)."""
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    if "Leaky ReLU (dashed, on ReLU)" in labels:
        fig.supxlabel(f"Leaky ReLU differs from ReLU only below zero (slope {LEAKY_SLOPE:g} instead of 0), and both start "
                      "from the same weights and batches,\nso over a short run their curves coincide.",
                      fontsize="small", color="dimgray")
