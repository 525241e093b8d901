"""The analyzers on the torch modules researchers already have, against brute-force autograd of
THE USER'S OWN MODULE (torch.autograd.functional.jacobian of a function that runs it), never of
rnnflow's copy of it."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.autograd.functional import jacobian  # noqa: E402

from rnnflow.analysis import (  # noqa: E402
    StepJacobians, elman_decomposition, gradient_reach, gradient_through_depth, jacobians_over_time,
    lyapunov_exponents, lyapunov_spectrum,
)

T, B, I, H = 9, 2, 3, 5
F64 = dict(rtol=1e-9, atol=1e-9)


def _log_norms(jacs):
    """``(log ||J||_2, log ||J||_F)`` of ``(B, T, N, N)`` Jacobians."""
    return np.log(np.linalg.norm(jacs, 2, axis=(-2, -1))), np.log(np.linalg.norm(jacs, axis=(-2, -1)))


# ---------------------------------------------------------------- brute force on the user's module
def _brute_cell(cell, xs, h0):
    """``dh_T/dh_t`` for t = 0..T-1 of a torch cell run as it is called, ``cell(x, state)``:
    ``(B, T, N, N)``, the state (h, c) concatenated for an LSTMCell."""
    lstm = isinstance(cell, nn.LSTMCell)
    T_, B_ = xs.shape[:2]
    with torch.no_grad():
        states = [h0]
        for s in range(T_):
            states.append(cell(xs[s], states[-1]))
    out = np.zeros((B_, T_, 2 * H if lstm else H, 2 * H if lstm else H))
    for b in range(B_):
        for t in range(T_):
            def run(z, t=t, b=b):
                st = (z[None, :H], z[None, H:]) if lstm else z[None]
                for s in range(t, T_):
                    st = cell(xs[s, b:b + 1], st)
                return torch.cat(st, -1)[0] if lstm else st[0]
            z = torch.cat([p[b] for p in states[t]]) if lstm else states[t][b]
            out[b, t] = jacobian(run, z).numpy()
    return out


def _brute_sequence(m, xs, h0, layer):
    """``dz_T/dz_t`` of layer ``layer`` (z = h, or (h, c) for nn.LSTM) of a torch nn.RNN/LSTM/GRU,
    by running THE MODULE from time t on with its own (h0, c0) argument; ``xs`` time-major here,
    fed in the module's own layout."""
    lstm = isinstance(m, nn.LSTM)
    T_, B_ = xs.shape[:2]

    def forward(x, st):   # x (T', B', I) time-major
        return m(x.transpose(0, 1) if m.batch_first else x, st)[1]

    def at(t):   # the module's (L, B, H) state(s) after t steps
        if t == 0:
            return h0
        with torch.no_grad():
            return forward(xs[:t], h0)
    N = 2 * H if lstm else H
    out = np.zeros((B_, T_, N, N))
    for t in range(T_):
        st = at(t)
        for b in range(B_):
            def run(z, b=b, st=st, t=t):
                parts = (z[:H], z[H:]) if lstm else (z,)
                full = tuple(torch.cat([p[:layer, b:b + 1], q[None, None], p[layer + 1:, b:b + 1]])
                             for p, q in zip(st if lstm else (st,), parts))
                fin = forward(xs[t:, b:b + 1], full if lstm else full[0])
                return torch.cat([p[layer, 0] for p in fin]) if lstm else fin[layer, 0]
            z = torch.cat([p[layer, b] for p in st]) if lstm else st[layer, b]
            out[b, t] = jacobian(run, z).numpy()
    return out


def _xs(shape=(T, B, I), seed=0):
    return torch.as_tensor(np.random.default_rng(seed).standard_normal(shape))


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell", "GRUCell-nobias"])
def test_cells_against_autograd_of_the_cell(kind):
    torch.manual_seed(1)
    name = kind.split("-")[0]
    kw = {"nonlinearity": "relu"} if kind.endswith("relu") else {"bias": False} if kind.endswith("nobias") else {}
    cell = getattr(nn, name)(I, H, **kw).double()
    xs = _xs()
    h = torch.randn(B, H, dtype=torch.float64) * 0.5
    h0 = (h, torch.randn(B, H, dtype=torch.float64)) if name == "LSTMCell" else h
    res = jacobians_over_time(cell, xs, h0)
    spec, frob = _log_norms(_brute_cell(cell, xs, h0))
    np.testing.assert_allclose(res.log_spectral, spec, **F64)
    np.testing.assert_allclose(res.log_frobenius, frob, **F64)
    assert res.cell == {"RNNCell": "rnn", "LSTMCell": "lstm", "GRUCell": "gru"}[name]


