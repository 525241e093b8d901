"""init_stall: thin wrapper over `rnnflow run init_stall` (see rnnflow/studies/init_stall.py).

    python experiments/init_stall.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "init_stall", *sys.argv[1:]]))
