"""From measurements to a verdict, the responsible factor and a cure (framework-free).

The verdict of an axis is its crossing (:mod:`.profiles`). The factor is chosen by rules that
compare measured numbers, each stated next to its rule:

time, vanishing
  * Elman: the larger per-step loss of ``log10 rho(W_hh)`` (the repeated weight) and ``log10``
    of the RMS ``phi'`` (the activation derivative's gain): ``J = D_T W ... D_{t+1} W``;
  * LSTM / GRU: gate saturation if more than :data:`SATURATED` of the gate units have
    ``sigma' < dphi``, else the forget gate (LSTM) / update gate (GRU), the carry path
    ``dc_t/dc_{t-1} = diag(f_t)`` whose closing makes a gated cell forget;
time, exploding: the recurrent weight (Pascanu's necessary condition ``gamma sigma_max > 1``);
depth, vanishing: MLP saturation above :data:`SATURATED`; a Transformer's LayerNorm placement
  (post-LN) or missing residual path; else the layer gain (each layer's factor ``10^rate``);
depth, exploding: a Transformer without LayerNorm; else the layer gain;
depth, healthy, post-LN Transformer: "at risk" (Xiong et al. 2020; study transformer_depth: the
  residual-stream gradient stays within a decade, but the last layers' weight gradients do not
  shrink with depth, hence post-LN's need for a learning-rate warm-up); a Transformer without
  LayerNorm is "at risk" too (its gradients grow with depth: many decades at 48 layers).
"""
from __future__ import annotations

import numpy as np

from .result import Factor

VANISH = 1e-6       #: a gradient below this fraction of its start has vanished
EXPLODE = 1e6       #: a gradient above this multiple of its start has exploded
DPHI = 0.01         #: a unit with phi' below this is saturated
SATURATED = 0.5     #: more than this fraction of saturated units makes saturation the factor

CURES = {  # (factor, direction): (what to try, the study that shows it)
    ("recurrent weight", "vanishing"): (
        "bring rho(W_hh) up toward 1 (orthogonal init, Init('orthogonal')) or use a gated cell "
        "(LSTM with forget bias 1, GRU)", "jacobian_decay"),
    ("recurrent weight", "exploding"): (
        "clip gradients by norm (TrainConfig(clip_norm=1.0)) and bring sigma_max(W_hh) below 1/gamma "
        "(Init(..., spectral_radius<=1))", "clipping"),
    ("saturation", "time"): (
        "keep the pre-activations in phi's linear range: smaller inputs or W_ih, a smaller W_hh, "
        "or a gated cell", "tanh_vs_weights"),
    ("saturation", "depth"): (
        "use ReLU with He init, a fan-scaled init (Xavier) or BatchNorm after each linear layer", "init_stall"),
    ("forget gate", "vanishing"): ("set the forget-gate bias to 1 (LSTMConfig(forget_bias=1.0))", "jacobian_decay"),
    ("update gate", "vanishing"): (
        "bias the update gate toward carrying h (larger z bias) or shorten the sequence", "long_range"),
    ("layer gain", "vanishing"): (
        "re-scale the init to keep each layer's gain near 1 (He for ReLU, Xavier for tanh/sigmoid), "
        "or add residual connections / normalisation", "activations"),
    ("layer gain", "exploding"): (
        "re-scale the init to gain 1 (He for ReLU, Xavier for tanh/sigmoid), add BatchNorm, "
        "and clip gradients by norm", "init_stall"),
    ("LayerNorm placement", "post"): (
        "use pre-LN (TransformerConfig(norm='pre')), or keep post-LN with a learning-rate warm-up",
        "transformer_depth"),
    ("LayerNorm placement", "none"): ("add LayerNorm, pre-LN (TransformerConfig(norm='pre'))", "transformer_depth"),
    ("residual path", "vanishing"): ("add the residual connections (TransformerConfig(residual=True))",
                                     "transformer_depth"),
    ("non-finite values", None): (
        "find the first bad step/layer (inputs, init scale); compute in float64, lower the init "
        "scale or the learning rate, and clip gradients by norm", "clipping"),
}


def _f(v, digits=3):
    return "n/a" if v is None else f"{v:.{digits}g}"