def test_gru_cell_gives_the_brute_force_numbers_never_the_swapped_call():
    """The user's report: nn.GRUCell(16, 16) was taken as step(h, x) and called cell(h, x)."""
    torch.manual_seed(0)
    cell = nn.GRUCell(16, 16)
    xs = torch.randn(12, 2, 16)
    h0 = torch.zeros(2, 16)
    res = jacobians_over_time(cell, xs)                 # h0 defaults to zeros, as for the cell
    global H
    saved, H = H, 16
    try:
        spec, _ = _log_norms(_brute_cell(cell, xs, h0))
    finally:
        H = saved
    np.testing.assert_allclose(res.log_spectral, spec, rtol=1e-4, atol=1e-4)
    swapped = jacobians_over_time(lambda h, x: cell(h, x), xs, h0)   # what the old code did
    assert np.abs(swapped.log_spectral - spec).max() > 1.0


# ---------------------------------------------------------------- sequence modules
@pytest.mark.parametrize("kind,layers,layer,batch_first", [
    ("RNN", 1, 0, False), ("RNN", 2, 1, True), ("LSTM", 2, 0, False), ("LSTM", 2, 1, True),
    ("GRU", 1, 0, True), ("GRU", 3, -1, False)])
def test_sequence_modules_against_autograd_of_the_module(kind, layers, layer, batch_first):
    torch.manual_seed(2)
    m = getattr(nn, kind)(I, H, num_layers=layers, batch_first=batch_first).double()
    xs = _xs()                                            # time-major for the brute force
    h = torch.randn(layers, B, H, dtype=torch.float64) * 0.5
    h0 = (h, torch.randn(layers, B, H, dtype=torch.float64)) if kind == "LSTM" else h
    given = xs.transpose(0, 1) if batch_first else xs      # the analyzer takes the module's layout
    res = jacobians_over_time(m, given, h0, layer=layer)
    spec, frob = _log_norms(_brute_sequence(m, xs, h0, layer % layers))
    np.testing.assert_allclose(res.log_spectral, spec, **F64)
    np.testing.assert_allclose(res.log_frobenius, frob, **F64)


def test_float32_lstm_and_default_state():
    torch.manual_seed(3)
    m = nn.LSTM(I, H)                                     # float32, h0 = zeros
    xs = _xs().float()
    z = torch.zeros(1, B, H)
    res = jacobians_over_time(m, xs)
    spec, _ = _log_norms(_brute_sequence(m, xs, (z, z), 0))
    np.testing.assert_allclose(res.log_spectral, spec, rtol=1e-4, atol=1e-4)


def test_elman_decomposition_of_a_user_rnn_cell():
    torch.manual_seed(4)
    cell = nn.RNNCell(I, H).double()
    xs = _xs()
    h0 = torch.zeros(B, H, dtype=torch.float64)
    dec = elman_decomposition(cell, xs, h0)
    spec, _ = _log_norms(_brute_cell(cell, xs, h0))
    np.testing.assert_allclose(dec.log_jacobian, spec, **F64)
    w = cell.weight_hh.detach().numpy()                   # the closed forms of the user's W_hh
    assert dec.log_spectral_radius == pytest.approx(np.log(np.abs(np.linalg.eigvals(w)).max()), abs=1e-12)
    assert dec.log_sigma_max == pytest.approx(np.log(np.linalg.norm(w, 2)), abs=1e-12)


def test_lyapunov_spectrum_of_a_user_lstm_against_qr_on_brute_force_jacobians():
    torch.manual_seed(5)
    m = nn.LSTM(I, H).double()
    xs = _xs((30, 1, I), seed=3)
    z = torch.zeros(1, 1, H, dtype=torch.float64)
    with torch.no_grad():
        hs, cs = [z[0]], [z[0]]
        for t in range(30):
            _, (h, c) = m(xs[t:t + 1], (hs[-1][None], cs[-1][None]))
            hs.append(h[0])
            cs.append(c[0])
    steps = np.zeros((30, 1, 2 * H, 2 * H))
    for t in range(30):   # A_t = d(h_t, c_t)/d(h_{t-1}, c_{t-1}) of one step of the user's module
        def one(zz, t=t):
            _, (h, c) = m(xs[t:t + 1], (zz[None, None, :H], zz[None, None, H:]))
            return torch.cat([h[0, 0], c[0, 0]])
        steps[t, 0] = jacobian(one, torch.cat([hs[t][0], cs[t][0]])).numpy()
    want = lyapunov_exponents(StepJacobians.dense(steps), warmup=10)
    got = lyapunov_spectrum(m, xs, warmup=10)
    np.testing.assert_allclose(got.exponents, want.exponents, rtol=1e-9, atol=1e-10)
    auto = lyapunov_spectrum(m, steps=20, warmup=10, batch=2)     # autonomous: x_t = 0, I from the module
    assert auto.exponents.shape == (2, 2 * H)


