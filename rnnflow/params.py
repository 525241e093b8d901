"""One parameter schema for every model, in PyTorch's names and layouts.

A parameter set is a nested dict (lists for stacked layers) of NumPy arrays.
Dotted flat keys (``"layers.0.weight_hh"``) are the same as the torch modules'
parameter names, and the same pytree feeds the JAX functions.

Recurrent (G gate blocks: RNN 1, GRU 3 (r,z,n), LSTM 4 (i,f,g,o))::

    layers[l].weight_ih (G*H, I_l)   layers[l].weight_hh (G*H, H)
    layers[l].bias_ih   (G*H,)       layers[l].bias_hh   (G*H,)
    head.weight (O, H)  head.bias (O,)                     # if output_size

Transformer (D = d_model, F = d_ff)::

    embed.weight (D, I)  embed.bias (D,)   pos.weight (max_len, D)  # learned positions
    layers[l].attn.in_proj.{weight (3D, D), bias (3D,)}   # q, k, v stacked
    layers[l].attn.out_proj.{weight (D, D), bias (D,)}
    layers[l].fc1.{weight (F, D), bias (F,)}   layers[l].fc2.{weight (D, F), bias (D,)}
    layers[l].norm1.{weight, bias} (D,)  layers[l].norm2.{weight, bias} (D,)   # norm != "none"
    final_norm.{weight, bias} (D,)   head.{weight (O, D), bias (O,)}

Diagonal recurrences (D = d_model, N = state_size; norm: ``{weight, bias}`` for
"layernorm", ``{weight}`` for "rmsnorm", absent for "none")::

    embed.{weight (D, I), bias (D,)}   layers[l].norm   norm_f   head.{weight (O, D), bias (O,)}
    LRU:     layers[l].{nu_log, theta_log, gamma_log (if normalize)} (N,)
             layers[l].{B_re, B_im} (N, D)  layers[l].{C_re, C_im} (D, N)  layers[l].D (D,)
    minGRU:  layers[l].{gate, cand}.{weight (N, D), bias (N,)}  layers[l].out.{weight (D, N), bias (D,)}
    minLSTM: layers[l].{forget, input, cand}.{weight (N, D), bias (N,)}  layers[l].out (as minGRU)

MLP (W = width)::

    layers[l].linear.{weight (W, I_l), bias (W,)}
    layers[l].bn.{weight, bias, running_mean, running_var} (W,)   # batchnorm
    layers[l].prelu.weight (1,)                                   # activation == "prelu"
    head.{weight (O, W), bias (O,)}
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import initializers
from .activations import PRELU_INIT
from .config import (
    RECURRENT_CONFIGS, Init, LSTMConfig, MLPConfig, TransformerConfig,
)
from .config import SelectiveSSMConfig
from .config import DIAGONAL_CONFIGS, LRUConfig, MinLSTMConfig

Params = dict[str, Any]
BUFFER_NAMES = ("running_mean", "running_var")


def _linear(out_f, in_f):
    return {"weight": (out_f, in_f), "bias": (out_f,)}


def _norm(d):
    return {"weight": (d,), "bias": (d,)}


def param_shapes(config) -> Params:
    """The schema: the nested dict of shapes that ``config`` expects."""
    if isinstance(config, SelectiveSSMConfig):
        return _ssm_params(config)
    if isinstance(config, RECURRENT_CONFIGS):
        gh, h = config.gates * config.hidden_size, config.hidden_size
        layers = [{
            "weight_ih": (gh, config.input_size if l == 0 else h), "weight_hh": (gh, h),
            "bias_ih": (gh,), "bias_hh": (gh,),
        } for l in range(config.num_layers)]
        out = {"layers": layers}
        if config.output_size is not None:
            out["head"] = _linear(config.output_size, h)
        return out
    if isinstance(config, TransformerConfig):
        d, f = config.d_model, config.d_ff
        out = {"embed": _linear(d, config.input_size)}
        if config.positional == "learned":
            out["pos"] = {"weight": (config.max_len, d)}
        layers = []
        for _ in range(config.num_layers):
            layer = {
                "attn": {"in_proj": _linear(3 * d, d), "out_proj": _linear(d, d)},
                "fc1": _linear(f, d), "fc2": _linear(d, f),
            }
            if config.norm != "none":
                layer["norm1"], layer["norm2"] = _norm(d), _norm(d)
            layers.append(layer)
        out["layers"] = layers
        if config.final_norm:
            out["final_norm"] = _norm(d)
        if config.output_size is not None:
            out["head"] = _linear(config.output_size, d)
        return out
    if isinstance(config, MLPConfig):
        layers = []
        for l in range(config.depth):
            layer = {"linear": _linear(config.width, config.input_size if l == 0 else config.width)}
            if config.batchnorm:
                layer["bn"] = {k: (config.width,) for k in ("weight", "bias") + BUFFER_NAMES}
            if config.activation == "prelu":
                layer["prelu"] = {"weight": (1,)}
            layers.append(layer)
        return {"layers": layers, "head": _linear(config.output_size, config.width)}
    if isinstance(config, DIAGONAL_CONFIGS):
        return _diagonal_shapes(config)
    raise TypeError(f"config must be an rnnflow model config, got {type(config).__name__}")


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: expected a non-negative int or numpy Generator")
    return np.random.default_rng(int(seed))


def _init_recurrent(config, rng) -> Params:
    shapes = param_shapes(config)
    h, g = config.hidden_size, config.gates
    for layer in shapes["layers"]:
        layer["weight_ih"] = initializers.sample_blocks(config.init_ih, g, (h, layer["weight_ih"][1]), rng)
        layer["weight_hh"] = initializers.sample_blocks(config.init_hh, g, (h, h), rng)
        layer["bias_ih"] = initializers.sample(config.init_bias, (g * h,), rng)
        layer["bias_hh"] = initializers.sample(config.init_bias, (g * h,), rng)
        if isinstance(config, LSTMConfig):
            layer["bias_ih"][h:2 * h] += config.forget_bias  # forget block (i, f, g, o)
    if "head" in shapes:
        shapes["head"] = {"weight": initializers.sample(config.init_out, shapes["head"]["weight"], rng),
                          "bias": np.zeros(shapes["head"]["bias"])}
    return shapes


_ONES = ("norm1", "norm2", "final_norm")


def _init_tree(shapes, rng, init_weight: Init, init_bias: Init, path=()):
    if isinstance(shapes, list):
        return [_init_tree(s, rng, init_weight, init_bias, path + (str(i),)) for i, s in enumerate(shapes)]
    if isinstance(shapes, dict):
        return {k: _init_tree(v, rng, init_weight, init_bias, path + (k,)) for k, v in shapes.items()}
    owner, name = path[-2], path[-1]
    if owner in _ONES or owner == "bn":
        return {"weight": np.ones(shapes), "running_var": np.ones(shapes)}.get(name, np.zeros(shapes))
    if owner == "prelu":
        return np.full(shapes, PRELU_INIT)
    if owner == "pos":
        return np.random.default_rng(rng.integers(2**63)).normal(0.0, 0.02, size=shapes)
    if name == "bias":
        return initializers.sample(init_bias, shapes, rng)
    return initializers.sample(init_weight, shapes, rng)


def init_params(config, seed=0, dtype=np.float32) -> Params:
    """Seeded initial parameters for ``config`` as a nested dict of NumPy arrays.

    The same ``(config, seed)`` always gives the same arrays; load them into
    either backend with ``rnnflow.torch.build`` / ``rnnflow.jax.build``.
    """
    rng = _rng(seed)
    dtype = _check_dtype(dtype)
    if isinstance(config, SelectiveSSMConfig):
        tree = _init_ssm(config, rng)
    elif isinstance(config, RECURRENT_CONFIGS):
        tree = _init_recurrent(config, rng)
    elif isinstance(config, (TransformerConfig, MLPConfig)):
        tree = _init_tree(param_shapes(config), rng, config.init_weight, config.init_bias)
    elif isinstance(config, DIAGONAL_CONFIGS):
        tree = _init_diagonal(config, rng)
    else:
        param_shapes(config)  # raises the TypeError
    return map_arrays(lambda a: np.asarray(a, dtype=dtype), tree)


def _check_dtype(dtype):
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.float64):
        shown = repr(dtype) if dt is None else dt.name
        raise ValueError(f"init_params(dtype={shown}) is invalid: expected np.float32 or np.float64 "
                         "(or their names, 'float32' / 'float64')")
    return dt


def map_arrays(fn, tree):
    """Apply ``fn`` to every leaf of a nested dict/list, keeping the structure."""
    if isinstance(tree, dict):
        return {k: map_arrays(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [map_arrays(fn, v) for v in tree]
    return fn(tree)


def flatten(tree, prefix: str = "") -> dict[str, Any]:
    """Nested params -> ``{"layers.0.weight_ih": array, ...}`` (torch's naming)."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)) and not _is_shape(tree):
        items = enumerate(tree)
    else:
        items = None
    if items is None:
        return {prefix: tree}
    out = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def unflatten(flat: dict[str, Any], config) -> Params:
    """Inverse of :func:`flatten`, shaped by ``config``'s schema."""
    return map_with_path(lambda key, _shape: flat[key], param_shapes(config))


def map_with_path(fn, tree, prefix: str = ""):
    """Like :func:`map_arrays` but ``fn(dotted_key, leaf)``."""
    if isinstance(tree, dict):
        return {k: map_with_path(fn, v, f"{prefix}.{k}" if prefix else k) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and not _is_shape(tree):
        return [map_with_path(fn, v, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(tree)]
    return fn(prefix, tree)


def _is_shape(x) -> bool:
    """A tuple of ints is a shape (a leaf of ``param_shapes``), not a container."""
    return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


def is_buffer(key: str) -> bool:
    """True for non-trainable state (BatchNorm running statistics)."""
    return key.rsplit(".", 1)[-1] in BUFFER_NAMES


def check_params(config, params: Params) -> None:
    """Raise naming the first missing, extra, mis-typed, mis-shaped or non-finite entry.

    ``params`` is a nested dict (lists for stacked layers) of real float arrays (NumPy,
    or anything ``numpy.asarray`` reads: lists, torch tensors, jax arrays) in the schema of
    :func:`param_shapes`. Integer, bool, complex, string or object arrays are refused, and
    so are NaN and Inf.
    """
    name = type(config).__name__
    if not isinstance(params, dict):
        raise TypeError(f"params must be a nested dict of float arrays in {name}'s schema (as "
                        f"rnnflow.init_params(config) returns), got {type(params).__name__}")
    expected = _flat_shapes(param_shapes(config))
    got = flatten(params)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        raise ValueError(f"params is missing {missing[0]!r} (shape {expected[missing[0]]}) "
                         f"expected by {name}")
    if extra:
        raise ValueError(f"params has unexpected entry {extra[0]!r} for {name}")
    for k, shape in expected.items():
        a = leaf_array(k, got[k])
        if a.shape != tuple(shape):
            raise ValueError(f"params[{k!r}] has shape {a.shape}, expected {tuple(shape)}")
        if not np.isfinite(a).all():
            bad = ~np.isfinite(a)
            what = "NaN" if np.isnan(a).any() else "Inf"
            raise ValueError(f"params[{k!r}] contains {what} ({int(bad.sum())} of {a.size} entries, first at "
                             f"index {tuple(int(i) for i in np.argwhere(bad)[0])}): expected finite values")


def leaf_array(key: str, value) -> np.ndarray:
    """``params[key]`` as a NumPy array, refused unless it is a real float array."""
    try:
        a = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)  # torch: no grad
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"params[{key!r}] is a {type(value).__name__} that is not an array ({e}): "
                        "expected a float32 or float64 array") from None
    if a.dtype.kind == "c":
        raise TypeError(f"params[{key!r}] is complex ({a.dtype}): expected real float32 or float64 "
                        "(pass its .real explicitly if that is what is meant)")
    if a.dtype.kind != "f":
        raise TypeError(f"params[{key!r}] has dtype {a.dtype} ({type(value).__name__}): expected a "
                        "float32 or float64 array")
    return a


def common_dtype(params: Params) -> np.dtype:
    """The one float dtype of every array in ``params``; mixed dtypes are refused, naming two
    keys that differ (``build(..., dtype=...)`` casts every array to one dtype instead)."""
    dtypes = {k: np.asarray(leaf_array(k, v)).dtype for k, v in flatten(params).items()}
    first = next(iter(dtypes))
    for k, dt in dtypes.items():
        if dt != dtypes[first]:
            raise ValueError(f"params mixes float dtypes: {first!r} is {dtypes[first]} but {k!r} is {dt}: "
                             "cast every array to one dtype, or pass dtype=np.float32 / np.float64 "
                             "to build, which casts every array to that dtype")
    return dtypes[first]


def _flat_shapes(shapes) -> dict[str, tuple]:
    out = {}
    map_with_path(lambda k, s: out.__setitem__(k, tuple(s)), shapes)
    return out


# ---------------------------------------------------------------- selective SSM (Mamba)
def _ssm_norm(config, d):
    return {"layernorm": _norm(d), "rmsnorm": {"weight": (d,)}, "none": None}[config.norm]


def _ssm_params(config) -> Params:
    """The selective SSM's schema (D = d_model, E = expand * D, N = state_size, R = dt_rank,
    K = d_conv)::

        embed.weight (D, I)  embed.bias (D,)
        layers[l].norm.weight (D,)  layers[l].norm.bias (D,)   # bias: layernorm only; none: absent
        layers[l].in_proj.weight (2E, D)     # rows [:E] x-branch, [E:] gate z; (E, D) if not gate
        layers[l].conv.weight (E, K)  layers[l].conv.bias (E,)  # if conv; torch Conv1d's (E, 1, K)
        layers[l].x_proj.weight (R + 2N, E)  # rows: Delta's R inputs, then B (N), then C (N)
        layers[l].dt_proj.weight (E, R)  layers[l].dt_proj.bias (E,)
        layers[l].A_log (E, N)   layers[l].D (E,)   layers[l].out_proj.weight (D, E)
        norm_f.weight (D,)  norm_f.bias (D,)          # as layers[l].norm
        head.weight (O, D)  head.bias (O,)            # if output_size

    Mamba's projections have no biases (in_proj, x_proj, out_proj); dt_proj and conv do.
    """
    d, e, n, r = config.d_model, config.inner_size, config.state_size, config.delta_rank
    layers = []
    for _ in range(config.num_layers):
        layer = {}
        norm = _ssm_norm(config, d)
        if norm is not None:
            layer["norm"] = norm
        layer["in_proj"] = {"weight": ((2 if config.gate else 1) * e, d)}
        if config.conv:
            layer["conv"] = {"weight": (e, config.d_conv), "bias": (e,)}
        layer["x_proj"] = {"weight": (r + 2 * n, e)}
        layer["dt_proj"] = _linear(e, r)
        layer["A_log"] = (e, n)
        layer["D"] = (e,)
        layer["out_proj"] = {"weight": (d, e)}
        layers.append(layer)
    out = {"embed": _linear(d, config.input_size), "layers": layers}
    norm = _ssm_norm(config, d)
    if norm is not None:
        out["norm_f"] = norm
    if config.output_size is not None:
        out["head"] = _linear(config.output_size, d)
    return out


def _init_ssm(config, rng) -> Params:
    """Mamba's init: linear and conv weights U(+-1/sqrt(fan_in)) (torch's default), norms
    ones and zeros, ``A_log = log(1..N)`` per channel (S4D-real, ``A = -(1..N)``), ``D = 1``,
    ``dt_proj.weight ~ U(+-R^-1/2)`` and ``dt_proj.bias = softplus^-1(dt)`` with dt
    log-uniform in ``[dt_min, dt_max]``, so ``Delta`` starts in that range. Heads' biases 0."""
    shapes = _ssm_params(config)
    e, n, r = config.inner_size, config.state_size, config.delta_rank

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape)

    def norm(s):
        return None if s is None else {k: (np.ones if k == "weight" else np.zeros)(v) for k, v in s.items()}

    out = {"embed": {"weight": uniform(shapes["embed"]["weight"], config.input_size),
                     "bias": uniform(shapes["embed"]["bias"], config.input_size)}}
    layers = []
    for s in shapes["layers"]:
        layer = {}
        if "norm" in s:
            layer["norm"] = norm(s["norm"])
        layer["in_proj"] = {"weight": uniform(s["in_proj"]["weight"], config.d_model)}
        if config.conv:
            layer["conv"] = {"weight": uniform((e, config.d_conv), config.d_conv),
                             "bias": uniform((e,), config.d_conv)}
        layer["x_proj"] = {"weight": uniform(s["x_proj"]["weight"], e)}
        dt = np.exp(rng.uniform(np.log(config.dt_min), np.log(config.dt_max), size=e))
        layer["dt_proj"] = {"weight": uniform((e, r), r),  # U(+-R^-1/2): Mamba's dt_init="random"
                            "bias": dt + np.log(-np.expm1(-dt))}  # softplus(bias) == dt
        layer["A_log"] = np.log(np.tile(np.arange(1, n + 1, dtype=np.float64), (e, 1)))
        layer["D"] = np.ones(e)
        layer["out_proj"] = {"weight": uniform(s["out_proj"]["weight"], e)}
        layers.append(layer)
    out["layers"] = layers
    if "norm_f" in shapes:
        out["norm_f"] = norm(shapes["norm_f"])
    if "head" in shapes:
        out["head"] = {"weight": uniform(shapes["head"]["weight"], config.d_model),
                       "bias": np.zeros(shapes["head"]["bias"])}
    return out
