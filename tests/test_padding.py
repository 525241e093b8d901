"""Variable-length batches: the JAX trainer pads to ``data_fn.max_length`` and compiles once,
with the same records as running every length as it comes (rnnflow.training.padding)."""
import numpy as np
import pytest

import rnnflow as rf
from rnnflow.config import GRUConfig, LRUConfig, LSTMConfig, RNNConfig, SelectiveSSMConfig, TransformerConfig
from rnnflow.params import flatten
from rnnflow.training import TrainConfig, adding_data, train
from rnnflow.training.padding import can_pad, pad_time

pytest.importorskip("jax")
from rnnflow.jax import trainer as jax_trainer  # noqa: E402

T = 20   # adding_data draws lengths 20, 21, 22


def _unpadded(data_fn):
    """The same batches without the max_length declaration."""
    return lambda step, rng: data_fn(step, rng)


def _fit(config, data_fn, backend, loss="mse_last", steps=12):
    tc = TrainConfig(optimizer="adam", lr=3e-3, batch_size=8, steps=steps, loss=loss, dtype="float64", seed=3,
                     clip="norm", clip_value=1.0)
    return train(config, rf.init_params(config, seed=1, dtype=np.float64), data_fn, tc, backend=backend,
                 progress=False)


def _lengths(data_fn, steps=12):
    from rnnflow.training.loop import data_rng
    return {data_fn(s, data_rng(3, s))[0].shape[0] for s in range(steps)}


CONFIGS = {
    "tanh RNN": RNNConfig(2, 6, output_size=1),
    "LSTM": LSTMConfig(2, 5, output_size=1, num_layers=2),
    "GRU": GRUConfig(2, 5, output_size=1),
    "LRU": LRUConfig(2, 4, 3, output_size=1, r_min=0.5),
    "SSM": SelectiveSSMConfig(2, 4, 3, output_size=1),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_padded_run_equals_unpadded_and_compiles_once(name):
    config = CONFIGS[name]
    data = adding_data(T, 8, dtype=np.float64)
    assert data.max_length == T + T // 10
    assert len(_lengths(data)) >= 2            # the premise: several lengths in 12 batches
    grad = jax_trainer._grad_fn(config, "mse_last")
    before = grad._cache_size()
    padded = _fit(config, data, "jax")
    assert grad._cache_size() - before == 1    # one program for every length
    plain = _fit(config, _unpadded(data), "jax")
    assert grad._cache_size() - before == 1 + len(_lengths(data))   # one per length without padding
    np.testing.assert_allclose(padded.metrics.loss, plain.metrics.loss, rtol=1e-12, atol=0)
    np.testing.assert_allclose(padded.metrics.grad_norm, plain.metrics.grad_norm, rtol=1e-11, atol=0)
    fp, fq = flatten(padded.params), flatten(plain.params)
    for k in fq:
        np.testing.assert_allclose(fp[k], fq[k], rtol=1e-10, atol=1e-13, err_msg=k)
    torch_run = _fit(config, data, "torch")    # torch runs each length as it comes
    np.testing.assert_allclose(padded.metrics.loss, torch_run.metrics.loss, rtol=1e-9, atol=1e-12)


def test_unbounded_rnn_and_per_step_losses_are_not_padded():
    assert can_pad(RNNConfig(2, 4, activation="tanh", output_size=1), "mse_last")
    assert can_pad(RNNConfig(2, 4, activation="sigmoid", output_size=1), "xent_last")
    for act in ("relu", "identity", "elu", "gelu", "swish", "leaky_relu"):
        assert not can_pad(RNNConfig(2, 4, activation=act, output_size=1), "mse_last"), act
    assert not can_pad(LSTMConfig(2, 4, output_size=3), "xent_all")
    assert not can_pad(LSTMConfig(2, 4, output_size=1), "mse")
    assert not can_pad(TransformerConfig(2, d_model=8, num_heads=2, num_layers=1, output_size=1), "mse_last")
    config = RNNConfig(2, 4, activation="relu", output_size=1)
    data = adding_data(T, 8, dtype=np.float64)
    grad = jax_trainer._grad_fn(config, "mse_last")
    before = grad._cache_size()
    relu = _fit(config, data, "jax", steps=6)
    assert grad._cache_size() - before == len(_lengths(data, 6))   # compiled per length, as before
    np.testing.assert_allclose(relu.metrics.loss, _fit(config, data, "torch", steps=6).metrics.loss,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_batch_longer_than_max_length_is_refused(backend):
    data = adding_data(T, 8)
    data.max_length = T       # a wrong declaration: lengths reach T + 2
    with pytest.raises(ValueError, match=r"max_length=20"):
        _fit(CONFIGS["tanh RNN"], data, backend, steps=12)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "20", True])
def test_bad_max_length_names_the_field(bad):
    data = adding_data(T, 8)
    data.max_length = bad
    with pytest.raises(ValueError, match=r"data_fn.*max_length"):
        _fit(CONFIGS["tanh RNN"], data, "torch", steps=1)


def test_pad_time_appends_zeros():
    x = np.arange(12.0).reshape(3, 2, 2)
    p = pad_time(x, 5)
    assert p.shape == (5, 2, 2) and np.array_equal(p[:3], x) and not p[3:].any()
    assert pad_time(x, 3) is x


@pytest.mark.parametrize("loss", ["mse_last", "xent_last"])
def test_compute_loss_at_length_reads_the_batch_own_last_step(loss):
    """Both backends: the loss of a batch padded past ``length`` equals the loss of the
    unpadded batch, and differs from reading the padded array's last step."""
    import torch
    import jax.numpy as jnp
    from rnnflow.torch.trainer import compute_loss as tloss
    from rnnflow.jax.trainer import compute_loss as jloss
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=(7, 3, 4))             # (T_pad, B, O), own length 5
    y = rng.normal(size=(3, 4)) if loss == "mse_last" else np.array([0, 3, 1])
    want = float(tloss(loss, torch.tensor(y_pred[:5]), torch.tensor(y)))
    got_t = float(tloss(loss, torch.tensor(y_pred), torch.tensor(y), 5))
    got_j = float(jloss(loss, jnp.asarray(y_pred), jnp.asarray(y), jnp.int32(5)))
    padded_end = float(tloss(loss, torch.tensor(y_pred), torch.tensor(y)))
    assert got_t == pytest.approx(want, rel=1e-12)
    assert got_j == pytest.approx(want, rel=1e-6)
    assert abs(padded_end - want) > 1e-3
