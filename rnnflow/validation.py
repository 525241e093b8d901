"""Input checks, framework-free (a leaf module: the standard library and NumPy only).

Two kinds:

* argument checks (:func:`fail` and the ``check_*`` functions before
  :func:`check_input`), used by the configs, the tasks and the trainers;
* entry-point checks on a model's input and state (:func:`check_input`,
  :func:`check_finite`, :func:`check_state`), fed shapes and dtype names by the backends.

Every argument check raises ``ValueError`` with one message shape::

    {owner}.{name}={value!r} is invalid: expected {what is accepted}

where ``owner`` is the config class or function that received the value, so a user
reads which argument was wrong, what it was and what would have been accepted.
Bools are never accepted as numbers (``True`` is an ``int`` to Python, not to us).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from typing import NoReturn

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fail(owner: str, name: str, value, expected: str) -> NoReturn:
    """Raise ``ValueError``: ``owner.name=value`` is invalid, ``expected`` is what is accepted."""
    raise ValueError(f"{owner}.{name}={value!r} is invalid: expected {expected}")


def _is_integer(value, kind) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def python_numbers(config) -> None:
    """Store a frozen dataclass's NumPy integer and float fields (``np.int64(8)``) as Python
    ``int`` / ``float``, so the checks below accept them and the config writes to JSON.
    NumPy bools are left as they are (:func:`check_bool` refuses them)."""
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if isinstance(v, (np.integer, np.floating)):
            object.__setattr__(config, f.name, v.item())


def check_int(owner: str, name: str, value, lo: int = 1) -> None:
    """A Python ``int >= lo`` (not a bool; configs turn NumPy integers into ints first with
    :func:`python_numbers`, as their fields are written to JSON)."""
    if not _is_integer(value, int) or value < lo:
        fail(owner, name, value, f"an integer >= {lo}")


def check_count(owner: str, name: str, value, lo: int = 1) -> int:
    """An integer ``>= lo`` of any integral type (NumPy integers too, not bools), returned as
    a Python ``int``."""
    if not _is_integer(value, numbers.Integral) or value < lo:
        fail(owner, name, value, f"an integer >= {lo}")
    return int(value)


def check_real(owner: str, name: str, value, *, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> None:
    """A finite ``int`` or ``float`` (not a bool) in ``[lo, hi]``; ``lo_open`` / ``hi_open``
    exclude that end. NaN and +-Inf are always refused."""
    ok = _is_integer(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        lb, hb = ("(" if lo_open else "["), (")" if hi_open else "]")
        fail(owner, name, value, f"a finite number in {lb}{lo}, {hi}{hb}")


def check_choice(owner: str, name: str, value, allowed) -> None:
    """One of ``allowed`` (compared with ``==``)."""
    if value not in allowed:
        fail(owner, name, value, f"one of {', '.join(map(repr, allowed))}")


def check_bool(owner: str, name: str, value) -> None:
    """``True`` or ``False`` exactly (not 0, 1 or a NumPy bool)."""
    if not isinstance(value, bool):
        fail(owner, name, value, "True or False")


def check_generator(owner: str, name: str, value) -> np.random.Generator:
    """A ``numpy.random.Generator`` (returned as is, so the caller advances it) or a
    non-negative integer seed (returned as ``numpy.random.default_rng(seed)``)."""
    if isinstance(value, np.random.Generator):
        return value
    if _is_integer(value, numbers.Integral) and value >= 0:
        return np.random.default_rng(int(value))
    fail(owner, name, value, "a numpy.random.Generator or a non-negative int seed")


def check_float_dtype(owner: str, name: str, value) -> np.dtype:
    """Anything ``numpy.dtype`` reads as float32 or float64 (``np.float32``, ``"float64"``, ...),
    returned as a ``numpy.dtype``; ``None`` is refused."""
    try:
        dtype = None if value is None else np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype not in FLOAT_DTYPES:   # (np.dtype("float64") == None is True)
        fail(owner, name, value, "float32 or float64")
    return dtype


# ---------------------------------------------------------------- a model's input and state
def check_input(shape, dtype: str, *, rank: int, features: int, model_dtype: str, what: str = "x") -> None:
    """Raise ``ValueError`` unless an input has ``rank`` dims, ``features`` in its last
    dim and the model's floating dtype."""
    layout = "(T, B, I)" if rank == 3 else "(B, I)"
    if len(shape) != rank:
        raise ValueError(f"{what} has shape {tuple(shape)} (rank {len(shape)}): expected rank {rank}, "
                         f"layout {layout}" + (" (time-major)" if rank == 3 else ""))
    if shape[-1] != features:
        raise ValueError(f"{what} has {shape[-1]} features (shape {tuple(shape)}): expected I={features}")
    if any(s == 0 for s in shape):
        raise ValueError(f"{what} has an empty dimension (shape {tuple(shape)})")
    if dtype != model_dtype and dtype not in FLOAT_DTYPES:
        raise ValueError(f"{what} has dtype {dtype}: expected a float array in the model's dtype, "
                         f"{model_dtype} (cast the input, e.g. x.astype(np.{model_dtype}) or "
                         f"x.to(torch.{model_dtype}))")
    if dtype != model_dtype:
        raise ValueError(f"{what} has dtype {dtype} but the model's parameters are {model_dtype}: "
                         f"cast the input or build the model with dtype={dtype!r}")


