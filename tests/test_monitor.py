"""Gradient monitors (torch hooks, jax records), their shared storage, and the training plots."""
from __future__ import annotations

import functools
import io
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import rnnflow
from rnnflow.jax.monitor import GradientMonitor as JaxMonitor
from rnnflow.plotting.monitor import plot_gradient_histograms, plot_gradient_norms, plot_mean_gradients
from rnnflow.plotting.training import plot_grad_norm_trace, plot_loss_curves
from rnnflow.torch.monitor import GradientMonitor as TorchMonitor
from rnnflow.training import GradientHistory, GradientRecorder, TrainConfig, adding_data
from rnnflow.training.monitor import histogram

TRAIN = {b: functools.partial(rnnflow.train, backend=b) for b in ("torch", "jax")}
RNN = rnnflow.RNNConfig(input_size=2, hidden_size=5, num_layers=2, output_size=1)
KEYS = ("layers.0.weight_ih", "layers.0.weight_hh", "layers.0.bias_ih", "layers.0.bias_hh",
        "layers.1.weight_ih", "layers.1.weight_hh", "layers.1.bias_ih", "layers.1.bias_hh",
        "head.weight", "head.bias")


def _batches(n, rng):
    return [(rng.normal(size=(6, 3, 2)), rng.normal(size=(3, 1))) for _ in range(n)]


def _torch_grads(model, x, y, monitor=None):
    """One backward pass; returns {key: grad} (float64 numpy) and the loss."""
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model(torch.tensor(x)).y[-1], torch.tensor(y))
    loss.backward()
    return {k: p.grad.numpy().copy() for k, p in model.named_parameters() if p.grad is not None}, loss


def _jax_grads(params, x, y):
    s0 = jnp.zeros((RNN.num_layers, x.shape[1], RNN.hidden_size))
    def loss_fn(p):
        return jnp.mean((rnnflow.jax.recurrent_forward(p, jnp.asarray(x), s0, RNN).y[-1] - y) ** 2)
    return jax.value_and_grad(loss_fn)(params)


# ---------------------------------------------------------------- histograms
@pytest.mark.parametrize("bin_range", [None, (-0.5, 0.5)], ids=["adaptive", "fixed"])
def test_histogram_accounts_for_every_entry(bin_range, rng):
    v = rng.normal(size=(7, 9))
    v[0, :3] = [np.nan, np.inf, -np.inf]
    edges, counts, below, above, nonfinite = histogram(v, 12, bin_range)
    assert counts.sum() + below + above + nonfinite == v.size
    assert nonfinite == 3 and len(edges) == 13
    finite = v[np.isfinite(v)]
    if bin_range is None:
        assert below == above == 0 and edges[0] == finite.min() and edges[-1] == finite.max()
    else:
        assert below == (finite < -0.5).sum() and above == (finite > 0.5).sum()
        np.testing.assert_array_equal(counts, np.histogram(finite, 12, range=bin_range)[0])


def test_histogram_of_a_constant_and_of_nothing():
    edges, counts, *_ = histogram(np.zeros(5), 4)
    assert counts.sum() == 5 and edges[0] == -0.5 and edges[-1] == 0.5
    edges, counts, _, _, nonfinite = histogram(np.full(3, np.nan), 4)
    assert counts.sum() == 0 and nonfinite == 3 and np.isnan(edges).all()


# ---------------------------------------------------------------- torch hooks
def test_torch_monitor_matches_direct_computation(rng):
    model = rnnflow.torch.build(RNN, rnnflow.init_params(RNN, 0, np.float64))
    mon = TorchMonitor(model, bins=10, hist_every=1)
    seen, losses = [], []
    for i, (x, y) in enumerate(_batches(5, rng)):
        g, loss = _torch_grads(model, x, y)
        mon.record(loss=loss)
        seen.append(g)
        losses.append(loss.item())
        if i in (1, 4):
            mon.epoch_end()
    h = mon.history()
    assert h.groups == KEYS and h.mean.shape == (5, len(KEYS))
    np.testing.assert_array_equal(h.epoch, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(h.loss, losses, rtol=1e-15)
    for i, g in enumerate(seen):
        for j, k in enumerate(KEYS):
            assert h.mean[i, j] == pytest.approx(g[k].mean(), rel=1e-12, abs=1e-17)
            assert h.norm[i, j] == pytest.approx(np.linalg.norm(g[k]), rel=1e-12)
    np.testing.assert_array_equal(h.hist_epoch, [0, 1])
    for e, it in ((0, 1), (1, 4)):  # each histogram is of the epoch's last gradients
        for j, k in enumerate(KEYS):
            counts, edges = np.histogram(seen[it][k], bins=10)
            np.testing.assert_array_equal(h.hist_counts[e, j], counts)
            np.testing.assert_allclose(h.hist_edges[e, j], edges, rtol=1e-12, atol=1e-15)
            assert h.hist_counts[e, j].sum() + h.hist_nonfinite[e, j] == seen[it][k].size


def test_torch_hook_reads_the_gradient_before_in_place_clipping(rng):
    model = rnnflow.torch.build(RNN, rnnflow.init_params(RNN, 0, np.float64))
    mon = TorchMonitor(model)
    x, y = _batches(1, rng)[0]
    g, loss = _torch_grads(model, x, y)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-6)
    mon.record(loss=loss)
    np.testing.assert_allclose(mon.history().norm[0], [np.linalg.norm(g[k]) for k in KEYS], rtol=1e-12)


