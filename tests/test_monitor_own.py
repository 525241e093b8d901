"""The gradient monitor on users' own models: any pytree / NNX State of gradients, stats
computed inside jax.jit (or a torch step) and recorded without a sync per parameter,
torch module names, frozen parameters, groups for big models (issue 11, item 3)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rnnflow.jax.monitor import GradientMonitor as JaxMonitor, gradient_stats as jax_stats, named_leaves
from rnnflow.torch.monitor import GradientMonitor as TorchMonitor, gradient_stats as torch_stats
from rnnflow.training.monitor import GradientStats, bin_edges

nnx = pytest.importorskip("flax.nnx")


class _Net(nnx.Module):
    """An NNX model with a list of layers and a head (12 Linear layers: indices past 9)."""

    def __init__(self, rngs, depth=11):
        self.layers = nnx.List([nnx.Linear(3, 3, rngs=rngs, param_dtype=jnp.float64) for _ in range(depth)])
        self.head = nnx.Linear(3, 2, rngs=rngs, param_dtype=jnp.float64)

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return self.head(x)


def _nnx_grads(model, x):
    return nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)


def _brute(flat: dict, names, edges=None):
    """Per name: mean, L2 norm (and histogram counts over edges) in NumPy float64."""
    out = {"mean": [], "norm": [], "hist": []}
    for n in names:
        v = np.asarray(flat[n], np.float64).ravel()
        out["mean"].append(v.mean())
        out["norm"].append(np.linalg.norm(v))
        if edges is not None:
            out["hist"].append(np.histogram(v[np.isfinite(v)], bins=edges)[0])
    return {k: np.array(v) for k, v in out.items()}


def test_nnx_state_gradients_are_named_by_their_paths(rng):
    model = _Net(nnx.Rngs(0))
    x = jnp.asarray(rng.normal(size=(5, 3)))
    grads = _nnx_grads(model, x)
    mon = JaxMonitor(bins=7)
    mon.record(grads, loss=jnp.float64(0.5))
    mon.epoch_end()
    h = mon.history()
    want = ["head.bias", "head.kernel"] + [f"layers.{i}.{p}" for i in range(11) for p in ("bias", "kernel")]
    assert list(h.groups) == want   # numbers sorted numerically: layers.10 after layers.9
    flat = {".".join(map(str, p)): np.asarray(v.get_value()) for p, v in nnx.to_flat_state(grads)}
    b = _brute(flat, want)
    np.testing.assert_allclose(h.mean[0], b["mean"], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(h.norm[0], b["norm"], rtol=1e-12)
    for j, n in enumerate(want):
        np.testing.assert_array_equal(h.hist_counts[0, j], np.histogram(flat[n], bins=7)[0])
    assert h.loss[0] == 0.5
    by_module = JaxMonitor(by="module")
    by_module.record(grads)
    assert by_module.history().groups[:3] == ("head", "layers.0", "layers.1")
    np.testing.assert_allclose(by_module.history().norm[0, 0], np.linalg.norm(np.concatenate(
        [flat["head.bias"], flat["head.kernel"].ravel()])), rtol=1e-12)


def test_any_pytree_of_gradients_is_named_from_its_paths():
    a, b, c = jnp.ones(2), 2 * jnp.ones((2, 3)), -jnp.ones(4)
    tree = {"enc": [{"w": a}, {"w": b}], "dec": (c,)}
    assert list(named_leaves(tree)) == ["dec.0", "enc.0.w", "enc.1.w"]
    mon = JaxMonitor()
    mon.record(tree)
    h = mon.history()
    assert h.groups == ("dec.0", "enc.0.w", "enc.1.w")
    np.testing.assert_allclose(h.norm[0], [2.0, np.sqrt(2.0), np.sqrt(24.0)], rtol=1e-15)
    flat = JaxMonitor(by=1)     # a flat dict whose keys JAX sorts as strings
    flat.record({"blk.10.w": a, "blk.2.w": b, "blk.2.b": c, "emb": a})
    assert flat.history().groups == ("blk", "emb")
    assert flat.history().norm[0, 0] == pytest.approx(np.sqrt(2 + 24 + 4), rel=1e-15)
    nat = JaxMonitor()
    nat.record({"blk.10.w": a, "blk.2.w": b})
    assert nat.history().groups == ("blk.2.w", "blk.10.w")
    with pytest.raises(TypeError, match=r"grads must be a pytree of gradient arrays with names .* got "
                                         r"jaxlib.*ArrayImpl"):
        JaxMonitor().record(a)
    with pytest.raises(TypeError, match="holding no arrays"):
        JaxMonitor().record({})


def test_jitted_step_returns_stats_the_monitor_records(rng):
    """gradient_stats inside jax.jit (histograms over fixed edges included) records the same
    numbers as record(grads) outside, and both match NumPy; values sit on bin edges and
    outside the range, and one entry is Inf."""
    model = _Net(nnx.Rngs(1), depth=3)
    graphdef, params = nnx.split(model)
    eager, jitted = (JaxMonitor(bins=8, bin_range=(-0.5, 0.5), by="module") for _ in range(2))
    edges = jitted.edges
    np.testing.assert_array_equal(edges, bin_edges(-0.5, 0.5, 8))

    def grads_of(params, x):
        g = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(nnx.merge(graphdef, params))
        # poke exact edge values, out-of-range values and an Inf into one gradient
        k = g["layers"][0]["kernel"]
        k.set_value(k.get_value().at[0].set(jnp.asarray([edges[0], edges[3], edges[-1]]))
                    .at[1].set(jnp.asarray([-7.0, 9.0, jnp.inf])))
        return g

    step = jax.jit(lambda p, x: jax_stats(grads_of(p, x), edges=edges))
    seen = []
    for _ in range(3):
        x = jnp.asarray(rng.normal(size=(4, 3)))
        stats = step(params, x)
        assert isinstance(stats, GradientStats) and stats.hist.shape == (8, 8)
        g = grads_of(params, x)
        eager.record(g)
        jitted.record_stats(stats)
        seen.append({".".join(map(str, p)): np.asarray(v.get_value()) for p, v in nnx.to_flat_state(g)})
        eager.epoch_end()
        jitted.epoch_end()
    he, hj = eager.history(), jitted.history()
    assert hj.groups == he.groups == ("head", "layers.0", "layers.1", "layers.2")
    np.testing.assert_array_equal(hj.hist_counts, he.hist_counts)
    for name in ("hist_below", "hist_above", "hist_nonfinite", "hist_edges"):
        np.testing.assert_array_equal(getattr(hj, name), getattr(he, name), err_msg=name)
    np.testing.assert_allclose(hj.norm, he.norm, rtol=1e-14)
    np.testing.assert_allclose(hj.mean, he.mean, rtol=1e-13)
    last = seen[-1]
    entries = np.concatenate([last[k].ravel() for k in ("layers.0.bias", "layers.0.kernel")])
    finite = entries[np.isfinite(entries)]
    j = hj.groups.index("layers.0")
    np.testing.assert_array_equal(hj.hist_counts[-1, j], np.histogram(finite, bins=edges)[0])
    assert (hj.hist_below[-1, j], hj.hist_above[-1, j], hj.hist_nonfinite[-1, j]) == (
        (finite < -0.5).sum(), (finite > 0.5).sum(), 1)
    assert hj.hist_below[-1, j] >= 1 and hj.hist_above[-1, j] >= 1
    assert np.isinf(hj.norm[-1, j])


def test_record_stats_refuses_what_it_cannot_record(rng):
    grads = {"w": jnp.ones(3)}
    mon = JaxMonitor()          # adaptive bins: histograms need the gradients themselves
    with pytest.raises(ValueError, match=r"record_stats: this epoch ends with a histogram.*bin_range=\(lo, hi\)"):
        mon.record_stats(jax_stats(grads))
    JaxMonitor(hist_every=0).record_stats(jax_stats(grads))
    fixed = JaxMonitor(bin_range=(-1.0, 1.0), bins=4)
    with pytest.raises(ValueError, match=r"got edges -2\.\.2 \(4 bins\)"):
        fixed.record_stats(jax_stats(grads, edges=np.linspace(-2, 2, 5)))
    with pytest.raises(TypeError, match="takes the GradientStats of gradient_stats"):
        fixed.record_stats(grads)
    traced = r"record\(grads\) was called inside a traced \(jitted\) function; it records on the host"
    with pytest.raises(TypeError, match=traced):
        jax.jit(lambda g: JaxMonitor().record({"w": g}))(jnp.ones(3))


# ---------------------------------------------------------------- torch
class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 4, num_layers=2)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.lstm(x)[0][-1])


def _torch_backward(model, x):
    model.zero_grad(set_to_none=True)
    loss = model(x).pow(2).sum()
    loss.backward()
    return loss


def test_torch_stats_match_hooks_and_numpy(rng):
    torch.manual_seed(0)
    model = _TorchNet().double()
    model.lstm.bias_hh_l1.requires_grad_(False)       # frozen: no gradient, not watched
    hooked = TorchMonitor(model, bins=6, bin_range=(-0.3, 0.3))
    given, stats_mon = (TorchMonitor(bins=6, bin_range=(-0.3, 0.3)) for _ in range(2))
    for _ in range(2):
        loss = _torch_backward(model, torch.tensor(rng.normal(size=(5, 2, 3))))
        grads = {k: p.grad for k, p in model.named_parameters()}   # the frozen one is None
        hooked.record(loss=loss)
        given.record(grads, loss=loss)
        stats_mon.record_stats(torch_stats(grads, edges=stats_mon.edges), loss=loss)
        for m in (hooked, given, stats_mon):
            m.epoch_end()
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    assert names[0] == "lstm.weight_ih_l0" and "lstm.bias_hh_l1" not in names
    for m in (hooked, given, stats_mon):
        assert list(m.history().groups) == names      # named_parameters() order
    ref = hooked.history()
    for m in (given, stats_mon):
        h = m.history()
        np.testing.assert_array_equal(h.hist_counts, ref.hist_counts)
        np.testing.assert_array_equal(h.hist_below + h.hist_above, ref.hist_below + ref.hist_above)
        np.testing.assert_allclose(h.norm, ref.norm, rtol=1e-14)
        np.testing.assert_allclose(h.loss, ref.loss, rtol=0)
    flat = {k: p.grad.numpy() for k, p in model.named_parameters() if p.grad is not None}
    b = _brute(flat, names, stats_mon.edges)
    np.testing.assert_allclose(stats_mon.history().norm[-1], b["norm"], rtol=1e-12)
    np.testing.assert_array_equal(stats_mon.history().hist_counts[-1], b["hist"])


def test_torch_groups_for_big_models(rng):
    model = _TorchNet().double()
    mon = TorchMonitor(model, by=1)
    _torch_backward(model, torch.tensor(rng.normal(size=(4, 2, 3))))
    mon.record()
    h = mon.history()
    assert h.groups == ("lstm", "head")
    lstm = np.concatenate([p.grad.numpy().ravel() for k, p in model.named_parameters() if k.startswith("lstm.")])
    assert h.norm[0, 0] == pytest.approx(np.linalg.norm(lstm), rel=1e-12)
    with pytest.raises(ValueError, match=r"GradientMonitor\.by=0 is invalid: .*or an int d >= 1"):
        TorchMonitor(by=0)


# ---------------------------------------------------------------- plots of a user's model
class _Big(torch.nn.Module):
    """14 parameter groups: Linear, 2-layer nn.LSTM (8), LayerNorm, Linear head."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 6)
        self.lstm = torch.nn.LSTM(6, 5, num_layers=2)
        self.norm = torch.nn.LayerNorm(5)
        self.head = torch.nn.Linear(5, 1)

    def forward(self, x):
        return self.head(self.norm(self.lstm(self.proj(x))[0][-1]))


