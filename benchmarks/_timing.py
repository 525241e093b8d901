"""Shared timing for the benchmark scripts: thread pinning, interleaved rounds, header, tables.

Order of use in a script: :func:`pin_threads` BEFORE importing numpy, torch or jax (XLA reads
``XLA_FLAGS`` once, when jax creates its CPU client; BLAS pools size themselves on import),
then the imports, then :func:`limit_pools`, then :func:`interleave` and :func:`markdown`.

Only the standard library is imported here, so importing this module changes no thread pool.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time

# The one XLA CPU flag for intra-op threads in this jaxlib (0.10.2): Eigen's thread pool.
# ``intra_op_parallelism_threads`` is a client option, not a flag: as ``--intra_op_...``
# XLA aborts ("Unknown flag in XLA_FLAGS"); without the ``--`` it is silently ignored.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(n: int) -> str:
    """Ask every library for ``n`` threads; call before numpy/torch/jax are imported.

    Sets the BLAS/OpenMP variables to ``n``. For ``n == 1`` appends
    :data:`XLA_SINGLE_THREAD` to ``XLA_FLAGS`` (replacing any earlier setting of that flag,
    keeping the others); XLA has no flag for ``n > 1`` threads, so it then keeps its default
    (all cores). Returns the resulting ``XLA_FLAGS``.
    """
    if "jax" in sys.modules:
        raise RuntimeError("pin_threads must run before jax is imported: XLA_FLAGS is read once")
    for var in _BLAS_ENV:
        os.environ[var] = str(n)
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if n == 1:
        flags.append(XLA_SINGLE_THREAD)
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


def limit_pools(n: int) -> None:
    """After the imports: torch's intra/inter-op pools and every BLAS pool to ``n`` threads."""
    if "torch" in sys.modules:
        import torch
        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # already set, or inter-op work already ran
            pass
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:  # pragma: no cover
        pass


def looped(fn):
    """``fn()`` -> ``run(n)`` calling it ``n`` times (the form :func:`interleave` times)."""
    def run(n):
        for _ in range(n):
            fn()
    return run


def interleave(fns: dict, rounds: int, steps: int = 1, warmup: int = 2):
    """Time ``fns`` (``name -> run(n)``) in turn for ``rounds`` rounds of ``steps`` calls.

    Every function first runs ``warmup`` untimed calls (compiles, vmap set-up, caches).
    Round ``r`` runs them in order, round ``r + 1`` in reverse (A B, B A, A B, ...), so no
    function always follows the same neighbour. Returns ``(wall, cpu)``: ``name -> [seconds
    per call, one per round]`` of wall time and of this process's CPU time (all threads;
    cpu / wall is the number of cores a route kept busy).
    """
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for f in fns.values():
        f(warmup)
    order = list(fns)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k](steps)
            wall[k].append((time.perf_counter() - t0) / steps)
            cpu[k].append((time.process_time() - c0) / steps)
    return wall, cpu


def min_med(v) -> tuple[float, float]:
    return min(v), statistics.median(v)


def cores(wall, cpu, k) -> float:
    """CPU seconds per wall second over all of ``k``'s rounds."""
    return sum(cpu[k]) / sum(wall[k])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(threads: int) -> str:
    """One line: machine, versions of what is imported, thread settings, load average."""
    versions = [f"python {platform.python_version()}"]
    for mod in ("numpy", "torch", "jax", "jaxlib", "flax"):
        if mod in sys.modules:
            versions.append(f"{mod} {sys.modules[mod].__version__}")
    thr = [f"--threads {threads}"]
    if "torch" in sys.modules:
        import torch
        thr.append(f"torch {torch.get_num_threads()} intra / {torch.get_num_interop_threads()} inter-op")
    try:
        from threadpoolctl import threadpool_info
        thr.append("BLAS " + ", ".join(sorted({f"{i['internal_api']}={i['num_threads']}"
                                                for i in threadpool_info()})))
    except ImportError:  # pragma: no cover
        pass
    thr.append(f"XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}'")
    rnnflow = sys.modules.get("rnnflow")
    where = f" | rnnflow from {os.path.dirname(rnnflow.__file__)}" if rnnflow else ""
    return (f"machine: {platform.system()} {platform.machine()}, {_cpu_model()}, "
            f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable) | "
            + ", ".join(versions) + " | " + "; ".join(thr) + f" | load average {load()}" + where)


def markdown(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
