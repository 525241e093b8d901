"""Benchmark: the diagonal recurrences (minGRU, LRU, selective SSM): the analyzers' fast path,
the chunked reach map at T = 10^6, parallel vs sequential training, and plain references.

Sizes: I = 8 inputs, d_model D = 64 (the SSM: D = 8, E = 2 D = 16 channels), one layer,
LayerNorm, residual. ``N`` is the real state width S per example everywhere: minGRU
``state_size = N``; LRU ``N / 2`` complex units (stored ``[re, im]``); SSM ``E x N/16``.

Sections (``--only fastpath,reachmap,train,reference``, all by default):

1. ``fastpath``: ``jacobians_over_time(route="auto")`` (the exact O(T N) fast path: a reverse
   cumulative sum of ``log|a_t|``) against its peer ``route="dense"`` (autodiff step Jacobians
   and the dense product, ``spectral="exact"``), minGRU and LRU, N = 64 and N = 256, both at
   T = 2000 (``--T64``, ``--T256``; the dense route takes ~10 s at N = 256 on one idle core,
   a few times that on a busy one), batch 1, float64, both backends. Speed-up = dense / fast
   (minima), and the max |difference| of ``log_spectral`` between the routes. The dense route
   runs ``--dense-rounds`` times.
2. ``reachmap``: ``log ||dh_T/dh_t||_2`` for every t at T = 10^6 (``--reach-T``), N = 256,
   batch 1, float64, minGRU and LRU, both backends, by
   :func:`rnnflow.analysis.diagonal.chunked_log_spectral` (chunks of ``--chunk`` steps, run
   from the last; memory O(chunk N)). Timed whole, and, once, the model's own ``log_decay``
   over the same chunks copied to float64 NumPy (the part the analysis cannot speed up).
   Memory: peak RSS over the timed calls (``resource.getrusage`` after resetting the
   high-water mark through ``/proc/self/clear_refs``) and the tracemalloc peak of one more
   call (NumPy's allocations; torch's and XLA's buffers are not traced). Peer, at T = 10^5
   (``--peer-T``): the one-shot ``jacobians_over_time(...).log_spectral``, which holds
   several (T, N) float64 arrays (2 GB each at T = 10^6), with the max |difference|.
3. ``train``: one training step (forward + backward of the mean squared error of the output
   against a fixed target; float32, batch 8, N = 64), T in {1000, 4000, 16000}, minGRU, LRU
   and SSM, with the parallel scan (``parallel=True``) and the sequential loop
   (``parallel=False``): torch ``model(x, parallel=...)`` + ``backward()``; JAX
   ``jit(grad)`` of ``diagonal_forward`` / ``ssm_forward``, compiled (``lower().compile()``,
   timed separately) before timing. Ratio seq / par (>1: the parallel scan wins).
   ``--torch-seq-max-T`` caps the T of torch's sequential step (default: no cap; before 58ec125
   its backward was O(T^2), 7 s at T=4000).
4. ``reference``: rnnflow's torch minGRU and LRU (forward + backward, sizes of section 3)
   against a plain-torch reference written here from the papers' equations with rnnflow's
   parameters copied in (the same stack: embed, LayerNorm, cell, output, residual, final
   LayerNorm, head): sequential loops (Feng et al. 2024's sequential mode; Orvieto et al.
   2023's recurrence) against ``parallel=False``, and parallel forms against
   ``parallel=True``: minGRU by Feng et al.'s log-space scan (Heinsen's ``logcumsumexp``;
   rnnflow's candidate is linear, so its positive and negative parts are scanned apart),
   LRU by an FFT convolution with ``lambda^k`` (its recurrence is time-invariant). Before
   timing, outputs and gradients are checked against rnnflow at the smallest T, relative to
   their largest entry: the loops in float32 (outputs 1e-5, gradients 1e-4), the parallel
   forms in float64 (1e-9; in float32 the log-space scan loses digits at long T: the table's
   "f32 rel diff"). Ratio rnnflow / reference (>1: rnnflow is slower).

Timing: each row's calls are interleaved (A, B, A, B, ...) for ``--rounds`` rounds after one
untimed warm-up, min and median reported, ratios on the minima. torch, BLAS (threadpoolctl)
and XLA (``XLA_FLAGS``, set before JAX loads) on ``--threads`` threads (default 1).

Usage: ``python benchmarks/bench_diagonal.py [--only fastpath,reachmap] [--rounds 5] [--quick]``
(``--quick``: small sizes, a smoke test in about a minute).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this tree's rnnflow

I, D, B_TRAIN, O = 8, 64, 8, 1
SECTIONS = ("fastpath", "reachmap", "train", "reference")
SKIPPED = "not run (T > --torch-seq-max-T)"
SKIP_NOTE = "\n(rows above --torch-seq-max-T skip torch's sequential step)"


# ---------------------------------------------------------------- helpers
def config(kind: str, N: int, **kw):
    """The model of ``kind`` with S = N real state coordinates (see the module docstring)."""
    import rnnflow as rf
    if kind == "mingru":
        return rf.MinGRUConfig(I, D, N, **kw)
    if kind == "lru":
        return rf.LRUConfig(I, D, N // 2, **kw)
    return rf.SelectiveSSMConfig(I, 8, N // 16, **kw)


def build(kind, N, backend, dtype, seed=0, **kw):
    import rnnflow as rf
    cfg = config(kind, N, **kw)
    return rf.build(cfg, rf.init_params(cfg, seed, dtype), backend=backend)


def interleave(fns: dict, rounds: int, limits: dict | None = None, warm: bool = True) -> dict:
    """``{name: [seconds per call]}``: one untimed call each (``warm``), then ``rounds`` rounds
    calling the functions in turn; ``limits[name]`` caps the rounds a slow one takes part in."""
    limits = limits or {}
    if warm:
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for r in range(rounds):
        for k, f in fns.items():
            if r < limits.get(k, rounds):
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    return times


def mm(v, scale=1.0, fmt="{:.3f}") -> str:
    """``min / median`` of a list of times, scaled."""
    return f"{fmt.format(min(v) * scale)} / {fmt.format(float(np.median(v)) * scale)}"


def table(title: str, header: list, rows=()):
    """Print a markdown table's title and header (and ``rows``); returns ``row(cells)``, which
    prints one more row at once (a long section shows its rows as they come)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")

    def row(cells):
        print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    for r in rows:
        row(r)
    return row


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def release_memory() -> None:
    """Hand freed heap back to the OS (glibc's ``malloc_trim``), so that the RSS before a row
    does not hold the previous row's freed arrays."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water RSS mark (which ``getrusage`` reports) where Linux allows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024    # KiB on Linux


def tracemalloc_peak(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


# ---------------------------------------------------------------- 1. fast path vs dense route
def fastpath(args):
    from rnnflow.analysis import jacobians_over_time
    sizes = ((64, args.T64), (256, args.T256))
    row = table("1. jacobians_over_time: diagonal fast path (route='auto') vs dense route (route='dense'), "
                "float64, batch 1; min / median",
                ["backend", "model", "N", "T", "fast ms", "dense s", "rounds fast/dense", "dense/fast",
                 "max abs diff log_spectral", "log_spectral[t=0]", "JAX dense first call s"])
    for N, T in sizes:
        for backend in args.backends:
            for kind in ("mingru", "lru"):
                m = build(kind, N, backend, np.float64)
                xs = np.random.default_rng(0).standard_normal((T, 1, I))
                out = {}

                def fast():
                    out["fast"] = jacobians_over_time(m, xs, route="auto")

                def dense():
                    out["dense"] = jacobians_over_time(m, xs, route="dense")
                fast()
                t0 = time.perf_counter()                                # JAX compiles the dense route per T
                jacobians_over_time(m, xs if backend == "jax" else xs[:8], route="dense")
                first = time.perf_counter() - t0
                t = interleave({"fast": fast, "dense": dense}, args.rounds,
                               limits={"dense": args.dense_rounds}, warm=False)
                diff = np.abs(out["fast"].log_spectral - out["dense"].log_spectral).max()
                row([backend, kind, N, T, mm(t["fast"], 1e3, "{:.2f}"), mm(t["dense"], 1, "{:.2f}"),
                     f"{len(t['fast'])}/{len(t['dense'])}", f"{min(t['dense']) / min(t['fast']):.0f}",
                     f"{diff:.1e}", f"{out['fast'].log_spectral[0, 0]:.1f}",
                     f"{first:.2f}" if backend == "jax" else ""])
    print("\n(times include the model's forward pass; before timing, one call of each route (torch's dense "
          "route on 8 steps); JAX's dense route compiles per T: its first call, compile included, in the "
          "last column)")


# ---------------------------------------------------------------- 2. reach map at T = 10^6
def reachmap(args):
    from rnnflow.analysis import jacobians_over_time
    from rnnflow.analysis.backends import backend_modules
    from rnnflow.analysis.diagonal import chunked_log_spectral
    N, T, chunk = 256, args.reach_T, args.chunk
    xs = np.random.default_rng(0).standard_normal((T, 1, I))
    peer_rows = []
    resettable = reset_peak_rss()
    row = table(f"2. exact reach map log ||dh_T/dh_t||_2 for every t: chunked_log_spectral, N={N}, batch 1, "
                f"float64, layer 0; {args.reach_rounds} rounds, min / median",
                ["backend", "model", "T", "chunk", "whole s", "model's log_decay alone s", "RSS before MiB",
                 "peak RSS MiB", "peak - before MiB", "tracemalloc peak MiB", "log-norm at t=0", "t=T/2", "t=T-1"])
    for backend in args.backends:
        ops = backend_modules(backend).ops
        for kind in ("mingru", "lru"):
            m = build(kind, N, backend, np.float64)

            def decay_only():  # the model's log|a_t| over the same chunks, to NumPy (float64)
                for s in range(0, T, chunk):
                    with ops.no_grad():
                        ops.numpy(m.log_decay(ops.asarray(xs[s:s + chunk], m.dtype), 0)).astype(np.float64)
            res = {}

            def whole():
                res["p"] = chunked_log_spectral(m, xs, chunk=chunk)
            last = T % chunk or chunk                                   # compile both chunk shapes
            chunked_log_spectral(m, xs[:chunk + last] if T > chunk else xs, chunk=chunk)
            release_memory()
            before = rss_mib()
            reset_peak_rss()                                            # peak over the timed calls
            t = interleave({"whole": whole, "decay": decay_only}, args.reach_rounds, limits={"decay": 1}, warm=False)
            peak = peak_rss_mib()
            tm = tracemalloc_peak(whole)
            p = res["p"]
            row([backend, kind, f"{T:.0e}", chunk, mm(t["whole"], 1, "{:.2f}"), mm(t["decay"], 1, "{:.2f}"),
                 f"{before:.0f}", f"{peak:.0f}" if resettable else f"{peak:.0f} (process)", f"{peak - before:.0f}",
                 f"{tm:.0f}", f"{p[0, 0]:.5g}", f"{p[0, T // 2]:.5g}", f"{p[0, -1]:.4g}"])
            # peer: the one-shot fast path at peer_T
            Tp = args.peer_T
            out = {}

            def one_shot():
                out["a"] = jacobians_over_time(m, xs[:Tp]).log_spectral

            def chunked():
                out["b"] = chunked_log_spectral(m, xs[:Tp], chunk=chunk)
            tp = interleave({"one": one_shot, "chunked": chunked}, args.reach_rounds)
            tm_one, tm_ch = tracemalloc_peak(one_shot), tracemalloc_peak(chunked)
            peer_rows.append([backend, kind, f"{Tp:.0e}", mm(tp["one"], 1, "{:.2f}"), mm(tp["chunked"], 1, "{:.2f}"),
                              f"{min(tp['chunked']) / min(tp['one']):.2f}", f"{tm_one:.0f}", f"{tm_ch:.0f}",
                              f"{np.abs(out['a'] - out['b']).max():.1e}"])
            del m
    print(f"\n(xs itself, (T, 1, {I}) float64, is {T * I * 8 / 2**20:.0f} MiB; the (T, N) float64 log|a_t| "
          f"the one-shot route holds would be {T * N * 8 / 2**20:.0f} MiB, several times over)")
    table("2b. peer: the one-shot jacobians_over_time(...).log_spectral vs chunked at the same T",
          ["backend", "model", "T", "one-shot s", "chunked s", "chunked/one-shot", "one-shot tracemalloc MiB",
           "chunked tracemalloc MiB", "max abs diff"], peer_rows)


# ---------------------------------------------------------------- 3. training: parallel vs sequential
def torch_step(model, x, y, parallel):
    import torch
    params = list(model.parameters())

    def step():
        for p in params:
            p.grad = None
        loss = torch.mean((model(x, parallel=parallel, validate=False).y - y) ** 2)
        loss.backward()
    return step


def jax_step(model, x, y, parallel):
    """``(step, compile seconds)``: the compiled ``jit(grad)`` of the MSE through the forward."""
    import jax
    import jax.numpy as jnp
    import rnnflow as rf
    fwd = rf.jax.ssm_forward if model.config.cell == "ssm" else rf.jax.diagonal_forward
    s0, cfg = model.initial_state(x.shape[1]), model.config

    def loss(p, x, y):
        return jnp.mean((fwd(p, x, s0, cfg, parallel).y - y) ** 2)
    t0 = time.perf_counter()
    g = jax.jit(jax.grad(loss)).lower(model.params, x, y).compile()
    compile_s = time.perf_counter() - t0
    return (lambda: jax.block_until_ready(g(model.params, x, y))), compile_s


def train(args):
    row = table(f"3. one training step (forward + backward, MSE on the output), float32, batch {B_TRAIN}, one "
                f"layer; {args.rounds} rounds, min / median ms",
                ["backend", "model", "T", "S", "parallel ms", "sequential ms", "seq/par", "JAX compile s par / seq"])
    for backend in args.backends:
        for kind in ("mingru", "lru", "ssm"):
            for T in args.train_T:
                m = build(kind, 64, backend, np.float32, output_size=O)
                rng = np.random.default_rng(T)
                xs = rng.standard_normal((T, B_TRAIN, I)).astype(np.float32)
                ys = rng.standard_normal((T, B_TRAIN, O)).astype(np.float32)
                comp, seq = None, True
                if backend == "torch":
                    import torch
                    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
                    seq = T <= args.torch_seq_max_T
                    fns = {"par": torch_step(m, x, y, True)}
                    if seq:
                        fns["seq"] = torch_step(m, x, y, False)
                else:
                    import jax.numpy as jnp
                    x, y = jnp.asarray(xs), jnp.asarray(ys)
                    (fp, cp), (fs, cs) = jax_step(m, x, y, True), jax_step(m, x, y, False)
                    fns, comp = {"par": fp, "seq": fs}, (cp, cs)
                t = interleave(fns, args.rounds)
                row([backend, kind, T, m.config.state_width, mm(t["par"], 1e3, "{:.1f}"),
                     mm(t["seq"], 1e3, "{:.1f}") if seq else SKIPPED,
                     f"{min(t['seq']) / min(t['par']):.2f}" if seq else "",
                     "" if comp is None else f"{comp[0]:.2f} / {comp[1]:.2f}"])
    if "torch" in args.backends and max(args.train_T) > args.torch_seq_max_T:
        print(SKIP_NOTE)


# ---------------------------------------------------------------- 4. plain references
def ref_forward(p: dict, x, kind: str, mode: str):
    """The reference stack in plain torch on rnnflow's parameter names ``p`` (one layer, with a
    LayerNorm and a head): ``y`` (T, B, O) for x (T, B, I); ``mode`` "seq" or "par"."""
    import torch
    import torch.nn.functional as F
    eps = 1e-5
    z = F.linear(x, p["embed.weight"], p["embed.bias"])                 # (T, B, D)
    u = F.layer_norm(z, z.shape[-1:], p["layers.0.norm.weight"], p["layers.0.norm.bias"], eps)
    if kind == "mingru":   # h_t = (1 - z_t) h_{t-1} + z_t h~_t,  z_t = sigmoid(k_t)
        k = F.linear(u, p["layers.0.gate.weight"], p["layers.0.gate.bias"])        # (T, B, N)
        cand = F.linear(u, p["layers.0.cand.weight"], p["layers.0.cand.bias"])
        if mode == "seq":
            zt = torch.sigmoid(k)
            h, hs = torch.zeros_like(k[0]), []
            for a_t, b_t in zip((1 - zt).unbind(0), (zt * cand).unbind(0)):   # unbind: a linear-time backward
                h = a_t * h + b_t
                hs.append(h)
            h = torch.stack(hs)
        else:              # h_t = exp(A_t) sum_{j<=t} exp(log z_j + log h~_j - A_j),  A_t = sum_{j<=t} log(1 - z_j)
            A = torch.cumsum(-F.softplus(k), 0)
            log_w = -F.softplus(-k) - A
            logc = torch.log(cand.abs())
            lo = torch.tensor(-1e30, dtype=k.dtype)                # "log 0" whose gradient stays finite

            def part(mask):
                return torch.exp(A + torch.logcumsumexp(torch.where(mask, log_w + logc, lo), 0))
            h = part(cand > 0) - part(cand < 0)
        o = F.linear(h, p["layers.0.out.weight"], p["layers.0.out.bias"])
    else:                  # h_t = lambda h_{t-1} + gamma (B u_t),  o_t = Re(C h_t) + D u_t
        log_lam = torch.complex(-torch.exp(p["layers.0.nu_log"]), torch.exp(p["layers.0.theta_log"]))   # (N,)
        bu = torch.complex(F.linear(u, p["layers.0.B_re"]), F.linear(u, p["layers.0.B_im"]))
        bu = bu * torch.exp(p["layers.0.gamma_log"])                                    # (T, B, N)
        T = x.shape[0]
        if mode == "seq":
            lam, h, hs = torch.exp(log_lam), torch.zeros_like(bu[0]), []
            for b_t in bu.unbind(0):
                h = lam * h + b_t
                hs.append(h)
            h = torch.stack(hs)
        else:              # h_t = sum_{k<=t} lambda^(t-k) b_k: a causal convolution, by FFT
            kern = torch.exp(torch.arange(T, dtype=x.dtype)[:, None] * log_lam)        # (T, N)
            h = torch.fft.ifft(torch.fft.fft(bu, n=2 * T, dim=0) * torch.fft.fft(kern, n=2 * T, dim=0)[:, None],
                               dim=0)[:T]
        o = h.real @ p["layers.0.C_re"].T - h.imag @ p["layers.0.C_im"].T + p["layers.0.D"] * u
    z = z + o
    z = F.layer_norm(z, z.shape[-1:], p["norm_f.weight"], p["norm_f.bias"], eps)
    return F.linear(z, p["head.weight"], p["head.bias"])


def ref_step(p, x, y, kind, mode):
    import torch
    leaves = list(p.values())

    def step():
        for q in leaves:
            q.grad = None
        torch.mean((ref_forward(p, x, kind, mode) - y) ** 2).backward()
    return step


def _agree(kind, T, mode, dtype):
    """Max |y_ref - y_rnnflow| / max |y_rnnflow| and the same for the gradients, in ``dtype``."""
    import torch
    m = build(kind, 64, "torch", dtype, output_size=O)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((T, B_TRAIN, I)).astype(dtype))
    y = torch.from_numpy(rng.standard_normal((T, B_TRAIN, O)).astype(dtype))
    p = {k: v.detach().clone().requires_grad_() for k, v in m.named_parameters()}
    torch_step(m, x, y, mode == "par")()
    ref_step(p, x, y, kind, mode)()
    ya, yb = m(x, parallel=mode == "par").y.detach(), ref_forward(p, x, kind, mode).detach()
    dy = float((ya - yb).abs().max() / ya.abs().max())
    dg = max(float((a.grad - p[k].grad).abs().max() / a.grad.abs().max().clamp_min(1e-30))
             for k, a in m.named_parameters())
    return dy, dg


def reference(args):
    import torch
    Ts = args.train_T
    checks = {}
    for kind in ("mingru", "lru"):
        dy, dg = _agree(kind, min(Ts), "seq", np.float32)
        dy64, dg64 = _agree(kind, min(Ts), "par", np.float64)
        if not (dy < 1e-5 and dg < 1e-4 and dy64 < 1e-9 and dg64 < 1e-9):
            raise SystemExit(f"the {kind} reference disagrees with rnnflow (max rel diff y / grads): loops in "
                             f"float32 {dy:.1e} / {dg:.1e}, parallel forms in float64 {dy64:.1e} / {dg64:.1e}")
        checks[kind] = {"seq": (dy, dg), "par64": (dy64, dg64)}
    row = table(f"4. rnnflow torch vs a plain-torch reference, forward + backward, float32, batch {B_TRAIN}, "
                f"S = 64; {args.rounds} rounds, min / median ms",
                ["model", "T", "rnnflow parallel ms", "ref parallel ms", "rnnflow/ref (par)", "f32 rel diff (par)",
                 "rnnflow sequential ms", "ref sequential ms", "rnnflow/ref (seq)"])
    for kind in ("mingru", "lru"):
        for T in Ts:
            m = build(kind, 64, "torch", np.float32, output_size=O)
            rng = np.random.default_rng(T)
            x = torch.from_numpy(rng.standard_normal((T, B_TRAIN, I)).astype(np.float32))
            y = torch.from_numpy(rng.standard_normal((T, B_TRAIN, O)).astype(np.float32))
            p = {k: v.detach().clone().requires_grad_() for k, v in m.named_parameters()}
            with torch.no_grad():
                ya = m(x).y
                f32 = float((ya - ref_forward(p, x, kind, "par")).abs().max() / ya.abs().max())
            seq = T <= args.torch_seq_max_T
            fns = {"rf_par": torch_step(m, x, y, True), "ref_par": ref_step(p, x, y, kind, "par"),
                   "ref_seq": ref_step(p, x, y, kind, "seq")}
            if seq:
                fns["rf_seq"] = torch_step(m, x, y, False)
            t = interleave(fns, args.rounds)
            row([kind, T, mm(t["rf_par"], 1e3, "{:.1f}"), mm(t["ref_par"], 1e3, "{:.1f}"),
                 f"{min(t['rf_par']) / min(t['ref_par']):.2f}", f"{f32:.0e}",
                 mm(t["rf_seq"], 1e3, "{:.1f}") if seq else SKIPPED, mm(t["ref_seq"], 1e3, "{:.1f}"),
                 f"{min(t['rf_seq']) / min(t['ref_seq']):.2f}" if seq else ""])
    if max(Ts) > args.torch_seq_max_T:
        print(SKIP_NOTE)
    print("\n(ref parallel: minGRU log-space scan, LRU FFT convolution; ref loops step over unbind(0) slices; "
          "agreement with rnnflow "
          f"at T={min(Ts)} before timing, max rel diff y / grads: " + "; ".join(
              f"{k} loop f32 {c['seq'][0]:.0e} / {c['seq'][1]:.0e}, parallel f64 {c['par64'][0]:.0e} / "
              f"{c['par64'][1]:.0e}" for k, c in checks.items()) + ")")


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch, BLAS and XLA threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test in about a minute")
    ap.add_argument("--T64", type=int, default=2000, help="section 1: T at N=64")
    ap.add_argument("--T256", type=int, default=2000, help="section 1: T at N=256")
    ap.add_argument("--dense-rounds", type=int, default=2, help="section 1: rounds of the dense route")
    ap.add_argument("--reach-T", type=int, default=10 ** 6)
    ap.add_argument("--peer-T", type=int, default=10 ** 5, help="section 2: T of the one-shot peer")
    ap.add_argument("--chunk", type=int, default=8192, help="section 2: steps per chunk")
    ap.add_argument("--reach-rounds", type=int, default=3)
    ap.add_argument("--train-T", default="1000,4000,16000")
    ap.add_argument("--backends", default="torch,jax", help="sections 1-3: torch, jax or both")
    ap.add_argument("--torch-seq-max-T", type=int, default=10**9,
                    help="sections 3-4: longest T at which torch's sequential (parallel=False) step is timed")
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    bad = sorted(set(only) - set(SECTIONS))
    if bad:
        ap.error(f"unknown sections {bad}: expected some of {','.join(SECTIONS)}")
    args.train_T = [int(t) for t in args.train_T.split(",")]
    args.backends = [b for b in args.backends.split(",") if b]
    if not set(args.backends) <= {"torch", "jax"}:
        ap.error(f"--backends {args.backends}: expected torch, jax or both")
    if args.quick:
        args.rounds, args.dense_rounds, args.reach_rounds = 2, 1, 1
        args.T64, args.T256, args.reach_T, args.peer_T = 300, 32, 5 * 10 ** 4, 10 ** 4
        args.train_T = [300]
    flag = "true" if args.threads > 1 else "false"
    os.environ.setdefault("XLA_FLAGS",
                          f"--xla_cpu_multi_thread_eigen={flag} intra_op_parallelism_threads={args.threads}")
    import jax
    jax.config.update("jax_enable_x64", True)
    import torch
    torch.set_num_threads(args.threads)
    import rnnflow
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    print(f"# {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, load average {load()}; "
          f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"jax {jax.__version__}; {args.threads} thread(s) (torch, BLAS, XLA); "
          f"rounds {args.rounds}{' (--quick)' if args.quick else ''}; rnnflow {rnnflow.__file__}")
    t0 = time.perf_counter()
    run = {"fastpath": fastpath, "reachmap": reachmap, "train": train, "reference": reference}
    for name in only:
        run[name](args)
        sys.stdout.flush()
    print(f"\n# total {time.perf_counter() - t0:.0f} s; load average after: {load()}")


if __name__ == "__main__":
    main()