@pytest.fixture(scope="module")
def big_history():
    torch.manual_seed(0)
    model = _Big().double()
    mon = TorchMonitor(model, bins=10)
    rng = np.random.default_rng(0)
    for _ in range(4):
        for _ in range(2):
            _torch_backward(model, torch.tensor(rng.normal(size=(6, 3, 3))))
            mon.record(loss=1.0)
        mon.epoch_end()
    mon.remove()
    return mon.history()


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_histograms_of_many_groups_are_capped_and_readable(big_history):
    from matplotlib.colors import BoundaryNorm

    from rnnflow.plotting.monitor import plot_gradient_histograms
    h = big_history
    assert len(h.groups) == 14
    fig = plot_gradient_histograms(h)
    axes = _visible(fig)
    shown = [ax.get_title().split("\n")[0] for ax in axes]
    assert len(axes) == 12 and shown[0] == "proj.weight" and shown[-1] == "head.bias"
    left = [g for g in h.groups if g not in shown]
    assert len(left) == 2
    note = fig._supxlabel.get_text().replace("\n", " ")
    assert note.startswith("2 of 14 groups not shown") and all(g in note for g in left)
    for ax, g in zip(axes, shown):   # each panel spans its own group's histograms, symmetric about 0
        big = np.abs(h.hist_edges[:, h.groups.index(g)]).max()
        np.testing.assert_allclose(ax.get_xlim(), (-big, big), rtol=1e-12)
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    cbar = bar._colorbar
    assert isinstance(cbar.norm, BoundaryNorm) and len(cbar.norm.boundaries) == len(h.hist_epoch) + 1 == 5
    assert cbar.cmap.N == 4   # one colour per epoch
    np.testing.assert_array_equal(cbar.get_ticks(), h.hist_epoch)
    everything = plot_gradient_histograms(h, max_groups=None, xlim="shared")
    assert len(_visible(everything)) == 14 and everything._supxlabel is None
    lims = {ax.get_xlim() for ax in _visible(everything)}
    assert len(lims) == 1
    chosen = plot_gradient_histograms(h, groups=["lstm.weight_hh_l0", "lstm.weight_hh_l1"])
    assert [ax.get_title().split("\n")[0] for ax in _visible(chosen)] == ["lstm.weight_hh_l0", "lstm.weight_hh_l1"]
    with pytest.raises(ValueError, match="xlim='wide' is invalid"):
        plot_gradient_histograms(h, xlim="wide")


