"""Ready-made ``data_fn(step, rng) -> (x, y)`` for the trainers, over :mod:`rnnflow.tasks`.

Each batch depends only on ``(seed, step)`` (the trainer passes
``rng = np.random.default_rng([seed, step])``; the digits functions also use their
own ``seed`` for the split and the per-epoch shuffle), so a resumed run sees the
same batches as an uninterrupted one.

================================  ===========================================  =============
data_fn                           batch                                        loss
================================  ===========================================  =============
``adding_data(T, B)``             x (L, B, 2), y (B, 1)                        ``mse_last``
``copy_data(T, B)``               x (L, B, K) one-hot, y (L, B)                ``xent_all``
``digits_data(B, form=...)``      "rows" (8, B, 8) / "pixels" (64, B, 1),      ``xent_last``
                                  y (B,)
``digits_data(B, form="flat")``   x (B, 64) (or (B, S*S) with ``size=S``),     ``xent``
                                  y (B,)
================================  ===========================================  =============
"""
from __future__ import annotations

import numpy as np

from ..tasks import adding_batch, copy_batch, digits_sequences, load_digits_split, upsample_digits
from ..validation import check_choice, check_int, fail

DIGIT_FORMS = ("flat", "rows", "pixels")


def adding_data(T: int, batch_size: int, *, dtype=np.float32):
    """The adding problem (:func:`rnnflow.tasks.adding_batch`); the length varies per batch
    in ``[T, T + T // 10]``, declared as ``data_fn.max_length = T + T // 10`` (the JAX trainer
    pads to it and compiles one program: :mod:`rnnflow.training.padding`)."""
    check_int("adding_data", "T", T, lo=2)
    check_int("adding_data", "batch_size", batch_size)

    def data_fn(step, rng):
        return adding_batch(rng, batch_size, T, dtype=dtype)
    data_fn.max_length = T + T // 10
    return data_fn


def copy_data(T: int, batch_size: int, *, n_symbols: int = 8, n_copy: int = 10, dtype=np.float32):
    """The copying memory task (:func:`rnnflow.tasks.copy_batch`), labels for every step."""
    check_int("copy_data", "T", T)
    check_int("copy_data", "batch_size", batch_size)

    def data_fn(step, rng):
        return copy_batch(rng, batch_size, T, n_symbols=n_symbols, n_copy=n_copy, dtype=dtype)
    return data_fn


def digits_data(batch_size: int, *, form: str = "flat", size: int | None = None, permutation=None,
                seed: int = 0, split: str = "train", dtype=np.float32):
    """Mini-batches of sklearn's 8x8 digits (:mod:`rnnflow.tasks.digits`), epoch by epoch.

    Batch ``step`` is slice ``step % n_batches`` of epoch ``step // n_batches``'s shuffle
    (a permutation seeded by ``(seed, epoch)``), with ``n_batches = N // batch_size``
    (the remainder of each shuffle is dropped). ``form``: "flat" ``(B, 64)`` for MLPs
    (``size=S`` upsamples to ``(B, S*S)``, e.g. 28 for an MNIST-sized input), "rows" or
    "pixels" for sequence models (``permutation``: permuted pixels). ``split``: "train"
    or "test" of ``load_digits_split(seed)``.
    """
    fn = "digits_data"
    check_int(fn, "batch_size", batch_size)
    check_choice(fn, "form", form, DIGIT_FORMS)
    check_choice(fn, "split", split, ("train", "test"))
    if size is not None and form != "flat":
        fail(fn, "size", size, "None unless form='flat'")
    data = load_digits_split(seed, dtype=dtype)
    x, y = data[f"x_{split}"], data[f"y_{split}"]
    if size is not None:
        x = upsample_digits(x, size)
    n_batches = len(x) // batch_size
    if n_batches == 0:
        fail(fn, "batch_size", batch_size, f"at most the {split} set's {len(x)} images")

    def data_fn(step, rng):
        epoch, i = divmod(step, n_batches)
        idx = np.random.default_rng([seed, epoch]).permutation(len(x))[i * batch_size:(i + 1) * batch_size]
        xb = x[idx]
        if form != "flat":
            xb = digits_sequences(xb, form, permutation)
        return xb, y[idx]
    data_fn.steps_per_epoch = n_batches
    return data_fn
