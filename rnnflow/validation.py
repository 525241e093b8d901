"""Input checks at the backends' entry points (framework-free: shapes and names only)."""
from __future__ import annotations


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
def check_model_input(ops, x, config, model_dtype, *, rank: int) -> None:
    """A model's input ``x``: ``ops``' array type, ``rank`` dims (3: ``(T, B, I)``, 2:
    ``(B, I)``), ``config.input_size`` features, the model's dtype, finite values (not
    checkable under a JAX transformation: skipped there). ``ops`` is the backend's
    ``arrays`` module."""
    if not ops.is_array(x):
        raise TypeError(f"x must be {ops.ARRAY_KIND}, got {type(x).__name__}")
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
            raise TypeError(f"{name} must be {ops.ARRAY_KIND}, got {type(s).__name__}")
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
