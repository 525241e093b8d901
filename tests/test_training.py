"""Trainers: optimizer math, torch/jax parity, clipping, non-finite policy, results folder, resume."""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import rnnflow
from rnnflow.training import TrainConfig, adding_data, copy_data, digits_data, load_result
from rnnflow.training.results import OPTIMIZER_SLOTS

ttrain_mod = importlib.import_module("rnnflow.torch.trainer")
jtrain_mod = importlib.import_module("rnnflow.jax.trainer")
TRAIN = {b: functools.partial(rnnflow.train, backend=b) for b in ("torch", "jax")}
RNN = rnnflow.RNNConfig(input_size=2, hidden_size=6, output_size=1)
F64 = dict(dtype="float64", batch_size=4)


def adding64(T=6, B=4):
    return adding_data(T, B, dtype=np.float64)


def params64(cfg=RNN, seed=0):
    return rnnflow.init_params(cfg, seed, np.float64)


def flat(tree):
    return rnnflow.flatten(tree)


# ---------------------------------------------------------------- optimizer math
def _numpy_updates(cfg: TrainConfig, p, grads):
    """The update rules of rnnflow.training.config, written out in NumPy."""
    p, out = p.copy(), []
    b = m = v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if cfg.optimizer == "sgd":
            p = p - cfg.lr * g
        elif cfg.optimizer == "momentum":
            b = cfg.momentum * b + g
            p = p - cfg.lr * ((g + cfg.momentum * b) if cfg.nesterov else b)
        elif cfg.optimizer == "adam":
            m = cfg.beta1 * m + (1 - cfg.beta1) * g
            v = cfg.beta2 * v + (1 - cfg.beta2) * g**2
            p = p - cfg.lr * (m / (1 - cfg.beta1**t)) / (np.sqrt(v / (1 - cfg.beta2**t)) + cfg.eps)
        else:
            v = cfg.rms_alpha * v + (1 - cfg.rms_alpha) * g**2
            p = p - cfg.lr * g / (np.sqrt(v) + cfg.eps)
        out.append(p)
    return out


OPT_CASES = {
    "sgd": TrainConfig(optimizer="sgd", lr=0.1),
    "momentum": TrainConfig(optimizer="momentum", lr=0.1, momentum=0.8),
    "nesterov": TrainConfig(optimizer="momentum", lr=0.1, momentum=0.8, nesterov=True),
    "adam": TrainConfig(optimizer="adam", lr=0.1, beta1=0.8, beta2=0.9, eps=1e-3),
    "rmsprop": TrainConfig(optimizer="rmsprop", lr=0.1, rms_alpha=0.9, eps=1e-3),
}


@pytest.mark.parametrize("name", list(OPT_CASES))
def test_optimizers_follow_the_documented_update(name, rng):
    cfg = OPT_CASES[name]
    p0 = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) * s for s in (1.0, 0.01, 3.0, 0.5)]
    want = _numpy_updates(cfg, p0, grads)

    pt = torch.nn.Parameter(torch.tensor(p0))
    opt = ttrain_mod.make_optimizer(cfg, [pt])
    tx = jtrain_mod.make_transformation(cfg)
    pj = {"w": jnp.asarray(p0)}
    state = tx.init(pj)
    for g, w in zip(grads, want):
        pt.grad = torch.tensor(g)
        opt.step()
        with jax.numpy_dtype_promotion("standard"):  # optax's bias correction: float ** int32
            updates, state = tx.update({"w": jnp.asarray(g)}, state, pj)
        pj = optax.apply_updates(pj, updates)
        np.testing.assert_allclose(pt.detach().numpy(), w, rtol=1e-12, atol=1e-14, err_msg="torch")
        np.testing.assert_allclose(np.asarray(pj["w"]), w, rtol=1e-12, atol=1e-14, err_msg="jax")


def test_optimizer_state_slots_agree_between_backends():
    for name in OPTIMIZER_SLOTS:
        assert tuple(ttrain_mod.TORCH_SLOTS[name]) == OPTIMIZER_SLOTS[name]
        assert tuple(jtrain_mod.OPTAX_SLOTS[name]) == OPTIMIZER_SLOTS[name]


