"""The training configuration, shared by both backends' trainers (framework-free).

One frozen :class:`TrainConfig` drives :func:`rnnflow.train` in either backend
alike. Both backends implement the same update rules,
written here once so the parity is checkable::

    sgd       p <- p - lr g
    momentum  b <- mu b + g;  p <- p - lr b             (nesterov: p <- p - lr (g + mu b))
    adam      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
              p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    rmsprop   v <- alpha v + (1 - alpha) g^2  (v_0 = 0);  p <- p - lr g / (sqrt(v) + eps)

torch: ``torch.optim.SGD`` / ``Adam`` / ``RMSprop`` with these arguments; optax:
``optax.sgd`` / ``optax.adam`` / ``optax.rmsprop(..., eps_in_sqrt=False)`` (optax's
rmsprop default puts eps inside the square root and decays with 0.9, torch's
outside and 0.99; the settings here reproduce torch).

Clipping happens between the gradient and the update:

    norm   g <- g * min(1, c / (||g|| + 1e-6))     (torch.nn.utils.clip_grad_norm_, global L2 norm)
    value  g <- clamp(g, -c, c)                    (torch.nn.utils.clip_grad_value_, optax.clip)

Losses (``y`` is the model output; targets as ``data_fn`` returns them):

    mse_last   mean((y[-1] - target)^2)        y (T, B, O), target (B, O)   regression at the last step
    xent_last  cross-entropy(y[-1], labels)    labels (B,) int               classify the sequence
    xent_all   cross-entropy(y[t], labels[t])  labels (T, B) int, mean over T and B (copy task)
    mse        mean((y - target)^2)            MLP: y (B, O), target (B, O)
    xent       cross-entropy(y, labels)        MLP: labels (B,) int
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import MLPConfig
from ..validation import check_bool, check_choice, check_int, check_real, fail, python_numbers

#: the values of TrainConfig.optimizer
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
#: the values of TrainConfig.clip
CLIP_MODES = ("none", "norm", "value")
SEQUENCE_LOSSES = ("mse_last", "xent_last", "xent_all")
FLAT_LOSSES = ("mse", "xent")
#: the values of TrainConfig.loss (``*_last``/``*_all``: sequence models; ``mse``/``xent``: an MLP)
LOSSES = SEQUENCE_LOSSES + FLAT_LOSSES
#: the values of TrainConfig.nonfinite: skip the step, stop the run, or raise
NONFINITE_POLICIES = ("skip", "stop", "raise")
DTYPES = ("float32", "float64")
CLIP_NORM_EPS = 1e-6   # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6)

# Fields that may change between a run and its resumption without changing its numbers.
RESUMABLE_CHANGES = ("steps", "log_every", "checkpoint_every", "keep_checkpoints")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, clipping, loss, non-finite policy and schedules.

    A step is one batch: ``data_fn(step, rng) -> (x, y)``, one gradient, one update.
    Schedules count steps; 0 turns a schedule off.
    """

    optimizer: str = "adam"          # one of OPTIMIZERS ("momentum" is SGD with momentum)
    lr: float = 1e-3                 # learning rate
    momentum: float = 0.9            # "momentum" only: mu
    nesterov: bool = False           # "momentum" only: Nesterov's variant
    beta1: float = 0.9               # "adam": first-moment decay
    beta2: float = 0.999             # "adam": second-moment decay
    rms_alpha: float = 0.99          # "rmsprop": square-average decay (torch's alpha, optax's decay)
    eps: float = 1e-8                # "adam" / "rmsprop": added to the denominator, outside the sqrt
    batch_size: int = 32             # B; every batch from data_fn must have it
    steps: int = 1000                # total optimisation steps
    clip: str = "none"               # one of CLIP_MODES
    clip_value: float = 1.0          # threshold: max global L2 norm ("norm") or max |g| ("value")
    loss: str = "mse_last"           # one of LOSSES (see the module docstring)
    nonfinite: str = "skip"          # on a NaN/Inf loss, gradient or update: skip | stop | raise
    log_every: int = 10              # progress-bar refresh (steps)
    hist_every: int = 0              # steps per monitor "epoch": gradient histograms (0: none)
    checkpoint_every: int = 0        # steps between checkpoints in out_dir (0: only at the end)
    keep_checkpoints: int = 2        # newest checkpoints kept in out_dir
    seed: int = 0                    # data (rng per step), dropout keys and default init
    dtype: str = "float32"           # parameters and inputs: "float32" | "float64"

    def __post_init__(self):
        c = "TrainConfig"
        python_numbers(self)   # np.int64(8) steps / np.float32 lr: stored as Python numbers
        check_choice(c, "optimizer", self.optimizer, OPTIMIZERS)
        check_real(c, "lr", self.lr, lo=0.0, lo_open=True)
        check_real(c, "momentum", self.momentum, lo=0.0, hi=1.0, hi_open=True)
        check_bool(c, "nesterov", self.nesterov)
        if self.nesterov and self.optimizer != "momentum":
            fail(c, "nesterov", self.nesterov, f"False unless optimizer='momentum' (got {self.optimizer!r})")
        if self.nesterov and self.momentum == 0:
            fail(c, "nesterov", self.nesterov, "False when momentum=0 (Nesterov needs momentum)")
        check_real(c, "beta1", self.beta1, lo=0.0, hi=1.0, hi_open=True)
        check_real(c, "beta2", self.beta2, lo=0.0, hi=1.0, hi_open=True)
        check_real(c, "rms_alpha", self.rms_alpha, lo=0.0, hi=1.0, hi_open=True)
        check_real(c, "eps", self.eps, lo=0.0, lo_open=True)
        check_int(c, "batch_size", self.batch_size)
        check_int(c, "steps", self.steps)
        check_choice(c, "clip", self.clip, CLIP_MODES)
        check_real(c, "clip_value", self.clip_value, lo=0.0, lo_open=True)
        check_choice(c, "loss", self.loss, LOSSES)
        check_choice(c, "nonfinite", self.nonfinite, NONFINITE_POLICIES)
        check_int(c, "log_every", self.log_every)
        check_int(c, "hist_every", self.hist_every, lo=0)
        check_int(c, "checkpoint_every", self.checkpoint_every, lo=0)
        check_int(c, "keep_checkpoints", self.keep_checkpoints)
        check_int(c, "seed", self.seed, lo=0)
        check_choice(c, "dtype", self.dtype, DTYPES)
        big = float(np.finfo(self.dtype).max)
        for name in ("lr", "clip_value"):
            if getattr(self, name) > big:
                fail(c, name, getattr(self, name), f"at most {big:.4g}, the largest {self.dtype}")

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig has no field {unknown[0]!r}")
        return cls(**d)


def check_loss_for_model(train_config: TrainConfig, model_config) -> None:
    """Raise ``ValueError`` if the loss does not fit the model's output layout.

    Sequence models (recurrent, Transformer) give ``y (T, B, O)`` and take the
    ``*_last`` / ``*_all`` losses; the MLP gives ``y (B, O)`` and takes ``mse`` / ``xent``.
    """
    flat = isinstance(model_config, MLPConfig)
    allowed = FLAT_LOSSES if flat else SEQUENCE_LOSSES
    if train_config.loss not in allowed:
        kind = "an MLP (output (B, O))" if flat else "a sequence model (output (T, B, O))"
        fail("TrainConfig", "loss", train_config.loss, f"one of {', '.join(map(repr, allowed))} for {kind}")


def output_size(model_config) -> int:
    """O: the width of the model's output ``y`` (the readout, or the last hidden width)."""
    if isinstance(model_config, MLPConfig):
        return model_config.output_size
    if model_config.output_size is not None:
        return model_config.output_size
    return getattr(model_config, "d_model", None) or model_config.hidden_size