def test_torch_monitor_groups_by_module_and_filters(rng):
    model = rnnflow.torch.build(RNN, rnnflow.init_params(RNN, 0, np.float64))
    mon = TorchMonitor(model, by="module", hist_every=2, bins=5)
    weights = TorchMonitor(model, params=["layers.0.weight_hh", "layers.1.weight_hh"])
    gs = []
    for x, y in _batches(3, rng):
        g, loss = _torch_grads(model, x, y)
        gs.append(g)
        mon.record(loss=loss)
        weights.record(loss=loss)
        mon.epoch_end()
    h = mon.history()
    assert h.groups == ("layers.0", "layers.1", "head")
    np.testing.assert_array_equal(h.hist_epoch, [0, 2])
    for i, g in enumerate(gs):
        for j, grp in enumerate(h.groups):
            entries = np.concatenate([g[k].ravel() for k in KEYS if k.startswith(grp + ".")])
            assert h.mean[i, j] == pytest.approx(entries.mean(), rel=1e-12, abs=1e-17)
            assert h.norm[i, j] == pytest.approx(np.linalg.norm(entries), rel=1e-12)
            if i in (0, 2):
                assert h.hist_counts[i // 2, j].sum() == entries.size
    assert weights.history().groups == ("layers.0.weight_hh", "layers.1.weight_hh")
    weights.remove()
    mon.remove()
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())


def test_torch_and_jax_monitors_record_the_same_numbers(rng):
    params = rnnflow.init_params(RNN, 1, np.float64)
    model = rnnflow.torch.build(RNN, params)
    jparams = rnnflow.jax.to_backend(params)
    tm = TorchMonitor(model, bins=16, bin_range=(-0.2, 0.2))
    jm = JaxMonitor(bins=16, bin_range=(-0.2, 0.2))
    ta, ja = TorchMonitor(model, bins=16), JaxMonitor(bins=16)
    for x, y in _batches(4, rng):
        _, loss = _torch_grads(model, x, y)
        tm.record(loss=loss)
        ta.record(loss=loss)
        jloss, grads = _jax_grads(jparams, x, y)
        jm.record(grads, loss=jloss)
        ja.record(grads, loss=jloss)
        for m in (tm, jm, ta, ja):
            m.epoch_end()
    ht, hj = tm.history(), jm.history()
    assert ht.groups == hj.groups == KEYS
    np.testing.assert_allclose(hj.loss, ht.loss, rtol=1e-12)
    np.testing.assert_allclose(hj.mean, ht.mean, rtol=1e-9, atol=1e-16)
    np.testing.assert_allclose(hj.norm, ht.norm, rtol=1e-12)
    np.testing.assert_array_equal(hj.hist_counts, ht.hist_counts)
    for name in ("hist_below", "hist_above", "hist_nonfinite"):
        np.testing.assert_array_equal(getattr(hj, name), getattr(ht, name))
    np.testing.assert_allclose(ja.history().hist_edges, ta.history().hist_edges, rtol=1e-10, atol=1e-16)
    assert (ht.hist_counts.sum(-1) + ht.hist_below + ht.hist_above == np.array(
        [np.size(v) for v in rnnflow.flatten(params).values()])).all()


def test_jax_monitor_takes_nested_or_flat_grads_and_skips_buffers(rng):
    mlp = rnnflow.MLPConfig(input_size=3, output_size=2, width=4, depth=2, batchnorm=True)
    p = rnnflow.jax.to_backend(rnnflow.init_params(mlp, 0, np.float64))
    grads = jax.tree_util.tree_map(jnp.ones_like, p)
    a, b = JaxMonitor(), JaxMonitor()
    a.record(grads)
    b.record(rnnflow.flatten(grads))
    assert a.history().groups == b.history().groups
    assert not any("running" in g for g in a.history().groups)
    assert np.isnan(a.history().loss[0])
    np.testing.assert_array_equal(a.history().mean, 1.0)


