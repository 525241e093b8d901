"""activations: thin wrapper over `rnnflow run activations` (see rnnflow/studies/activations.py).

    python experiments/activations.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "activations", *sys.argv[1:]]))
