"""long_range: thin wrapper over `rnnflow run long_range` (see rnnflow/studies/long_range.py).

    python experiments/long_range.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "long_range", *sys.argv[1:]]))
