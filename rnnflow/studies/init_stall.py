"""init_stall: a sigmoid MLP initialised N(1, 1) stops learning; Xavier, He + ReLU and BatchNorm do not.

Seed 001 (a Keras MLP 784-128 sigmoid-10 softmax, ``RandomNormal(mean=1, stddev=1)``
for every weight, Adam, batch 128, MNIST) stops learning after its second epoch. Why:
with all weights near 1, the first layer's pre-activation is ``z = W x ~ sum(x)``,
160 to 380 for a 28x28 digit here (mean 264), so every sigmoid unit outputs 1 for
every image and its derivative ``sigma'(z) = sigma(z)(1 - sigma(z))`` is 0 in float32.
The first layer gets no gradient at all; the output layer sees the same hidden vector
for every input and can only learn the class frequencies, so the loss falls to
``ln 10 ~= 2.30`` (the loss of ignoring the input) and stays there.

Here: the same network on scikit-learn's 8x8 digits upsampled to 28x28
(``digits_data(form="flat", size=28)``: 1438 training images, 11 batches of 128 per
epoch; MNIST is not downloaded), Adam (lr 1e-3, as Keras' default), cross-entropy,
float32, five variants:

* ``N(1,1), sigmoid``      the stall;
* ``Xavier, sigmoid``      a fan-scaled init (``xavier_uniform``) alone;
* ``He, ReLU``             ReLU with ``he_normal``;
* ``N(1,1), sigmoid + BN`` BatchNorm after the hidden layer, the bad init kept;
* ``N(1,1), ReLU``         ReLU alone, the bad init kept: it learns (no saturation),
                           but from an exploded start.

Headline numbers per variant: epoch-mean loss in the first and last epoch, the relative
loss drop over the whole run and over its second half (the stall: the first falls to
``ln 10``, the second is ~0), test accuracy on the held-out 20 %, the median gradient
norm of the first and output layers, and ``stalled`` = second-half drop < 5 % and final
loss within 10 % of ``ln 10`` or above.

Scales: docs runs 100 epochs (1100 steps); the seed's 10 MNIST epochs are 4690 steps,
so "epoch 2" there is about step 900 here. smoke runs 40 epochs (the output layer's
transient from its N(1, 1) start takes ~15 of them at lr 1e-3).

"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import Init, MLPConfig
from ..params import init_params
from ..plotting import plot_group_norm_comparison, plot_loss_curves
from ..tasks import load_digits_split, upsample_digits
from ..training import TrainConfig, digits_data
from ..validation import check_int, check_real
from ._training import epoch_means, fit, predict

NAME = "init_stall"
QUESTION = ("Does a sigmoid MLP initialised N(1, 1) stall, and do Xavier init, He init + ReLU "
            "and BatchNorm each remove the stall?")


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    size: int       # side of the digit images, upsampled from 8x8 (28: MNIST's)
    hidden: int     # units of the one hidden layer
    epochs: int     # passes over the training images (11 batches each)
    lr: float       # Adam's learning rate

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        check_int(owner, "size", self.size, lo=2)
        check_int(owner, "hidden", self.hidden)
        check_int(owner, "epochs", self.epochs, lo=2)    # the stall criterion compares the run's halves
        check_real(owner, "lr", self.lr, lo=0.0, lo_open=True)


SCALES = {
    "smoke": Settings(size=28, hidden=128, epochs=40, lr=1e-3),
    "docs": Settings(size=28, hidden=128, epochs=100, lr=1e-3),
    "full": Settings(size=28, hidden=128, epochs=400, lr=1e-3),
}
BATCH = 128
N11 = Init("normal", mean=1.0, std=1.0)      # keras RandomNormal(mean=1, stddev=1)
VARIANTS = {  # label: (activation, weight init, batchnorm)
    "N(1,1), sigmoid": ("sigmoid", N11, False),
    "Xavier, sigmoid": ("sigmoid", Init("xavier_uniform"), False),
    "He, ReLU": ("relu", Init("he_normal"), False),
    "N(1,1), sigmoid + BN": ("sigmoid", N11, True),
    "N(1,1), ReLU": ("relu", N11, False),
}
LN10 = math.log(10.0)                        # cross-entropy of a uniform guess over 10 classes
FIRST, HEAD = "layers.0.linear.weight", "head.weight"


def stalled(first_loss: float, mid_loss: float, final_loss: float) -> bool:
    """The stall criterion: the second half of the run lowers the loss by < 5 % and the
    final loss is no better than 0.9 ln 10 (what ignoring the input achieves)."""
    return (1.0 - final_loss / mid_loss) < 0.05 and final_loss >= 0.9 * LN10


def run(ctx) -> dict:
    s = ctx.settings
    data = digits_data(BATCH, form="flat", size=s.size, seed=ctx.seed)
    spe = data.steps_per_epoch
    split = load_digits_split(ctx.seed)
    x_test, y_test = upsample_digits(split["x_test"], s.size), split["y_test"]
    tc = TrainConfig(optimizer="adam", lr=s.lr, batch_size=BATCH, steps=s.epochs * spe, loss="xent",
                     seed=ctx.seed, log_every=spe)
    runs, results = {}, {}
    for label, (act, init, bn) in ctx.tqdm(VARIANTS.items(), desc=NAME):
        config = MLPConfig(s.size ** 2, 10, width=s.hidden, depth=1, activation=act, batchnorm=bn,
                           init_weight=init)
        r = fit(ctx, config, init_params(config, seed=ctx.seed, dtype=np.float32), data, tc)
        runs[label] = r
        ep = epoch_means(r.metrics.loss, spe)
        acc = float(np.mean(predict(ctx.backend, config, r.params, x_test).argmax(-1) == y_test))
        g = r.metrics.group_norms
        first, mid, final = float(ep[0]), float(ep[len(ep) // 2]), float(ep[-1])
        results[label] = {
            "loss_first_epoch": first, "loss_final_epoch": final,
            "relative_drop": 1.0 - final / first, "relative_drop_second_half": 1.0 - final / mid,
            "test_accuracy": acc,
            "median_grad_norm_first_layer": float(np.median(g[FIRST])),
            "median_grad_norm_output_layer": float(np.median(g[HEAD])),
            "stalled": stalled(first, mid, final),
        }
        ctx.save_arrays(**{f"{label}/loss": r.metrics.loss, f"{label}/grad_norm_first_layer": g[FIRST],
                           f"{label}/grad_norm_output_layer": g[HEAD]})
    hidden = s.hidden
    fig = plot_loss_curves(runs, smooth=spe, logy=True, baseline=LN10, baseline_label="ln 10: ignoring the input")
    fig.axes[0].set_title(f"MLP {s.size ** 2}-{hidden}-10 on digits {s.size}x{s.size}, Adam lr {s.lr:g} "
                          f"({ctx.backend})\nloss, moving average over one epoch ({spe} steps)", fontsize="medium")
    ctx.save_figure(fig, "loss")
    fig = plot_group_norm_comparison(
        runs, (FIRST, HEAD),
        group_labels={FIRST: f"first layer ({s.size ** 2} -> {hidden})", HEAD: f"output layer ({hidden} -> 10)"},
        title=f"Gradient norm per layer: the N(1,1) sigmoid's first layer gets exactly 0 ({ctx.backend})")
    ctx.save_figure(fig, "grad_norms")
    return results
