"""transformer_depth: thin wrapper over `rnnflow run transformer_depth` (see rnnflow/studies/transformer_depth.py).

    python experiments/transformer_depth.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "transformer_depth", *sys.argv[1:]]))
