"""Benchmark: what the monitor's spectrum record adds to a training epoch.

Rows (copy task T_delay = 480, so sequences of T = 500 steps, n_copy = 10, batch 32, H = 128,
cross-entropy at every step, Adam lr 1e-3, float32; a tanh RNN and an LSTM; torch and JAX):

* ``without``: an epoch of ``--epoch-steps`` steps of the backend's ``Stepper`` (``compute`` +
  ``apply``) feeding a ``GradientMonitor()``, closed by ``monitor.epoch_end()``;
* ``with``: the same epoch with ``GradientMonitor(spectrum=SpectrumSettings())`` (the defaults:
  top-4 Lyapunov exponents on a probe of 2 sequences, every epoch), closed by
  ``monitor.epoch_end(params=stepper.params())`` as :func:`rnnflow.train` does it.

Interleaved (without, with, without, with, ...) for ``--rounds`` rounds after one warm-up epoch
each (JAX compiles); the table gives the min and median epoch time over rounds, the record's
own time, ``record/epoch`` (its median over the median epoch without it) and ``with/without`` on the
medians (the target: under 1.10; on a shared machine the two arms' noise can exceed the record). torch on one thread, as
the studies train. ``--tree DIR`` benchmarks the rnnflow in DIR; default: this tree.
Usage: ``python benchmarks/bench_monitor_spectrum.py [--rounds 5] [--epoch-steps 20] [--only torch,jax]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--epoch-steps", type=int, default=20)
ap.add_argument("--only", default="torch,jax")
ap.add_argument("--models", default="rnn,lstm")
ap.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
args = ap.parse_args()
sys.path.insert(0, os.path.abspath(args.tree))  # the venv's editable install points elsewhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
import rnnflow  # noqa: E402
from rnnflow.params import flatten, init_params  # noqa: E402
from rnnflow.training import SpectrumSettings, TrainConfig, copy_data, probe_inputs  # noqa: E402

DELAY, B, H, K = 480, 32, 128, 10         # T = DELAY + 2 n_copy = 500; K one-hot categories
MODELS = {"rnn": rnnflow.RNNConfig(K, H, activation="tanh", output_size=K),
          "lstm": rnnflow.LSTMConfig(K, H, output_size=K)}


def epoch_fn(backend, config, spectrum):
    """A function running one epoch; returns the seconds its spectrum record took."""
    be = __import__(f"rnnflow.{backend}", fromlist=["GradientMonitor", "Stepper"])
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=B, steps=10**6, loss="xent_all", hist_every=1)
    monitor = be.GradientMonitor(spectrum=spectrum)
    data = copy_data(DELAY, B)
    flat = {k: np.asarray(v, np.float32) for k, v in flatten(init_params(config, 0, np.float32)).items()}
    stepper = be.Stepper(config, flat, cfg, None, monitor)
    if spectrum is not None:
        monitor.bind_model(config, probe_inputs(data, spectrum, np.float32))
    batches = [data(i, np.random.default_rng([0, i])) for i in range(4)]
    state = {"step": 0}

    def run():
        for _ in range(args.epoch_steps):
            x, y = batches[state["step"] % len(batches)]
            stepper.compute(state["step"], x, y)
            stepper.apply()
            state["step"] += 1
        t0 = time.perf_counter()
        monitor.epoch_end(params=stepper.params() if monitor.spectrum_due() else None)
        return time.perf_counter() - t0
    return run


def main():
    print(f"rnnflow from {rnnflow.__file__}; load average {os.getloadavg()[0]:.2f}; "
          f"{args.epoch_steps} steps per epoch, batch {B}, T = {DELAY + 20}, H = {H}; defaults {SpectrumSettings()}")
    print(f"{'backend':8s} {'model':5s} {'without (min / median)':>24s} {'with (min / median)':>22s} "
          f"{'record':>9s} {'record/epoch':>13s} {'with/without':>13s}")
    for backend in args.only.split(","):
        for name in args.models.split(","):
            fns = {"without": epoch_fn(backend, MODELS[name], None),
                   "with": epoch_fn(backend, MODELS[name], SpectrumSettings())}
            for f in fns.values():    # warm-up: compiles, first allocations
                f()
            times = {k: [] for k in fns}
            record = []
            for _ in range(args.rounds):
                for k, f in fns.items():
                    t0 = time.perf_counter()
                    r = f()
                    times[k].append(time.perf_counter() - t0)
                    if k == "with":
                        record.append(r)
            wo, wi = np.array(times["without"]), np.array(times["with"])
            print(f"{backend:8s} {name:5s} {wo.min():10.2f} s / {np.median(wo):6.2f} s {wi.min():8.2f} s / "
                  f"{np.median(wi):6.2f} s {np.median(record):7.3f} s {np.median(record) / np.median(wo):12.3f}x "
                  f"{np.median(wi) / np.median(wo):12.3f}x")


if __name__ == "__main__":
    main()
