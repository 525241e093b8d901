"""The analyzers on the flax models researchers already have (linen cells with their variables,
``nn.RNN`` wrappers, NNX cells and ``nnx.RNN``, plain ``f(params, h, x)``), against ``jax.jacrev``
of THE USER'S OWN MODULE run from ``h_t`` to ``h_T``, never of rnnflow's copy of it."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

from rnnflow.analysis import (  # noqa: E402
    StepJacobians, elman_decomposition, gradient_reach, gradient_through_depth, jacobians_over_time,
    lyapunov_exponents, lyapunov_spectrum,
)

T, B, I, H = 8, 2, 3, 4
F64 = dict(rtol=1e-9, atol=1e-9)
LSTMS = ("LSTMCell", "OptimizedLSTMCell")


def _xs(shape=(T, B, I), seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _carry(kind, seed=1):
    rng = np.random.default_rng(seed)
    h = jnp.asarray(0.5 * rng.standard_normal((B, H)))
    return (jnp.asarray(rng.standard_normal((B, H))), h) if kind in LSTMS else h   # flax: (c, h)


def _log_norms(j):
    return np.log(np.linalg.norm(j, 2, axis=(-2, -1))), np.log(np.linalg.norm(j, axis=(-2, -1)))


def _flat(tree):
    return jnp.concatenate(jax.tree_util.tree_leaves(tree), axis=-1)


def _brute(step, xs, carry0):
    """``(B, T, N, N)`` Jacobians ``d carry_T / d carry_t`` (the carry's leaves concatenated, in
    flax's order) of the user's cell run as flax runs it, ``step(carry, x)`` (B examples), from
    ``carry_t`` to ``carry_T``: one ``jax.jacrev`` of ``carry_T`` with respect to perturbations
    ``d_t`` added to every ``carry_t`` (at ``d = 0`` that derivative is ``d carry_T / d carry_t``)."""
    leaves0, tree = jax.tree_util.tree_flatten(carry0)
    sizes = np.cumsum([l.shape[-1] for l in leaves0])[:-1].tolist()
    T_, N = xs.shape[0], sum(l.shape[-1] for l in leaves0)

    def bump(c, d):
        return jax.tree_util.tree_unflatten(tree, [a + b for a, b in zip(jax.tree_util.tree_leaves(c),
                                                                         jnp.split(d, sizes, axis=-1))])

    def run(d):   # d (T, B, N) -> carry_T (B, N)
        c = carry0
        for t in range(T_):
            c = step(bump(c, d[t]), xs[t])
        return _flat(c)
    full = np.asarray(jax.jacrev(run)(jnp.zeros((T_, B, N), xs.dtype)))   # (B, N, T, B, N)
    return np.stack([np.stack([full[b, :, t, b] for t in range(T_)]) for b in range(B)])


def _brute_from(run_from, t, carry_t):
    """``(B, N, N)``: ``d carry_T / d carry_t`` by ``jax.jacrev`` of ``run_from(carry_t)``, THE USER'S
    MODULE (e.g. an ``RNN`` wrapper) run from time t to T."""
    leaves, tree = jax.tree_util.tree_flatten(carry_t)
    sizes = np.cumsum([l.shape[-1] for l in leaves])[:-1].tolist()
    full = np.asarray(jax.jacrev(lambda z: _flat(run_from(jax.tree_util.tree_unflatten(
        tree, jnp.split(z, sizes, axis=-1)))))(_flat(carry_t)))             # (B, N, B, N)
    return np.stack([full[b, :, b] for b in range(B)])


def _check(res, brute, kind):
    spec, frob = _log_norms(brute)
    np.testing.assert_allclose(res.log_spectral, spec, **F64)
    np.testing.assert_allclose(res.log_frobenius, frob, **F64)
    if kind in LSTMS:   # flax's carry is (c, h): the h block of rnnflow's (h, c) is flax's second
        hs, _ = _log_norms(brute[..., H:, H:])
        np.testing.assert_allclose(res.log_spectral_h, hs, **F64)


# ---------------------------------------------------------------- linen cells and nn.RNN
LINEN = ["SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell", "MGUCell"]


def _linen(kind, **kw):
    cell = getattr(nn, kind)(H, param_dtype=jnp.float64, **kw)
    carry = _carry(kind)
    variables = cell.init(jax.random.key(0), carry, _xs()[0])
    if kind == "GRUCell":   # flax inits biases to zero: give every bias a value, so a misplaced one shows
        variables = jax.tree_util.tree_map(lambda a: a + 0.3 if a.ndim == 1 else a, variables)
    return cell, variables, carry


@pytest.mark.parametrize("kind", LINEN)
def test_linen_cells_against_jacrev_of_the_cell(kind):
    cell, variables, carry = _linen(kind, **({"bias_init": nn.initializers.normal(0.5)} if kind != "MGUCell" else {}))
    xs = _xs()
    res = jacobians_over_time(cell, xs, carry, params=variables)

    def step(c, x):
        return cell.apply(variables, c, x)[0]
    _check(res, _brute(step, xs, carry), kind)
    assert res.cell == {"SimpleCell": "rnn", "GRUCell": "gru", "MGUCell": "step"}.get(kind, "lstm")


@pytest.mark.parametrize("kind,time_major", [("LSTMCell", False), ("GRUCell", True), ("MGUCell", False)])
def test_linen_rnn_wrapper_against_jacrev_of_the_wrapper(kind, time_major):
    cell, cell_vars, carry = _linen(kind)
    rnn = nn.RNN(cell, time_major=time_major, return_carry=True)
    variables = {"params": {"cell": cell_vars["params"]}}   # what rnn.init gives, without its compile
    xs = _xs()                                               # time-major here
    given = xs if time_major else xs.swapaxes(0, 1)          # the wrapper's own layout
    res = jacobians_over_time(rnn, given, carry, params=variables)

    def step(c, x):
        return cell.apply(cell_vars, c, x)[0]
    brute = _brute(step, xs, carry)
    _check(res, brute, kind)

    def run_from(c0):   # and THE WRAPPER run whole, from h_0, in its own layout
        return rnn.apply(variables, given, initial_carry=c0)[0]
    np.testing.assert_allclose(_brute_from(run_from, 0, carry), brute[:, 0], **F64)


def test_elman_decomposition_of_a_linen_simple_cell():
    cell, variables, carry = _linen("SimpleCell")
    xs = _xs()
    dec = elman_decomposition(cell, xs, carry, params=variables)

    def step(c, x):
        return cell.apply(variables, c, x)[0]
    spec, _ = _log_norms(_brute(step, xs, carry))
    np.testing.assert_allclose(dec.log_jacobian, spec, **F64)
    w = np.asarray(variables["params"]["h"]["kernel"])      # flax's kernel is (in, out): W_hh = kernel.T
    assert dec.log_spectral_radius == pytest.approx(np.log(np.abs(np.linalg.eigvals(w)).max()), abs=1e-12)


def test_lyapunov_spectrum_of_a_linen_lstm_against_qr_on_brute_force_jacobians():
    cell = nn.LSTMCell(H, param_dtype=jnp.float64)
    xs = _xs((30, 1, I), seed=3)
    zero = (jnp.zeros((1, H)), jnp.zeros((1, H)))
    variables = cell.init(jax.random.key(1), zero, xs[0])
    c = zero
    steps = np.zeros((30, 1, 2 * H, 2 * H))
    perm = np.r_[H:2 * H, 0:H]                                # flax (c, h) -> rnnflow (h, c)
    def one(z, x):   # one step of the user's cell on the flat carry (c, h)
        (c1, h1), _ = cell.apply(variables, (z[None, :H], z[None, H:]), x)
        return jnp.concatenate([c1[0], h1[0]])
    jac = jax.jit(jax.jacrev(one))
    for t in range(30):
        a = np.asarray(jac(jnp.concatenate([c[0][0], c[1][0]]), xs[t]))
        steps[t, 0] = a[np.ix_(perm, perm)]
        c = cell.apply(variables, c, xs[t])[0]
    want = lyapunov_exponents(StepJacobians.dense(steps), warmup=10)
    got = lyapunov_spectrum(cell, xs, params=variables, warmup=10)
    np.testing.assert_allclose(got.exponents, want.exponents, rtol=1e-9, atol=1e-10)


def test_gradient_reach_of_a_linen_rnn_against_jacrev_of_its_last_output():
    cell, _, carry = _linen("GRUCell")
    rnn = nn.RNN(cell)                                       # batch-major (B, T, I)
    x = _xs((B, T, I))
    variables = {"params": {"cell": _linen("GRUCell")[1]["params"]}}
    res = gradient_reach(rnn, x, params=variables)
    J = np.asarray(jax.jacrev(lambda x_: rnn.apply(variables, x_)[:, -1])(x))   # (B, H, B, T, I)
    want = np.array([[np.log(np.linalg.norm(J[b, :, b, t])) for t in range(T)] for b in range(B)])
    np.testing.assert_allclose(res.log_norm, want, **F64)


# ---------------------------------------------------------------- NNX cells and nnx.RNN
NNX = ["SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell", "SimpleCell-residual"]


def _nnx(kind):
    name = kind.split("-")[0]
    kw = {"residual": True} if kind.endswith("residual") else {}
    cell = getattr(nnx, name)(I, H, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0), **kw)
    for path, var in nnx.iter_graph(cell):   # give every bias a value, so a misplaced one shows
        if isinstance(var, nnx.Param) and var[...].ndim == 1:
            var[...] = var[...] + 0.3
    return cell


@pytest.mark.parametrize("kind", NNX)
def test_nnx_cells_against_jacrev_of_the_cell(kind):
    cell = _nnx(kind)
    xs = _xs()
    carry = _carry(kind.split("-")[0])
    res = jacobians_over_time(cell, xs, carry)

    def step(c, x):
        return cell(c, x)[0]
    _check(res, _brute(step, xs, carry), kind.split("-")[0])
    assert res.cell == ("step" if kind.endswith("residual") else
                        {"SimpleCell": "rnn", "GRUCell": "gru"}.get(kind, "lstm"))


@pytest.mark.parametrize("time_major", [False, True])
def test_nnx_rnn_wrapper_against_jacrev_of_the_wrapper(time_major):
    cell = _nnx("OptimizedLSTMCell")
    rnn = nnx.RNN(cell, time_major=time_major, return_carry=True)
    xs = _xs()
    carry = _carry("LSTMCell")
    res = jacobians_over_time(rnn, xs if time_major else xs.swapaxes(0, 1), carry)

    def step(c, x):
        return cell(c, x)[0]
    brute = _brute(step, xs, carry)
    _check(res, brute, "LSTMCell")

    # the wrapper runs exactly that cell (nnx.RNN cannot be differentiated from outside NNX's own
    # transforms: its RngStream is a Variable of another trace level), in its own layout
    whole = rnn(xs if time_major else xs.swapaxes(0, 1), initial_carry=carry)[0]
    last = carry
    for t in range(T):
        last = step(last, xs[t])
    np.testing.assert_allclose(_flat(whole), _flat(last), **F64)


# ---------------------------------------------------------------- step functions and depth
def test_a_step_function_with_params_against_jacrev():
    rng = np.random.default_rng(0)
    p = {"w": jnp.asarray(0.6 * rng.standard_normal((H, H))), "u": jnp.asarray(rng.standard_normal((I, H)))}

    def f(params, h, x):
        return jnp.tanh(h @ params["w"] + x @ params["u"])
    xs = _xs()
    h0 = jnp.full((B, H), 0.1)
    res = jacobians_over_time(f, np.asarray(xs), h0, params=p)

    def step(h, x):
        return f(p, h, x)
    _check(res, _brute(step, xs, h0), "step")


def test_depth_through_an_nnx_sequential():
    seq = nnx.Sequential(nnx.Linear(4, 6, param_dtype=jnp.float64, rngs=nnx.Rngs(0)), jnp.tanh,
                         nnx.Linear(6, 3, param_dtype=jnp.float64, rngs=nnx.Rngs(1)))
    x = _xs((B, 4))
    res = gradient_through_depth(seq, x)
    layers = list(seq.layers)

    def tail(l, h):
        for f in layers[l:]:
            h = f(h)
        return (h * h).sum() / 2
    acts = [x]
    for f in layers:
        acts.append(f(acts[-1]))
    want = np.stack([0.5 * np.log((np.asarray(jax.grad(lambda h, l=l: tail(l, h))(acts[l])) ** 2).sum(1))
                     for l in range(4)], 1)
    np.testing.assert_allclose(res.log_grad_norm, want, **F64)


# ---------------------------------------------------------------- refusals
def test_unknown_flax_modules_are_refused():
    dense = nn.Dense(H)
    with pytest.raises(TypeError, match=r"a flax.linen.Dense is not a recurrent cell .*: pass one of flax "
                                        r"SimpleCell/LSTMCell"):
        jacobians_over_time(dense, _xs(), jnp.zeros((B, H)), params={"params": {}})
    with pytest.raises(TypeError, match=r"a flax.nnx.Linear is not a recurrent cell"):
        jacobians_over_time(nnx.Linear(H, H, rngs=nnx.Rngs(0)), _xs(), jnp.zeros((B, H)))
    with pytest.raises(TypeError, match=r"flax.linen.Bidirectional is not a recurrent cell"):
        jacobians_over_time(nn.Bidirectional(nn.RNN(nn.GRUCell(H)), nn.RNN(nn.GRUCell(H))), _xs(), params={})
    with pytest.raises(TypeError, match=r"gradient_through_depth got a flax.linen.GRUCell: expected .*nnx.Sequential"):
        gradient_through_depth(nn.GRUCell(H), _xs((B, I)))


def test_missing_variables_reverse_and_wrong_layouts_are_refused():
    with pytest.raises(ValueError, match=r"a flax.linen.GRUCell needs its variables: pass params=variables"):
        jacobians_over_time(nn.GRUCell(H), _xs())
    with pytest.raises(ValueError, match=r"reverse=True runs backwards in time"):
        jacobians_over_time(nnx.RNN(_nnx("GRUCell"), reverse=True), _xs())
    rnn = nnx.RNN(_nnx("GRUCell"))                          # batch-major
    with pytest.raises(ValueError, match=r"xs has shape \(8, 2, 3\) but h0 has batch 2: flax.nnx.RNN\(flax.nnx.GRUCell, "
                                         r"time_major=False\) takes xs \(B, T, I\) \(batch-major\), so its batch is 8"):
        jacobians_over_time(rnn, _xs(), _carry("GRUCell"))
    with pytest.raises(ValueError, match=r"with I=3 features"):
        jacobians_over_time(rnn, _xs((B, T, 5)))
    with pytest.raises(ValueError, match=r"h0 for flax.linen.LSTMCell must be a carry \(c, h\) of \(B, H\)"):
        cell, variables, _ = _linen("LSTMCell")
        jacobians_over_time(cell, _xs(), jnp.zeros((B, H)), params=variables)
    with pytest.raises(ValueError, match="params= was given with a flax.nnx.GRUCell: an NNX module carries"):
        jacobians_over_time(_nnx("GRUCell"), _xs(), params={})


# ---------------------------------------------------------------- the copy is exact
@pytest.mark.parametrize("kind", ["SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell"])
def test_the_rnnflow_copy_gives_the_cells_outputs(kind):
    from rnnflow.analysis import as_model
    cell, variables, carry = _linen(kind, bias_init=nn.initializers.normal(0.5))
    xs = _xs()
    c = carry
    for t in range(T):
        c, y = cell.apply(variables, c, xs[t])
    h0 = (carry[1][None], carry[0][None]) if kind in LSTMS else carry[None]   # rnnflow: (h, c), (L, B, H)
    out = as_model(cell, variables)(xs, h0)
    np.testing.assert_allclose(np.asarray(out.y[-1]), np.asarray(y), **F64)
    if kind in LSTMS:
        np.testing.assert_allclose(np.asarray(out.cell[0, -1]), np.asarray(c[0]), **F64)
    n = _nnx(kind)
    c = carry
    for t in range(T):
        c, y = n(c, xs[t])
    np.testing.assert_allclose(np.asarray(as_model(n)(xs, h0).y[-1]), np.asarray(y), **F64)
