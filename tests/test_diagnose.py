"""rnnflow.diagnose on planted defects with known answers, in torch and JAX.

Expected values come from the planted construction (closed forms) or from brute-force
autograd of the unrolled model, never from the code under test:

* tanh RNN, W_hh = 0.5 Q (Q orthogonal), inputs of size 1e-3: ``J(k) = prod D W`` with
  ``D ~ I`` (``1 - tanh'`` < 1e-4), so ``||J(k)|| = 0.5^k`` up to a factor within
  ``[0.999^k, 1]``: the 1e-6 crossing is the first k with ``0.5^k <= 1e-6``,
  ``ceil(ln 1e-6 / ln 0.5) = ceil(19.93) = 20``, exactly (0.5^19 = 1.9e-6: no earlier).
  A Gaussian W_hh with rho = 0.5 (non-normal): ``||W^k||_2 >= rho^k`` so the crossing is
  no earlier than 20, and ``||W^k||`` (NumPy powers of the planted matrix) gives the
  expected gap; tolerance +-1 for the D factors.
* tanh RNN with rho = 3.0: whether the product grows or shrinks is read from a brute-force
  ``torch.autograd.functional.jacobian`` of the unrolled map ``h_0 -> h_T``.
* LSTM, forget bias -3: crossing checked against the brute-force Jacobian of the unrolled
  ``(h_t, c_t) -> (h_T, c_T)``; the mean forget gate against ``sigmoid(-3) = 0.047`` (small
  weights and inputs move it by < 0.03).
* ReLU MLP, He init x3: ``E ||W^T D g||^2 = 3^2 ||g||^2`` per layer (Var W = 2 * 9 / n,
  half the units active), so the gradient grows 3x a layer and crosses 1e6 after
  ``ln 1e6 / ln 3 = 12.6`` layers: 13 below the top, +-2 (the per-layer log-gain fluctuates
  by ~sqrt(2/W) at W = 64, ~0.6 layers over 13 layers).
* sigmoid MLP 784-128-10 with N(1, 1) weights (seed 001) on 28x28 digits: z = W x ~ sum(x) >> 5,
  so every unit has sigma'(z) < 1e-4: saturation 100 %, the input-layer gradient ~0.
* Transformers (study transformer_depth): residual-stream gradients stay within a decade for
  post-LN and pre-LN; post-LN is flagged "at risk" (warm-up), pre-LN healthy.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import rnnflow
from rnnflow import GRUConfig, Init, LSTMConfig, MLPConfig, RNNConfig, TransformerConfig
from rnnflow.params import init_params

BACKENDS = ("torch", "jax")


def _diag(config, x, backend, seed=0, **kw):
    return rnnflow.diagnose(config, x, params=init_params(config, seed=seed, dtype=np.float64), backend=backend, **kw)


def _responsible(d):
    return [f.name for f in d.factors if f.responsible]


def _brute_log10_norms(params, xs, cell):
    """Brute force, independent of rnnflow: torch autograd of ONE step of the cell written out here
    gives A_t = d state_t / d state_{t-1}; plain float64 products give ||dstate_T/dstate_{T-k}||_2,
    k = 1..T (batch median, log10), and the full unrolled map state_0 -> state_T is
    differentiated once to check the product at k = T."""
    import torch
    p = {k: torch.as_tensor(v) for k, v in params["layers"][0].items()}
    x = torch.as_tensor(xs)
    T, B, _ = x.shape
    H = p["weight_hh"].shape[1]

    def step(z, xt):
        h = z[:H] if cell == "lstm" else z
        a = p["weight_ih"] @ xt + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        if cell == "rnn":
            return torch.tanh(a)
        i, f, g, o = torch.split(a, H)
        c = torch.sigmoid(f) * z[H:] + torch.sigmoid(i) * torch.tanh(g)
        return torch.cat([torch.sigmoid(o) * torch.tanh(c), c])

    out = np.empty((B, T))
    for b in range(B):
        states = [torch.zeros(2 * H if cell == "lstm" else H, dtype=torch.float64)]
        for t in range(T):
            states.append(step(states[-1], x[t, b]))
        J = np.eye(states[0].numel())
        for k in range(1, T + 1):                      # J(k) = J(k-1) A_{T-k+1}
            A = torch.autograd.functional.jacobian(lambda z, t=T - k: step(z, x[t, b]), states[T - k]).numpy()
            J = J @ A
            out[b, k - 1] = np.log10(np.linalg.norm(J, 2))

        def unrolled(z0):
            for t in range(T):
                z0 = step(z0, x[t, b])
            return z0
        full = torch.autograd.functional.jacobian(unrolled, states[0]).numpy()
        np.testing.assert_allclose(np.log10(np.linalg.norm(full, 2)), out[b, -1], atol=1e-8)
    return np.median(out, axis=0)   # (T,), index k-1


def _first_crossing(log10_by_gap, lo=-6.0, hi=6.0):
    for k, v in enumerate(log10_by_gap, start=1):
        if v <= lo or v >= hi:
            return k
    return None


# ---------------------------------------------------------------- over time
@pytest.mark.parametrize("backend", BACKENDS)
def test_tanh_rnn_rho_half_vanishes_at_gap_20(backend, rng):
    cfg = RNNConfig(4, 16, init_hh=Init("orthogonal", spectral_radius=0.5), output_size=2)
    xs = 1e-3 * rng.standard_normal((30, 3, 4))
    d = _diag(cfg, xs, backend)
    expected = math.ceil(math.log(1e-6) / math.log(0.5))        # 20
    assert expected == 20
    assert d.verdict == "vanishing" and d.factor == "recurrent weight" == _responsible(d)[0]
    assert d.time.crossing == expected
    assert d.measures["spectral_radius"] == pytest.approx(0.5, rel=1e-9)
    assert d.measures["gamma_sigma_max"] == pytest.approx(0.5, rel=1e-9)   # orthogonal: sigma = rho
    assert d.time.rate == pytest.approx(math.log10(0.5), abs=1e-3)
    assert d.study == "jacobian_decay"


@pytest.mark.parametrize("backend", BACKENDS)
def test_tanh_rnn_gaussian_rho_half_crossing_from_matrix_powers(backend, rng):
    H = 16
    cfg = RNNConfig(4, H, init_hh=Init("normal", std=1 / math.sqrt(H), spectral_radius=0.5), output_size=2)
    params = init_params(cfg, seed=3, dtype=np.float64)
    W = params["layers"][0]["weight_hh"]
    powers = [np.log10(np.linalg.norm(np.linalg.matrix_power(W, k), 2)) for k in range(1, 60)]
    expected = _first_crossing(powers)
    assert expected >= 20                                       # ||W^k|| >= rho^k
    d = rnnflow.diagnose(cfg, 1e-3 * rng.standard_normal((60, 3, 4)), params=params, backend=backend)
    assert d.verdict == "vanishing" and d.factor == "recurrent weight"
    assert abs(d.time.crossing - expected) <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_tanh_rnn_rho_3_factor_supported_by_brute_force(backend, rng):
    """rho = 3 with N(0, 1) inputs: exploding (the W_hh factor) or saturated (tanh' caps it)?
    The brute-force product decides; the diagnosis must agree on the verdict, the factor and
    the gap, and on the saturation it reports (fraction of 1 - h^2 < 0.01 along the states)."""
    cfg = RNNConfig(2, 16, init_hh=Init("orthogonal", spectral_radius=3.0), output_size=1)
    params = init_params(cfg, seed=0, dtype=np.float64)
    xs = rng.standard_normal((120, 2, 2))
    brute = _brute_log10_norms(params, xs, "rnn")
    expected = _first_crossing(brute)
    assert expected is not None                              # this planted case does cross
    d = rnnflow.diagnose(cfg, xs, params=params, backend=backend)
    if brute[expected - 1] >= 6:
        assert (d.verdict, d.factor, d.study) == ("exploding", "recurrent weight", "clipping")
    else:
        assert (d.verdict, d.factor) == ("vanishing", "saturation")
    # the trajectory is chaotic (a positive Lyapunov exponent): rounding differences of 1e-16
    # between two implementations grow to ~1e-3 by t = 120, so values agree to a few 1e-3 only
    assert abs(d.time.crossing - expected) <= 1
    np.testing.assert_allclose(d.time.log10_ratio[1:], brute, atol=0.05)
    assert d.measures["gamma_sigma_max"] == pytest.approx(3.0, rel=1e-9)   # Pascanu: exploding is possible
    h = rnnflow.build(cfg, params, backend="torch")(__import__("torch").as_tensor(xs)).hidden[0].detach().numpy()
    assert d.measures["saturation"] == pytest.approx(np.mean(1 - h ** 2 < 0.01), abs=0.01)


@pytest.mark.parametrize("backend", BACKENDS)
def test_saturated_tanh_rnn_vanishes_by_saturation(backend, rng):
    """Study tanh_vs_weights' vanishing regime: rho = 0.9 but inputs of size 3 through W_ih ~ N(0, 1)
    saturate tanh; sigma_max(W_hh) > 1 (Pascanu's sufficient condition fails), so the weight alone
    does not make it vanish: tanh' does. Premises and crossing from NumPy states and brute force."""
    H = 16
    cfg = RNNConfig(4, H, init_hh=Init("normal", std=1 / math.sqrt(H), spectral_radius=0.9),
                    init_ih=Init("normal", std=1.0), output_size=1)
    params = init_params(cfg, seed=0, dtype=np.float64)
    xs = 3.0 * rng.standard_normal((40, 2, 4))
    p, h, dphi = params["layers"][0], np.zeros((2, H)), []
    for t in range(40):
        h = np.tanh(xs[t] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        dphi.append(1 - h ** 2)
    dphi = np.array(dphi)
    assert np.linalg.norm(p["weight_hh"], 2) > 1                               # W alone need not vanish
    rms = np.mean(0.5 * np.log10(np.mean(dphi ** 2, axis=-1)))
    assert rms < math.log10(0.9)                                               # tanh' loses more per step
    brute = _brute_log10_norms(params, xs, "rnn")
    d = rnnflow.diagnose(cfg, xs, params=params, backend=backend)
    assert (d.verdict, d.factor, d.study) == ("vanishing", "saturation", "tanh_vs_weights")
    assert d.time.crossing == _first_crossing(brute)
    assert d.measures["saturation"] == pytest.approx(np.mean(dphi < 0.01), abs=1e-12)
    assert d.measures["log10_rms_dphi"] == pytest.approx(rms, abs=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_forget_bias_minus_3_vanishes_by_the_forget_gate(backend, rng):
    cfg = LSTMConfig(3, 8, forget_bias=-3.0, output_size=1,
                     init_ih=Init("uniform", low=-0.1, high=0.1), init_hh=Init("uniform", low=-0.1, high=0.1))
    params = init_params(cfg, seed=0, dtype=np.float64)
    xs = rng.standard_normal((20, 2, 3))
    brute = _brute_log10_norms(params, xs, "lstm")
    d = rnnflow.diagnose(cfg, xs, params=params, backend=backend)
    assert d.verdict == "vanishing" and d.factor == "forget gate"
    assert d.time.crossing == _first_crossing(brute)
    assert d.measures["forget_gate_mean"] == pytest.approx(1 / (1 + math.exp(3)), abs=0.03)
    assert d.measures["forget_bias"] == pytest.approx(-3.0, abs=1e-12)
    assert "forget_bias=1.0" in d.cure and d.study == "jacobian_decay"


@pytest.mark.parametrize("backend", BACKENDS)
def test_healthy_recurrent_controls(backend, rng):
    lstm = _diag(LSTMConfig(3, 8, forget_bias=1.0, output_size=1), rng.standard_normal((16, 2, 3)), backend)
    assert lstm.verdict == "healthy" and lstm.factor is None and lstm.cure == ""
    assert lstm.measures["forget_gate_mean"] > 0.6                     # sigmoid(1) = 0.73
    rnn = _diag(RNNConfig(3, 8, init_hh=Init("orthogonal", spectral_radius=1.0)), 0.1 * rng.standard_normal((16, 2, 3)),
                backend)
    assert rnn.verdict == "healthy" and rnn.time.crossing is None
    assert rnn.time.log10_ratio.min() > -1                              # ||Q^k|| = 1, tanh' ~ 1


# ---------------------------------------------------------------- over depth
def _brute_stacked_rnn_ratios(params, xs):
    """log10 ||dL/dx^(l)|| / ||dL/dh^(L-1)|| for l = 0..L, L = sum(y^2)/2, through a chain of
    torch.nn.RNN layers carrying the planted weights (torch's own cell, not rnnflow's)."""
    import torch
    layers = []
    for p in params["layers"]:
        H, I = p["weight_ih"].shape
        rnn = torch.nn.RNN(I, H, dtype=torch.float64)
        with torch.no_grad():
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(rnn, f"{k}_l0").copy_(torch.as_tensor(p[k]))
        layers.append(rnn)
    W, b = (torch.as_tensor(params["head"][k]) for k in ("weight", "bias"))
    acts = [torch.as_tensor(xs)]
    for rnn in layers:
        acts.append(rnn(acts[-1])[0].detach())
    norms = []
    for l in range(len(acts)):
        z = acts[l].clone().requires_grad_(True)
        h = z
        for rnn in layers[l:]:
            h = rnn(h)[0]
        y = h @ W.T + b
        (g,) = torch.autograd.grad((y * y).sum() / 2, z)
        norms.append(float(g.norm()))
    return np.log10(np.array(norms) / norms[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_stacked_rnn_small_input_weights_vanish_through_layers(backend, rng):
    cfg = RNNConfig(4, 12, num_layers=6, init_ih=Init("uniform", low=-0.02, high=0.02), output_size=2)
    params = init_params(cfg, seed=0, dtype=np.float64)
    xs = rng.standard_normal((6, 2, 4))
    brute = _brute_stacked_rnn_ratios(params, xs)
    d = rnnflow.diagnose(cfg, xs, params=params, backend=backend)
    np.testing.assert_allclose(d.depth.log10_ratio, brute, atol=1e-8)
    below = [l for l in range(6, -1, -1) if brute[l] <= -6]
    assert below, "the planted stack must vanish within 6 layers"
    assert d.depth.verdict == "vanishing" and d.depth.crossing == below[0]
    assert d.time.verdict == "healthy" and d.verdict == "vanishing" and d.factor == "layer gain"


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_mlp_he_gain_3_explodes_over_depth(backend, rng):
    cfg = MLPConfig(64, 4, width=64, depth=20, activation="relu", init_weight=Init("he_normal", gain=3.0))
    d = _diag(cfg, rng.standard_normal((8, 64)), backend)
    expected = math.ceil(math.log(1e6) / math.log(3.0))                 # 13 layers below the top
    assert d.verdict == "exploding" and d.factor == "layer gain"
    assert abs(d.depth.steps_back - expected) <= 2
    assert d.depth.crossing == 20 - d.depth.steps_back
    assert 10 ** d.depth.rate == pytest.approx(3.0, rel=0.15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigmoid_mlp_normal_1_1_stalls_by_saturation(backend):
    from rnnflow.tasks import load_digits_split, upsample_digits
    x = upsample_digits(load_digits_split(0)["x_train"][:32]).astype(np.float64)   # (32, 784), seed 001's input size
    cfg = MLPConfig(784, 10, width=128, depth=1, activation="sigmoid", init_weight=Init("normal", mean=1.0, std=1.0))
    params = init_params(cfg, seed=0, dtype=np.float64)
    z = x @ params["layers"][0]["linear"]["weight"].T + params["layers"][0]["linear"]["bias"]
    assert np.abs(z).min() > math.log(1 / 0.01)           # every |z| > 4.6: sigma'(z) < 0.01 for every unit
    d = rnnflow.diagnose(cfg, x, params=params, backend=backend)
    assert d.verdict == "vanishing" and d.factor == "saturation"
    assert d.measures["saturation"] == 1.0
    assert d.depth.crossing == 0 and d.depth.steps_back == 1
    assert d.study == "init_stall"


@pytest.mark.parametrize("backend", BACKENDS)
def test_transformer_post_ln_at_risk_pre_ln_healthy(backend, rng):
    x = rng.standard_normal((6, 2, 4))
    post = _diag(TransformerConfig(4, d_model=8, num_heads=2, num_layers=6, norm="post", output_size=4), x, backend)
    pre = _diag(TransformerConfig(4, d_model=8, num_heads=2, num_layers=6, norm="pre", output_size=4), x, backend)
    for d in (post, pre):                                # the study: within about a decade
        assert np.all(np.abs(d.depth.log10_ratio) < 1.5) and d.depth.verdict == "healthy"
    assert post.verdict == "at risk" and post.factor == "LayerNorm placement" and post.measures["norm"] == "post"
    assert "warm-up" in post.cure and post.study == "transformer_depth"
    assert pre.verdict == "healthy" and pre.factor is None


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_transformer_without_layernorm_explodes_over_depth(backend, rng):
    cfg = TransformerConfig(4, d_model=8, num_heads=2, num_layers=24, norm="none", output_size=4)
    d = _diag(cfg, rng.standard_normal((6, 2, 4)), backend)
    assert d.depth.log10_ratio[0] > 3                      # the study: many decades at depth
    assert d.depth.rate > 0 and d.verdict in ("at risk", "exploding") and d.factor == "LayerNorm placement"
    assert "norm='pre'" in d.cure


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_forward_names_the_first_layer(backend, rng):
    cfg = MLPConfig(4, 1, width=8, depth=6, activation="relu", init_weight=Init("he_normal", gain=3.0))
    params = init_params(cfg, seed=0, dtype=np.float64)
    params["layers"][3]["linear"]["weight"][:] = 1e308   # finite weights (build refuses Inf) whose
                                                         # product overflows in layer 3's forward pass
    d = rnnflow.diagnose(cfg, rng.standard_normal((4, 4)), params=params, backend=backend)
    assert d.verdict == "non-finite" and d.factor == "non-finite values"
    assert "layer 3" in d.nonfinite


def test_backends_agree(rng):
    cfg = LSTMConfig(3, 6, forget_bias=-3.0)
    xs = rng.standard_normal((12, 2, 3))
    a, b = (_diag(cfg, xs, be) for be in BACKENDS)
    assert (a.verdict, a.factor, a.time.crossing) == (b.verdict, b.factor, b.time.crossing)
    np.testing.assert_allclose(a.time.log10_ratio, b.time.log10_ratio, atol=1e-9)


# ---------------------------------------------------------------- outputs
def test_json_summary_and_figure(tmp_path, rng):
    cfg = RNNConfig(3, 8, init_hh=Init("orthogonal", spectral_radius=0.5))
    d = _diag(cfg, 1e-3 * rng.standard_normal((30, 2, 3)), "torch", out_dir=tmp_path)
    data = json.loads((tmp_path / "diagnosis.json").read_text())
    assert data["verdict"] == "vanishing" and data["time"]["crossing"] == 20 and data["factor"] == "recurrent weight"
    assert json.loads(d.to_json()) == data
    assert (tmp_path / "diagnosis.png").stat().st_size > 10_000
    text = d.summary()
    assert len(text.splitlines()) <= 6
    for word in ("VANISHING", "gap 20", "recurrent weight", "rho(W_hh) = 0.5", "cure", "jacobian_decay"):
        assert word in text


def test_a_list_of_layers_over_depth():
    """A user's own torch layers: sigmoid' <= 1/4 and ||W||_2 <= 1 (rescaled here) give at most
    1/4 per layer, so 1e-6 is crossed within ceil(6 / log10 4) = 10 layers of the top."""
    import torch
    torch.manual_seed(0)
    layers = []
    for _ in range(12):
        lin = torch.nn.Linear(8, 8, dtype=torch.float64)
        with torch.no_grad():
            lin.weight /= torch.linalg.matrix_norm(lin.weight, 2)
        layers.append(torch.nn.Sequential(lin, torch.nn.Sigmoid()))
    x0 = torch.randn(4, 8, dtype=torch.float64)
    d = rnnflow.diagnose(layers, x0)
    z = x0.clone().requires_grad_(True)                      # brute force: one autograd pass per end
    h = z
    for f in layers:
        h = f(h)
    top = h.detach().clone().requires_grad_(True)
    (g0,) = torch.autograd.grad((h * h).sum() / 2, z)
    (gL,) = torch.autograd.grad((top * top).sum() / 2, top)
    assert d.depth.log10_ratio[0] == pytest.approx(float(torch.log10(g0.norm() / gL.norm())), abs=1e-9)
    assert d.kind == "stack" and d.verdict == "vanishing" and d.factor == "layer gain"
    assert 1 <= d.depth.steps_back <= math.ceil(6 / math.log10(4))
    assert d.depth.rate <= -math.log10(4) + 1e-9


# ---------------------------------------------------------------- CLI
def test_cli_on_a_config(tmp_path, capsys):
    from rnnflow import cli
    rc = cli.main(["diagnose", "--model", "rnn", "--input-size", "3", "--hidden", "8", "--spectral-radius", "0.5",
                   "--input-scale", "0.001", "--steps", "30", "--batch", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "VANISHING" in out and "gap 20" in out
    assert json.loads((tmp_path / "diagnosis.json").read_text())["time"]["crossing"] == 20


@pytest.mark.parametrize("backend", ["torch", pytest.param("jax", marks=pytest.mark.slow)])
def test_cli_on_a_saved_run(tmp_path, capsys, backend):
    from rnnflow import TrainConfig, cli, train
    from rnnflow.training import adding_data
    cfg = LSTMConfig(2, 8, forget_bias=-3.0, output_size=1)
    run = tmp_path / "run"
    train(cfg, None, adding_data(10, 4), TrainConfig(steps=3, batch_size=4, loss="mse_last", checkpoint_every=2,
                                                    seed=0), backend=backend, out_dir=str(run), progress=False)
    rc = cli.main(["diagnose", str(run), "--steps", "20", "--batch", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "VANISHING" in out and "forget gate" in out and "params_final.npz" in out
    data = json.loads((run / "diagnosis" / "diagnosis.json").read_text())
    assert data["backend"] == backend and data["factor"] == "forget gate"
    rc = cli.main(["diagnose", str(run), "--checkpoint", "2", "--no-figure", "--out", str(tmp_path / "c")])
    assert rc == 0 and "step_00000002" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input
def test_loss_that_is_not_scalar(rng):
    cfg = RNNConfig(3, 4, output_size=2)
    with pytest.raises(ValueError, match=r"diagnose\(loss_fn=per_example\) returned shape \(5, 2, 2\): expected a scalar"):
        _diag(cfg, rng.standard_normal((5, 2, 3)), "torch", loss_fn=per_example)


def per_example(y):
    return y * y


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_of_the_wrong_shape(backend, rng):
    with pytest.raises(ValueError, match=r"diagnose\(x=...\) has shape \(5, 3\): expected \(T, B, I=3\) for a "
                                         r"RNNConfig model"):
        _diag(RNNConfig(3, 4), rng.standard_normal((5, 3)), backend)
    with pytest.raises(ValueError, match=r"has shape \(4, 7\): expected \(B, I=5\) for a MLPConfig"):
        _diag(MLPConfig(5, 2, width=4, depth=2), rng.standard_normal((4, 7)), backend)


def test_targets_of_the_wrong_shape(rng):
    with pytest.raises(ValueError, match=r"diagnose\(targets=...\) has shape \(3,\): expected the model output's "
                                         r"shape \(5, 2, 2\)"):
        _diag(RNNConfig(3, 4, output_size=2), rng.standard_normal((5, 2, 3)), "torch", targets=np.zeros(3))


def test_model_with_no_trainable_parameters():
    import torch
    with pytest.raises(ValueError, match=r"no trainable parameters.*expected a model with at least one trainable"):
        rnnflow.diagnose([torch.nn.Tanh(), torch.nn.Tanh()], torch.randn(2, 3))
    model = rnnflow.build(GRUConfig(3, 4), backend="torch")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match=r"rnnflow.torch.rnn.RecurrentNet with no trainable parameters"):
        rnnflow.diagnose(model, np.zeros((4, 2, 3), np.float32))


def test_unknown_model_kind():
    with pytest.raises(TypeError, match=r"diagnose\(model=...\) got a builtins.dict: expected an rnnflow "
                                        r"RNN/LSTM/GRU, Transformer or MLP model"):
        rnnflow.diagnose({"weights": 1}, np.zeros((2, 3)), backend="torch")
    with pytest.raises(TypeError, match=r"got a builtins.str: expected an rnnflow"):
        rnnflow.diagnose("my_model.pt", np.zeros((2, 3)))               # no backend to detect either
    with pytest.raises(ValueError, match=r"analysing a RNNConfig needs backend='torch' or backend='jax'"):
        rnnflow.diagnose(RNNConfig(3, 4), np.zeros((2, 2, 3)))
    with pytest.raises(TypeError, match=r"got a list of 0 item\(s\) \(empty\)"):
        rnnflow.diagnose([], np.zeros((2, 3)), backend="torch")


def test_diagnose_a_users_own_torch_lstm_and_sequential(rng):
    """A plain torch.nn.LSTM (batch_first) and an nn.Sequential ReLU MLP, as researchers have them."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 8, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name in ("bias_ih_l0", "bias_hh_l0"):          # gates i, f, g, o: forget bias -3 in total
            b = getattr(lstm, name)
            b.zero_()
            b[8:16] = -1.5
        for name in ("weight_ih_l0", "weight_hh_l0"):
            getattr(lstm, name).uniform_(-0.1, 0.1)
    xs = rng.standard_normal((2, 20, 3))                    # (B, T, I): the module's own layout
    d = rnnflow.diagnose(lstm, torch.from_numpy(xs))
    assert d.verdict == "vanishing" and d.factor == "forget gate"
    assert d.measures["forget_bias"] == pytest.approx(-3.0, abs=1e-12)
    layers = []
    for _ in range(20):                                     # He init x3: the gradient grows ~3x per layer
        lin = torch.nn.Linear(16, 16, dtype=torch.float64)
        torch.nn.init.normal_(lin.weight, std=3 * (2 / 16) ** 0.5)
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
    mlp = torch.nn.Sequential(*layers)
    d = rnnflow.diagnose(mlp, torch.from_numpy(rng.standard_normal((8, 16))))
    assert d.verdict == "exploding" and d.depth.crossing is not None
