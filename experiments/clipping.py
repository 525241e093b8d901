"""clipping: thin wrapper over `rnnflow run clipping` (see rnnflow/studies/clipping.py).

    python experiments/clipping.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "clipping", *sys.argv[1:]]))
