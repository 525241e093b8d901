"""unit_circle: how far the gradient reaches in modern recurrences near ``|lambda| = 1``, against classic RNNs.

Models, one layer each, parameter counts matched to ``Settings.params`` (the closest size; every
count is in the summary and the legend), two inputs and one output (the adding problem's):

* ``tanh RNN``  Elman, orthogonal ``W_hh``;  ``LSTM`` forget-gate bias 1;  ``GRU``;
* ``LRU r_min=r`` for r in :data:`LRU_RINGS` (Orvieto et al. 2023: ``|lambda|^2`` uniform on
  ``[r_min^2, r_max^2]``, ``r_max = max(0.999, (1 + r_min) / 2)``, normalised input ``gamma``);
* ``minGRU`` (Feng et al. 2024) and a ``selective SSM`` (Mamba's layer, Gu & Dao 2023).

What it measures:

1. **Reach** at init: ``log ||dh_T/dh_t||_2`` of the state (the LSTM's ``(h, c)``; the LRU's
   real ``[re, im]`` state) for every gap ``T - t`` up to ``Settings.reach_T``, on adding-problem
   inputs, exactly in float64 log space (dense products for the classic nets, the diagonal fast
   path, a cumulative sum of ``log|a_t|``, for the rest). Headline: the gap at which the median
   norm falls below 1e-6 of its start (None: it never does within ``reach_T``), and the norm
   at the longest gap.
2. **Trainability**: the solved rate on the adding problem (the ``long_range`` study's protocol
   and criterion: rate >= 0.9 of held-out sequences with squared error < 0.04) at each of
   ``Settings.lengths``, Adam (lr :data:`LR`, not tuned), batch 32, norm clipping at 1. Headline:
   the longest ``T`` solved per model.
3. **What training does to the eigenvalues**: the ``LRU r_min=0.9`` layer's ``lambda`` in the
   complex plane and its timescales ``-1/log|lambda|`` at init and after training at the longest
   length, against that length (the task horizon).
4. **Selectivity**: the trained selective SSM's per-token decay ``-log|lambda_t|`` (token x channel)
   over one adding sequence, the two marked tokens labelled.
5. **The copy task** (Arjovsky et al. 2016; :mod:`rnnflow.tasks.copy`, :data:`COPY_SYMBOLS` data
   symbols, :data:`COPY_N` copied) at each delay of ``Settings.copy_delays`` (none: not run),
   the same models re-sized to the task's one-hot input and logits (parameter counts matched
   again), per-step cross-entropy, Adam, ``Settings.copy_steps`` steps. Solved: at least
   :data:`COPY_SOLVED` of the recalled symbols of held-out sequences right (guessing gets
   ``1 / COPY_SYMBOLS``). Headline: the longest delay solved per model.

At ``docs`` scale the training budget is far below the papers', so the solved rates show the
ordering at these lengths, not the architectures' limits.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .._backend import load
from ..analysis import jacobians_over_time
from ..analysis.timescales import crossing_gap, lru_eigenvalues, timescales
from ..config import GRUConfig, Init, LRUConfig, LSTMConfig, MinGRUConfig, RNNConfig, SelectiveSSMConfig
from ..models import build
from ..params import flatten, init_params
from ..plotting import plot_success_vs_length
from ..plotting.ssm import plot_decay_heatmap
from ..plotting.unit_circle import plot_eigenvalues, plot_state_reach, plot_timescales
from ..tasks import adding_solved, copy_batch
from ..training import TrainConfig, copy_data
from ..validation import check_int
from ._common import check_tuple
from ._training import fit, one_thread, predict
from .copy_spectra import copy_accuracy
from .long_range import BATCH, CHANCE_RATE, CLIP_NORM, SOLVED_RATE, fixed_length_adding, longest_solved

NAME = "unit_circle"
QUESTION = ("How far does the gradient reach in an LRU, a minGRU and a selective SSM against a tanh RNN, "
            "an LSTM and a GRU of the same size, and which of them learn the adding problem at long T?")

LRU_RINGS = (0.0, 0.9, 0.99, 0.999)
LR = {"tanh RNN": 3e-3, "LSTM": 3e-3, "GRU": 1e-2, "minGRU": 3e-3, "selective SSM": 3e-3,
      **{f"LRU r_min={r:g}": 3e-3 for r in LRU_RINGS}}
EIGEN_MODEL = "LRU r_min=0.9"
REACH_EXAMPLES = 2
COPY_SYMBOLS = 8      # data symbols of the copy task (the paper's); K = 10 categories with blank and marker
COPY_N = 5            # symbols to recall (the paper copies 10; 5 keeps the sequences, T + 10 steps, short)
COPY_SOLVED = 0.9     # solved: this fraction of the recalled symbols right (chance: 1 / COPY_SYMBOLS)


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``); the study's fixed choices are the module's constants."""

    params: int                 # the parameter count every model is matched to
    d_model: int                # D of the diagonal models' residual stream
    reach_T: int                # the longest gap of the reach measurement
    lengths: tuple[int, ...]    # adding-problem lengths T trained on, increasing
    steps: int                  # Adam steps per training run
    n_eval: int                 # held-out sequences per length for the solved rate
    copy_delays: tuple[int, ...] = ()   # copy-task delays T trained on, increasing (empty: not run)
    copy_steps: int = 1                 # Adam steps per copy-task run

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        object.__setattr__(self, "lengths", check_tuple(owner, "lengths", self.lengths, partial(check_int, lo=2),
                                                        increasing=True))
        check_int(owner, "params", self.params, 50)
        check_int(owner, "d_model", self.d_model, 2)
        check_int(owner, "reach_T", self.reach_T, 2)
        for name in ("steps", "n_eval", "copy_steps"):
            check_int(owner, name, getattr(self, name))
        if self.copy_delays:
            object.__setattr__(self, "copy_delays", check_tuple(owner, "copy_delays", self.copy_delays,
                                                                 partial(check_int, lo=1), increasing=True))
        else:
            object.__setattr__(self, "copy_delays", ())