# ---------------------------------------------------------------- diagonal recurrences
def _norm_shapes(config):
    d = config.d_model
    return {"layernorm": _norm(d), "rmsnorm": {"weight": (d,)}}.get(config.norm)


def _diagonal_layer_shapes(config) -> dict:
    d, n = config.d_model, config.state_size
    if isinstance(config, LRUConfig):
        layer = {"nu_log": (n,), "theta_log": (n,)}
        if config.normalize:
            layer["gamma_log"] = (n,)
        layer.update({"B_re": (n, d), "B_im": (n, d), "C_re": (d, n), "C_im": (d, n), "D": (d,)})
        return layer
    gates = ("forget", "input", "cand") if isinstance(config, MinLSTMConfig) else ("gate", "cand")
    layer = {g: _linear(n, d) for g in gates}
    layer["out"] = _linear(d, n)
    return layer


def _diagonal_shapes(config) -> Params:
    norm = _norm_shapes(config)
    layers = []
    for _ in range(config.num_layers):
        layer = {} if norm is None else {"norm": dict(norm)}
        layer.update(_diagonal_layer_shapes(config))
        layers.append(layer)
    out = {"embed": _linear(config.d_model, config.input_size), "layers": layers}
    if norm is not None:
        out["norm_f"] = dict(norm)
    if config.output_size is not None:
        out["head"] = _linear(config.output_size, config.d_model)
    return out