def check_finite(all_finite: bool, what: str = "x") -> None:
    if not all_finite:
        raise ValueError(f"{what} contains NaN or Inf")


def check_state(shape, expected: tuple, what: str) -> None:
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{what} has shape {tuple(shape)}, expected {tuple(expected)} (L, B, H)")


# ---------------------------------------------------------------- model inputs (both backends)
def _type_name(a) -> str:
    """``torch.Tensor``, ``jaxlib.ArrayImpl``, ``ndarray``, ``list``: which library's array a user passed."""
    top = type(a).__module__.split(".")[0]
    return type(a).__name__ if top in ("builtins", "numpy") else f"{top}.{type(a).__name__}"


def check_model_input(ops, x, config, model_dtype, *, rank: int) -> None:
    """A model's input ``x``: ``ops``' array type, ``rank`` dims (3: ``(T, B, I)``, 2:
    ``(B, I)``), ``config.input_size`` features, the model's dtype, finite values (not
    checkable under a JAX transformation: skipped there). ``ops`` is the backend's
    ``arrays`` module."""
    if not ops.is_array(x):
        raise TypeError(f"x must be {ops.ARRAY_KIND}, got {_type_name(x)}")
    check_input(tuple(x.shape), ops.dtype_name(x), rank=rank, features=config.input_size,
                model_dtype=ops.dtype_name(model_dtype))
    if ops.all_finite(x) is False:
        check_finite(False)


def check_model_state(ops, state0, config, batch: int, model_dtype, *, lstm: bool) -> None:
    """A recurrent model's ``state0``: ``(L, B, H)``, an LSTM's a pair ``(h0, c0)`` of them,
    in the model's dtype and finite."""
    if lstm and (not isinstance(state0, (tuple, list)) or len(state0) != 2):
        raise ValueError("state0 for an LSTM must be a pair (h0, c0), each (L, B, H)")
    want = (config.num_layers, batch, config.hidden_size)
    for name, s in zip(("h0", "c0") if lstm else ("state0",), state0 if lstm else (state0,)):
        if not ops.is_array(s):
            raise TypeError(f"{name} must be {ops.ARRAY_KIND}, got {_type_name(s)}")
        if ops.dtype_name(s) != ops.dtype_name(model_dtype):
            raise ValueError(f"{name} has dtype {ops.dtype_name(s)} but the model's parameters are "
                             f"{ops.dtype_name(model_dtype)}")
        check_state(tuple(s.shape), want, name)
        if ops.all_finite(s) is False:
            check_finite(False, name)


def check_length(T: int, config) -> None:
    """A Transformer with learned positions has ``max_len`` of them."""
    if config.positional == "learned" and T > config.max_len:
        raise ValueError(f"sequence length T={T} exceeds TransformerConfig.max_len={config.max_len} "
                         "(learned positions have one row per position)")


def check_batchnorm_batch(B: int, config, train: bool) -> None:
    """BatchNorm in train mode needs two examples for a batch variance."""
    if config.batchnorm and train and B < 2:
        raise ValueError(f"BatchNorm in train mode needs a batch of at least 2 (got B={B}): "
                         "its batch variance is undefined; use eval mode for single examples")