SCALES = {
    "smoke": Settings(params=400, d_model=4, reach_T=300, lengths=(10, 20), steps=30, n_eval=200,
                      copy_delays=(5,), copy_steps=10),
    "docs": Settings(params=3000, d_model=8, reach_T=10_000, lengths=(50, 100), steps=500, n_eval=1000,
                     copy_delays=(20, 50), copy_steps=500),
    "full": Settings(params=20_000, d_model=16, reach_T=10_000, lengths=(50, 200, 1000), steps=5000, n_eval=1000,
                     copy_delays=(50, 200, 1000), copy_steps=5000),
}


def count_params(config) -> int:
    """The number of trained scalars in ``config``'s parameter schema."""
    return int(sum(np.size(v) for v in flatten(init_params(config, 0)).values()))


def matched(make, target: int, sizes=range(1, 513)):
    """``make(size)`` for the size whose parameter count is closest to ``target`` (the smallest
    such size on ties; the counts grow with the size, so the search stops once past it)."""
    best, best_err = None, None
    for n in sizes:
        cfg = make(n)
        err = abs(count_params(cfg) - target)
        if best_err is None or err < best_err:
            best, best_err = cfg, err
        elif count_params(cfg) > target:
            break
    return best


def architectures(s: Settings, inputs: int = 2, outputs: int = 1) -> dict:
    """``{label: model config}``, every count matched to ``s.params``; ``inputs``/``outputs``:
    the task's (the adding problem's 2 and 1 by default; the copy task's one-hot K and K logits)."""
    D, I, O = s.d_model, inputs, outputs
    makers = {
        "tanh RNN": lambda n: RNNConfig(I, n, activation="tanh", output_size=O, init_hh=Init("orthogonal")),
        "LSTM": lambda n: LSTMConfig(I, n, output_size=O, forget_bias=1.0),
        "GRU": lambda n: GRUConfig(I, n, output_size=O),
        **{f"LRU r_min={r:g}": (lambda n, r=r: LRUConfig(I, D, n, output_size=O, r_min=r,
                                                         r_max=max(0.999, (1 + r) / 2)))
           for r in LRU_RINGS},
        "minGRU": lambda n: MinGRUConfig(I, D, n, output_size=O),
        "selective SSM": lambda n: SelectiveSSMConfig(I, n, 4, output_size=O),   # size: d_model, N = 4
    }
    return {label: matched(make, s.params) for label, make in makers.items()}


def size_label(config) -> str:
    if isinstance(config, SelectiveSSMConfig):
        return f"D={config.d_model}, E={config.inner_size}, N={config.state_size}"
    if isinstance(config, (LRUConfig, MinGRUConfig)):
        return f"D={config.d_model}, N={config.state_size}"
    return f"H={config.hidden_size}"


def reach(ctx, config, T: int):
    """``(gap, log_spectral (B, T))`` of the model at init on ``REACH_EXAMPLES`` adding inputs."""
    params = init_params(config, seed=ctx.seed, dtype=np.float64)
    x, _ = fixed_length_adding(T, REACH_EXAMPLES, dtype=np.float64)(0, np.random.default_rng([ctx.seed, 7, T]))
    with one_thread(ctx.backend):
        r = jacobians_over_time(build(config, params, backend=ctx.backend, device=ctx.device), x)
    return np.asarray(r.gap), np.asarray(r.log_spectral)


