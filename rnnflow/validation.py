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
