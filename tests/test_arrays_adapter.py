"""The array adapters rnnflow.torch.arrays and rnnflow.jax.arrays mirror each other function for
function, so the core (the studies included) is written once, with no branch on the backend's name."""
import inspect

import numpy as np
import pytest

import rnnflow
from rnnflow._backend import load


def _public(module):
    return {name: f for name, f in vars(module).items()
            if inspect.isfunction(f) and not name.startswith("_") and f.__module__ == module.__name__}


def test_both_adapters_have_the_same_functions_and_signatures():
    torch_fns, jax_fns = _public(load("torch").arrays), _public(load("jax").arrays)
    assert sorted(torch_fns) == sorted(jax_fns)
    for name in torch_fns:
        # the same arguments (return annotations name each framework's array type)
        assert inspect.signature(torch_fns[name]).parameters == inspect.signature(jax_fns[name]).parameters, name
        assert torch_fns[name].__doc__ and jax_fns[name].__doc__, name


def test_threads_sets_torch_threads_and_restores_them():
    import torch
    before = torch.get_num_threads()
    with load("torch").arrays.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with load("jax").arrays.threads(1):        # XLA's pool is fixed: nothing to do
        pass


def test_allow_float64_turns_jax_x64_on_for_the_block_only():
    import jax
    jax.config.update("jax_enable_x64", False)
    try:
        with load("jax").arrays.allow_float64():
            assert jax.numpy.zeros(1, dtype=np.float64).dtype == np.float64
        assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", True)   # the suite's setting (conftest)
    with load("torch").arrays.allow_float64():
        pass


@pytest.mark.parametrize("config", [
    rnnflow.MLPConfig(3, 2, width=4, depth=2, batchnorm=True, dropout=0.5),
    rnnflow.TransformerConfig(3, d_model=4, num_heads=2, num_layers=1, output_size=2, dropout=0.5),
    rnnflow.LSTMConfig(3, 4, output_size=2),
], ids=["mlp-batchnorm-dropout", "transformer-dropout", "lstm"])
def test_predict_is_inference_mode_float64_and_the_same_in_both_backends(config):
    params = rnnflow.init_params(config, seed=0, dtype=np.float64)
    shape = (5, 3) if isinstance(config, rnnflow.MLPConfig) else (4, 5, 3)
    x = np.random.default_rng(0).standard_normal(shape)
    ys = {}
    for backend in ("torch", "jax"):
        model = rnnflow.build(config, params, backend=backend)
        ys[backend] = load(backend).arrays.predict(model, x)
        assert ys[backend].dtype == np.float64 and ys[backend].shape == shape[:-1] + (2,)
        np.testing.assert_array_equal(load(backend).arrays.predict(model, x), ys[backend])  # no dropout, no BN update
    np.testing.assert_allclose(ys["torch"], ys["jax"], rtol=1e-10, atol=1e-12)


def test_torch_predict_leaves_the_model_in_the_mode_it_found():
    config = rnnflow.MLPConfig(3, 2, width=4, depth=1, batchnorm=True)
    model = rnnflow.build(config, rnnflow.init_params(config, seed=0, dtype=np.float64), backend="torch")
    assert model.training
    load("torch").arrays.predict(model, np.zeros((2, 3)))
    assert model.training
    model.eval()
    load("torch").arrays.predict(model, np.zeros((2, 3)))
    assert not model.training
