"""Benchmark: one training step of rnnflow's ``Stepper`` against hand-written loops.

Rows (B=32, T=128, I=32, H=128, O=1, MSE at the last step, Adam lr 1e-3, float32):

* torch: ``rnnflow.torch.Stepper`` (``compute`` + ``apply``: gradient, norms, clipping,
  update, the non-finite guard) vs ``nn.LSTM``/``nn.RNN`` + ``nn.Linear`` + ``torch.optim.Adam``
  (zero_grad, backward, step), torch on one thread;
* jax: ``rnnflow.jax.Stepper`` vs flax ``nn.RNN`` + optax in one jitted step;
* train: ``rnnflow.train()`` end to end (torch and JAX, SGD lr 0.05, norm clipping) vs a
  hand-written torch loop, at the clipping study's docs size (tanh RNN, H 32, T 20, batch 32).

Interleaved (A B, B A, ...: ``_timing.interleave``) for ``--rounds`` rounds of ``--steps``
steps; the table gives the min and median time per step over rounds and ``ours/theirs`` on the
minima (>1: rnnflow is slower). ``--tree DIR`` benchmarks the rnnflow in DIR (e.g. an old checkout made with
``git worktree add /tmp/old <rev>``); default: this tree. Prints ``rnnflow.__file__`` and the
load average. Usage: ``python benchmarks/bench_train.py [--rounds 5] [--steps 20] [--tree DIR]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap.add_argument("--only", default="torch,jax,train")
args = ap.parse_args()
sys.path.insert(0, os.path.abspath(args.tree))  # the venv's editable install points elsewhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
import rnnflow  # noqa: E402
from rnnflow.config import LSTMConfig, RNNConfig  # noqa: E402
from rnnflow.training import TrainConfig  # noqa: E402
from rnnflow.training.loop import trainable_keys  # noqa: E402
from rnnflow.params import flatten, init_params  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleave  # noqa: E402

B, T, I, H, O = 32, 128, 32, 128, 1


def batch(seed=0, T=T, I=I, B=B):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I)).astype("float32"), rng.standard_normal((B, O)).astype("float32")


def table(title, times, ours, theirs):
    print(f"\n{title}")
    for k, v in times.items():
        print(f"  {k:28s} min {1e3 * min(v):8.2f} ms   median {1e3 * np.median(v):8.2f} ms")
    print(f"  ours/theirs (min): {min(times[ours]) / min(times[theirs]):.2f}x")


def stepper_loop(backend, model, cfg):
    mod = __import__(f"rnnflow.{backend}.trainer", fromlist=["Stepper"])
    flat = {k: np.asarray(v, np.float32) for k, v in flatten(init_params(model, 0, "float32")).items()}
    s = mod.Stepper(model, flat, cfg, None, None)
    x, y = batch()

    def run(n):
        for i in range(n):
            s.compute(i, x, y)
            s.apply()
        if backend == "jax":
            import jax
            jax.block_until_ready(s.trainable)
    return run


def torch_loop(kind):
    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.RNN)(I, H)
    head = torch.nn.Linear(H, O)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = map(torch.as_tensor, batch())

    def run(n):
        for _ in range(n):
            opt.zero_grad()
            out, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(head(out[-1]), y)
            loss.backward()
            opt.step()
            loss.item()
    return run


def flax_loop(kind):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):  # x (T, B, I)
            cell = nn.OptimizedLSTMCell(H) if kind == "lstm" else nn.SimpleCell(H)
            h = nn.RNN(cell, time_major=True)(x)
            return nn.Dense(O)(h[-1])

    net = Net()
    x, y = batch()
    params = net.init(jax.random.key(0), x)
    tx = optax.adam(1e-3)
    state = {"p": params, "o": tx.init(params)}

    @jax.jit
    def step(p, o, x, y):
        loss, g = jax.value_and_grad(lambda p: jnp.mean((net.apply(p, x) - y) ** 2))(p)
        u, o = tx.update(g, o, p)
        return optax.apply_updates(p, u), o, loss

    def run(n):
        for _ in range(n):
            state["p"], state["o"], loss = step(state["p"], state["o"], x, y)
            float(loss)
    return run


def train_end_to_end(backend, steps):
    model = RNNConfig(2, 32, activation="tanh", output_size=1)
    cfg = TrainConfig(optimizer="sgd", lr=0.05, batch_size=32, steps=steps, clip="norm", clip_value=1.0)

    def data(step, rng):
        return rng.standard_normal((20, 32, 2)).astype("float32"), rng.standard_normal((32, 1)).astype("float32")

    def run(n):
        rnnflow.train(model, None, data, dataclasses.replace(cfg, steps=n), backend=backend, progress=False)
    return run


def torch_hand_end_to_end():
    torch.manual_seed(0)

    def run(n):
        rnn, head = torch.nn.RNN(2, 32), torch.nn.Linear(32, 1)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=0.05)
        for step in range(n):
            rng = np.random.default_rng([0, step])
            x = torch.as_tensor(rng.standard_normal((20, 32, 2)).astype("float32"))
            y = torch.as_tensor(rng.standard_normal((32, 1)).astype("float32"))
            opt.zero_grad()
            out, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(head(out[-1]), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            loss.item()
    return run


def main():
    print("rnnflow:", rnnflow.__file__)
    print("load average:", os.getloadavg())
    only = args.only.split(",")
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=B, steps=1)
    for kind, Cfg in (("lstm", LSTMConfig), ("rnn", RNNConfig)):
        model = Cfg(I, H, output_size=O) if kind == "lstm" else Cfg(I, H, activation="tanh", output_size=O)
        if "torch" in only:
            t, _ = interleave({f"rnnflow torch {kind}": stepper_loop("torch", model, cfg),
                               f"torch.nn {kind} + Adam": torch_loop(kind)}, args.rounds, args.steps)
            table(f"torch step, {kind}", t, f"rnnflow torch {kind}", f"torch.nn {kind} + Adam")
        if "jax" in only:
            t0 = time.perf_counter()
            ours = stepper_loop("jax", model, cfg)
            ours(1)
            c_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            theirs = flax_loop(kind)
            theirs(1)
            c_theirs = time.perf_counter() - t0
            print(f"\nfirst step (compile) {kind}: rnnflow jax {c_ours:.2f} s, flax+optax {c_theirs:.2f} s")
            t, _ = interleave({f"rnnflow jax {kind}": ours, f"flax {kind} + optax": theirs}, args.rounds, args.steps)
            table(f"jax step, {kind}", t, f"rnnflow jax {kind}", f"flax {kind} + optax")
    if "train" in only:
        n = 10 * args.steps
        t, _ = interleave({"rnnflow.train torch": train_end_to_end("torch", n),
                           "rnnflow.train jax": train_end_to_end("jax", n),
                           "hand torch loop": torch_hand_end_to_end()}, args.rounds, n)
        table(f"train() end to end, clipping-study docs size ({n} steps)", t, "rnnflow.train torch", "hand torch loop")
        print(f"  jax/hand torch (min): {min(t['rnnflow.train jax']) / min(t['hand torch loop']):.2f}x")


if __name__ == "__main__":
    main()