def needs_dropout_key(config, train: bool) -> bool:
    """Whether a JAX call draws dropout masks (and so needs a PRNG key)."""
    return train and config.dropout > 0


def check_dropout_key(config, train: bool, key) -> None:
    """JAX dropout in train mode needs an explicit PRNG key."""
    if needs_dropout_key(config, train) and key is None:
        raise ValueError(f"{type(config).__name__}.dropout={config.dropout} in train mode needs a PRNG key: "
                         "pass key=jax.random.key(seed) (or train=False)")


# ---------------------------------------------------------------- output folders
def check_folder(name: str, path) -> str:
    """An output folder ``path`` (``name`` is the argument's name, e.g. ``"out_dir"``) that
    exists or can be created: not empty, not an existing file, under no file, and writable
    where it would be created. Returned as a ``str``."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name}={path!r} is invalid: expected a folder path (str or os.PathLike)") from None
    if not isinstance(p, str) or not p.strip():
        raise ValueError(f"{name}={path!r} is invalid: expected a folder path (use '.' for the current folder)")
    if os.path.exists(p) and not os.path.isdir(p):
        raise FileExistsError(f"{name}={p!r} is an existing file: expected a folder (existing, or one to create)")
    here = os.path.abspath(p)
    while not os.path.exists(here):
        here = os.path.dirname(here)
    if not os.path.isdir(here):
        raise NotADirectoryError(f"{name}={p!r} is invalid: {here!r} is a file, so no folder can be made under it")
    if not os.access(here, os.W_OK | os.X_OK):
        raise PermissionError(f"{name}={p!r} is not writable: {here!r} does not let this user write in it; "
                              "pass a folder you can write to")
    return p


def count_arg(lo: int):
    """An ``argparse`` ``type=`` for an integer flag ``>= lo``: a bad value is argparse's own
    one-line error saying what is accepted."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected an integer >= {lo}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is invalid: expected an integer >= {lo}")
        return value
    parse.__name__ = f"integer >= {lo}"
    return parse


def check_diagonal_call(ops, x, state0, config, model_dtype) -> None:
    """A diagonal recurrence's call: ``x`` as :func:`check_model_input` (rank 3) and, when
    given, ``state0`` as :func:`check_diagonal_state`."""
    check_model_input(ops, x, config, model_dtype, rank=3)
    if state0 is not None:
        check_diagonal_state(ops, state0, config, x.shape[1], model_dtype)


def check_diagonal_state(ops, state0, config, batch: int, model_dtype) -> None:
    """A diagonal model's ``state0``: ``(L, B, S)`` (S = ``config.state_width``: N, or 2N for
    a complex state ``[re, im]``), real, in the model's dtype and finite."""
    if not ops.is_array(state0):
        raise TypeError(f"state0 must be {ops.ARRAY_KIND}, got {_type_name(state0)}")
    if ops.dtype_name(state0) != ops.dtype_name(model_dtype):
        raise ValueError(f"state0 has dtype {ops.dtype_name(state0)} but the model's parameters are "
                         f"{ops.dtype_name(model_dtype)} (a complex state is stored as real [re, im])")
    want = (config.num_layers, batch, config.state_width)
    if tuple(state0.shape) != want:
        raise ValueError(f"state0 has shape {tuple(state0.shape)}, expected {want} (L, B, S) with "
                         f"S={config.state_width} the real state per layer of {type(config).__name__}")
    if ops.all_finite(state0) is False:
        check_finite(False, "state0")


# ---------------------------------------------------------------- analyzer inputs
def check_layer(layer: int, num_layers: int) -> int:
    """``layer`` as an index in ``0..num_layers-1`` (negative counts from the top)."""
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -num_layers <= layer < num_layers:
        raise ValueError(f"layer={layer!r} is invalid for a {num_layers}-layer model: expected an integer "
                         f"in [{-num_layers}, {num_layers - 1}]")
    return int(layer) % num_layers


def check_sequence(shape, what: str = "xs") -> None:
    """Raise ``ValueError`` unless ``shape`` is a non-empty time-major ``(T, B, I)``."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"{what} has shape {shape} (rank {len(shape)}): expected rank 3, "
                         f"layout (T, B, I) (time-major)")
    if 0 in shape:
        raise ValueError(f"{what} has an empty dimension (shape {shape})")