def lru_ring(config, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(nu_log, theta_log, gamma_log)`` (N,) for an LRU layer, as the paper's code draws them:
    ``|lambda|^2 ~ U[r_min^2, r_max^2]``, ``nu_log = log(-log|lambda|)``, phase
    ``~ U[0, max_phase]``, ``theta_log = log(phase)``, ``gamma_log = log sqrt(1 - |lambda|^2)``.
    |lambda|^2 is kept inside ``[1e-300, 1 - 1e-15]`` so every entry is finite."""
    n = config.state_size
    r2 = rng.uniform(config.r_min ** 2, config.r_max ** 2, size=n)
    r2 = np.clip(r2, 1e-300, 1.0 - 1e-15)
    nu_log = np.log(-0.5 * np.log(r2))
    phase = np.maximum(rng.uniform(0.0, config.max_phase, size=n), 1e-300)
    return nu_log, np.log(phase), 0.5 * np.log1p(-r2)


def _init_diagonal(config, rng) -> Params:
    xavier = Init("xavier_uniform")
    tree = _diagonal_shapes(config)

    def linear(shapes):
        return {"weight": initializers.sample(xavier, shapes["weight"], rng), "bias": np.zeros(shapes["bias"])}

    def norm(shapes):
        return {k: (np.ones if k == "weight" else np.zeros)(v) for k, v in shapes.items()}

    d, n = config.d_model, config.state_size
    tree["embed"] = linear(tree["embed"])
    for i, layer in enumerate(tree["layers"]):
        out = {"norm": norm(layer["norm"])} if "norm" in layer else {}
        if isinstance(config, LRUConfig):  # the paper's code: B ~ N(0, 1/(2D)), C ~ N(0, 1/N), D ~ N(0, 1)
            nu_log, theta_log, gamma_log = lru_ring(config, rng)
            out.update(nu_log=nu_log, theta_log=theta_log)
            if config.normalize:
                out["gamma_log"] = gamma_log
            out.update(B_re=rng.normal(0, (2 * d) ** -0.5, (n, d)), B_im=rng.normal(0, (2 * d) ** -0.5, (n, d)),
                       C_re=rng.normal(0, n ** -0.5, (d, n)), C_im=rng.normal(0, n ** -0.5, (d, n)),
                       D=rng.normal(0, 1.0, (d,)))
        else:
            out.update({k: linear(v) for k, v in layer.items() if k != "norm"})
        tree["layers"][i] = out
    if "norm_f" in tree:
        tree["norm_f"] = norm(tree["norm_f"])
    if "head" in tree:
        tree["head"] = linear(tree["head"])
    return tree
