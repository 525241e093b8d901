"""``rnnflow sweep``: a grid of settings x seeds of one study, each cell an ordinary
:func:`rnnflow.studies.run` (its own results folder, atomic writes, resume), run serially, on a
local process pool or on a Ray cluster, and gathered into one table (``sweep.csv``).

- :mod:`.grid`: the sweep's spec (:class:`Sweep`), its cells and their ids;
- :mod:`.cell`: one cell run, returning its table row (status, headline numbers, provenance);
- :mod:`.engines`: serial, local pool (threads pinned per worker), Ray core tasks;
- :mod:`.table`: the rows written as ``sweep.csv`` (and ``sweep.parquet`` with pyarrow).
"""
from __future__ import annotations

from .grid import Cell as Cell, Sweep as Sweep, parse_seeds as parse_seeds, load_sweep_file as load_sweep_file
from .engines import run_sweep as run_sweep