def run(ctx) -> dict:
    s = ctx.settings
    archs = architectures(s)
    counts = {a: count_params(c) for a, c in archs.items()}
    labels = {a: f"{a} ({size_label(c)}, {counts[a]} params)" for a, c in archs.items()}

    # 1. reach at init
    curves, results = {}, {a: {"params": counts[a], "size": size_label(c)} for a, c in archs.items()}
    for a in ctx.tqdm(list(archs), desc=f"{NAME} reach"):
        gap, ln = reach(ctx, archs[a], s.reach_T)
        med = np.nanmedian(ln, axis=0)
        curves[labels[a]] = (gap, ln)
        results[a]["gap_below_1e-6"] = crossing_gap(gap, med)
        results[a]["log10_norm_at_longest_gap"] = float(med[np.argmax(gap)] / np.log(10))
        ctx.save_arrays(**{f"{a}/reach/gap": gap, f"{a}/reach/log_spectral": ln})
    fig = plot_state_reach(curves, title=f"State-gradient reach at init, T = {s.reach_T}, "
                                         f"~{s.params} parameters each ({ctx.backend})")
    ctx.save_figure(fig, "reach")

    # 2. trainability on the adding problem
    rates = {a: {} for a in archs}
    trained = {}
    jobs = [(T, a) for T in s.lengths for a in archs]
    for T, a in ctx.tqdm(jobs, desc=f"{NAME} train"):
        config = archs[a]
        tc = TrainConfig(optimizer="adam", lr=LR[a], batch_size=BATCH, steps=s.steps, loss="mse_last",
                         clip="norm", clip_value=CLIP_NORM, seed=ctx.seed)
        p0 = init_params(config, seed=ctx.seed, dtype=np.float32)
        r = fit(ctx, config, p0, fixed_length_adding(T, BATCH), tc)
        x_eval, y_eval = fixed_length_adding(T, s.n_eval)(0, np.random.default_rng([ctx.seed, 10**6, T]))
        with np.errstate(all="ignore"):
            rate = float(np.mean(adding_solved(predict(ctx.backend, config, r.params, x_eval)[-1], y_eval)))
        rates[a][T] = rate
        results[a][f"T={T}"] = {"solved_rate": rate, "status": r.status,
                                "final_loss": float(np.mean(r.metrics.loss[-max(1, s.steps // 10):]))}
        ctx.save_arrays(**{f"{a}/T{T}/loss": r.metrics.loss})
        if T == s.lengths[-1]:
            trained[a] = (p0, r.params)
    for a in archs:
        results[a]["longest_T_solved"] = longest_solved(rates[a])
    where = f"{s.steps} Adam steps, batch {BATCH}, ~{s.params} parameters each ({ctx.backend})"
    fig = plot_success_vs_length({labels[a]: rates[a] for a in archs}, threshold=SOLVED_RATE, chance=CHANCE_RATE,
                                 chance_label="predict 0.5")
    fig.axes[0].set_title(f"Adding problem: solved rate against length\n{where}", fontsize="medium")
    fig.axes[0].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.set_size_inches(10.5, 4.6)
    ctx.save_figure(fig, "solved_vs_length")

    # 3. LRU eigenvalues and timescales, init vs trained at the longest length
    T = s.lengths[-1]
    p0, p1 = trained[EIGEN_MODEL]
    lam0, lam1 = lru_eigenvalues(p0), lru_eigenvalues(p1)
    ctx.save_figure(plot_eigenvalues(lam0, lam1, horizon=T, title=f"{EIGEN_MODEL}: eigenvalues at init and after "
                                                       f"training on the adding problem, T = {T} ({ctx.backend})"),
                    "eigenvalues")
    tau0, tau1 = timescales(np.log(np.abs(lam0[0]))), timescales(np.log(np.abs(lam1[0])))
    ctx.save_figure(plot_timescales(tau0, tau1, horizon=T, title=f"{EIGEN_MODEL}: timescales against the "
                                                                 f"horizon ({ctx.backend})"), "timescales")
    ctx.save_arrays(**{"eigen/init": lam0[0], "eigen/trained": lam1[0]})
    results["eigenvalues"] = {"model": EIGEN_MODEL, "T": T,
                              "max_abs_lambda_init": float(np.abs(lam0[0]).max()),
                              "max_abs_lambda_trained": float(np.abs(lam1[0]).max()),
                              "median_timescale_init": float(np.median(tau0)),
                              "median_timescale_trained": float(np.median(tau1)),
                              "units_with_timescale_above_T_init": int((tau0 > T).sum()),
                              "units_with_timescale_above_T_trained": int((tau1 > T).sum())}

    # 4. the trained selective SSM's per-token decay over one sequence
    cfg = archs["selective SSM"]
    x, _ = fixed_length_adding(T, 1)(0, np.random.default_rng([ctx.seed, 11, T]))
    model = build(cfg, trained["selective SSM"][1], backend=ctx.backend, device=ctx.device)
    arrays = load(ctx.backend).arrays
    with one_thread(ctx.backend):
        ld = arrays.numpy(model.log_decay(arrays.asarray(x.astype(np.float32)), 0)).astype(np.float64)
    marks = np.flatnonzero(x[:, 0, 1])
    fig = plot_decay_heatmap(np.minimum(ld, 0.0), state_size=cfg.state_size,
                             title=f"Trained selective SSM: per-token decay over an adding sequence, "
                                   f"T = {T} ({ctx.backend})")
    ax = fig.axes[0]
    ax.set_xticks(marks, [f"marked\nt={t}" for t in marks], fontsize="small")
    for t in marks:
        ax.axvline(t, color="cyan", lw=0.8, ls=":")
    ax.set_xlabel("token (the two marked tokens of the adding problem labelled)")
    results["ssm_decay"] = {"T": T, "marked_tokens": [int(t) for t in marks],
                            "mean_rate_at_marks": float(-ld[marks].mean()),
                            "mean_rate_elsewhere": float(-np.delete(ld, marks, axis=0).mean())}
    ctx.save_figure(fig, "ssm_decay")
    results["criterion"] = {"solved_rate_at_least": SOLVED_RATE, "constant_prediction_rate": CHANCE_RATE,
                            "reach_threshold": 1e-6, "steps": s.steps, "batch": BATCH}
    if s.copy_delays:
        results["copy"] = copy_task(ctx)
    return results


def copy_task(ctx) -> dict:
    """Part 5: the copy task at every ``Settings.copy_delays``; ``{model: {"params", "T=<d>":
    {"accuracy", "status", "final_loss"}, "longest_T_solved"}, "criterion": ...}``."""
    s, K = ctx.settings, COPY_SYMBOLS + 2
    archs = architectures(s, K, K)
    counts = {a: count_params(c) for a, c in archs.items()}
    acc, out = {a: {} for a in archs}, {a: {"params": counts[a], "size": size_label(c)} for a, c in archs.items()}
    jobs = [(T, a) for T in s.copy_delays for a in archs]
    for T, a in ctx.tqdm(jobs, desc=f"{NAME} copy"):
        config = archs[a]
        tc = TrainConfig(optimizer="adam", lr=LR[a], batch_size=BATCH, steps=s.copy_steps, loss="xent_all",
                         clip="norm", clip_value=CLIP_NORM, seed=ctx.seed)
        r = fit(ctx, config, init_params(config, seed=ctx.seed, dtype=np.float32),
                copy_data(T, BATCH, n_symbols=COPY_SYMBOLS, n_copy=COPY_N), tc)
        x_eval, y_eval = copy_batch(np.random.default_rng([ctx.seed, 10**6 + 1, T]), s.n_eval, T,
                                    n_symbols=COPY_SYMBOLS, n_copy=COPY_N)
        with np.errstate(all="ignore"):
            acc[a][T] = copy_accuracy(predict(ctx.backend, config, r.params, x_eval), y_eval, COPY_N)
        out[a][f"T={T}"] = {"accuracy": acc[a][T], "status": r.status,
                            "final_loss": float(np.mean(r.metrics.loss[-max(1, s.copy_steps // 10):]))}
        ctx.save_arrays(**{f"copy/{a}/T{T}/loss": r.metrics.loss})
    for a in archs:
        ok = [T for T, v in acc[a].items() if v >= COPY_SOLVED]
        out[a]["longest_T_solved"] = max(ok) if ok else None
    labels = {a: f"{a} ({size_label(c)}, {counts[a]} params)" for a, c in archs.items()}
    fig = plot_success_vs_length({labels[a]: acc[a] for a in archs}, threshold=COPY_SOLVED, chance=1 / COPY_SYMBOLS,
                                 chance_label="guessing a symbol")
    ax = fig.axes[0]
    ax.set_title(f"Copy task ({COPY_N} symbols of {COPY_SYMBOLS}): recall accuracy against the delay\n"
                 f"{s.copy_steps} Adam steps, batch {BATCH}, ~{s.params} parameters each ({ctx.backend})",
                 fontsize="medium")
    ax.set_xlabel("delay $T$ (steps between the last symbol and the marker)")
    ax.set_ylabel("recalled symbols right (fraction)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.set_size_inches(10.5, 4.6)
    ctx.save_figure(fig, "copy_vs_delay")
    out["criterion"] = {"accuracy_at_least": COPY_SOLVED, "chance_accuracy": 1 / COPY_SYMBOLS,
                        "symbols": COPY_SYMBOLS, "copied": COPY_N, "steps": s.copy_steps, "batch": BATCH}
    return out
