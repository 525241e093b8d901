"""The one-unit cliff model: exact derivatives against finite differences; clipping bounds steps."""
import numpy as np
import pytest

from rnnflow.analysis.clipping import cliff_loss_and_grad, descend


@pytest.mark.parametrize("w,b", [(1.0, -0.5), (4.0, -3.0), (-2.0, 1.5), (7.0, -5.2)])
def test_forward_mode_gradient_matches_finite_differences(w, b):
    e, gw, gb = cliff_loss_and_grad(w, b)
    h = 1e-6
    fd_w = (cliff_loss_and_grad(w + h, b)[0] - cliff_loss_and_grad(w - h, b)[0]) / (2 * h)
    fd_b = (cliff_loss_and_grad(w, b + h)[0] - cliff_loss_and_grad(w, b - h)[0]) / (2 * h)
    np.testing.assert_allclose([gw, gb], [fd_w, fd_b], rtol=1e-5, atol=1e-9)


def test_recurrence_by_hand_two_steps():
    sig = lambda z: 1 / (1 + np.exp(-z))
    x1 = 2.0 * sig(0.5) - 1.0
    x2 = 2.0 * sig(x1) - 1.0
    e, _, _ = cliff_loss_and_grad(2.0, -1.0, steps=2)
    assert e == pytest.approx((sig(x2) - 0.7) ** 2, rel=1e-14)


def test_clipping_bounds_every_step():
    # start right beside the wall so the unclipped step is huge
    w = np.linspace(-6, 10, 321)
    b = np.linspace(-6, 4, 201)
    W, B = np.meshgrid(w, b)
    _, gw, gb = cliff_loss_and_grad(W, B)
    i = np.unravel_index(np.argmax(np.hypot(gw, gb)), W.shape)
    w0, b0 = W[i], B[i]
    free = descend(w0, b0, lr=0.5, iters=5, clip="none")
    norm = descend(w0, b0, lr=0.5, iters=5, clip="norm", threshold=1.0)
    value = descend(w0, b0, lr=0.5, iters=5, clip="value", threshold=0.5)
    assert free.grad_norm[0] > 10.0  # the wall
    assert np.linalg.norm(free.points[1] - free.points[0]) > 5.0
    assert np.all(np.linalg.norm(np.diff(norm.points, axis=0), axis=1) <= 0.5 + 1e-12)
    assert np.all(np.abs(np.diff(value.points, axis=0)) <= 0.25 + 1e-12)
    with pytest.raises(ValueError, match="clip='scale'"):
        descend(0.0, 0.0, lr=0.1, iters=1, clip="scale")