def test_torch_monitor_skips_frozen_parameters(rng):
    model = rnnflow.torch.build(RNN, rnnflow.init_params(RNN, 0, np.float64))
    model.layers[0].weight_ih.requires_grad_(False)
    mon = TorchMonitor(model)
    g, loss = _torch_grads(model, *_batches(1, rng)[0])
    mon.record(loss=loss)
    h = mon.history()
    assert h.groups == tuple(k for k in KEYS if k != "layers.0.weight_ih")
    np.testing.assert_allclose(h.norm[0], [np.linalg.norm(g[k]) for k in h.groups], rtol=1e-12)
    with pytest.raises(ValueError, match=r"GradientMonitor\.params=\['layers\.0\.weight_ih'\] is invalid: "
                                         r"'layers\.0\.weight_ih' has requires_grad=False"):
        TorchMonitor(model, params=["layers.0.weight_ih"])


def test_torch_monitor_records_gradients_it_is_given(rng):
    """record(grads) without hooks, as the JAX monitor takes them: the same numbers."""
    model = rnnflow.torch.build(RNN, rnnflow.init_params(RNN, 0, np.float64))
    hooked, given = TorchMonitor(model, bins=8), TorchMonitor(bins=8)
    for x, y in _batches(3, rng):
        _, loss = _torch_grads(model, x, y)
        hooked.record(loss=loss)
        given.record({k: p.grad for k, p in model.named_parameters()}, loss=loss)
        hooked.epoch_end()
        given.epoch_end()
    for name, v in hooked.history().to_arrays().items():
        np.testing.assert_array_equal(given.history().to_arrays()[name], v, err_msg=name)
    with pytest.raises(ValueError, match="grads lack 'head.bias'"):
        given.record({k: p.grad for k, p in model.named_parameters() if k != "head.bias"})


def test_monitors_share_one_contract():
    import inspect
    sig = {b: inspect.signature(m.__init__).parameters for b, m in (("torch", TorchMonitor), ("jax", JaxMonitor))}
    keyword = {b: [(p.name, p.default) for p in ps.values() if p.kind is p.KEYWORD_ONLY] for b, ps in sig.items()}
    assert keyword["torch"] == keyword["jax"]
    assert list(sig["torch"])[:2] == ["self", "module"]  # only torch can hook a module
    for name in ("record", "epoch_end", "history", "save"):
        assert inspect.signature(getattr(TorchMonitor, name)) == inspect.signature(getattr(JaxMonitor, name)), name
    with pytest.raises(TypeError, match="JAX GradientMonitor.record needs grads"):
        JaxMonitor().record(loss=1.0)


# ---------------------------------------------------------------- storage
def test_history_files_and_state_round_trip(tmp_path, rng):
    jm = JaxMonitor(bins=6)
    params = rnnflow.jax.to_backend(rnnflow.init_params(RNN, 0, np.float64))
    for x, y in _batches(3, rng):
        loss, grads = _jax_grads(params, x, y)
        jm.record(grads, loss=loss)
        jm.epoch_end()
    h = jm.history()
    paths = jm.save(tmp_path)
    back = GradientHistory.load(tmp_path)
    for name, v in h.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[name], v, err_msg=name)
    rows = Path(paths["iterations"]).read_text().splitlines()
    assert rows[0] == "iteration,epoch,group,mean,norm,loss" and len(rows) == 1 + 3 * len(KEYS)
    hist_rows = Path(paths["histograms"]).read_text().splitlines()
    assert len(hist_rows) == 1 + 3 * len(KEYS) * (6 + 3)
    counts = [int(r.split(",")[-1]) for r in hist_rows[1:] if r.startswith("0,head.weight,")]
    assert sum(counts) == 5  # head.weight (1, 5): every entry in one bin or outside

    again = GradientRecorder(bins=6)
    again.load_state_dict(jm.recorder.state_dict())
    np.testing.assert_array_equal(again.history().norm, h.norm)
    assert again.epoch == 3 and again.keys == KEYS
    with pytest.raises(ValueError, match="settings"):
        GradientRecorder(bins=7).load_state_dict(jm.recorder.state_dict())


