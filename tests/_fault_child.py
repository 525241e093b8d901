"""A training run that kills itself with SIGKILL mid-run, for tests/test_resume_faults.py.

``python -m tests._fault_child BACKEND OPTIMIZER OUT_DIR MODE`` (from the checkout's root):

* MODE ``step``: SIGKILL when ``data_fn`` is asked for step :data:`KILL_STEP` (after the
  checkpoint at step 8 was written, before step 9 is done);
* MODE ``write``: SIGKILL in the middle of writing the checkpoint at step 8: its temporary file
  is written and synced, ``os.replace`` not yet called (the checkpoint at 4 is the newest);
* MODE ``block``: at step :data:`KILL_STEP`, create ``OUT_DIR.ready`` and wait until
  ``OUT_DIR.go`` exists, then finish (a live writer holding the folder's lock).

The test imports :func:`config` and :func:`data` from here, so both processes train the same run.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

RNN_SIZES = dict(input_size=2, hidden_size=6, output_size=1)
STEPS, CHECKPOINT_EVERY, KILL_STEP = 12, 4, 9
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


def config(optimizer: str, **changes):
    from rnnflow.training import TrainConfig
    kw = dict(optimizer=optimizer, lr=0.05, steps=STEPS, checkpoint_every=CHECKPOINT_EVERY, hist_every=3,
              dtype="float64", batch_size=4)
    return TrainConfig(**{**kw, **changes})


def model():
    import rnnflow
    return rnnflow.RNNConfig(**RNN_SIZES)


def data():
    from rnnflow.training import adding_data
    return adding_data(6, 4, dtype=np.float64)


def monitor(backend: str):
    import importlib
    return importlib.import_module(f"rnnflow.{backend}.monitor").GradientMonitor(bins=8)


def same_setup(backend: str) -> None:
    """What tests/conftest.py sets: JAX x64, two torch threads."""
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    else:
        import torch
        torch.set_num_threads(2)


def main(backend: str, optimizer: str, out_dir: str, mode: str) -> None:
    import rnnflow
    same_setup(backend)
    fn = data()

    def data_fn(step, rng):
        if mode == "step" and step == KILL_STEP:
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "block" and step == KILL_STEP:
            open(out_dir + ".ready", "w").close()
            while not os.path.exists(out_dir + ".go"):
                time.sleep(0.02)
        return fn(step, rng)

    if mode == "write":
        import rnnflow.io as rio
        replace = os.replace

        def dying_replace(src, dst):
            if os.path.basename(dst) == "step_00000008.npz":
                os.kill(os.getpid(), signal.SIGKILL)
            replace(src, dst)
        rio.os = type(sys)("os_with_dying_replace")
        rio.os.__dict__.update(os.__dict__)
        rio.os.replace = dying_replace
    params = rnnflow.init_params(model(), 0, np.float64)
    rnnflow.train(model(), params, data_fn, config(optimizer), backend=backend, out_dir=out_dir,
                  progress=False, monitor=monitor(backend))
    if mode != "block":
        raise SystemExit("not killed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
