"""``rnnflow sweep --engine ray`` against a real local Ray head (``ray start --head`` on
127.0.0.1 in a temporary folder): the table equals the local engine's, and a sweep whose Ray
worker is killed mid-cell still completes (the task is retried). Skipped without the ray extra."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from rnnflow import cli   # noqa: E402
from rnnflow.sweep.table import read_table   # noqa: E402

RAY = str(pathlib.Path(sys.executable).parent / "ray")
ROOT = pathlib.Path(__file__).resolve().parents[1]
VOLATILE = ("folder", "wall_seconds", "reused", "start", "end", "host")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--temp-dir", str(tmp), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                   check=True, capture_output=True, env=env, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def _table(out):
    (path,) = pathlib.Path(out).glob("sweeps/*/sweep.csv")
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_table(str(path))]


def _argv(out, *extra):
    return ["sweep", "tanh_vs_weights", "--grid", "hidden=4,8", "--seeds", "0-1", "--out", str(out),
            "--no-progress", *extra]


def test_ray_table_equals_the_local_engines(head, tmp_path, capsys):
    assert cli.main(_argv(tmp_path / "ray", "--engine", "ray", "--address", head)) == 0
    assert cli.main(_argv(tmp_path / "local", "--workers", "1")) == 0
    rows = _table(tmp_path / "ray")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}
    assert rows == _table(tmp_path / "local")
    capsys.readouterr()


def _worker_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "ray::run_cell"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_a_killed_ray_worker_loses_only_its_cell(head, tmp_path, capsys):
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
        rc = cli.main(_argv(tmp_path, "--engine", "ray", "--address", head))
    finally:
        t.join()
    assert killed, "no Ray worker was seen running a cell"
    assert rc == 0
    rows = _table(tmp_path)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}
    capsys.readouterr()
