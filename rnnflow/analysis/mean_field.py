"""Mean-field signal propagation through a deep random MLP (Poole et al. 2016; Schoenholz et al. 2017).

Network (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep information propagation",
eq. 1): ``z^l = W^l y^{l-1} + b^l``, ``y^l = phi(z^l)``, ``W^l_ij ~ N(0, sigma_w^2 / N)``,
``b^l_i ~ N(0, sigma_b^2)``. In the wide limit the pre-activations are Gaussian and
(``Dz`` the standard Gaussian measure)::

    length map         q^l = sigma_w^2 ∫Dz phi(sqrt(q^{l-1}) z)^2 + sigma_b^2             (eq. 3)
    correlation map    c^l = [sigma_w^2 ∫Dz1 Dz2 phi(u1) phi(u2) + sigma_b^2] / q*         (eq. 4)
                       u1 = sqrt(q*) z1,  u2 = sqrt(q*) (c^{l-1} z1 + sqrt(1 - (c^{l-1})^2) z2)
    chi_1 = d c^l / d c^{l-1} |_{c=1} = sigma_w^2 ∫Dz phi'(sqrt(q*) z)^2                  (eq. 5)
    q^l - q* ~ exp(-l / xi_q),  xi_q^{-1} = -ln[chi_1 + sigma_w^2 ∫Dz phi''(u) phi(u)]     (eq. 8)
    c^l - c* ~ exp(-l / xi_c),  xi_c^{-1} = -ln chi_c,
                       chi_c = sigma_w^2 ∫Dz1 Dz2 phi'(u1) phi'(u2) at c = c*               (eq. 9)

``chi_1 < 1``: ordered phase (``c* = 1``, gradients vanish by ``sqrt(chi_1)`` per layer backwards);
``chi_1 > 1``: chaotic phase (``c* < 1``, gradients explode); ``chi_1 = 1``: the critical line, where
``xi_c`` diverges. Backpropagated, ``E ||dL/dy^{l-1}||^2 = chi_1 E ||dL/dy^l||^2`` (Schoenholz
section 4, eq. 14-15, the gradient-independence assumption), so ``log ||dL/dy^l||`` changes by
``ln(chi_1) / 2`` per layer. tanh is critical at ``(sigma_w^2, sigma_b^2) = (1, 0)``, ReLU at
``(2, 0)`` (He initialisation). (The equation numbers follow the ICLR 2017 version as recalled
when this was written; the text could not be checked against the paper here, so treat them as
pointers to sections 2-4, where each formula appears.)

The ``phi''`` in eq. 8 is removed with Stein's lemma (``E[z f(z)] = E[f'(z)]``), so only
``phi`` and ``phi'`` (:mod:`rnnflow.activations`) are needed and ReLU's kink is harmless::

    chi_q = dq^l/dq^{l-1} |_{q*} = sigma_w^2 ∫Dz phi(u) phi'(u) z / sqrt(q*),  u = sqrt(q*) z

Quadrature. Gauss-Hermite (``numpy.polynomial.hermite_e.hermegauss``, probabilists' weight
``exp(-z^2/2)``) is the textbook rule and is exact for polynomials, but it is a poor rule here:
for ``q >> 1`` the integrands ``phi'(sqrt(q) z)^2`` of a saturating ``phi`` live in ``|z| < 1/sqrt(q)``,
where its nodes are sparse (order 128, tanh, ``∫Dz tanh'(sqrt(q) z)^2``: relative error 2e-11 at
``q = 1``, 6e-5 at ``q = 4``, 0.14 at ``q = 25``), and ``elu''`` jumps at 0, where it converges
only like ``order^-1`` (7e-4). So every integral here uses the **split rule**
:func:`gauss_nodes`: Gauss-Legendre of order :data:`ORDER` = 64 on each half-line ``[-12, 0]`` and
``[0, 12]`` with the ``N(0, 1)`` density as weight (truncation ``exp(-72) ~ 5e-32``). It clusters
nodes at the kink ``z = 0`` and integrates each smooth half exponentially fast: relative error
<= 1e-13 against adaptive quadrature for every activation at ``q <= 4``, <= 1e-9 at ``q = 25``,
<= 1e-6 at ``q = 100`` (``tests/test_mean_field.py``; ReLU's ``∫Dz relu(sqrt(q) z)^2 = q/2`` and
``∫Dz relu'^2 = 1/2`` to rounding). Two-dimensional integrals use the product of two split rules of
order :data:`ORDER_2D` = 48 per half-line (accurate to ~1e-4 for ReLU, whose kink line
``u2 = 0`` is not on the grid, against the arc-cosine kernel's closed form, better for smooth
``phi``). :func:`hermite_nodes` gives the Gauss-Hermite rule for comparison.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ..activations import ACTIVATIONS, canonical_activation, dphi, phi
from ..validation import check_choice, check_count, check_real, fail

ORDER = 64         # Gauss-Legendre nodes per half-line for 1-d integrals (the split rule)
ORDER_2D = 48      # per half-line and axis of the product rule for 2-d integrals
EDGE = 12.0        # the rule covers |z| <= EDGE; N(0, 1) beyond it has mass ~2e-33
Q_TINY = 1e-300    # q below this is q* = 0 (the fixed point of an odd phi with sigma_b = 0)
Q_ZERO = 1e-12     # a root below this, where g(0) = 0 exactly, is q* = 0 (rounding in E[z^2] = 1)
Q_HUGE = 1e100     # q above this: the length map diverges
CRITICAL_TOL = 1e-9  # |chi_1 - 1| below this is the critical line (quadrature and rounding)
HOMOGENEOUS = ("relu", "leaky_relu", "identity")   # phi(a x) = a phi(x), a > 0: chi_1 does not depend on q


def gauss_nodes(order: int = ORDER) -> tuple[np.ndarray, np.ndarray]:
    """The split rule: nodes ``z`` ``(2 order,)`` and weights ``w`` (summing to 1 - 2e-33) with
    ``sum w f(z) ~ ∫Dz f(z)``, ``Dz = N(0, 1)``: Gauss-Legendre of ``order`` on ``[-EDGE, 0]`` and on
    ``[0, EDGE]``, times the density (read-only arrays, computed once per order)."""
    return _split_nodes(check_count("gauss_nodes", "order", order, 2))


def hermite_nodes(order: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights (``hermegauss``), normalised to sum to 1."""
    order = check_count("hermite_nodes", "order", order, 2)
    z, w = hermegauss(order)
    return z, w / math.sqrt(2.0 * math.pi)


