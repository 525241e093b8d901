"""The import graph: the core never imports a backend or the package face, and has no circle.

The core is every module of rnnflow outside ``rnnflow.torch`` and ``rnnflow.jax``; it
reaches a backend only through the lazy loader ``rnnflow._backend.load``.
"""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "rnnflow"
BACKENDS = ("rnnflow.torch", "rnnflow.jax")


def _modules():
    """``{dotted name: path}`` of every module in the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("rnnflow",) + path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
CORE = sorted(m for m in MODULES if not m.startswith(BACKENDS))
IMPORTABLE = [m for m in CORE if m != "rnnflow.__main__"]   # importing __main__ runs the CLI


def _imports(name: str):
    """``[(imported module, is_function_local, line)]`` of rnnflow modules ``name`` imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), str(path))
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if n is not f}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t == "rnnflow" or t.startswith("rnnflow."):
                found.append((t, id(node) in local, node.lineno))
    return found


def _resolve(target: str) -> str:
    while target not in MODULES:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_core_module_imports_with_torch_and_jax_blocked():
    code = (
        "import importlib, sys\n"
        "for m in ('torch', 'jax', 'jaxlib', 'flax', 'optax'):\n"
        "    sys.modules[m] = None  # any import of it raises ImportError\n"
        f"for name in {IMPORTABLE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in ('torch', 'jax', 'flax', 'optax') if sys.modules.get(m) is not None]\n"
        "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_missing_backend_names_the_extra_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import rnnflow as rf\n"
            "try:\n"
            "    rf.build(rf.RNNConfig(2, 3), backend='torch')\n"
            "except ImportError as e:\n"
            "    assert \"pip install 'rnnflow[torch]'\" in str(e), e\n"
            "else:\n"
            "    raise SystemExit('no ImportError')\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_no_backend_and_not_the_package_face(name):
    for target, _local, line in _imports(name):
        assert not target.startswith(BACKENDS), f"{name}:{line} imports {target}"
        if name != "rnnflow":
            assert target != "rnnflow", f"{name}:{line} imports the package face rnnflow/__init__.py"


def test_import_graph_has_no_circle_even_through_function_local_imports():
    """Function-local imports count as edges: one that exists only to dodge a cycle fails here.
    A backend importing the core is an edge; the core reaching a backend goes through
    importlib in rnnflow._backend and is no edge."""
    graph = {m: {_resolve(t) for t, _l, _n in _imports(m)} - {m} for m in MODULES}
    # a package's __init__ re-exporting its submodules is not a dependency of those submodules
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state, path = {}, []

    def visit(m):
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_graph_reader_sees_a_circle():
    """The cycle check above can fail: a made-up graph with a circle is caught."""
    assert _resolve("rnnflow.analysis.trace.pack") == "rnnflow.analysis.trace"
    local = [t for t, is_local, _ in _imports("rnnflow.analysis.backends")]
    assert "rnnflow._backend" in local
