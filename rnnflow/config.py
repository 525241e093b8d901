"""Frozen, validated model configurations (framework-free).

Every config validates itself on construction and raises ``ValueError`` naming
the field, the value and what is allowed, so a bad value never reaches a
backend. Sequence tensors everywhere in rnnflow are time-major: ``(T, B, I)``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .activations import ACTIVATIONS, MLP_ACTIVATIONS, canonical_activation
from .validation import check_bool, check_choice, check_int, check_real, fail, python_numbers

INIT_KINDS = (
    "zeros", "constant", "normal", "uniform",
    "xavier_normal", "xavier_uniform", "he_normal", "he_uniform",
    "orthogonal", "identity",
)
NORM_PLACEMENTS = ("post", "pre", "none")
POSITIONAL = ("sinusoidal", "learned", "none")


@dataclass(frozen=True)
class Init:
    """How to initialise one weight tensor (applied by ``rnnflow.params``).

    Shapes are PyTorch's ``(fan_out, fan_in)``. For gated cells the rule is applied
    to each gate block (``H x fan_in``) separately, so "orthogonal" gives four
    orthogonal ``H x H`` blocks for an LSTM's ``weight_hh``.

    ``spectral_radius``, when set, rescales a square matrix (or block) after the
    draw so that ``max |eig| == spectral_radius`` exactly.
    """

    kind: str = "xavier_uniform"   # one of INIT_KINDS
    gain: float = 1.0              # multiplies xavier/he/orthogonal/identity
    mean: float = 0.0              # "normal": N(mean, std**2)
    std: float = 1.0               # "normal"
    low: float = -0.1              # "uniform": U[low, high)
    high: float = 0.1              # "uniform"
    value: float = 0.0             # "constant"
    spectral_radius: float | None = None  # rescale square blocks to this radius

    def __post_init__(self):
        c = "Init"
        python_numbers(self)
        check_choice(c, "kind", self.kind, INIT_KINDS)
        check_real(c, "gain", self.gain)
        check_real(c, "mean", self.mean)
        check_real(c, "std", self.std, lo=0.0)
        check_real(c, "low", self.low)
        check_real(c, "high", self.high)
        if self.high <= self.low:
            fail(c, "high", self.high, f"a number > low={self.low!r}")
        check_real(c, "value", self.value)
        if self.spectral_radius is not None:
            check_real(c, "spectral_radius", self.spectral_radius, lo=0.0, lo_open=True)
            if self.kind in ("zeros", "constant"):
                fail(c, "spectral_radius", self.spectral_radius,
                     f"None for kind={self.kind!r} (a rank-<=1 matrix cannot be rescaled)")
            if self.kind == "normal" and self.std == 0:
                fail(c, "std", self.std, f"a number > 0 with spectral_radius={self.spectral_radius!r} "
                     "(std=0 draws a constant matrix, which cannot be rescaled)")
            if self.kind not in ("normal", "uniform") and self.gain == 0:
                fail(c, "gain", self.gain, f"a non-zero number with spectral_radius={self.spectral_radius!r} "
                     "(gain=0 draws the zero matrix, which cannot be rescaled)")


def _check_square(cls, name, init: Init, shapes: dict) -> None:
    """``init.spectral_radius`` needs every matrix it draws to be square: ``shapes`` maps a
    parameter to its (block) shape."""
    if init.spectral_radius is None:
        return
    bad = {k: v for k, v in shapes.items() if len(v) != 2 or v[0] != v[1]}
    if bad:
        k, v = next(iter(bad.items()))
        fail(cls, name, init, f"an Init with spectral_radius=None here: it draws {k} of shape "
             f"{v}, and a spectral radius needs square matrices")


def _check_init(cls, name, value):
    if not isinstance(value, Init):
        fail(cls, name, value, "an rnnflow.Init")


@dataclass(frozen=True)
class _RecurrentConfig:
    """Fields shared by the recurrent cells (internal base class)."""

    input_size: int                # I, features per time step
    hidden_size: int               # H, units per layer
    num_layers: int = 1            # stacked layers; layer l>0 reads layer l-1's h
    output_size: int | None = None  # linear readout y_t = W_out h_t + b_out (None: y = top h)
    init_ih: Init = field(default_factory=lambda: Init("xavier_uniform"))
    init_hh: Init = field(default_factory=lambda: Init("orthogonal"))
    init_bias: Init = field(default_factory=lambda: Init("zeros"))
    init_out: Init = field(default_factory=lambda: Init("xavier_uniform"))

    cell = "abstract"

    def __post_init__(self):
        c = type(self).__name__
        python_numbers(self)
        check_int(c, "input_size", self.input_size)
        check_int(c, "hidden_size", self.hidden_size)
        check_int(c, "num_layers", self.num_layers)
        if self.output_size is not None:
            check_int(c, "output_size", self.output_size)
        for name in ("init_ih", "init_hh", "init_bias", "init_out"):
            _check_init(c, name, getattr(self, name))
        h = self.hidden_size
        _check_square(c, "init_ih", self.init_ih, {"layers.0.weight_ih (per gate block)": (h, self.input_size)})
        _check_square(c, "init_bias", self.init_bias, {"the biases": (self.gates * h,)})
        if self.output_size is not None:
            _check_square(c, "init_out", self.init_out, {"head.weight": (self.output_size, h)})

    @property
    def gates(self) -> int:
        """Number of stacked gate blocks in weight_ih / weight_hh."""
        return {"rnn": 1, "lstm": 4, "gru": 3}[self.cell]

    def replace(self, **changes):
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RNNConfig(_RecurrentConfig):
    """Elman RNN: ``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``."""

    activation: str = "tanh"       # phi, one of rnnflow.activations.ACTIVATIONS
    cell = "rnn"

    def __post_init__(self):
        super().__post_init__()
        check_choice("RNNConfig", "activation", self.activation, ACTIVATIONS + ("silu",))
        object.__setattr__(self, "activation", canonical_activation(self.activation))


@dataclass(frozen=True)
class LSTMConfig(_RecurrentConfig):
    """
    LSTM with PyTorch's equations and gate order (i, f, g, o)::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f = sigmoid(...f...)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)        o = sigmoid(...o...)
        c' = f * c + i * g                             h' = o * tanh(c')
    """

    forget_bias: float = 0.0       # added to b_ih's forget block at init (1.0 is a common cure)
    cell = "lstm"

    def __post_init__(self):
        super().__post_init__()
        check_real("LSTMConfig", "forget_bias", self.forget_bias)


@dataclass(frozen=True)
class GRUConfig(_RecurrentConfig):
    """
    GRU with PyTorch's equations and gate order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     z = sigmoid(...z...)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))  h' = (1 - z) * n + z * h
    """

    cell = "gru"


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer encoder: ``num_layers`` blocks of self-attention + MLP.

    post-LN block: ``x = LN(x + Attn(x)); x = LN(x + MLP(x))``
    pre-LN block:  ``x = x + Attn(LN(x)); x = x + MLP(LN(x))``
    ``residual=False`` drops the ``x +`` skips; ``norm="none"`` drops every LN.
    Input ``(T, B, I)`` is projected to ``d_model`` by a linear ``embed`` layer.
    """

    input_size: int                # I
    d_model: int = 64              # D, residual stream width
    num_heads: int = 4             # must divide d_model
    num_layers: int = 2            # encoder blocks
    d_ff: int | None = None        # MLP hidden width (None: 4 * d_model)
    activation: str = "gelu"       # MLP non-linearity (exact erf GELU, as torch)
    residual: bool = True          # skip connections around attention and MLP
    norm: str = "pre"              # LayerNorm placement: "post" | "pre" | "none"
    final_norm: bool | None = None  # LN after the last block (None: True iff norm == "pre")
    positional: str = "sinusoidal"  # "sinusoidal" | "learned" | "none"
    max_len: int = 4096            # longest sequence for learned positions
    causal: bool = False           # mask attention to positions <= t
    dropout: float = 0.0           # on attention weights and sublayer outputs, train mode only
    layer_norm_eps: float = 1e-5
    output_size: int | None = None  # linear readout per position
    init_weight: Init = field(default_factory=lambda: Init("xavier_uniform"))
    init_bias: Init = field(default_factory=lambda: Init("zeros"))

    def __post_init__(self):
        c = "TransformerConfig"
        python_numbers(self)
        check_int(c, "input_size", self.input_size)
        check_int(c, "d_model", self.d_model)
        check_int(c, "num_heads", self.num_heads)
        if self.d_model % self.num_heads:
            fail(c, "num_heads", self.num_heads, f"a divisor of d_model={self.d_model}")
        check_int(c, "num_layers", self.num_layers)
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        check_int(c, "d_ff", self.d_ff)
        check_choice(c, "activation", self.activation, ACTIVATIONS + ("silu",))
        object.__setattr__(self, "activation", canonical_activation(self.activation))
        for name in ("residual", "causal"):
            check_bool(c, name, getattr(self, name))
        check_choice(c, "norm", self.norm, NORM_PLACEMENTS)
        if self.final_norm is None:
            object.__setattr__(self, "final_norm", self.norm == "pre")
        if not isinstance(self.final_norm, bool):
            fail(c, "final_norm", self.final_norm, "True, False or None")
        check_choice(c, "positional", self.positional, POSITIONAL)
        check_int(c, "max_len", self.max_len)
        check_real(c, "dropout", self.dropout, lo=0.0, hi=1.0, hi_open=True)
        check_real(c, "layer_norm_eps", self.layer_norm_eps, lo=0.0, lo_open=True)
        if self.output_size is not None:
            check_int(c, "output_size", self.output_size)
        _check_init(c, "init_weight", self.init_weight)
        _check_init(c, "init_bias", self.init_bias)
        d = self.d_model
        _check_square(c, "init_weight", self.init_weight, {"embed.weight": (d, self.input_size),
                                                           "layers.0.attn.in_proj.weight": (3 * d, d)})
        _check_square(c, "init_bias", self.init_bias, {"the biases": (d,)})

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class MLPConfig:
    """Deep MLP: ``depth`` hidden layers of ``width`` units, then a linear head.

    hidden layer l:
        | ``z = W_l h + b_l;  z = BN(z) if batchnorm;  a = phi(z)``
        | ``h = h + a`` if residual and l > 0 (shapes match), else ``h = a``
    head:
        ``y = W_out h + b_out``
    """

    input_size: int                # I
    output_size: int               # classes / targets
    width: int = 128               # units per hidden layer
    depth: int = 4                 # hidden layers
    activation: str = "relu"       # phi, one of MLP_ACTIVATIONS (prelu: one learned slope per layer)
    batchnorm: bool = False        # BatchNorm1d after each hidden linear layer
    residual: bool = False         # identity skips around hidden layers 1..depth-1
    dropout: float = 0.0           # after each activation, train mode only
    bn_momentum: float = 0.1       # running-stat update, PyTorch's convention
    bn_eps: float = 1e-5
    init_weight: Init = field(default_factory=lambda: Init("he_normal"))
    init_bias: Init = field(default_factory=lambda: Init("zeros"))

    def __post_init__(self):
        c = "MLPConfig"
        python_numbers(self)
        check_int(c, "input_size", self.input_size)
        check_int(c, "output_size", self.output_size)
        check_int(c, "width", self.width)
        check_int(c, "depth", self.depth)
        check_choice(c, "activation", self.activation, MLP_ACTIVATIONS + ("silu",))
        object.__setattr__(self, "activation", canonical_activation(self.activation))
        for name in ("batchnorm", "residual"):
            check_bool(c, name, getattr(self, name))
        check_real(c, "dropout", self.dropout, lo=0.0, hi=1.0, hi_open=True)
        check_real(c, "bn_momentum", self.bn_momentum, lo=0.0, hi=1.0)
        check_real(c, "bn_eps", self.bn_eps, lo=0.0, lo_open=True)
        _check_init(c, "init_weight", self.init_weight)
        _check_init(c, "init_bias", self.init_bias)
        w = self.width
        _check_square(c, "init_weight", self.init_weight, {"layers.0.linear.weight": (w, self.input_size),
                                                           "head.weight": (self.output_size, w)})
        _check_square(c, "init_bias", self.init_bias, {"the biases": (w,)})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


RECURRENT_CONFIGS = (RNNConfig, LSTMConfig, GRUConfig)


# ---------------------------------------------------------------- diagonal ("modern") recurrences
DIAGONAL_NORMS = ("layernorm", "rmsnorm", "none")
DIAGONAL_NORM_EPS = 1e-5   # eps of the diagonal stacks' LayerNorm / RMSNorm (as torch's LayerNorm)


@dataclass(frozen=True)
class _DiagonalConfig:
    """Fields shared by the diagonal recurrences (internal base class). The stack::

        x^0_t = W_in x_t + b_in                          (D = d_model)
        u_t = norm_l(x^l_t);  h^l_t = recurrence_l(h^l_{t-1}, u_t) (N units);  o^l_t (D)
        x^{l+1}_t = x^l_t + o^l_t  (residual)  or  o^l_t
        y_t = W_out norm_f(x^L_t) + b_out                (no head: y_t = norm_f(x^L_t))

    ``norm`` is pre-norm before each layer's recurrence and once before the head.
    """

    input_size: int                # I, features per time step
    d_model: int                   # D, residual-stream width
    state_size: int                # N, recurrent units per layer
    num_layers: int = 1
    output_size: int | None = None  # linear head on the final normed stream (None: y = the stream)
    norm: str = "layernorm"        # "layernorm" | "rmsnorm" | "none"
    residual: bool = True

    cell = "abstract"
    complex_state = False          # True: each unit is complex, stored as [re, im] (2N reals)

    def __post_init__(self):
        c = type(self).__name__
        python_numbers(self)
        check_int(c, "input_size", self.input_size)
        check_int(c, "d_model", self.d_model)
        check_int(c, "state_size", self.state_size)
        check_int(c, "num_layers", self.num_layers)
        if self.output_size is not None:
            check_int(c, "output_size", self.output_size)
        check_choice(c, "norm", self.norm, DIAGONAL_NORMS)
        check_bool(c, "residual", self.residual)

    @property
    def state_width(self) -> int:
        """S, the real width of one layer's state: N, or 2N for a complex state ``[re, im]``."""
        return 2 * self.state_size if self.complex_state else self.state_size

    def replace(self, **changes):
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LRUConfig(_DiagonalConfig):
    """Linear Recurrent Unit (Orvieto et al. 2023), per layer on the normed input u_t::

        h_t = lambda * h_{t-1} + gamma * (B u_t)       (complex, N units)
        o_t = Re(C h_t) + D * u_t
        lambda = exp(-exp(nu_log) + i exp(theta_log)),  gamma = exp(gamma_log)

    ``gamma_log`` is a trained parameter initialised to ``log sqrt(1 - |lambda|^2)`` as in the
    paper's code (``normalize=False``: gamma = 1, no ``gamma_log``). ``|lambda|`` is drawn with
    ``|lambda|^2`` uniform on ``[r_min^2, r_max^2]``, the phase uniform on ``[0, max_phase]``.
    Defaults r_min=0.9, r_max=0.999: the paper's long-range settings (its reference code's
    function defaults are r_min=0, r_max=1). ``r_max=1`` needs ``allow_unstable=True``;
    ``r_max > 1`` is refused: ``exp(-exp(nu_log))`` cannot represent ``|lambda| > 1``.
    """

    r_min: float = 0.9
    r_max: float = 0.999
    max_phase: float = 2 * math.pi
    normalize: bool = True
    allow_unstable: bool = False

    cell = "lru"
    complex_state = True

    def __post_init__(self):
        super().__post_init__()
        c = "LRUConfig"
        check_bool(c, "normalize", self.normalize)
        check_bool(c, "allow_unstable", self.allow_unstable)
        check_real(c, "r_min", self.r_min, lo=0.0)
        check_real(c, "r_max", self.r_max, lo=0.0, lo_open=True)
        check_real(c, "max_phase", self.max_phase, lo=0.0)
        if self.r_min > self.r_max:
            fail(c, "r_min", self.r_min, f"a number <= r_max={self.r_max!r}")
        if self.r_max > 1:
            fail(c, "r_max", self.r_max, "a number <= 1 (lambda = exp(-exp(nu_log) + i exp(theta_log)) "
                 "cannot have |lambda| > 1)")
        if self.r_max >= 1 and not self.allow_unstable:
            fail(c, "r_max", self.r_max, "a number < 1 (|lambda| = 1 never forgets; pass "
                 "allow_unstable=True to allow r_max=1)")


@dataclass(frozen=True)
class MinGRUConfig(_DiagonalConfig):
    """minGRU (Feng et al. 2024), per layer on the normed input u_t::

        z_t = sigmoid(W_z u_t + b_z),  h~_t = W_h u_t + b_h      (N units)
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t,                  o_t = W_o h_t + b_o  (D)

    The gate depends on u_t only, so a layer is one linear scan.
    """

    cell = "mingru"


@dataclass(frozen=True)
class MinLSTMConfig(_DiagonalConfig):
    """minLSTM (Feng et al. 2024), per layer on the normed input u_t::

        f_t = sigmoid(W_f u_t + b_f),  i_t = sigmoid(W_i u_t + b_i),  h~_t = W_h u_t + b_h
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
        h_t = f'_t * h_{t-1} + i'_t * h~_t,                        o_t = W_o h_t + b_o  (D)

    The gates depend on u_t only, so a layer is one linear scan.
    """

    cell = "minlstm"


@dataclass(frozen=True)
class SelectiveSSMConfig(_DiagonalConfig):
    """Selective state space model in Mamba's form (Gu & Dao 2023), stacked with pre-norm
    residual blocks. Per layer, on the normed input ``u_t`` (D), with ``E = expand * D``::

        x_t, z_t = split(W_in u_t)                         # (E), (E); no z when gate=False
        x_t = SiLU(conv(x)_t)                              # causal depthwise, d_conv taps (conv=True)
        Delta_t = softplus(W_dt (W_x x_t)[:R] + b_dt)      # (E), R = dt_rank
        B_t, C_t = (W_x x_t)[R:R+N], (W_x x_t)[R+N:]       # (N) each
        A = -exp(A_log)                                    # (E, N), S4D-real init A = -(1..N)
        h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t x_t   # (E, N): ZOH for A, Euler for B
        y_t = C_t . h_t + D_skip * x_t                     # (E)
        o_t = W_out (y_t * SiLU(z_t))                      # (D); no SiLU(z) when gate=False

    ``Delta_t B_t x_t`` is Mamba's simplification of the exact ZOH input matrix
    ``(Delta A)^-1 (exp(Delta A) - 1) Delta B`` (an Euler step for B; exact for A). The real
    state per layer is ``S = E * N``, flattened row-major (index ``e * N + n``).
    """

    expand: int = 2                # E = expand * D channels inside a block
    dt_rank: int | None = None     # R, rank of Delta's projection (None: ceil(D / 16), Mamba's "auto")
    conv: bool = True              # short causal depthwise conv on the x-branch
    d_conv: int = 4                # its taps (the current input and d_conv - 1 before it)
    gate: bool = True              # multiply y_t by SiLU(z_t)
    dt_min: float = 1e-3           # Delta at init: log-uniform in [dt_min, dt_max] (Mamba's)
    dt_max: float = 1e-1

    norm_eps = DIAGONAL_NORM_EPS   # LayerNorm / RMSNorm epsilon (not a field)
    cell = "ssm"

    def __post_init__(self):
        super().__post_init__()
        c = "SelectiveSSMConfig"
        for name in ("conv", "gate"):
            check_bool(c, name, getattr(self, name))
        check_int(c, "expand", self.expand)
        if self.dt_rank is not None:
            check_int(c, "dt_rank", self.dt_rank)
        check_int(c, "d_conv", self.d_conv)
        check_real(c, "dt_min", self.dt_min, lo=0.0, lo_open=True)
        check_real(c, "dt_max", self.dt_max, lo=0.0, lo_open=True)
        if self.dt_max < self.dt_min:
            fail(c, "dt_max", self.dt_max, f"a number >= dt_min={self.dt_min!r}")

    @property
    def inner_size(self) -> int:
        """E = expand * d_model, the channels of the selective scan."""
        return self.expand * self.d_model

    @property
    def delta_rank(self) -> int:
        """R: ``dt_rank``, or ``ceil(d_model / 16)`` when it is None."""
        return self.dt_rank if self.dt_rank is not None else -(-self.d_model // 16)

    @property
    def state_width(self) -> int:
        """S = E * N, the real state per layer (``hidden``'s last axis)."""
        return self.inner_size * self.state_size



DIAGONAL_CONFIGS = (LRUConfig, MinGRUConfig, MinLSTMConfig, SelectiveSSMConfig)