# ---------------------------------------------------------------- torch / jax parity
@pytest.mark.parametrize("clip", ["none", "norm", "value"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_backends_agree_for_20_steps(optimizer, clip):
    cfg = TrainConfig(optimizer=optimizer, lr=0.05, steps=20, clip=clip, clip_value=0.3, **F64)
    p = params64()
    rt = TRAIN["torch"](RNN, p, adding64(), cfg, progress=False)
    rj = TRAIN["jax"](RNN, p, adding64(), cfg, progress=False)
    mt, mj = rt.metrics, rj.metrics
    np.testing.assert_allclose(mj.loss, mt.loss, rtol=1e-6)
    np.testing.assert_allclose(mj.grad_norm, mt.grad_norm, rtol=1e-6)
    np.testing.assert_allclose(mj.grad_norm_clipped, mt.grad_norm_clipped, rtol=1e-6)
    np.testing.assert_allclose(mj.group_norm_matrix(), mt.group_norm_matrix(), rtol=1e-6, atol=1e-12)
    assert mt.groups == mj.groups == ("layers.0.weight_ih", "layers.0.weight_hh", "layers.0.bias_ih",
                                      "layers.0.bias_hh", "head.weight", "head.bias")
    for k, v in flat(rt.params).items():
        np.testing.assert_allclose(flat(rj.params)[k], v, rtol=1e-6, atol=1e-10, err_msg=k)
    if clip != "none":  # the threshold must bite, or this test would not test clipping
        assert (mt.grad_norm_clipped < mt.grad_norm - 1e-9).any()
    else:
        np.testing.assert_array_equal(mt.grad_norm_clipped, mt.grad_norm)


def _digits_flat(B):
    return digits_data(B, form="flat", dtype=np.float64)


PARITY_MODELS = {
    "lstm-momentum-value": (rnnflow.LSTMConfig(input_size=2, hidden_size=5, output_size=1),
                            dict(optimizer="momentum", clip="value", clip_value=0.05, loss="mse_last"),
                            lambda B: adding64(5, B)),
    "gru-copy-xent_all": (rnnflow.GRUConfig(input_size=4, hidden_size=6, output_size=4),
                          dict(optimizer="adam", clip="norm", clip_value=0.5, loss="xent_all"),
                          lambda B: copy_data(3, B, n_symbols=2, n_copy=2, dtype=np.float64)),
    "mlp-bn-prelu-xent": (rnnflow.MLPConfig(input_size=64, output_size=10, width=8, depth=3,
                                            activation="prelu", batchnorm=True),
                          dict(optimizer="adam", clip="norm", clip_value=0.5, loss="xent"), _digits_flat),
    "mlp-sigmoid-mse": (rnnflow.MLPConfig(input_size=2, output_size=1, width=6, depth=3,
                                          activation="sigmoid", residual=True),
                        dict(optimizer="rmsprop", loss="mse"),
                        lambda B: (lambda step, rng: (rng.normal(size=(B, 2)), rng.normal(size=(B, 1))))),
    "transformer-rows-xent_last": (rnnflow.TransformerConfig(input_size=8, d_model=8, num_heads=2, num_layers=1,
                                                             d_ff=12, output_size=10),
                                   dict(optimizer="sgd", clip="norm", clip_value=1.0, loss="xent_last"),
                                   lambda B: digits_data(B, form="rows", dtype=np.float64)),
    # 4 layers: the JAX trainer packs them into (L, ...) arrays (rnnflow.training.packing)
    "transformer-4layers-pre-adam": (rnnflow.TransformerConfig(input_size=2, d_model=8, num_heads=2, num_layers=4,
                                                               d_ff=12, norm="pre", output_size=1),
                                     dict(optimizer="adam", clip="norm", clip_value=0.5, loss="mse_last"),
                                     lambda B: adding64(5, B)),
    # diagonal recurrences: the JAX trainer's parallel-scan forward against torch's
    "lru-adam": (rnnflow.LRUConfig(2, 8, 4, num_layers=2, output_size=1, r_min=0.9),
                 dict(optimizer="adam", clip="norm", clip_value=1.0, loss="mse_last"), lambda B: adding64(6, B)),
    "minlstm-sgd": (rnnflow.MinLSTMConfig(2, 8, 6, output_size=1, norm="rmsnorm"),
                    dict(optimizer="sgd", clip="value", clip_value=0.5, loss="mse_last"), lambda B: adding64(6, B)),
    "ssm-adam": (rnnflow.SelectiveSSMConfig(2, 8, 3, num_layers=2, output_size=1),
                 dict(optimizer="adam", clip="norm", clip_value=1.0, loss="mse_last"), lambda B: adding64(6, B)),
}


@pytest.mark.parametrize("name", list(PARITY_MODELS))
def test_backends_agree_on_other_models(name):
    model, kw, make_data = PARITY_MODELS[name]
    cfg = TrainConfig(lr=0.05, steps=20, **kw, **F64)
    p = rnnflow.init_params(model, 3, np.float64)
    rt = TRAIN["torch"](model, p, make_data(4), cfg, progress=False)
    rj = TRAIN["jax"](model, p, make_data(4), cfg, progress=False)
    assert rt.status == rj.status == "finished"
    np.testing.assert_allclose(rj.metrics.loss, rt.metrics.loss, rtol=1e-6)
    np.testing.assert_allclose(rj.metrics.grad_norm, rt.metrics.grad_norm, rtol=1e-6)
    assert list(rj.metrics.group_norms) == list(rt.metrics.group_norms)
    for k, v in rt.metrics.group_norms.items():
        np.testing.assert_allclose(rj.metrics.group_norms[k], v, rtol=1e-6, atol=1e-12, err_msg=k)
    # includes BatchNorm running stats; atol: a bias before BatchNorm has a zero gradient up to
    # rounding, which Adam scales up to lr-sized steps, so it wanders by ~1e-10 differently
    for k, v in flat(rt.params).items():
        np.testing.assert_allclose(flat(rj.params)[k], v, rtol=1e-6, atol=1e-8, err_msg=k)
    assert not np.allclose(flat(rt.params)["head.weight"], flat(p)["head.weight"])  # it trained


def test_float32_runs_agree_loosely():
    cfg = TrainConfig(optimizer="adam", lr=0.01, steps=10, batch_size=4, dtype="float32")
    p = rnnflow.init_params(RNN, 0)
    rt = TRAIN["torch"](RNN, p, adding_data(6, 4), cfg, progress=False)
    rj = TRAIN["jax"](RNN, p, adding_data(6, 4), cfg, progress=False)
    assert flat(rt.params)["head.weight"].dtype == flat(rj.params)["head.weight"].dtype == np.float32
    np.testing.assert_allclose(rj.metrics.loss, rt.metrics.loss, rtol=1e-4)


# ---------------------------------------------------------------- clipping
def _big_grads(rng):
    return {"a": rng.normal(size=(4, 3)) * 10, "b": rng.normal(size=(5,)) * 0.1}


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_clipping_bounds_the_gradient(backend, rng):
    grads = _big_grads(rng)
    c = 0.7
    for mode in ("norm", "value"):
        cfg = TrainConfig(clip=mode, clip_value=c)
        if backend == "torch":
            ps = {k: torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for k, g in grads.items()}
            for p, g in zip(ps.values(), grads.values()):
                p.grad = torch.tensor(g)
            ttrain_mod.clip_gradients_(ps, cfg)
            out = [p.grad.numpy() for p in ps.values()]
        else:
            out = list(jtrain_mod.clip_gradients({k: jnp.asarray(g) for k, g in grads.items()}, cfg).values())
        total = np.sqrt(sum((o**2).sum() for o in out))
        if mode == "norm":
            assert total <= c + 1e-12
            before = np.sqrt(sum((g**2).sum() for g in grads.values()))
            for o, g in zip(out, grads.values()):  # direction kept: g * c / (||g|| + 1e-6)
                np.testing.assert_allclose(o, g * c / (before + 1e-6), rtol=1e-12)
        else:
            assert max(np.abs(o).max() for o in out) <= c
            for o, g in zip(out, grads.values()):
                np.testing.assert_array_equal(o, np.clip(g, -c, c))


def test_norm_clipping_leaves_small_gradients_alone(rng):
    g = {"a": rng.normal(size=(3,)) * 1e-3}
    out = jtrain_mod.clip_gradients({"a": jnp.asarray(g["a"])}, TrainConfig(clip="norm", clip_value=1.0))
    np.testing.assert_array_equal(np.asarray(out["a"]), g["a"])


def test_recorded_norms_equal_a_direct_computation():
    cfg = TrainConfig(optimizer="sgd", lr=0.1, steps=1, clip="norm", clip_value=0.05, **F64)
    p = params64()
    x, y = adding64()(0, rnnflow.training.data_rng(cfg.seed, 0))

    model = rnnflow.torch.build(RNN, p)
    loss = torch.nn.functional.mse_loss(model(torch.tensor(x)).y[-1], torch.tensor(y))
    loss.backward()
    g_t = {k: q.grad.numpy() for k, q in model.named_parameters()}
    direct_t = float(torch.linalg.vector_norm(torch.stack([q.grad.norm() for q in model.parameters()])))

    jm = rnnflow.jax.build(RNN, p)
    def jloss(params):
        out = rnnflow.jax.recurrent_forward(params, jnp.asarray(x), jm.initial_state(4), RNN)
        return jnp.mean((out.y[-1] - y) ** 2)
    direct_j = float(optax.global_norm(jax.grad(jloss)(jm.params)))

    for backend, direct in (("torch", direct_t), ("jax", direct_j)):
        m = TRAIN[backend](RNN, p, adding64(), cfg, progress=False).metrics
        assert m.grad_norm[0] == pytest.approx(direct, rel=1e-12)
        assert m.loss[0] == pytest.approx(loss.item(), rel=1e-12)
        for k, g in g_t.items():
            assert m.group_norms[k][0] == pytest.approx(np.linalg.norm(g), rel=1e-10, abs=1e-15)
        assert direct > 0.05  # clipped
        assert m.grad_norm_clipped[0] == pytest.approx(direct * 0.05 / (direct + 1e-6), rel=1e-12)
        assert m.grad_norm_clipped[0] <= 0.05 + 1e-12


# ---------------------------------------------------------------- non-finite policy
def _poisoned(bad_step, data=None):
    """Adding-problem data whose target at ``bad_step`` overflows the squared error."""
    data = data or adding64()
    def data_fn(step, rng):
        x, y = data(step, rng)
        return (x, y * 1e200) if step == bad_step else (x, y)
    return data_fn


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_skip_records_and_leaves_params_unchanged(backend):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=5, nonfinite="skip", **F64)
    p = params64()
    r = TRAIN[backend](RNN, p, _poisoned(3), cfg, progress=False)
    assert r.status == "non-finite" and r.first_nonfinite_step == 3  # finished, but honestly
    assert r.metrics.skipped.tolist() == [False, False, False, True, False]
    assert not np.isfinite(r.metrics.loss[3]) and np.isnan(r.metrics.grad_norm_clipped[3])
    (ev,) = r.events
    assert (ev.step, ev.kind, ev.action) == (3, "loss", "skip")
    assert all(np.isfinite(v).all() for v in flat(r.params).values())
    # step 3 changed nothing (params, optimizer state): the run equals one that never saw it
    clean = adding64()

    def skip3(step, rng):  # the clean batches of steps 0, 1, 2, 4
        s = step if step < 3 else step + 1
        return clean(s, rnnflow.training.data_rng(0, s))
    r4 = TRAIN[backend](RNN, p, skip3, cfg.replace(steps=4), progress=False)
    for k, v in flat(r4.params).items():
        np.testing.assert_array_equal(flat(r.params)[k], v, err_msg=k)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_update_that_overflows_is_undone(backend):
    # targets x 1e3 make |g| >> 1, so lr * g overflows float64 in the first update
    cfg = TrainConfig(optimizer="sgd", lr=1e308, steps=3, nonfinite="skip", **F64)
    p = params64()
    r = TRAIN[backend](RNN, p, _scaled_targets(1e3), cfg, progress=False)
    assert r.metrics.skipped.all() and np.isfinite(r.metrics.loss).all()
    assert [e.kind for e in r.events] == ["update"] * 3
    assert "layers.0.weight_hh" in r.events[0].groups
    for k, v in flat(p).items():
        np.testing.assert_array_equal(flat(r.params)[k], v, err_msg=k)


def _scaled_targets(scale):
    data = adding64()
    return lambda step, rng: (lambda x, y: (x, y * scale))(*data(step, rng))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_stop_returns_cleanly_and_writes_results(backend, tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=6, nonfinite="stop", **F64)
    r = TRAIN[backend](RNN, params64(), _poisoned(2), cfg, progress=False, out_dir=tmp_path)
    assert r.status == "stopped" and r.steps_done == 3 and r.events[0].step == 2
    assert all(np.isfinite(v).all() for v in flat(r.params).values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["events"][0]["kind"] == "loss"
    loaded = load_result(tmp_path)
    np.testing.assert_array_equal(loaded.metrics.loss, r.metrics.loss)
    calls = []
    again = TRAIN[backend](RNN, params64(), lambda s, g: calls.append(s), cfg, progress=False, out_dir=tmp_path)
    assert calls == [] and again.status == "stopped"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_raise_names_step_and_groups(backend, tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=6, nonfinite="raise", **F64)
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 2"):
        TRAIN[backend](RNN, params64(), _poisoned(2), cfg, progress=False, out_dir=tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "raised"
    cfg = cfg.replace(optimizer="sgd", lr=1e308)
    with pytest.raises(FloatingPointError, match=r"non-finite parameters after the update at step 0 in "
                                                 r".*layers\.0\.weight_hh"):
        TRAIN[backend](RNN, params64(), _scaled_targets(1e3), cfg, progress=False)


# ---------------------------------------------------------------- results folder and resume
class Crash(RuntimeError):
    pass


def _crashing(data, at):
    def data_fn(step, rng):
        if step == at:
            raise Crash(f"killed at step {step}")
        return data(step, rng)
    return data_fn


def _monitor(backend):
    mod = importlib.import_module(f"rnnflow.{backend}.monitor")
    return mod.GradientMonitor(bins=8)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_resume_matches_an_uninterrupted_run(backend, tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=12, checkpoint_every=4, hist_every=3, **F64)
    p = params64()
    full = TRAIN[backend](RNN, p, adding64(), cfg, progress=False, monitor=_monitor(backend))

    with pytest.raises(Crash):
        TRAIN[backend](RNN, p, _crashing(adding64(), 9), cfg, progress=False, out_dir=tmp_path,
                       monitor=_monitor(backend))
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "running"
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step_00000004.npz", "step_00000008.npz"]
    resumed = TRAIN[backend](RNN, p, adding64(), cfg, progress=False, out_dir=tmp_path, monitor=_monitor(backend))
    assert resumed.resumed_from == 8 and resumed.status == "finished"
    for name, v in full.metrics.to_arrays().items():
        np.testing.assert_array_equal(resumed.metrics.to_arrays()[name], v, err_msg=name)
    for k, v in flat(full.params).items():
        np.testing.assert_array_equal(flat(resumed.params)[k], v, err_msg=k)
    for name, v in full.gradients.to_arrays().items():
        np.testing.assert_array_equal(resumed.gradients.to_arrays()[name], v, err_msg=name)
    assert len(full.gradients.hist_epoch) == 4

    # a finished run is read back, not recomputed
    calls = []
    counting = lambda step, rng: calls.append(step) or adding64()(step, rng)  # noqa: E731
    mon = _monitor(backend)
    again = TRAIN[backend](RNN, p, counting, cfg, progress=False, out_dir=tmp_path, monitor=mon)
    assert calls == [] and again.resumed_from == 12
    np.testing.assert_array_equal(again.metrics.loss, full.metrics.loss)
    np.testing.assert_array_equal(mon.history().norm, full.gradients.norm)

    # more steps continue from the final checkpoint
    longer = TRAIN[backend](RNN, p, counting, cfg.replace(steps=14), progress=False, out_dir=tmp_path,
                            monitor=_monitor(backend))
    assert calls == [12, 13] and longer.resumed_from == 12 and longer.steps_done == 14
    ref = TRAIN[backend](RNN, p, adding64(), cfg.replace(steps=14), progress=False)
    np.testing.assert_array_equal(longer.metrics.loss, ref.metrics.loss)


def test_results_folder_contents(tmp_path):
    cfg = TrainConfig(optimizer="momentum", lr=0.05, steps=5, checkpoint_every=2, keep_checkpoints=2, **F64)
    r = TRAIN["torch"](RNN, params64(), adding64(), cfg, progress=False, out_dir=tmp_path,
                       monitor=_monitor("torch"))
    names = set(os.listdir(tmp_path))
    assert {"config.json", "summary.json", "metrics.npz", "metrics.csv", "params_final.npz", "gradients.npz",
            "gradient_iterations.csv", "gradient_histograms.csv", "checkpoints"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step_00000004.npz", "step_00000005.npz"]
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["backend"] == "torch" and meta["train"]["optimizer"] == "momentum"
    assert rnnflow.training.config_from_dict(meta["model"]) == RNN
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,loss,grad_norm,grad_norm_clipped,skipped,group_norm:layers.0.weight_ih")
    assert len(lines) == 6 and float(lines[3].split(",")[1]) == r.metrics.loss[2]
    with np.load(tmp_path / "checkpoints" / "step_00000004.npz") as z:
        assert {"opt/count", "opt/trace/head.weight", "params/layers.0.weight_hh", "metrics/loss"} <= set(z.files)
        assert int(z["opt/count"]) == 4
    loaded = load_result(tmp_path)
    assert loaded.train_config == cfg and loaded.model_config == RNN
    np.testing.assert_array_equal(flat(loaded.params)["head.weight"], flat(r.params)["head.weight"])


def test_other_run_in_the_same_folder_is_refused(tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=3, **F64)
    TRAIN["jax"](RNN, params64(), adding64(), cfg, progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"train\.lr \(saved 0\.05, now 0\.1\)"):
        TRAIN["jax"](RNN, params64(), adding64(), cfg.replace(lr=0.1), progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match="params_sha256"):
        TRAIN["jax"](RNN, params64(seed=1), adding64(), cfg, progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match="backend"):
        TRAIN["torch"](RNN, params64(), adding64(), cfg, progress=False, out_dir=tmp_path)


DEEP_TF = rnnflow.TransformerConfig(input_size=2, d_model=8, num_heads=2, num_layers=3, d_ff=12, output_size=1)


@pytest.mark.parametrize("model,optimizer", [(RNN, "sgd"), (RNN, "momentum"), (RNN, "rmsprop"), (RNN, "adam"),
                                             (DEEP_TF, "adam")],
                         ids=["rnn-sgd", "rnn-momentum", "rnn-rmsprop", "rnn-adam", "transformer-3-layers-packed-adam"])
def test_optimizer_state_round_trips_between_neutral_and_backends(model, optimizer):
    # momentum's and RMSprop's optax states have no count field (a NamedTuple's .count is a method)
    cfg = TrainConfig(optimizer=optimizer, lr=0.05, steps=3, **F64)
    p = rnnflow.init_params(model, 0, np.float64)
    rt = ttrain_mod.Stepper(model, flat(p), cfg, None, None)
    rj = jtrain_mod.Stepper(model, flat(p), cfg, None, None)
    for s in (rt, rj):
        for step in range(3):
            x, y = adding64()(step, rnnflow.training.data_rng(0, step))
            s.compute(step, x, y)
            s.apply()
    st, sj = rt.optimizer_state(), rj.optimizer_state()
    assert set(st) == set(sj) and int(st["count"]) == int(sj["count"]) == 3
    for k in st:
        np.testing.assert_allclose(sj[k], st[k], rtol=1e-9, atol=1e-15, err_msg=k)
    # loading a neutral state gives back the same neutral state
    again = ttrain_mod.Stepper(model, rt.params(), cfg, st, None).optimizer_state()
    againj = jtrain_mod.Stepper(model, rj.params(), cfg, sj, None).optimizer_state()
    assert set(rj.params()) == set(flat(p))
    for k in st:
        np.testing.assert_array_equal(again[k], st[k], err_msg=k)
        np.testing.assert_array_equal(againj[k], sj[k], err_msg=k)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("field,value,expected", [
    ("optimizer", "adagrad", "one of 'sgd', 'momentum', 'adam', 'rmsprop'"),
    ("lr", 0.0, "a finite number in (0.0, inf]"),
    ("lr", float("nan"), "finite"),
    ("momentum", 1.0, "[0.0, 1.0)"),
    ("batch_size", 0, "an integer >= 1"),
    ("steps", 2.5, "an integer >= 1"),
    ("clip", "global", "one of 'none', 'norm', 'value'"),
    ("clip_value", -1.0, "(0.0, inf]"),
    ("loss", "mae", "one of 'mse_last'"),
    ("nonfinite", "ignore", "one of 'skip', 'stop', 'raise'"),
    ("hist_every", -1, "an integer >= 0"),
    ("dtype", "float16", "one of 'float32', 'float64'"),
    ("lr", 1e300, "at most 3.403e+38, the largest float32"),
    ("nesterov", 1, "True or False"),
    ("seed", -1, "an integer >= 0"),
])
def test_train_config_validation(field, value, expected):
    with pytest.raises(ValueError, match=re.escape(f"TrainConfig.{field}={value!r} is invalid")) as e:
        TrainConfig(**{field: value})
    assert expected in str(e.value)


def test_train_config_cross_field_errors():
    with pytest.raises(ValueError, match="TrainConfig.nesterov=True .*optimizer='momentum'"):
        TrainConfig(optimizer="adam", nesterov=True)
    with pytest.raises(ValueError, match="no field 'lrate'"):
        TrainConfig.from_dict({"lrate": 0.1})
    assert TrainConfig.from_dict(TrainConfig(lr=0.2).to_dict()) == TrainConfig(lr=0.2)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_inputs_are_named(backend):
    tr = TRAIN[backend]
    cfg = TrainConfig(steps=2, **F64)
    mlp = rnnflow.MLPConfig(input_size=2, output_size=3, width=4, depth=1)
    with pytest.raises(ValueError, match="loss='mse_last' is invalid: expected one of 'mse', 'xent' for an MLP"):
        tr(mlp, None, adding64(), cfg, progress=False)
    with pytest.raises(ValueError, match=r"data_fn\(step=0\): x has batch size 4 .*TrainConfig\.batch_size=8"):
        tr(RNN, None, adding64(), cfg.replace(batch_size=8), progress=False)
    with pytest.raises(ValueError, match=r"data_fn\(step=0\): y has shape \(4,\) .* float targets of shape"):
        tr(RNN, None, lambda s, g: (np.zeros((5, 4, 2)), np.zeros(4)), cfg, progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\)"):
        tr(RNN, None, lambda s, g: (np.zeros((5, 4, 2)), np.ones(4, int)), cfg.replace(loss="xent_last"),
           progress=False)
    with pytest.raises(ValueError, match="x contains NaN"):
        tr(RNN, None, lambda s, g: (np.full((5, 4, 2), np.nan), np.zeros((4, 1))), cfg, progress=False)
    with pytest.raises(TypeError, match="must return a pair"):
        tr(RNN, None, lambda s, g: np.zeros(3), cfg, progress=False)
    with pytest.raises(TypeError, match="TrainConfig"):
        tr(RNN, None, adding64(), {"steps": 2}, progress=False)
    other = importlib.import_module(f"rnnflow.{'jax' if backend == 'torch' else 'torch'}.monitor")
    with pytest.raises(TypeError, match="monitor must be"):
        tr(RNN, None, adding64(), cfg, progress=False, monitor=other.GradientMonitor())


def test_data_functions_are_deterministic_by_step():
    d = digits_data(16, form="pixels", permutation=3)
    a = d(5, None)
    b = d(5, None)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (64, 16, 1) and a[1].shape == (16,)
    n = d.steps_per_epoch
    e0 = np.concatenate([d(i, None)[0][:, :, 0].T for i in range(n)])   # (n * 16, 64) images
    e1 = np.concatenate([d(n + i, None)[0][:, :, 0].T for i in range(n)])
    assert len(np.unique(e0, axis=0)) == len(e0)  # no image twice within an epoch
    assert len(e0) == n * 16 and not np.array_equal(e0, e1)  # a new shuffle each epoch
    assert digits_data(8, size=28)(0, None)[0].shape == (8, 784)
    x, y = copy_data(4, 3)(0, np.random.default_rng(0))
    assert x.shape == (24, 3, 10) and y.shape == (24, 3)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_dropout_masks_are_seeded_by_step(backend):
    mlp = rnnflow.MLPConfig(input_size=2, output_size=1, width=8, depth=2, dropout=0.5)
    data = lambda step, rng: (rng.normal(size=(4, 2)), rng.normal(size=(4, 1)))  # noqa: E731
    cfg = TrainConfig(optimizer="sgd", lr=0.1, steps=4, loss="mse", **F64)
    before = torch.random.get_rng_state()
    a = TRAIN[backend](mlp, None, data, cfg, progress=False)
    b = TRAIN[backend](mlp, None, data, cfg, progress=False)
    c = TRAIN[backend](mlp, None, data, cfg.replace(seed=1), progress=False)
    np.testing.assert_array_equal(a.metrics.loss, b.metrics.loss)
    assert not np.array_equal(a.metrics.loss[1:], c.metrics.loss[1:])
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's generator is left alone


def test_hist_every_without_a_monitor_uses_a_default_one():
    cfg = TrainConfig(optimizer="sgd", lr=0.1, steps=4, **F64)
    assert TRAIN["jax"](RNN, None, adding64(), cfg, progress=False).gradients is None
    r = TRAIN["jax"](RNN, None, adding64(), cfg.replace(hist_every=2), progress=False)
    assert len(r.gradients.iteration) == 4 and r.gradients.hist_epoch.tolist() == [0, 1]
    assert r.gradients.bins == 30


def test_jax_finite_flags_name_the_layer_that_went_bad():
    """The packed update reports non-finite parameters per flat key, layer by layer."""
    from rnnflow.training.packing import make_packing
    packing = make_packing(DEEP_TF, rnnflow.training.loop.trainable_keys(DEEP_TF))
    packed = packing.pack(flat(rnnflow.init_params(DEEP_TF, 0, np.float64)))
    packed["layers.*.fc1.weight"][2, 0, 0] = np.nan
    ok = np.asarray(jtrain_mod._per_group({k: jnp.asarray(v) for k, v in packed.items()}, packing,
                                          lambda a, axis: jnp.isfinite(a).all(axis=axis)))
    bad = [k for k, good in zip(packing.keys, ok) if not good]
    assert bad == ["layers.2.fc1.weight"]


# ---------------------------------------------------------------- one contract, two backends
def _params_of(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


# (torch name, jax name): the same arguments; a trailing "_" (torch) mutates where JAX returns new trees
SAME_CONTRACT = [("trainer.group_norms", "trainer.group_norms"), ("trainer.compute_loss", "trainer.compute_loss"),
                 ("trainer.clip_gradients_", "trainer.clip_gradients"),
                 ("trainer.optimizer_state", "trainer.optimizer_state"),
                 ("trainer.load_optimizer_state_", "trainer.load_optimizer_state"),
                 ("build.build", "build.build"), ("build.load_params", "build.load_params"),
                 ("build.export_params", "build.export_params"), ("build.to_backend", "build.to_backend"),
                 ("build.as_dtype", "build.as_dtype"), ("trainer.Stepper", "trainer.Stepper")]


@pytest.mark.parametrize("tname,jname", SAME_CONTRACT, ids=[t for t, _ in SAME_CONTRACT])
def test_backend_helpers_share_their_arguments(tname, jname):
    def get(backend, name):
        mod, attr = name.split(".")
        return getattr(importlib.import_module(f"rnnflow.{backend}.{mod}"), attr)
    t, j = _params_of(get("torch", tname)), _params_of(get("jax", jname))
    if tname == "trainer.clip_gradients_":  # torch's gradients live on its parameters (.grad)
        t[0] = ("grads",) + t[0][1:]
    # JAX's state helpers also take the keyword `packing` (a Transformer's layers, trained packed)
    assert t == [p for p in j if p[0] != "packing"]


def test_group_norms_agree_between_backends(rng):
    grads = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=(5,))}
    keys = ("b", "a")
    t = ttrain_mod.group_norms({k: torch.tensor(g) for k, g in grads.items()}, keys).numpy()
    j = np.asarray(jtrain_mod.group_norms({k: jnp.asarray(g) for k, g in grads.items()}, keys))
    np.testing.assert_allclose(t, [np.linalg.norm(grads[k]) for k in keys], rtol=1e-14)
    np.testing.assert_allclose(j, t, rtol=1e-14)


def test_model_kind_dispatches_by_config_type():
    from rnnflow.models import model_kind
    assert [model_kind(c) for c in (RNN, rnnflow.LSTMConfig(2, 3), rnnflow.GRUConfig(2, 3), DEEP_TF,
                                    rnnflow.MLPConfig(input_size=2, output_size=1), rnnflow.LRUConfig(2, 4, 3),
                                    rnnflow.SelectiveSSMConfig(2, 4, 3))] == \
        ["recurrent"] * 3 + ["transformer", "mlp", "diagonal", "diagonal"]
    for backend in ("torch", "jax"):
        with pytest.raises(TypeError, match=r"config must be an rnnflow model config \(RNNConfig, .*MLPConfig or a "
                                            r"diagonal config: LRUConfig.*SelectiveSSMConfig\), got builtins\.dict"):
            rnnflow.build({"hidden_size": 3}, backend=backend)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_as_dtype_accepts_float32_and_float64_only(backend):
    as_dtype = importlib.import_module(f"rnnflow.{backend}.build").as_dtype
    want = {"torch": (torch.float32, torch.float64), "jax": (np.float32, np.float64)}[backend]
    assert (as_dtype("float32"), as_dtype(np.float64)) == want
    for bad in (None, "float16", np.int64, "nope"):
        with pytest.raises(ValueError, match=re.escape(f"dtype={bad!r} is invalid: expected float32 or float64")):
            as_dtype(bad)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_load_params_keeps_the_models_dtype(backend):
    mod = importlib.import_module(f"rnnflow.{backend}")
    model = mod.build(RNN, params64())
    p32 = rnnflow.init_params(RNN, 1, np.float32)
    mod.load_params(model, p32)
    back = flat(mod.export_params(model))
    for k, v in flat(p32).items():
        assert back[k].dtype == np.float64
        np.testing.assert_array_equal(back[k], v.astype(np.float64), err_msg=k)
    tensors = flat(mod.to_backend(p32))
    assert all(str(t.dtype).removeprefix("torch.") == "float32" for t in tensors.values())