def recurrent_factors(cell: str, m: dict, direction: str, threshold: float) -> tuple[tuple, str | None]:
    """``(factors, responsible name)`` over time for an Elman / LSTM / GRU measurement ``m``."""
    sat = Factor("saturation", m.get("saturation"),
                 f"{_f(100 * m['saturation'], 3)} % of {'gate ' if cell != 'rnn' else ''}units have "
                 f"phi' < {threshold:g}" + (f" (the phi' factor: {_f(m['log10_rms_dphi'])} decades per step, RMS)"
                                              if "log10_rms_dphi" in m else ""))
    g = m.get("gamma")
    weight = Factor("recurrent weight", m.get("gamma_sigma_max") if g else m.get("sigma_max"),
                    f"rho(W_hh) = {_f(m['spectral_radius'])}, sigma_max = {_f(m['sigma_max'])}"
                    + (f" vs 1/gamma = {_f(1 / g)} (gamma sigma_max = {_f(m['gamma_sigma_max'])}; "
                       f"{'< 1: vanishing is certain' if m['gamma_sigma_max'] < 1 else '> 1: exploding is possible'})"
                       if g else " (of the forget/update block)"))
    factors = [sat, weight]
    if cell in ("lstm", "gru"):
        gate = "forget" if cell == "lstm" else "update"
        factors.append(Factor(f"{gate} gate", m[f"{gate}_gate_mean"],
                              f"mean {gate} gate {_f(m[f'{gate}_gate_mean'])} (bias {_f(m[f'{gate}_bias'])}): "
                              f"the carry alone changes the gradient by {_f(m[f'mean_log10_{gate}_gate'])} decades per step"))
    if direction == "healthy":
        return tuple(factors), None
    if direction == "exploding":
        name = "recurrent weight"
    elif cell == "rnn":
        name = "saturation" if m["log10_rms_dphi"] < m["log10_spectral_radius"] else "recurrent weight"
    else:
        name = "saturation" if m["saturation"] > SATURATED else factors[2].name
    return mark(factors, name), name


def stack_factors(kind: str, m: dict, direction: str, threshold: float, rate: float) -> tuple[tuple, str | None]:
    """``(factors, responsible name)`` over depth for an MLP / Transformer / list of layers."""
    factors = [Factor("layer gain", rate, "the gradient is exactly 0 below the top layer(s)" if rate == -np.inf else
                      f"each layer multiplies the gradient by ~{10 ** rate:.3g} ({rate:+.3g} decades per layer)")]
    if m.get("saturation") is not None:
        factors.append(Factor("saturation", m["saturation"], f"{_f(100 * m['saturation'], 3)} % of the hidden "
                                                             f"units have phi' < {threshold:g}"))
    norm, residual = m.get("norm"), m.get("residual")
    if norm is not None:
        what = {"post": "post-LN: x = LN(x + F(x)); the last layers' weight gradients do not shrink with "
                        "depth at init (Xiong et al. 2020): needs a learning-rate warm-up",
                "pre": "pre-LN: x = x + F(LN(x)), a clean identity path",
                "none": "no LayerNorm: the residual stream and the gradients grow with depth"}[norm]
        factors.append(Factor("LayerNorm placement", norm, what))
    if residual is not None:
        factors.append(Factor("residual path", "yes" if residual else "no",
                              "identity skips around every sublayer" if residual else
                              "no residual connections: the gradient passes through every sublayer"))
    name = None
    if direction == "vanishing":
        if m.get("saturation") is not None and m["saturation"] > SATURATED:
            name = "saturation"
        elif norm == "post":
            name = "LayerNorm placement"
        elif residual is False:
            name = "residual path"
        else:
            name = "layer gain"
    elif direction == "exploding":
        name = "LayerNorm placement" if norm == "none" else "layer gain"
    elif norm in ("post", "none"):
        name = "LayerNorm placement"
    return (mark(factors, name) if name else tuple(factors)), name


def mark(factors, name: str) -> tuple:
    return tuple(Factor(f.name, f.value, f.detail, f.name == name) for f in factors)


def cure(factor: str | None, axis: str | None, direction: str | None, measures: dict) -> tuple[str, str | None]:
    """``(cure, study)`` for the responsible factor."""
    if factor is None:
        return "", None
    if factor == "non-finite values":
        return CURES[factor, None]
    if factor == "saturation":
        return CURES[factor, axis]
    if factor == "LayerNorm placement":
        return CURES[factor, measures.get("norm")]
    return CURES.get((factor, direction), ("", None))


def combine(directions: list[str]) -> str:
    """The overall verdict from the axes' verdicts."""
    bad = {d for d in directions if d != "healthy"}
    if not bad:
        return "healthy"
    if bad == {"vanishing", "exploding"}:
        return "vanishing and exploding"
    return bad.pop()
