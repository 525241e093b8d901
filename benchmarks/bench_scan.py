"""torch's two scan forms on the CPU, with and without autograd: the measurements behind
``rnnflow.torch.diagonal.use_parallel``'s default (the sequential loop on a CPU, the doubling
scan on an accelerator).

Rows: LRU, minGRU and the selective SSM (d_model 32, batch 8, float32, one thread) at T in
``--T``; ``infer``: the forward pass under ``torch.no_grad()`` (what the analyzers run),
``train``: forward + backward of ``sum(y)``. The two forms interleaved for ``--rounds`` rounds
after a warm-up; min ms of each and seq/par (below 1: the sequential loop is faster).

    python benchmarks/bench_scan.py [--T 1000,10000 --rounds 3]
"""
from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this tree's rnnflow, not the venv's editable install
sys.path.insert(0, _HERE)
import _timing  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    _timing.pin_threads(1)
    import torch
    import rnnflow.torch as rt
    from rnnflow.config import LRUConfig, MinGRUConfig, SelectiveSSMConfig
    _timing.limit_pools(1)
    print(_timing.header(1))
    rows = []
    for name, cfg in (("LRU", LRUConfig(input_size=4, d_model=32, state_size=32)),
                      ("minGRU", MinGRUConfig(input_size=4, d_model=32, state_size=64)),
                      ("SSM", SelectiveSSMConfig(input_size=4, d_model=32, state_size=16))):
        model = rt.build(cfg)
        for T in [int(t) for t in a.T.split(",")]:
            x = torch.randn(T, 8, 4, generator=torch.Generator().manual_seed(0))
            for mode in ("infer", "train"):
                def run(par, mode=mode, x=x):
                    if mode == "infer":
                        with torch.no_grad():
                            model(x, parallel=par)
                    else:
                        model.zero_grad(set_to_none=True)
                        model(x, parallel=par).y.sum().backward()
                fns = {par: _timing.looped(lambda par=par: run(par)) for par in (True, False)}
                wall, _ = _timing.interleave(fns, a.rounds, 1, warmup=1)
                p, s = min(wall[True]), min(wall[False])
                rows.append([name, T, mode, f"{p * 1e3:.1f}", f"{s * 1e3:.1f}", f"{s / p:.2f}"])
                print(" | ".join(map(str, rows[-1])), flush=True)
    print()
    print(_timing.markdown(["model", "T", "pass", "doubling scan ms", "sequential ms", "seq/par"], rows))


if __name__ == "__main__":
    main()
