"""Cross-backend parity check: one parameter set, both backends, compare everything."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import flatten, init_params


@dataclass(frozen=True)
class ParityReport:
    """Largest absolute torch-vs-jax differences for one model and batch."""

    model: str
    dtype: str
    max_abs_y: float        # outputs y (T, B, O)
    max_abs_hidden: float   # all hidden states (L, T, B, H)
    max_abs_grad: float     # d(sum(y * w))/d(params), over every parameter
    scale_y: float          # max |y|, for a relative reading
    scale_grad: float       # max |grad|

    def ok(self, rtol: float) -> bool:
        """Every difference within ``rtol`` of its quantity's largest magnitude (floor 1)."""
        return (max(self.max_abs_y, self.max_abs_hidden) <= rtol * max(self.scale_y, 1.0)
                and self.max_abs_grad <= rtol * max(self.scale_grad, 1.0))

    def line(self) -> str:
        return (f"{self.model:<6} {self.dtype:<8} max|dy|={self.max_abs_y:.2e}  "
                f"max|dh|={self.max_abs_hidden:.2e}  max|dgrad|={self.max_abs_grad:.2e} "
                f"(max|grad|={self.scale_grad:.2e})")


def compare_backends(config, *, seed: int = 0, batch: int = 8, steps: int = 32,
                     dtype=np.float32) -> ParityReport:
    """Build ``config`` in torch and jax from ``init_params(config, seed, dtype)``, run a
    seeded batch ``x`` (steps, batch, I) and compare outputs, hidden states and
    parameter gradients of ``loss = sum(y * w)`` (w fixed, seeded)."""
    import jax
    import jax.numpy as jnp
    import torch

    from ._backend import load
    rj, rt = load("jax"), load("torch")

    params = init_params(config, seed, dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(steps, batch, config.input_size)).astype(dtype)

    tm = rt.build(config, params)
    out_t = tm(torch.as_tensor(x))
    w = rng.normal(size=tuple(out_t.y.shape)).astype(dtype)
    (out_t.y * torch.as_tensor(w)).sum().backward()
    grads_t = {k: p.grad.numpy() for k, p in tm.named_parameters()}

    jm = rj.build(config, params)
    s0 = jm.initial_state(batch)
    out_j = jm(jnp.asarray(x))
    loss = lambda p: jnp.sum(rj.recurrent_forward(p, jnp.asarray(x), s0, config).y * w)
    grads_j = flatten(jax.grad(loss)(jm.params))

    diff = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    return ParityReport(
        model=config.cell, dtype=np.dtype(dtype).name,
        max_abs_y=diff(out_t.y.detach(), out_j.y),
        max_abs_hidden=diff(out_t.hidden.detach(), out_j.hidden),
        max_abs_grad=max(diff(grads_t[k], grads_j[k]) for k in grads_t),
        scale_y=float(np.max(np.abs(np.asarray(out_j.y)))),
        scale_grad=max(float(np.max(np.abs(g))) for g in grads_t.values()),
    )
