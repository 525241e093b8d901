"""rnnflow.compile_cache: JAX's persistent compilation cache, as the CLI turns it on."""
import json
import os
import subprocess
import sys

import pytest

from rnnflow import compile_cache

pytest.importorskip("jax")

PROBE = r"""
import json, sys
from rnnflow import compile_cache
where = compile_cache.configure()
import jax, jax.monitoring, jax.numpy as jnp
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))

@jax.jit
def f(x):   # big enough to take more than MIN_COMPILE_SECS... or not: the minimum is lowered below
    for _ in range(40):
        x = jnp.tanh(x @ x.T) + jnp.sin(x)
    return x.sum()

f(jnp.ones((16, 16)))
print(json.dumps({"dir": where, "jax_dir": jax.config.jax_compilation_cache_dir,
                  "hits": events.count("/jax/compilation_cache/cache_hits"),
                  "misses": events.count("/jax/compilation_cache/cache_misses")}))
"""


def _probe(env):
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION", "JAX_PERSISTENT"))}
    env.pop(compile_cache.ENV, None)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"   # cache even this small program
    env.update(kw)
    return env


def test_second_process_loads_the_program_from_disk(tmp_path):
    env = _env(RNNFLOW_JAX_CACHE=str(tmp_path / "cache"))
    first = _probe(env)
    assert first["dir"] == first["jax_dir"] == str(tmp_path / "cache")
    assert first["hits"] == 0 and first["misses"] >= 1
    assert any((tmp_path / "cache").iterdir())          # written to disk
    second = _probe(env)
    assert second["hits"] >= 1 and second["misses"] == 0


def test_off_leaves_jax_alone(tmp_path):
    got = _probe(_env(RNNFLOW_JAX_CACHE="off", XDG_CACHE_HOME=str(tmp_path)))
    assert got["dir"] is None and got["jax_dir"] is None and got["hits"] == 0
    for word in ("0", "none", "OFF", " false "):
        env = {compile_cache.ENV: word, "XDG_CACHE_HOME": str(tmp_path)}
        assert compile_cache.configure(env) is None and "JAX_COMPILATION_CACHE_DIR" not in env
    assert not any(tmp_path.iterdir())


def test_a_users_own_cache_dir_wins(tmp_path):
    mine = str(tmp_path / "mine")
    got = _probe(_env(JAX_COMPILATION_CACHE_DIR=mine, RNNFLOW_JAX_CACHE=str(tmp_path / "ours")))
    assert got["dir"] == got["jax_dir"] == mine
    assert not (tmp_path / "ours").exists()


def test_default_dir_names_versions_and_machine(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    got = compile_cache.configure(env)
    from importlib import metadata
    expect = tmp_path / "rnnflow" / (f"jax-{metadata.version('jax')}-{metadata.version('jaxlib')}-"
                                     f"{compile_cache.machine_tag()}")
    assert got == str(expect) and expect.is_dir()
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(expect)
    assert len(compile_cache.machine_tag()) == 8


def test_uncreatable_dir_turns_the_cache_off_with_a_message(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {compile_cache.ENV: str(blocker / "sub")}
    assert compile_cache.configure(env) is None
    assert "JAX_COMPILATION_CACHE_DIR" not in env
    assert "cannot be created" in capsys.readouterr().err