@pytest.mark.parametrize("kwargs,match", [
    (dict(bins=0), r"GradientMonitor\.bins=0 is invalid"),
    (dict(bin_range=(1.0, 0.0)), r"GradientMonitor\.bin_range=\(1\.0, 0\.0\) is invalid"),
    (dict(by="layer"), r"GradientMonitor\.by='layer' is invalid: expected one of 'parameter', 'module'"),
    (dict(hist_every=-1), r"GradientMonitor\.hist_every=-1"),
    (dict(params="head.weight"), r"GradientMonitor\.params='head\.weight' is invalid"),
])
def test_monitor_settings_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        JaxMonitor(**kwargs)
    with pytest.raises(ValueError, match=match):
        TorchMonitor(**kwargs)


def test_monitor_misuse_is_named():
    model = rnnflow.torch.build(RNN)
    with pytest.raises(ValueError, match="'head.w' is not one"):
        TorchMonitor(model, params=["head.w"])
    with pytest.raises(RuntimeError, match="before attach"):
        TorchMonitor().record()
    mon = TorchMonitor(model)
    with pytest.raises(ValueError, match="attached to another module"):
        mon.attach(rnnflow.torch.build(RNN))
    jm = JaxMonitor()
    jm.record({"a": jnp.ones(2), "b": jnp.ones(3)})
    with pytest.raises(ValueError, match="grads lack 'b'"):
        jm.record({"a": jnp.ones(2)})


# ---------------------------------------------------------------- monitors inside the trainers
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_trainer_feeds_the_monitor(backend):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=6, hist_every=2, batch_size=3, dtype="float64")
    mon = (TorchMonitor if backend == "torch" else JaxMonitor)(bins=8)
    r = TRAIN[backend](RNN, None, adding_data(5, 3, dtype=np.float64), cfg, progress=False, monitor=mon)
    h = r.gradients
    assert len(h.iteration) == 6 and h.hist_epoch.tolist() == [0, 1, 2]
    np.testing.assert_allclose(h.norm, r.metrics.group_norm_matrix(), rtol=1e-12)  # two routes, one number
    np.testing.assert_allclose(h.loss, r.metrics.loss, rtol=1e-15)
    if backend == "torch":
        assert mon.module is None  # the trainer removed its hooks


# ---------------------------------------------------------------- plots
def _render(fig):
    assert isinstance(fig, Figure)
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    for ax in fig.axes:
        if ax.get_visible() and ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def test_plots_render_with_labels(rng):
    cfg = TrainConfig(optimizer="sgd", lr=0.5, steps=8, hist_every=2, clip="norm", clip_value=0.1,
                      batch_size=3, dtype="float64")
    data = adding_data(5, 3, dtype=np.float64)
    poisoned = lambda s, g: (lambda x, y: (x, y * (1e200 if s == 5 else 1.0)))(*data(s, g))  # noqa: E731
    runs = {f"seed {s}": TRAIN["jax"](RNN, rnnflow.init_params(RNN, s, np.float64), poisoned,
                                                 cfg, progress=False, monitor=JaxMonitor(bins=8))
            for s in (0, 1)}
    h = runs["seed 0"].gradients
    _render(plot_gradient_histograms(h))
    _render(plot_gradient_histograms(h, groups=["head.weight"]))
    _render(plot_mean_gradients({k: r.gradients for k, r in runs.items()}, yscale="symlog"))
    _render(plot_gradient_norms(runs))
    _render(plot_gradient_norms(h))
    _render(plot_loss_curves(runs, smooth=3, baseline=1 / 24, baseline_label="predict 0.5"))
    _render(plot_grad_norm_trace(runs))
    fig = plot_grad_norm_trace(runs["seed 0"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "clip threshold c = 0.1" in labels
    assert "run: 1 step skipped (non-finite), first at 5" in labels, labels
    with pytest.raises(ValueError, match="'nope' is not one of"):
        plot_gradient_histograms(h, groups=["nope"])
    with pytest.raises(ValueError, match="no histograms"):
        plot_gradient_histograms(GradientRecorder().history())
    with pytest.raises(TypeError, match="expected a TrainResult"):
        plot_grad_norm_trace(h)


@pytest.mark.parametrize("steps, starts, ends", [
    ([], [], []), ([7], [7], [7]), ([3, 4, 5, 9], [3, 9], [5, 9]), ([0, 2, 4], [0, 2, 4], [0, 2, 4]),
    (list(range(60, 1000)), [60], [999]),
], ids=["none", "one", "two-stretches", "isolated", "diverged"])
def test_skipped_stretches_group_consecutive_steps(steps, starts, ends):
    from rnnflow.plotting.training import skipped_stretches
    got = skipped_stretches(steps)
    assert got[0].tolist() == starts and got[1].tolist() == ends
