"""jacobian_decay: thin wrapper over `rnnflow run jacobian_decay` (see rnnflow/studies/jacobian_decay.py).

    python experiments/jacobian_decay.py --backend torch --seed 0 --scale docs
"""
import sys

from rnnflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "jacobian_decay", *sys.argv[1:]]))
