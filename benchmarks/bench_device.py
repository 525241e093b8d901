"""The same work on the host and on a device, in one process: model throughput, Jacobian
products, a training step; and whether the device's numbers agree with the host's.

The one prepared script for a GPU machine (``--device cuda``); on a CPU-only machine
``--device cpu`` runs the same code as a check of the script (ratios near 1). Rows, each timed
interleaved (host, device, host, ...) for ``--rounds`` rounds after a warm-up, min and median
ms per call, host/device on the minima (above 1: the device is faster):

  model     forward+backward of sum(y), rnnflow RecurrentNet (torch eager, jax jit) and
            torch.nn.LSTM as the peer, B=32, T=128, H in --hidden
  jacobian  jacobians_over_time, float64: Elman (closed form) and LSTM with analytic=False
            (autodiff step Jacobians: the per-step work that runs on the device), T=128, B=4
  train     50 steps of rnnflow.train (Adam), LSTM, B=32, T=128

and an agreement table: max |log||J|| (device) - log||J|| (host)| (float64) and the relative
difference of the final training loss (float32).

    python benchmarks/bench_device.py --device cuda [--hidden 128,512 --rounds 5] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this tree's rnnflow, not the venv's editable install
sys.path.insert(0, _HERE)
import _timing  # noqa: E402


def _sync(backend, dev):
    if backend == "torch" and dev.type == "cuda":
        import torch
        torch.cuda.synchronize(dev)


def model_rows(backend, H, spec, rounds, reps):
    import numpy as np
    import rnnflow as rf
    ops = rf._backend.load(backend).arrays
    B, T, I = 32, 128, 16
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype("float32")
    cfg = rf.LSTMConfig(I, H)
    fns = {}
    for where in ("cpu", spec):
        dev = ops.device(where)
        model = rf.build(cfg, rf.init_params(cfg, 0), backend=backend, device=where)
        if backend == "torch":
            import torch
            xt = torch.as_tensor(x, device=dev)

            def run(model=model, xt=xt, dev=dev):
                model.zero_grad(set_to_none=True)
                model(xt, validate=False, return_cell=False).y.sum().backward()
                _sync("torch", dev)
            fns[f"rnnflow LSTM @ {where}"] = _timing.looped(run)
            peer = torch.nn.LSTM(I, H).to(dev)

            def run_peer(peer=peer, xt=xt, dev=dev):
                peer.zero_grad(set_to_none=True)
                peer(xt)[0].sum().backward()
                _sync("torch", dev)
            fns[f"torch.nn.LSTM @ {where}"] = _timing.looped(run_peer)
        else:
            import jax
            from rnnflow.jax.rnn import recurrent_forward, initial_state
            xj = ops.asarray(x, None, dev)
            grad = jax.jit(jax.grad(lambda p, x: recurrent_forward(p, x, initial_state(cfg, B, x.dtype), cfg).y.sum()))

            def run(p=model.params, xj=xj):
                jax.block_until_ready(grad(p, xj))
            fns[f"rnnflow LSTM @ {where}"] = _timing.looped(run)
    wall, _ = _timing.interleave(fns, rounds, reps)
    return wall


def jacobian_rows(backend, H, spec, rounds):
    import numpy as np
    import rnnflow as rf
    from rnnflow import analysis
    T, B, I = 128, 4, 16
    x = np.random.default_rng(1).standard_normal((T, B, I))
    fns, out = {}, {}
    with rf._backend.load(backend).arrays.allow_float64():
        for cell, cfg, kw in (("Elman", rf.RNNConfig(I, H), {}), ("LSTM autodiff", rf.LSTMConfig(I, H),
                                                                     {"analytic": False})):
            for where in ("cpu", spec):
                model = rf.build(cfg, rf.init_params(cfg, 0, dtype=np.float64), backend=backend, device=where)

                def run(model=model, kw=kw, key=(cell, where)):
                    out[key] = analysis.jacobians_over_time(model, x, spectral="none", **kw).log_frobenius
                fns[f"{cell} @ {where}"] = _timing.looped(run)
        wall, _ = _timing.interleave(fns, rounds, 1, warmup=1)
    agree = {cell: float(np.max(np.abs(out[(cell, "cpu")] - out[(cell, spec)])))
             for cell in ("Elman", "LSTM autodiff")}
    return wall, agree


def train_rows(backend, H, spec, rounds, steps):
    import numpy as np
    import rnnflow as rf
    cfg, B, T = rf.LSTMConfig(16, H, output_size=1), 32, 128
    tc = rf.TrainConfig(steps=steps, batch_size=B, log_every=steps)

    def data(step, rng):
        return rng.standard_normal((T, B, 16)).astype("float32"), rng.standard_normal((B, 1)).astype("float32")
    fns, final = {}, {}
    for where in ("cpu", spec):
        def run(where=where):
            final[where] = float(rf.train(cfg, None, data, tc, backend=backend, progress=False,
                                          device=where).metrics.loss[-1])
        fns[f"train {steps} steps @ {where}"] = _timing.looped(run)
    wall, _ = _timing.interleave(fns, rounds, 1, warmup=1)
    return wall, abs(final[spec] - final["cpu"]) / abs(final["cpu"])


def _ratio_rows(wall, pairs):
    rows = []
    for name in wall:
        mn, md = _timing.min_med(wall[name])
        host = pairs.get(name)
        ratio = "" if host is None else f"{min(wall[host]) / mn:.2f}x"
        rows.append([name, f"{mn * 1e3:.1f}", f"{md * 1e3:.1f}", ratio])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="the device to compare with the host (default: cuda)")
    ap.add_argument("--backends", default="torch,jax")
    ap.add_argument("--hidden", default="128,512", help="H of the models (comma-separated)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="model rows: calls per round")
    ap.add_argument("--train-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="host threads (torch, BLAS; 1: XLA too)")
    ap.add_argument("--quick", action="store_true", help="H=32, 1 round, 5 training steps: a check of the script")
    a = ap.parse_args(argv)
    if a.quick:
        a.hidden, a.rounds, a.reps, a.train_steps = "32", 1, 1, 5
    _timing.pin_threads(a.threads)
    import rnnflow as rf
    from rnnflow.devices import check_device
    spec = check_device("bench_device", a.device)
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    for b in backends:
        rf._backend.load(b)
    _timing.limit_pools(a.threads)
    print(_timing.header(a.threads))
    for b in backends:
        print(f"{b} device {a.device!r}: {rf._backend.load(b).arrays.device(spec)}")
    agree_rows = []
    for b in backends:
        for H in [int(h) for h in a.hidden.split(",")]:
            t0 = time.perf_counter()
            wall = model_rows(b, H, spec, a.rounds, a.reps)
            jw, agree = jacobian_rows(b, H, spec, a.rounds)
            tw, loss_rel = train_rows(b, H, spec, max(1, a.rounds // 2), a.train_steps)
            all_wall = {**wall, **jw, **tw}
            pairs = {k: k.replace(f"@ {spec}", "@ cpu") for k in all_wall if k.endswith(f"@ {spec}") and spec != "cpu"}
            if spec == "cpu":   # same names: compare each with itself
                pairs = {}
            print(f"\n### {b}, H={H} ({time.perf_counter() - t0:.0f} s)\n")
            print(_timing.markdown(["route", "min ms", "median ms", "host/device"], _ratio_rows(all_wall, pairs)))
            agree_rows.append([b, H, f"{agree['Elman']:.1e}", f"{agree['LSTM autodiff']:.1e}", f"{loss_rel:.1e}"])
    print("\n### agreement, device vs host\n")
    print(_timing.markdown(["backend", "H", "Elman: max abs diff of log-norms", "LSTM autodiff: max abs diff of log-norms",
                            f"train: rel. diff of final loss ({a.train_steps} steps, float32)"], agree_rows))


if __name__ == "__main__":
    main()
