"""tanh_vs_weights: thin wrapper over `rnnflow run tanh_vs_weights` (see rnnflow/studies/tanh_vs_weights.py).

    python experiments/tanh_vs_weights.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "tanh_vs_weights", *sys.argv[1:]]))