@functools.lru_cache(maxsize=4)
def _split_nodes(order: int):
    x, w = np.polynomial.legendre.leggauss(order)
    z = EDGE / 2 * (x + 1)
    w = EDGE / 2 * w * np.exp(-z * z / 2) / math.sqrt(2.0 * math.pi)
    z, w = np.concatenate([-z[::-1], z]), np.concatenate([w[::-1], w])
    z.flags.writeable = w.flags.writeable = False
    return z, w


def gaussian_expectation(f, order: int = ORDER) -> float:
    """``∫Dz f(z)`` by the split rule; ``f`` maps an array of nodes to values."""
    z, w = gauss_nodes(order)
    return float(w @ f(z))


def _check(owner: str, activation: str, sigma_w, sigma_b) -> str:
    check_choice(owner, "activation", activation, ACTIVATIONS + ("silu",))
    check_real(owner, "sigma_w", sigma_w, lo=0.0, lo_open=True)
    check_real(owner, "sigma_b", sigma_b, lo=0.0)
    return canonical_activation(activation)


def length_map(activation: str, q, sigma_w: float, sigma_b: float) -> np.ndarray:
    """Eq. 3: ``q^l = sigma_w^2 ∫Dz phi(sqrt(q^{l-1}) z)^2 + sigma_b^2``, elementwise over ``q >= 0``."""
    act = _check("length_map", activation, sigma_w, sigma_b)
    z, w = _split_nodes(ORDER)
    u = np.sqrt(np.asarray(q, dtype=np.float64))[..., None] * z
    return sigma_w ** 2 * (phi(act, u) ** 2 @ w) + sigma_b ** 2


