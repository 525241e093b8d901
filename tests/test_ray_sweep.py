"""``rnnflow sweep --engine ray`` against a real local Ray head (``ray start --head`` in a
temporary folder, with token authentication (Ray's default since 2.59) on a token made for this
module and handed to the head and to the driver through the environment; the driver is the
CLI in a subprocess, since Ray reads its auth settings when it is first imported): the table equals the local engine's, and a sweep whose Ray
worker is killed mid-cell still completes (the task is retried). Skipped without the ray extra."""
from __future__ import annotations

import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import importlib.util

from rnnflow.sweep.table import read_table

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")

RAY = str(pathlib.Path(sys.executable).parent / "ray")
ROOT = pathlib.Path(__file__).resolve().parents[1]
VOLATILE = ("folder", "wall_seconds", "reused", "start", "end", "host")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A local head on a free port: ``(address, env)``, the env carrying its token for the driver.
    ``--node-ip-address`` is left to Ray: the driver canonicalises 127.0.0.1 to the node's own
    address, so a head bound to 127.0.0.1 alone cannot be reached."""
    tmp = tmp_path_factory.mktemp("ray")
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--temp-dir", str(tmp),
                        "--num-cpus", "2", "--num-gpus", "1",   # a declared GPU this machine lacks
                        "--include-dashboard", "false", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env, timeout=120)
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _sweep(argv, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnflow", *argv], capture_output=True, text=True,
                          env=env, timeout=300)


def _table(out):
    (path,) = pathlib.Path(out).glob("sweeps/*/sweep.csv")
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_table(str(path))]


def _argv(out, *extra):
    return ["sweep", "tanh_vs_weights", "--grid", "hidden=4,8", "--seeds", "0-1", "--out", str(out),
            "--no-progress", *extra]


def test_ray_table_equals_the_local_engines(head, tmp_path):
    address, env = head
    ray_run = _sweep(_argv(tmp_path / "ray", "--engine", "ray", "--address", address), env)
    assert ray_run.returncode == 0, ray_run.stderr[-2000:]
    local = _sweep(_argv(tmp_path / "local", "--workers", "1"), {**os.environ, "PYTHONPATH": str(ROOT)})
    assert local.returncode == 0, local.stderr[-2000:]
    rows = _table(tmp_path / "ray")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}
    assert rows == _table(tmp_path / "local")


def _worker_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "ray::run_cell"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_a_killed_ray_worker_loses_only_its_cell(head, tmp_path):
    address, env = head
    killed = []

    def killer():   # kill the first worker seen running a cell
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            pids = _worker_pids()
            if pids:
                pid = min(pids)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)
    t = threading.Thread(target=killer)
    t.start()
    try:
        run = _sweep(_argv(tmp_path, "--engine", "ray", "--address", address), env)
    finally:
        t.join()
    assert killed, "no Ray worker was seen running a cell"
    assert run.returncode == 0, run.stderr[-2000:]
    rows = _table(tmp_path)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}


def test_gpus_per_cell_reserves_ray_gpus_and_runs_each_cell_on_cuda(head, tmp_path):
    """The head declares one GPU this machine does not have: half a GPU per cell is scheduled,
    each cell runs its study on device 'cuda', which torch cannot see, so every row fails with
    that error (on a real GPU node the same cells train there); asking for more GPUs per cell
    than the cluster has is refused before any cell is queued."""
    address, env = head
    argv = ["sweep", "jacobian_decay", "--grid", "steps=8,12", "--out", str(tmp_path / "g"), "--no-progress",
            "--engine", "ray", "--address", address]
    too_many = _sweep(argv + ["--gpus-per-cell", "2"], env)
    assert too_many.returncode == 2 and "gpus_per_cell=2 but the Ray cluster has 1 GPU(s)" in too_many.stderr
    half = _sweep(argv + ["--gpus-per-cell", "0.5"], env)
    assert half.returncode == 0, half.stderr[-2000:]
    rows = _table(tmp_path / "g")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"failed"}
    assert all("device='cuda' is unavailable" in r["error"] for r in rows), [r["error"] for r in rows]
