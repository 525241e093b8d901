"""The sweep table: one row per cell, written as ``sweep.csv`` (and ``sweep.parquet`` when
pyarrow is importable) plus ``sweep.json`` (the spec), atomically."""
from __future__ import annotations

import csv
import io
import os

from ..io import atomic_write_bytes, atomic_write_text, write_json

FIRST = ("cell", "seed", "backend", "scale", "status", "error", "detail")


def columns(sweep, rows) -> list[str]:
    """The grid's and the sampled fields, then :data:`FIRST`, then every other key in first-seen order."""
    cols = [n for n, _ in sweep.grid] + [n for n, _ in (sweep.drawn or ((),))[0]] + list(FIRST)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def write_table(folder: str, sweep, rows) -> str:
    """Write ``sweep.csv`` (and ``.parquet``) and ``sweep.json`` into ``folder``; return the CSV path."""
    os.makedirs(folder, exist_ok=True)
    cols = columns(sweep, rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    path = os.path.join(folder, "sweep.csv")
    atomic_write_text(path, buf.getvalue())
    about = {"study": sweep.study, "backend": sweep.backend, "scale": sweep.scale, "seeds": list(sweep.seeds),
             "grid": {n: list(v) for n, v in sweep.grid}, "cells": len(rows)}
    if sweep.sample:
        about.update(sample=list(sweep.sample), random=sweep.draws, sample_seed=sweep.sample_seed,
                     drawn=[dict(point) for point in sweep.drawn])
    write_json(os.path.join(folder, "sweep.json"), about)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return path
    table = pa.table({k: [None if r.get(k) is None else str(r.get(k)) for r in rows] for k in cols})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(os.path.join(folder, "sweep.parquet"), sink.getvalue().to_pybytes())
    return path


def read_table(path: str) -> list[dict]:
    """The rows of a ``sweep.csv`` (values as text)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