def chi_1(activation: str, sigma_w: float, q: float) -> float:
    """Eq. 5 at a given ``q``: ``sigma_w^2 ∫Dz phi'(sqrt(q) z)^2`` (``q = q*`` gives chi_1).

    For a positively homogeneous ``phi`` (relu, leaky_relu, identity) it does not depend on ``q``,
    which gives chi_1 where the length map has no fixed point (ReLU with ``sigma_w^2 > 2``).
    """
    act = _check("chi_1", activation, sigma_w, 0.0)
    check_real("chi_1", "q", q, lo=0.0)
    z, w = _split_nodes(ORDER)
    return float(sigma_w ** 2 * (w @ dphi(act, math.sqrt(max(q, Q_TINY)) * z) ** 2))


def _chi_q(act: str, sigma_w: float, q: float) -> float:
    """``dq^l/dq^{l-1}`` at ``q`` in Stein's form (no ``phi''``); ``q -> 0`` is its limit."""
    z, w = _split_nodes(ORDER)
    s = math.sqrt(max(q, Q_TINY))
    return float(sigma_w ** 2 * (w @ (phi(act, s * z) * dphi(act, s * z) * z)) / s)


@functools.lru_cache(maxsize=2)
def _pair_nodes(order: int = ORDER_2D):
    z, w = _split_nodes(order)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    out = z1.ravel(), z2.ravel(), np.outer(w, w).ravel()
    for a in out:
        a.flags.writeable = False
    return out


def correlation_map(activation: str, c, q: float, sigma_w: float, sigma_b: float) -> np.ndarray:
    """Eq. 4: ``c^l`` from ``c^{l-1}`` (elementwise over ``c`` in ``[-1, 1]``) at the length ``q``
    (normally ``q*``): ``[sigma_w^2 ∫Dz1 Dz2 phi(u1) phi(u2) + sigma_b^2] / q``."""
    act = _check("correlation_map", activation, sigma_w, sigma_b)
    check_real("correlation_map", "q", q, lo=0.0, lo_open=True)
    c = np.asarray(c, dtype=np.float64)
    if np.any(np.abs(c) > 1):
        fail("correlation_map", "c", c, "correlations in [-1, 1]")
    z1, z2, w = _pair_nodes()
    s = math.sqrt(q)
    cc = c[..., None]
    u1, u2 = s * z1, s * (cc * z1 + np.sqrt(1.0 - cc ** 2) * z2)
    return (sigma_w ** 2 * ((phi(act, u1) * phi(act, u2)) @ w) + sigma_b ** 2) / q


def _chi_c(act: str, c: float, q: float, sigma_w: float) -> float:
    """Eq. 9's slope ``dc^l/dc^{l-1}`` at ``c``: ``sigma_w^2 ∫Dz1 Dz2 phi'(u1) phi'(u2)``."""
    if c >= 1.0:
        return chi_1(act, sigma_w, q)
    z1, z2, w = _pair_nodes()
    s = math.sqrt(max(q, Q_TINY))
    u1, u2 = s * z1, s * (c * z1 + math.sqrt(1.0 - c * c) * z2)
    return float(sigma_w ** 2 * ((dphi(act, u1) * dphi(act, u2)) @ w))


@dataclass(frozen=True)
class MeanField:
    """Mean-field quantities of a random MLP with ``phi = activation`` at ``(sigma_w, sigma_b)``.

    Attributes:
      q_star: the length map's fixed point (reached from ``q0``); 0 for an odd ``phi`` with
        ``sigma_b = 0`` in the ordered phase and on the critical point.
      c_star: the correlation map's stable fixed point (1 in the ordered phase, < 1 chaotic).
      chi_1: eq. 5; ``ln(chi_1) / 2`` is the per-layer change of ``log ||dL/dy^l||`` backwards.
      chi_q: the slope of the length map at ``q_star``.
      chi_c: the slope of the correlation map at ``c_star``.
      xi_q: the depth scale ``-1 / ln(chi_q)`` (``inf`` at slope 1).
      xi_c: the depth scale ``-1 / ln(chi_c)`` (``inf`` at slope 1).
      iterations: length-map iterations run before the fixed point was solved for.
    """

    activation: str
    sigma_w: float
    sigma_b: float
    q_star: float
    c_star: float
    chi_1: float
    chi_q: float
    chi_c: float
    xi_q: float
    xi_c: float
    iterations: int

    @property
    def phase(self) -> str:
        """``"ordered"`` (chi_1 < 1), ``"chaotic"`` (chi_1 > 1) or ``"critical"`` (within 1e-9)."""
        if abs(self.chi_1 - 1.0) <= CRITICAL_TOL:
            return "critical"
        return "ordered" if self.chi_1 < 1.0 else "chaotic"

    @property
    def gradient_slope(self) -> float:
        """``ln(chi_1) / 2``: predicted ``log ||dL/dy^{l-1}|| - log ||dL/dy^l||`` per layer."""
        return 0.5 * math.log(self.chi_1)


