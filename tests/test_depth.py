"""Gradient flow through depth, per-layer ``log ||dL/dx_l||``, against full autograd Jacobians."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import gradient_through_depth

B = 2


def _tanh_layers(backend, widths, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    if backend == "torch":
        import torch
        return [lambda h, w=torch.as_tensor(w): torch.tanh(h @ w) for w in ws]
    import jax.numpy as jnp
    return [lambda h, w=jnp.asarray(w): jnp.tanh(h @ w) for w in ws]


def _brute_depth(layers, x0, loss_fn, backend, batch_axis):
    """Per-example log ||dL/dx_l|| by re-running the tail from each x_l; and per-layer Jacobians."""
    if backend == "torch":
        import torch
        acts = [torch.as_tensor(x0)]
        for f in layers:
            acts.append(f(acts[-1]).detach())
        grad = lambda l: torch.func.grad(lambda h: tail(l, h))(acts[l]).detach().numpy()  # noqa: E731
        jac = lambda l: torch.autograd.functional.jacobian(layers[l], acts[l], vectorize=True).detach().numpy()  # noqa: E731
    else:
        import jax
        import jax.numpy as jnp
        acts = [jnp.asarray(x0)]
        for f in layers:
            acts.append(f(acts[-1]))
        grad = lambda l: np.asarray(jax.grad(lambda h: tail(l, h))(acts[l]))  # noqa: E731
        jac = lambda l: np.asarray(jax.jacrev(layers[l])(acts[l]))  # noqa: E731

    def tail(l, h):
        for f in layers[l:]:
            h = f(h)
        return loss_fn(h)

    norms = []
    for l in range(len(layers) + 1):
        g = np.moveaxis(grad(l), batch_axis, 0)
        norms.append(0.5 * np.log((g.reshape(g.shape[0], -1) ** 2).sum(1)))
    jacs = []
    for l in range(len(layers)):
        out_nd = acts[l + 1].ndim
        j = np.moveaxis(jac(l), [batch_axis, out_nd + batch_axis], [0, 1])  # (B_out, B_in, *out, *in)
        n_out = int(np.prod(acts[l + 1].shape)) // acts[l + 1].shape[batch_axis]
        jacs.append(np.stack([j[b, b].reshape(n_out, -1) for b in range(j.shape[0])]))
    return np.stack(norms, 1), jacs


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_depth_of_a_layer_list(backend):
    layers = _tanh_layers(backend, [4, 6, 6, 3])
    x0 = np.random.default_rng(0).standard_normal((B, 4))
    loss = lambda y: (y ** 3).sum()  # noqa: E731  (a sum over examples)
    res = gradient_through_depth(layers, x0, loss, backend=backend, jacobians=True)
    want, jacs = _brute_depth(layers, x0, loss, backend, 0)
    np.testing.assert_allclose(res.log_grad_norm, want, atol=1e-10)
    np.testing.assert_allclose(res.log_grad_norm_total, 0.5 * np.log(np.exp(2 * want).sum(0)), atol=1e-10)
    for l, j in enumerate(jacs):
        np.testing.assert_allclose(res.log_jacobian_spectral[:, l], np.log(np.linalg.norm(j, 2, axis=(1, 2))),
                                   atol=1e-10)
        np.testing.assert_allclose(res.log_jacobian_frobenius[:, l], np.log(np.linalg.norm(j, axis=(1, 2))),
                                   atol=1e-10)
    np.testing.assert_array_equal(res.layer, np.arange(4))


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("config", [
    rnnflow.MLPConfig(4, 3, width=6, depth=3, activation="tanh", residual=True),
    rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=2, output_size=2),
], ids=["mlp", "transformer"])
def test_depth_of_rnnflow_models(config, backend):
    model = rnnflow.build(config, rnnflow.init_params(config, 0, np.float64), backend=backend)
    transformer = isinstance(config, rnnflow.TransformerConfig)
    x = np.random.default_rng(0).standard_normal((4, B, 3) if transformer else (B, 4))
    res = gradient_through_depth(model, x, jacobians=True, label="m")
    L = config.num_layers if transformer else config.depth
    assert res.log_grad_norm.shape == (B, L + 1) and res.log_jacobian_spectral.shape == (B, L)
    # brute force: the same stack through the model's own per-layer functions
    if backend == "torch":
        import torch
        x0 = model(torch.as_tensor(x)).hidden[0].detach().numpy() if transformer else x
    else:
        x0 = np.asarray(model(x).hidden[0]) if transformer else x
    from rnnflow.analysis.backends import backend_modules
    from rnnflow.analysis.depth import depth_stack
    _, layers, readout, axis = depth_stack(backend_modules(backend), model, x)
    want, jacs = _brute_depth(layers, x0, lambda h: (readout(h) ** 2).sum() / 2, backend, axis)
    np.testing.assert_allclose(res.log_grad_norm, want, atol=1e-10)
    for l, j in enumerate(jacs):
        np.testing.assert_allclose(res.log_jacobian_frobenius[:, l], np.log(np.linalg.norm(j, axis=(1, 2))),
                                   atol=1e-10)
    # the loss really is the model's: gradient at the top equals dL/dy pulled through the readout
    if not transformer and backend == "torch":
        import torch
        y = model(torch.as_tensor(x)).y.detach().numpy()
        w = model.head.weight.detach().numpy()
        np.testing.assert_allclose(res.log_grad_norm[:, -1], 0.5 * np.log(((y @ w) ** 2).sum(1)), atol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("config", [
    rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=3, output_size=2, norm="post"),
    rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=3, output_size=2, norm="none"),
    rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=2, output_size=2, norm="pre", residual=False),
    rnnflow.MLPConfig(4, 3, width=6, depth=3, activation="tanh", residual=True, batchnorm=True),
], ids=["post-ln", "no-ln", "pre-ln-no-residual", "mlp-batchnorm"])
def test_param_grads_equal_autograd_of_the_whole_model(config, backend):
    """param_grads=True: every block parameter's ||dL/dW_l|| from the rescaled layer-by-layer
    pass equals torch autograd's gradient of the whole model's loss (one backward())."""
    import torch
    params = rnnflow.init_params(config, 0, np.float64)
    transformer = isinstance(config, rnnflow.TransformerConfig)
    x = np.random.default_rng(1).standard_normal((4, B, 3) if transformer else (5, 4))
    res = gradient_through_depth(rnnflow.build(config, params, backend=backend), x, param_grads=True)
    ref = rnnflow.build(config, params, backend="torch")
    y = ref(torch.as_tensor(x)).y
    ((y * y).sum() / 2).backward()
    L = config.num_layers if transformer else config.depth
    want = {name: np.array([np.linalg.norm(dict(ref.layers[l].named_parameters())[name].grad.numpy())
                            for l in range(L)]) for name, _ in ref.layers[0].named_parameters()}
    assert sorted(res.log_param_grad_norm) == sorted(want)
    top = max(v.max() for v in want.values())
    for name, w in want.items():   # absolute in units of the largest (BatchNorm's linear.bias is 0 exactly)
        np.testing.assert_allclose(np.exp(res.log_param_grad_norm[name]) / top, w / top, atol=1e-12, err_msg=name)
    assert gradient_through_depth(rnnflow.build(config, params, backend=backend), x).log_param_grad_norm is None


def test_param_grads_need_an_rnnflow_stack():
    import torch
    layers = [torch.nn.Linear(3, 3).double(), torch.nn.Tanh()]
    with pytest.raises(ValueError, match="param_grads=True needs an rnnflow Transformer or MLP"):
        gradient_through_depth(layers, np.ones((2, 3)), param_grads=True)
