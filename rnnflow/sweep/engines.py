"""Where a sweep's cells run: in this process (``workers=1``), on a local process pool
(``spawn``, each worker's BLAS/XLA/torch threads pinned to its share of the cores before torch
or JAX is imported), or as Ray core tasks (one ``ray.remote`` task per cell, ``max_retries``
so a dead worker's cell is rerun).

Ray core tasks rather than Tune: a cell is a plain function returning its row, and the results
folders, resume and table are rnnflow's own (Tune would add its own trial folders, checkpoints
and a second notion of resume)."""
from __future__ import annotations

import os

from .cell import run_cell
from .table import write_table


def thread_env(threads: int) -> dict:
    """Environment variables that cap a worker's threads at ``threads`` (OpenMP, MKL,
    OpenBLAS, XLA's CPU client)."""
    n = str(int(threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}"}


def _init_worker(threads: int) -> None:
    """Pool initializer (a fresh spawned process, nothing imported yet): pin the threads."""
    os.environ.update(thread_env(threads))
    import torch
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def _bar(total: int, progress):
    from tqdm.auto import tqdm
    stream = None if isinstance(progress, bool) else progress
    return tqdm(total=total, desc="sweep cells", unit="cell", disable=progress is False, file=stream,
                dynamic_ncols=True)


def run_sweep(sweep, *, out: str = "results", workers: int | None = None, engine: str = "local",
              address: str | None = None, progress=True, max_retries: int = 3, device=None,
              gpus_per_cell: float = 0) -> tuple[str, list[dict]]:
    """Run every cell of ``sweep`` (:class:`~rnnflow.sweep.grid.Sweep`) and write its table;
    return ``(sweep folder, rows)``, rows in the cells' order. ``engine``: ``local`` (``workers``
    processes, default ``os.cpu_count()``; 1: in this process) or ``ray`` (``address``: ``auto``,
    ``ray://host:port`` or ``host:port``; None starts a local Ray). Completed cells are loaded
    from their folders, not recomputed (the study runs' own resume). A sweep with random
    settings records them in its folder (``samples.json``) before any cell runs, and a re-run
    takes them from there (:func:`recorded_draws`): the same cells, whatever the sampler.

    ``device``: where every cell's study runs (:mod:`rnnflow.devices`; default the CPU).
    ``gpus_per_cell`` (Ray only): the GPUs Ray reserves for each cell (fractions share one:
    0.5 runs two cells per GPU); the cell then runs on ``device="cuda"`` (Ray's
    ``CUDA_VISIBLE_DEVICES`` makes its GPU the first), and a cluster with fewer GPUs than one
    cell asks for is refused before any cell is queued (Ray would wait for them forever)."""
    from ..devices import check_device, check_visible
    from ..validation import check_choice, check_folder, check_real
    check_choice("run_sweep", "engine", engine, ("local", "ray"))
    device = check_device("run_sweep", device)
    check_real("run_sweep", "gpus_per_cell", gpus_per_cell, lo=0.0)
    if gpus_per_cell and engine != "ray":
        raise ValueError(f"run_sweep: gpus_per_cell={gpus_per_cell!r} needs engine='ray' (Ray reserves the GPUs); "
                         "on one machine pass device='cuda' (every cell shares its GPUs) instead")
    if gpus_per_cell and device == "cpu":
        raise ValueError(f"run_sweep: gpus_per_cell={gpus_per_cell!r} with device='cpu' reserves GPUs no cell uses: "
                         "leave device unset (the cells run on their GPU) or drop gpus_per_cell")
    if gpus_per_cell and device is None:
        device = "cuda"
    out = check_folder("out", out)
    sweep = recorded_draws(sweep, sweep.folder(out))
    cells = sweep.cells()
    workers = os.cpu_count() or 1 if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"run_sweep(workers={workers}) is invalid: expected an integer >= 1")
    if engine == "local":
        check_visible("run_sweep", device, sweep.backend)   # a GPU this machine cannot see: before any cell
    rows = [None] * len(cells)
    with _bar(len(cells), progress) as bar:
        if engine == "ray":
            _ray(cells, out, rows, bar, address, max_retries, device, gpus_per_cell)
        elif workers == 1:
            for i, cell in enumerate(cells):
                rows[i] = run_cell(cell, out, device)
                bar.update()
        else:
            _pool(cells, out, rows, bar, workers, device)
    folder = sweep.folder(out)
    write_table(folder, sweep, rows)
    return folder, rows


def recorded_draws(sweep, folder: str):
    """``sweep`` with the drawn settings of ``folder/samples.json`` when it holds this spec's,
    else ``sweep`` itself, its draws then written there (atomically); a sweep without random
    settings is returned as it is."""
    import dataclasses

    from ..io import read_json, write_json
    if not sweep.sample:
        return sweep
    path = os.path.join(folder, "samples.json")
    if os.path.exists(path):
        saved = read_json(path)
        if saved.get("spec") == sweep.spec():
            drawn = tuple(tuple((str(k), str(v)) for k, v in point) for point in saved["drawn"])
            return sweep if drawn == sweep.drawn else dataclasses.replace(sweep, drawn=drawn)
    os.makedirs(folder, exist_ok=True)
    write_json(path, {"spec": sweep.spec(), "drawn": [[list(kv) for kv in point] for point in sweep.drawn]})
    return sweep


def _pool(cells, out, rows, bar, workers, device=None) -> None:
    import concurrent.futures as cf
    import multiprocessing
    threads = max(1, (os.cpu_count() or 1) // workers)
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_init_worker, initargs=(threads,)) as pool:
        futures = {pool.submit(run_cell, cell, out, device): i for i, cell in enumerate(cells)}
        for fut in cf.as_completed(futures):
            rows[futures[fut]] = fut.result()
            bar.update()


def _ray(cells, out, rows, bar, address, max_retries, device=None, gpus_per_cell: float = 0) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'rnnflow[ray]'") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": thread_env(1)})
        except ConnectionError as e:   # most often: the head's auth token is not this process's
            raise ValueError(f"{e}; if the cluster uses token authentication (Ray's default since "
                             "2.59), give this process its token: RAY_AUTH_MODE=token "
                             "RAY_AUTH_TOKEN=... (or `ray get-auth-token`)") from None
    try:
        if gpus_per_cell:
            have = float(ray.cluster_resources().get("GPU", 0))
            if have < gpus_per_cell:
                raise ValueError(f"run_sweep: gpus_per_cell={gpus_per_cell:g} but the Ray cluster has {have:g} GPU(s): "
                                 "start its nodes with GPUs (ray start --num-gpus N) or lower gpus_per_cell")
        task = ray.remote(num_cpus=1, num_gpus=gpus_per_cell, max_retries=max_retries,
                          retry_exceptions=False)(run_cell)
        refs = {task.remote(cell, os.path.abspath(out), device): i for i, cell in enumerate(cells)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                rows[refs[ref]] = ray.get(ref)
                bar.update()
    finally:
        if started:
            ray.shutdown()