# ---------------------------------------------------------------- reach
@pytest.mark.parametrize("kind,batch_first", [("LSTM", True), ("GRU", False), ("GRUCell", False)])
def test_gradient_reach_against_autograd_of_the_modules_last_output(kind, batch_first):
    torch.manual_seed(6)
    if kind == "GRUCell":
        m = nn.GRUCell(I, H).double()

        def last(x):   # (T, B, I) -> h_T (B, H), running the cell as the user does
            h = torch.zeros(x.shape[1], H, dtype=x.dtype)
            for t in range(x.shape[0]):
                h = m(x[t], h)
            return h
    else:
        m = getattr(nn, kind)(I, H, num_layers=2, batch_first=batch_first).double()

        def last(x):
            y = m(x)[0]
            return y[:, -1] if batch_first else y[-1]
    xs = _xs()
    given = xs.transpose(0, 1).contiguous() if batch_first else xs
    res = gradient_reach(m, given)
    J = jacobian(last, given).numpy()                    # (B, H, *x.shape)
    want = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            blk = J[b, :, b, t] if batch_first else J[b, :, t, b]
            want[b, t] = np.log(np.linalg.norm(blk))
    np.testing.assert_allclose(res.log_norm, want, **F64)


def test_gradient_reach_still_calls_an_unknown_module_as_model_x():
    class Causal(nn.Module):
        def forward(self, x):   # (T, B, I) -> (T, B, 1): cumulative sums
            return torch.cumsum(x, 0).sum(-1, keepdim=True)
    res = gradient_reach(Causal(), _xs())
    np.testing.assert_allclose(res.log_norm, np.full((B, T), 0.5 * np.log(I)), atol=1e-12)


# ---------------------------------------------------------------- depth
def _half_square(y):
    return (y * y).sum() / 2


