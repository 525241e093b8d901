"""The lean training step (rnnflow/{torch,jax}/trainer.py): a bad update is undone exactly,
skip-policy records equal a plain reference loop's (torch: bit for bit; JAX: to 2e-6, XLA
rounding the reference's own jitted pieces differently in the last bit), and the foreach optimizer
kernels the torch Stepper uses give the single-tensor kernels' results bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnflow
from rnnflow.config import RNNConfig
from rnnflow.params import flatten, init_params
from rnnflow.training import TrainConfig
from rnnflow.training.loop import data_rng, trainable_keys

MODEL = RNNConfig(3, 8, activation="tanh", output_size=2)
B, T = 4, 6


def data(step, rng):
    x = rng.standard_normal((T, B, 3)).astype("float32")
    y = rng.standard_normal((B, 2)).astype("float32")
    if step == 3:          # an overflowing loss: the step is skipped ("loss")
        y = y * np.float32(1e30)
    return x, y


def flat0():
    return {k: np.asarray(v, np.float32) for k, v in flatten(init_params(MODEL, 0, "float32")).items()}


@pytest.mark.parametrize("make", [
    lambda ps, f: torch.optim.SGD(ps, lr=0.1, foreach=f),
    lambda ps, f: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, foreach=f),
    lambda ps, f: torch.optim.Adam(ps, lr=1e-3, foreach=f),
    lambda ps, f: torch.optim.RMSprop(ps, lr=1e-3, alpha=0.99, foreach=f)], ids=["sgd", "nesterov", "adam", "rmsprop"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_foreach_kernels_match_single_tensor_bitwise(make, dtype):
    def run(foreach):
        g = torch.Generator().manual_seed(0)
        ps = [torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in [(32, 8), (8,), (1, 5)]]
        opt = make(ps, foreach)
        for i in range(6):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g, dtype=dtype) * 10.0 ** (i % 3 - 1)
            opt.step()
        return ps
    assert all(torch.equal(a, b) for a, b in zip(run(False), run(True)))


def _stepper(backend, flat, cfg, opt_state=None):
    mod = __import__(f"rnnflow.{backend}.trainer", fromlist=["Stepper"])
    return mod.Stepper(MODEL, flat, cfg, opt_state, None)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("optimizer", ["momentum", "rmsprop"])
@pytest.mark.parametrize("warm", [False, True], ids=["first-step", "with-state"])
def test_bad_update_is_undone_exactly(backend, optimizer, warm):
    # finite loss and gradients whose update overflows: lr 1e38 times gradients ~1e4
    x, y = data(0, data_rng(0, 0))
    y = y * np.float32(1e4)
    good = TrainConfig(optimizer=optimizer, lr=0.05, batch_size=B, steps=3)
    flat, state = flat0(), None
    if warm:   # a nonempty optimizer state to restore
        s = _stepper(backend, flat, good)
        for i in range(2):
            s.compute(i, *data(i, data_rng(0, i)))
            s.apply()
        flat, state = s.params(), s.optimizer_state()
    lr = 1e38
    s = _stepper(backend, flat, good.replace(lr=lr), state)
    before_p, before_s = s.params(), s.optimizer_state()
    loss, norm, norms = s.compute(5, x, y)
    assert np.isfinite(loss) and np.isfinite(norms).all()
    clipped, bad = s.apply()
    assert bad and set(bad) <= set(trainable_keys(MODEL)) and np.isnan(clipped)
    after_p, after_s = s.params(), s.optimizer_state()
    assert after_p.keys() == before_p.keys() and after_s.keys() == before_s.keys()
    for k in before_p:
        assert np.array_equal(after_p[k], before_p[k]), k
    for k in before_s:
        assert np.array_equal(after_s[k], before_s[k]), k
    # the next good step is the one a fresh stepper from the same state takes
    ref = _stepper(backend, flat, good.replace(lr=lr), state)
    x2, y2 = data(1, data_rng(0, 1))
    small = (x2, y2 * np.float32(1e-30))
    for st in (s, ref):
        st.compute(1, *small)
    (a, bad_a), (b, bad_b) = s.apply(), ref.apply()
    assert bad_a == bad_b and np.array_equal(a, b, equal_nan=True)
    for k, v in ref.optimizer_state().items():
        assert np.array_equal(s.optimizer_state()[k], v), k
    for k, v in ref.params().items():
        assert np.array_equal(s.params()[k], v), k


def _torch_reference(cfg):
    """A plain torch loop: rnnflow's model, torch.optim single-tensor SGD with momentum,
    clip_grad_norm_, a full copy to undo a non-finite update; the records by hand."""
    from rnnflow.torch.build import build
    from rnnflow.params import unflatten
    model = build(MODEL, unflatten(flat0(), MODEL), dtype=np.dtype("float32"))
    named = dict(model.named_parameters())
    ps = [named[k] for k in trainable_keys(MODEL)]
    opt = torch.optim.SGD(ps, lr=cfg.lr, momentum=cfg.momentum, foreach=False)
    rows = []
    for step in range(cfg.steps):
        x, y = map(torch.as_tensor, data(step, data_rng(cfg.seed, step)))
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x, validate=False).y[-1], y)
        loss.backward()
        norms = [float(torch.linalg.vector_norm(p.grad)) for p in ps]
        norm = float(torch.linalg.vector_norm(torch.tensor(norms, dtype=torch.float32)))
        row = [float(loss.detach()), norm, float("nan"), True] + norms
        if np.isfinite(row[0]) and np.isfinite(norms).all():
            torch.nn.utils.clip_grad_norm_(ps, cfg.clip_value, foreach=False)
            clipped = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in ps])))
            saved = [p.detach().clone() for p in ps]
            opt.step()
            if all(bool(torch.isfinite(p).all()) for p in ps):
                row[2:4] = [clipped, False]
            else:
                with torch.no_grad():
                    for p, s in zip(ps, saved):
                        p.copy_(s)
        rows.append(row)
    return np.array(rows, np.float64)


def _jax_reference(cfg):
    """A plain JAX loop: value_and_grad of rnnflow's forward, torch's clipping formula, optax
    SGD with momentum, separate (unfused) calls; the records by hand."""
    import jax
    import jax.numpy as jnp
    import optax
    from rnnflow.jax.rnn import initial_state, recurrent_forward
    from rnnflow.params import unflatten
    keys = trainable_keys(MODEL)
    p = {k: jnp.asarray(v) for k, v in flat0().items()}
    tx = optax.sgd(cfg.lr, momentum=cfg.momentum)
    o = tx.init(p)

    @jax.jit
    def grad(p, x, y):   # norms inside the program: XLA's reductions round as jit does
        def f(p):
            yp = recurrent_forward(unflatten(p, MODEL), x, initial_state(MODEL, B, x.dtype), MODEL).y
            return jnp.mean((yp[-1] - y) ** 2)
        loss, g = jax.value_and_grad(f)(p)
        norms = jnp.stack([jnp.linalg.norm(g[k].ravel()) for k in keys])
        return loss, g, norms, jnp.linalg.norm(norms)

    @jax.jit
    def update(p, o, g):   # torch's clip_grad_norm_ formula, then optax
        norm = jnp.linalg.norm(jnp.stack([jnp.linalg.norm(g[k].ravel()) for k in keys]))
        coef = jnp.minimum(cfg.clip_value / (norm + 1e-6), 1.0)
        g = {k: v * coef.astype(v.dtype) for k, v in g.items()}
        clipped = jnp.linalg.norm(jnp.stack([jnp.linalg.norm(g[k].ravel()) for k in keys]))
        with jax.numpy_dtype_promotion("standard"):
            u, o = tx.update(g, o, p)
        new = optax.apply_updates(p, u)
        return new, o, clipped, jnp.stack([jnp.isfinite(new[k]).all() for k in keys])

    rows = []
    for step in range(cfg.steps):
        x, y = data(step, data_rng(cfg.seed, step))
        loss, g, norms, norm = grad(p, x, y)
        norms = np.asarray(norms, np.float64)
        row = [float(loss), float(norm), float("nan"), True] + list(norms)
        if np.isfinite(row[0]) and np.isfinite(norms).all():
            new, o2, clipped, finite = update(p, o, g)
            if np.asarray(finite).all():
                p, o, row[2:4] = new, o2, [float(clipped), False]
        rows.append(row)
    return np.array(rows, np.float64)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_skip_records_match_a_plain_loop_bitwise(backend):
    cfg = TrainConfig(optimizer="momentum", lr=0.05, batch_size=B, steps=8, clip="norm", clip_value=0.3)
    r = rnnflow.train(MODEL, flat0(), data, cfg, backend=backend, progress=False)
    m = r.metrics
    got = np.column_stack([m.loss, m.grad_norm, m.grad_norm_clipped, m.skipped.astype(np.float64),
                           m.group_norm_matrix()])
    want = (_torch_reference if backend == "torch" else _jax_reference)(cfg)
    assert want[3, 3] == 1 and want[:, 3].sum() == 1          # the reference skipped step 3 only
    assert [e.step for e in r.events] == [3] and r.events[0].kind == "loss"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    if backend == "torch":
        np.testing.assert_array_equal(got, want)
    else:   # XLA rounds the plain loop's separately jitted pieces differently in the last bit
        np.testing.assert_allclose(got, want, rtol=2e-6)