def test_norm_legend_sits_outside_the_axes(big_history):
    from rnnflow.plotting.monitor import plot_gradient_norms, plot_mean_gradients
    fig = plot_gradient_norms(big_history)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    (ax,) = _visible(fig)
    (legend,) = fig.legends
    assert ax.get_legend() is None
    r = canvas.get_renderer()
    assert legend.get_window_extent(r).x0 >= ax.get_window_extent(r).x1
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == 12 and labels[0] == "proj.weight" and labels[-1] == "head.bias"
    assert "2 of 14 groups" in fig._supxlabel.get_text()
    assert len(_visible(plot_mean_gradients(big_history))) == 12


def test_lstm_jacobian_labels_say_which_state():
    import rnnflow
    from rnnflow.analysis import jacobians_over_time
    from rnnflow.plotting import plot_decay_family, plot_jacobian_norms
    xs = np.random.default_rng(0).standard_normal((6, 2, 2))
    norms = {}
    for cfg in (rnnflow.LSTMConfig(2, 3), rnnflow.RNNConfig(2, 3)):
        model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
        norms[cfg.cell] = jacobians_over_time(model, xs)
    assert norms["lstm"].state_sizes == (3, 3)
    joint = plot_jacobian_norms(norms["lstm"]).axes[0]
    assert r"\partial (h,c)_T/\partial (h,c)_t" in joint.get_ylabel() and "joint" in joint.get_title()
    block = plot_jacobian_norms(norms["lstm"], which="h").axes[0]
    assert r"\partial h_T/\partial h_t" in block.get_ylabel() and r"h\ block" in block.get_ylabel()
    plain = plot_jacobian_norms(norms["rnn"]).axes[0]
    assert r"\partial h_T/\partial h_t" in plain.get_ylabel() and "block" not in plain.get_ylabel()
    assert "(h, c)" not in plain.get_title()
    fam = plot_decay_family(norms).axes[0]
    assert "h block of tuple states" in fam.get_ylabel()
    assert "(h,c)" in plot_decay_family({"lstm": norms["lstm"]}, which="log_spectral").axes[0].get_ylabel()


def test_histogram_titles_count_entries_outside_fixed_bins():
    """With a fixed bin_range the panel title must not report the bin edge as max |g|: it
    counts the entries outside the bins, and a panel with none inside says so."""
    import jax.numpy as jnp
    from rnnflow.jax import GradientMonitor
    from rnnflow.plotting import plot_gradient_histograms
    mon = GradientMonitor(bin_range=(-0.5, 0.5), bins=10)
    grads = {"a": jnp.array([0.1, -0.2, 0.3, 0.9]), "b": jnp.array([2.0])}
    mon.record(grads, loss=1.0)
    mon.epoch_end()
    fig = plot_gradient_histograms(mon.history())
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any(t.startswith("a\n") and "1 of 4 entries outside ±0.5" in t for t in titles), titles
    assert any(t.startswith("b\n") and "1 of 1 entries outside ±0.5" in t for t in titles), titles
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no entry inside the bins" in texts