def _depth_scale(slope: float) -> float:
    if slope <= 0.0:
        return 0.0
    with np.errstate(divide="ignore"):
        return math.inf if abs(slope - 1.0) < 1e-12 else float(-1.0 / math.log(slope))


def _root(f, lo: float, hi: float) -> float:
    from scipy.optimize import brentq
    return float(brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def _q_star(act, sigma_w, sigma_b, q0, max_iter, tol):
    """Iterate the length map from ``q0``, then solve ``g(q) = q`` in the bracket the iterates
    point to (the map is increasing, so iterates move monotonically to the nearest fixed point
    in their direction; near chi = 1 they only approach it like 1/l, hence the solve)."""
    where = f"mean_field(activation={act!r}, sigma_w={sigma_w!r}, sigma_b={sigma_b!r})"

    def g(q):
        return float(length_map(act, q, sigma_w, sigma_b))
    q, n = float(q0), 0
    for n in range(1, max_iter + 1):
        q_new = g(q)
        if not math.isfinite(q_new) or q_new > Q_HUGE:
            break
        if abs(q_new - q) <= tol * q_new:
            return q_new, n
        q = q_new
    else:
        q_new = g(q)
    F = lambda x: g(x) - x   # noqa: E731
    if math.isfinite(q_new) and q_new < q:          # decreasing: largest root in [0, q]
        hi = q
        lo = hi / 2
        while F(lo) < 0:
            if lo < Q_TINY:
                return 0.0, n                    # g(0) = 0 and g(q) < q above: q* = 0
            hi, lo = lo, lo / 2 ** 8
        root = _root(F, lo, hi)
        # q = 0 is an exact fixed point when g(0) = 0; a "root" this small is quadrature rounding
        return (0.0 if root < Q_ZERO and g(0.0) == 0.0 else root), n
    lo, hi = q, 2 * q                                # increasing: smallest root above q
    while F(hi) > 0:
        if hi > Q_HUGE:
            raise ValueError(f"{where}: the length map q^l = sigma_w^2 E[phi(sqrt(q^(l-1)) z)^2] + sigma_b^2 "
                             f"has no fixed point (q^l diverges from q0={q0!r}, as for relu, gelu or swish "
                             "with sigma_w^2 > 2): chi_1(activation, sigma_w, q) still gives "
                             "the per-layer gradient factor of a positively homogeneous phi")
        lo, hi = hi, hi * 2 ** 8
    return _root(F, lo, hi), n


def _c_star(act, q, sigma_w, sigma_b, chi1):
    """The correlation map is a power series in ``c`` with non-negative coefficients on
    ``[0, 1]`` (increasing, convex, ``c = 1`` fixed): ``chi_1 <= 1`` gives ``c* = 1``, else one
    root in ``[0, 1)``."""
    if chi1 <= 1.0 + CRITICAL_TOL or q <= Q_TINY:
        return 1.0
    F = lambda c: float(correlation_map(act, c, q, sigma_w, sigma_b)) - c   # noqa: E731
    if F(0.0) <= 0.0:
        return 0.0
    eps = 0.5
    while F(1.0 - eps) >= 0.0:
        eps /= 2
        if eps < 1e-12:
            return 1.0                            # chi_1 = 1 to quadrature accuracy
    return _root(F, 0.0, 1.0 - eps)


def mean_field(activation: str, sigma_w: float, sigma_b: float, *, q0: float = 1.0,
               max_iter: int = 200, tol: float = 1e-13) -> MeanField:
    """Mean-field fixed points, ``chi_1`` and depth scales (eq. 3-9, module docstring).

    Args:
      activation: one of :data:`rnnflow.activations.ACTIVATIONS`.
      sigma_w: weight scale, ``W_ij ~ N(0, sigma_w^2 / N)`` (``> 0``).
      sigma_b: bias scale, ``b_i ~ N(0, sigma_b^2)`` (``>= 0``).
      q0: the input's length ``q^0``, where the iteration starts.
      max_iter, tol: length-map iterations before the bracketed solve.

    Raises ``ValueError`` naming the field for bad input, and naming ``(activation, sigma_w,
    sigma_b)`` when the length map has no fixed point (it diverges).
    """
    act = _check("mean_field", activation, sigma_w, sigma_b)
    check_real("mean_field", "q0", q0, lo=0.0, lo_open=True)
    max_iter = check_count("mean_field", "max_iter", max_iter, 1)
    check_real("mean_field", "tol", tol, lo=0.0, lo_open=True)
    sigma_w, sigma_b = float(sigma_w), float(sigma_b)
    q, n = _q_star(act, sigma_w, sigma_b, q0, max_iter, tol)
    chi1 = chi_1(act, sigma_w, q)
    chiq = _chi_q(act, sigma_w, q)
    c = _c_star(act, q, sigma_w, sigma_b, chi1)
    chic = _chi_c(act, c, q, sigma_w)
    return MeanField(act, sigma_w, sigma_b, q, c, chi1, chiq, chic, _depth_scale(chiq), _depth_scale(chic), n)


def phase_grid(activation: str, sigma_w2, sigma_b2) -> dict[str, np.ndarray]:
    """:func:`mean_field` over a grid: ``chi_1``, ``xi_c``, ``q_star`` ``(len(sigma_b2), len(sigma_w2))``
    (rows: ``sigma_b^2``), NaN where the length map diverges."""
    sw2, sb2 = np.asarray(sigma_w2, float), np.asarray(sigma_b2, float)
    out = {k: np.full((sb2.size, sw2.size), np.nan) for k in ("chi_1", "xi_c", "q_star")}
    for i, b in enumerate(sb2):
        for j, a in enumerate(sw2):
            try:
                m = mean_field(activation, math.sqrt(a), math.sqrt(b))
            except ValueError:             # no fixed point: chi_1 is still defined if q-free
                if canonical_activation(activation) in HOMOGENEOUS:
                    out["chi_1"][i, j] = chi_1(activation, math.sqrt(a), 1.0)
                continue
            out["chi_1"][i, j], out["xi_c"][i, j], out["q_star"][i, j] = m.chi_1, m.xi_c, m.q_star
    return out


# ---------------------------------------------------------------- measured on a random MLP
def predicted_slope(activation: str, sigma_w: float, sigma_b: float) -> float:
    """``ln(chi_1) / 2`` at ``q*``; for relu, leaky_relu and identity (chi_1 does not depend on
    ``q``) also where the length map diverges and there is no ``q*``."""
    act = _check("predicted_slope", activation, sigma_w, sigma_b)
    try:
        return mean_field(act, sigma_w, sigma_b).gradient_slope
    except ValueError:
        if act not in HOMOGENEOUS:
            raise
        return 0.5 * math.log(chi_1(act, sigma_w, 1.0))


def random_mlp(activation: str, sigma_w: float, sigma_b: float, *, width: int, depth: int,
               input_size: int | None = None, output_size: int | None = None, seed: int = 0):
    """The mean-field network as an rnnflow MLP: ``(MLPConfig, float64 params)``.

    Hidden and head weights ``Init("normal", std=sigma_w / sqrt(width))``, biases
    ``Init("normal", std=sigma_b)``; the first layer's fan-in is ``input_size`` (default
    ``width``), so its weights are rescaled to ``std = sigma_w / sqrt(input_size)``. The head
    has ``output_size`` outputs (default ``width``).
    """
    from ..config import Init, MLPConfig
    from ..params import init_params
    act = _check("random_mlp", activation, sigma_w, sigma_b)
    width = check_count("random_mlp", "width", width, 1)
    depth = check_count("random_mlp", "depth", depth, 1)
    input_size = width if input_size is None else check_count("random_mlp", "input_size", input_size, 1)
    output_size = width if output_size is None else check_count("random_mlp", "output_size", output_size, 1)
    cfg = MLPConfig(input_size=input_size, output_size=output_size, width=width, depth=depth, activation=act,
                    init_weight=Init("normal", std=sigma_w / math.sqrt(width)),
                    init_bias=Init("normal", std=sigma_b))
    params = init_params(cfg, seed=seed, dtype=np.float64)
    first = params["layers"][0]["linear"]
    first["weight"] = first["weight"] * math.sqrt(width / input_size)
    return cfg, params


@dataclass(frozen=True)
class GradientSlope:
    """Measured against predicted per-layer change of ``log ||dL/dy^l||`` (backwards).

    Attributes:
      measured: the mean over ``nets`` independent networks of minus the slope of the
        least-squares line through ``log ||dL/dy^l||``, ``l = 1..L``.
      measured_se: the standard error of that mean (0 for one network).
      predicted: ``ln(chi_1) / 2``.
      log_grad_norm: ``(nets, L+1)`` ``log ||dL/dy^l||`` over the batch, ``l = 0..L`` (``y^0``
        the input).
    """

    activation: str
    sigma_w: float
    sigma_b: float
    width: int
    depth: int
    backend: str
    measured: float
    measured_se: float
    predicted: float
    log_grad_norm: np.ndarray

    @property
    def error(self) -> float:
        return self.measured - self.predicted


def measure_slope(activation: str, sigma_w: float, sigma_b: float, *, width: int = 512, depth: int = 24,
                  batch: int = 8, nets: int = 1, input_size: int | None = None, backend: str = "torch",
                  seed: int = 0, device=None) -> GradientSlope:
    """Per-layer slope of ``log ||dL/dy^l||`` on ``nets`` draws of :func:`random_mlp` (seeds
    ``seed, seed+1, ...``), by :func:`~rnnflow.analysis.gradient_through_depth` (float64;
    ``L = sum(r * y)``, ``r`` a fixed standard normal ``(B, width)``).

    The input is drawn so that the first pre-activation has the fixed-point length ``q*``
    (``mean(x^2) = (q* - sigma_b^2) / sigma_w^2``, at least ``1e-4 / sigma_w^2`` so a tanh net at
    ``q* = 0`` still carries a signal; 1 where there is no ``q*``), so no transient is fitted.
    One network's slope scatters by ~0.005 per layer at width 512, depth 32 (the weights' draw):
    ``nets`` averages that out. JAX needs ``jax_enable_x64``. ``device``: where the nets run
    (:mod:`rnnflow.devices`).
    """
    import importlib

    from ..models import build
    from .depth import gradient_through_depth
    act = _check("measure_slope", activation, sigma_w, sigma_b)
    batch = check_count("measure_slope", "batch", batch, 1)
    depth = check_count("measure_slope", "depth", depth, 3)
    nets = check_count("measure_slope", "nets", nets, 1)
    seed = check_count("measure_slope", "seed", seed, 0)
    try:
        q_star = mean_field(act, sigma_w, sigma_b).q_star
        ms = max((q_star - sigma_b ** 2) / sigma_w ** 2, 1e-4 / sigma_w ** 2)
    except ValueError:
        ms = 1.0
    arrays = importlib.import_module(f"rnnflow.{backend}.arrays")
    curves, slopes, layers = [], [], np.arange(1, depth + 1)
    for k in range(nets):
        cfg, params = random_mlp(act, sigma_w, sigma_b, width=width, depth=depth, input_size=input_size,
                                 seed=seed + k)
        rng = np.random.default_rng([seed + k, 1])
        x = rng.standard_normal((batch, cfg.input_size))
        x *= np.sqrt(ms / np.mean(x * x, axis=1, keepdims=True))      # (B, I), mean x^2 = ms per row
        # L = sum(r * y), r ~ N(0, 1) per example: the cotangent W_out^T r is independent of the
        # forward pass, as the mean-field backward pass assumes (sum(y^2) / 2 would align it with
        # y^L), and independent across examples, so the batch total averages B draws
        model = build(cfg, params, backend=backend, device=device)
        r = arrays.asarray(rng.standard_normal((batch, cfg.output_size)), None, arrays.device_of(model))
        prof = gradient_through_depth(model, x, lambda y: (r * y).sum())
        g = np.asarray(prof.log_grad_norm_total)                      # (L+1,)
        curves.append(g)
        slopes.append(-np.polyfit(layers, g[1:], 1)[0])
    se = float(np.std(slopes, ddof=1) / math.sqrt(nets)) if nets > 1 else 0.0
    return GradientSlope(act, float(sigma_w), float(sigma_b), width, depth, backend, float(np.mean(slopes)),
                         se, predicted_slope(act, sigma_w, sigma_b), np.stack(curves))


# ---------------------------------------------------------------- trainability (Schoenholz Fig. 5)
@dataclass(frozen=True)
class Trainability:
    """Training loss after a fixed budget on a ``(depth, sigma_w^2)`` grid.

    Attributes:
      loss: ``(len(depths), len(sigma_w2))`` mean cross-entropy over the last tenth of the
        steps (NaN where training went non-finite); chance is ``ln 10``.
      xi_c: ``(len(sigma_w2),)`` the predicted depth scale at each ``sigma_w^2``.
    """

    activation: str
    sigma_b2: float
    sigma_w2: np.ndarray
    depths: np.ndarray
    loss: np.ndarray
    xi_c: np.ndarray
    width: int
    steps: int
    lr: float
    backend: str


def trainability(activation: str, sigma_w2, depths, *, sigma_b2: float = 0.05, width: int = 64,
                 steps: int = 100, batch: int = 64, lr: float = 1e-3, backend: str = "torch",
                 seed: int = 0, device=None) -> Trainability:
    """Train :func:`random_mlp` nets (fan-in 64) on the 8x8 digits (standardised pixels, 10-way
    cross-entropy, RMSProp as in Schoenholz et al. 2017 section 5, float32) for ``steps`` steps
    at every ``(depth, sigma_w^2)``; Schoenholz et al. find nets trainable where
    ``depth < 6 xi_c``. ``device``: where they train (:mod:`rnnflow.devices`)."""
    from ..tasks import load_digits_split
    from ..params import map_arrays
    from ..training import TrainConfig, train
    act = _check("trainability", activation, 1.0, 0.0)
    check_real("trainability", "sigma_b2", sigma_b2, lo=0.0)
    steps = check_count("trainability", "steps", steps, 10)
    sw2 = np.asarray(sigma_w2, dtype=np.float64)
    if sw2.ndim != 1 or sw2.size == 0 or np.any(~(sw2 > 0)):
        fail("trainability", "sigma_w2", sigma_w2, "a 1-d array of positive numbers")
    ds = np.asarray([check_count("trainability", "depths", int(d), 1) for d in np.atleast_1d(depths)])
    split = load_digits_split(seed)
    x, y = split["x_train"].astype(np.float64), split["y_train"]
    x = ((x - x.mean(0)) / np.maximum(x.std(0), 1e-3)).astype(np.float32)   # (N, 64)

    def data_fn(step, rng):
        idx = rng.integers(0, len(y), batch)
        return x[idx], y[idx]
    tc = TrainConfig(optimizer="rmsprop", lr=lr, batch_size=batch, steps=steps, loss="xent", seed=seed)
    loss = np.full((ds.size, sw2.size), np.nan)
    for i, d in enumerate(ds):
        for j, a in enumerate(sw2):
            cfg, params = random_mlp(act, math.sqrt(a), math.sqrt(sigma_b2), width=width, depth=int(d),
                                     input_size=x.shape[1], output_size=10, seed=seed)
            params = map_arrays(lambda v: np.asarray(v, dtype=np.float32), params)
            r = train(cfg, params, data_fn, tc, backend=backend, progress=False, device=device)
            tail = r.metrics.loss[-max(1, steps // 10):]
            if np.all(np.isfinite(tail)):
                loss[i, j] = float(np.mean(tail))
    xi = np.array([mean_field(act, math.sqrt(a), math.sqrt(sigma_b2)).xi_c for a in sw2])
    return Trainability(act, float(sigma_b2), sw2, ds, loss, xi, width, steps, float(lr), backend)

