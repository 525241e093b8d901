"""A monitor's history written as TensorBoard event files, read back with TensorBoard's own
reader: the scalars and histogram bucket counts are the monitor's (issue 11, item 3)."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.jax.monitor import GradientMonitor as JaxMonitor
from rnnflow.training import TrainConfig, adding_data

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RNN = rnnflow.RNNConfig(input_size=2, hidden_size=5, num_layers=2, output_size=1)


def _read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


@pytest.mark.parametrize("bin_range", [None, (-0.05, 0.05)], ids=["adaptive", "fixed"])
def test_event_files_hold_the_monitors_numbers(tmp_path, bin_range):
    cfg = TrainConfig(optimizer="adam", lr=0.05, steps=6, hist_every=2, batch_size=3, dtype="float64")
    mon = JaxMonitor(bins=9, bin_range=bin_range, by="module")
    rnnflow.train(RNN, None, adding_data(5, 3, dtype=np.float64), cfg, backend="jax", progress=False, monitor=mon)
    h = mon.history()
    path = mon.to_tensorboard(tmp_path, run="adam")
    assert str(tmp_path / "adam") in path and "tfevents" in path
    acc = _read(tmp_path / "adam")
    tags = acc.Tags()
    assert set(tags["scalars"]) >= {"loss"} | {f"grad_norm/{g}" for g in h.groups}
    assert set(tags["histograms"]) == {f"grad_hist/{g}" for g in h.groups}
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == list(range(6))
    np.testing.assert_allclose([e.value for e in loss], h.loss, rtol=1e-6)     # stored as float32
    for j, g in enumerate(h.groups):
        np.testing.assert_allclose([e.value for e in acc.Scalars(f"grad_norm/{g}")], h.norm[:, j], rtol=1e-6)
        np.testing.assert_allclose([e.value for e in acc.Scalars(f"grad_mean/{g}")], h.mean[:, j], rtol=1e-6,
                                   atol=1e-30)
        hists = acc.Histograms(f"grad_hist/{g}")
        assert [e.step for e in hists] == [1, 3, 5]   # the last iteration of each 2-step epoch
        for e, ev in enumerate(hists):
            v = ev.histogram_value
            np.testing.assert_array_equal(v.bucket, h.hist_counts[e, j])
            np.testing.assert_allclose(v.bucket_limit, h.hist_edges[e, j, 1:], rtol=1e-15)
            assert v.min == h.hist_edges[e, j, 0] and v.num == h.hist_counts[e, j].sum()
            assert v.sum_squares == pytest.approx(h.norm[2 * e + 1, j] ** 2, rel=1e-12)
    outside = h.hist_below + h.hist_above
    if bin_range is None:
        assert not any(t.startswith("grad_hist_outside") for t in tags["scalars"])
    else:
        assert outside.any()    # Adam's gradients leave +-0.05
        for j, g in enumerate(h.groups):
            np.testing.assert_array_equal([e.value for e in acc.Scalars(f"grad_hist_outside/{g}")], outside[:, j])


def test_a_history_without_loss_or_histograms(tmp_path):
    mon = JaxMonitor(hist_every=0)
    mon.record({"w": np.ones(3)})
    mon.to_tensorboard(tmp_path)
    acc = _read(tmp_path)
    assert acc.Tags()["scalars"] == ["grad_norm/w", "grad_mean/w"] and acc.Tags()["histograms"] == []
    assert acc.Scalars("grad_norm/w")[0].value == pytest.approx(np.sqrt(3.0), rel=1e-7)


def test_a_train_results_history_exports_too(tmp_path):
    cfg = TrainConfig(optimizer="sgd", lr=0.1, steps=2, hist_every=1, batch_size=3, dtype="float64")
    r = rnnflow.train(RNN, None, adding_data(4, 3, dtype=np.float64), cfg, backend="torch", progress=False)
    r.gradients.to_tensorboard(tmp_path)
    acc = _read(tmp_path)
    np.testing.assert_allclose([e.value for e in acc.Scalars("grad_norm/head.weight")],
                               r.metrics.group_norms["head.weight"], rtol=1e-6)