def _brute_depth(layers, readout, x, batch_axis, loss_fn=_half_square):
    """Per-example ``log ||dL/dx_l||``, L = loss_fn(readout(x_L)), by autograd of the tail from each x_l."""
    acts = [x]
    with torch.no_grad():
        for f in layers:
            acts.append(f(acts[-1]))
    out = []
    for l in range(len(layers) + 1):
        def tail(h, l=l):
            for f in layers[l:]:
                h = f(h)
            return loss_fn(readout(h) if readout is not None else h)
        g = np.moveaxis(jacobian(tail, acts[l]).numpy(), batch_axis, 0)
        out.append(0.5 * np.log((g.reshape(g.shape[0], -1) ** 2).sum(1)))
    return np.stack(out, 1)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_depth_through_a_transformer_encoder(norm_first, batch_first):
    torch.manual_seed(7)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8), enable_nested_tensor=False).double().eval()
    x = torch.randn((B, 4, 8) if batch_first else (4, B, 8), dtype=torch.float64)
    v = torch.randn(x.shape, dtype=torch.float64)

    def loss(y):   # not sum(y^2): that of a LayerNorm's output is constant
        return (y * v).sum()
    res = gradient_through_depth(enc, x, loss)
    want = _brute_depth(list(enc.layers), enc.norm, x, 0 if batch_first else 1, loss)
    np.testing.assert_allclose(res.log_grad_norm, want, rtol=1e-9, atol=1e-9)
    one = gradient_through_depth(enc.layers[0], x)       # a single encoder layer
    np.testing.assert_allclose(one.log_grad_norm, _brute_depth([enc.layers[0]], None, x, 0 if batch_first else 1),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("as_list", [False, True])
def test_depth_through_a_sequential_and_a_list(as_list):
    torch.manual_seed(8)
    seq = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    x = torch.randn(B, 4, dtype=torch.float64)
    res = gradient_through_depth(list(seq) if as_list else seq, x, jacobians=True)
    np.testing.assert_allclose(res.log_grad_norm, _brute_depth(list(seq), None, x, 0), rtol=1e-9, atol=1e-9)
    assert res.log_jacobian_spectral.shape == (B, 5)


# ---------------------------------------------------------------- step functions
def test_a_step_function_with_params_against_autograd():
    p = {"w": torch.as_tensor(np.random.default_rng(0).standard_normal((H, H)) * 0.6),
         "u": torch.as_tensor(np.random.default_rng(1).standard_normal((I, H)))}

    def f(params, h, x):
        return torch.tanh(h @ params["w"] + x @ params["u"])
    xs = _xs()
    h0 = torch.zeros(B, H, dtype=torch.float64) + 0.1
    res = jacobians_over_time(f, xs, h0, params=p)
    want = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            with torch.no_grad():
                h = h0[b:b + 1]
                for s in range(t):
                    h = f(p, h, xs[s, b:b + 1])

            def run(z, t=t, b=b):
                z = z[None]
                for s in range(t, T):
                    z = f(p, z, xs[s, b:b + 1])
                return z[0]
            want[b, t] = np.log(np.linalg.norm(jacobian(run, h[0]).numpy(), 2))
    np.testing.assert_allclose(res.log_spectral, want, **F64)
    assert res.cell == "step"


# ---------------------------------------------------------------- refusals
def test_an_unknown_module_is_refused_where_a_step_function_is_expected():
    with pytest.raises(TypeError, match=r"torch.nn.Module of type Linear is not a step function: pass "
                                        r"`lambda h, x: m\(x, h\)`.*nn.RNN/nn.LSTM/nn.GRU"):
        jacobians_over_time(nn.Linear(H, H), _xs((T, B, H)), torch.zeros(B, H))
    with pytest.raises(TypeError, match="type Linear is not a step function"):
        lyapunov_spectrum(nn.Linear(H, H), steps=5, warmup=0, h0=torch.zeros(B, H))
    with pytest.raises(TypeError, match=r"gradient_through_depth got a torch.nn.LSTM: expected .*TransformerEncoder"):
        gradient_through_depth(nn.LSTM(I, H), _xs())


def test_bidirectional_and_proj_size_are_refused():
    with pytest.raises(ValueError, match=r"torch.nn.GRU\(3, 5\) has bidirectional=True: .*unidirectional"):
        jacobians_over_time(nn.GRU(I, H, bidirectional=True), _xs())
    with pytest.raises(ValueError, match=r"torch.nn.LSTM\(3, 5\) has proj_size=2: .*proj_size=0"):
        gradient_reach(nn.LSTM(I, H, proj_size=2), _xs())


def test_batch_first_inputs_of_the_wrong_shape_are_refused():
    m = nn.GRU(I, H, batch_first=True).double()
    time_major = _xs((T, B, I))
    with pytest.raises(ValueError, match=r"xs has shape \(9, 2, 3\) but h0 has batch 2: torch.nn.GRU\(3, 5, "
                                         r"batch_first=True\) takes xs \(B, T, I\) \(batch-major\), so its batch is 9"):
        jacobians_over_time(m, time_major, torch.zeros(1, B, H, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"xs has shape \(2, 9, 4\): .* takes xs \(B, T, I\) .*with I=3"):
        jacobians_over_time(m, _xs((B, T, 4)))
    with pytest.raises(ValueError, match=r"xs has shape \(2, 9\): torch.nn.GRU\(3, 5, batch_first=True\) takes xs"):
        gradient_reach(m, _xs((B, T, I))[..., 0])
    with pytest.raises(ValueError, match=r"h0 for torch.nn.GRUCell\(3, 5\) has shape\(s\) \[\(1, 2, 5\)\]: "
                                         r"expected \(B, H\)"):
        jacobians_over_time(nn.GRUCell(I, H).double(), _xs(), torch.zeros(1, B, H, dtype=torch.float64))


def test_params_with_a_torch_module_and_a_bad_layer_are_refused():
    with pytest.raises(ValueError, match="params= was given with a torch.nn.GRU: a torch module carries"):
        jacobians_over_time(nn.GRU(I, H), _xs(), params={"w": 1})
    with pytest.raises(ValueError, match=r"layer=2 is invalid for a 2-layer model"):
        jacobians_over_time(nn.GRU(I, H, num_layers=2).double(), _xs(), layer=2)
    with pytest.raises(TypeError, match=r"dtype torch.float16: .*float32 or float64"):
        jacobians_over_time(nn.GRUCell(I, H).half(), _xs())


# ---------------------------------------------------------------- the copy is exact
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_the_rnnflow_copy_gives_the_modules_outputs(kind):
    from rnnflow.analysis import as_model
    torch.manual_seed(9)
    m = getattr(nn, kind)(I, H, num_layers=2, batch_first=True, bias=kind != "GRU").double()
    x = _xs((B, T, I))
    y, _ = m(x)
    out = as_model(m)(x.transpose(0, 1))                 # rnnflow is time-major
    np.testing.assert_allclose(out.y.detach().numpy(), y.transpose(0, 1).detach().numpy(), **F64)
    cell = getattr(nn, kind + "Cell")(I, H).double()
    h = (torch.zeros(B, H, dtype=torch.float64),) * 2 if kind == "LSTM" else torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        h = cell(x[:, t], h)
    got = as_model(cell)(x.transpose(0, 1)).y[-1]
    np.testing.assert_allclose(got.detach().numpy(), (h[0] if kind == "LSTM" else h).detach().numpy(), **F64)
