"""Every rnnflow model keeps its contract (rnnflow.types.RecurrentModel / StackModel) in
both backends, with the same method signatures."""
import inspect

import numpy as np
import pytest

import rnnflow as rf
from rnnflow.types import RecurrentModel, StackModel

CONFIGS = {
    "rnn": (rf.RNNConfig(3, 4, num_layers=2, output_size=2), RecurrentModel),
    "lstm": (rf.LSTMConfig(3, 4), RecurrentModel),
    "gru": (rf.GRUConfig(3, 4), RecurrentModel),
    "transformer": (rf.TransformerConfig(3, d_model=8, num_heads=2, num_layers=2), StackModel),
    "mlp": (rf.MLPConfig(3, 2, width=4, depth=2), StackModel),
}


def _members(protocol):
    return [n for n in protocol.__dict__ if not n.startswith("_") or n == "__call__"] + list(
        getattr(protocol, "__annotations__", {}))


def _params(fn):
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is not p.VAR_KEYWORD and p.default is inspect.Parameter.empty]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_models_keep_the_contract_with_the_same_signatures(name):
    config, protocol = CONFIGS[name]
    models = {b: rf.build(config, rf.init_params(config, 0), backend=b) for b in ("torch", "jax")}
    for member in _members(protocol):
        for b, m in models.items():
            assert hasattr(m, member), f"{b} {type(m).__name__} lacks {member}"
        # torch's __call__ is nn.Module's dispatcher: its contract is forward
        t = models["torch"].forward if member == "__call__" else getattr(models["torch"], member)
        j = getattr(models["jax"], member)
        if inspect.ismethod(t):
            assert _params(t) == _params(j), (member, _params(t), _params(j))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_contract_composes_to_the_model(backend):
    """readout(blocks(stack_input(x))) is the model's y; step() over time is the model's states."""
    config, _ = CONFIGS["transformer"]
    m = rf.build(config, rf.init_params(config, 0, np.float64), backend=backend)
    ops = rf._backend.load(backend).arrays
    x = ops.asarray(np.random.default_rng(0).normal(size=(5, 2, 3)))
    h = m.stack_input(x)
    for f in m.blocks():
        h = f(h)
    np.testing.assert_allclose(ops.numpy(m.readout(h)), ops.numpy(m(x).y), atol=1e-12)
    config, _ = CONFIGS["lstm"]
    m = rf.build(config, rf.init_params(config, 0, np.float64), backend=backend)
    state = tuple(s[0] for s in m.initial_state(2))
    for t in range(5):
        state = m.step_function()(m.layer_params(0), state, x[t])
    np.testing.assert_allclose(ops.numpy(state[0]), ops.numpy(m(x).hidden[0, -1]), atol=1e-12)
