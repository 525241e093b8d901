"""The backends stay thin: code written the same in rnnflow/torch and rnnflow/jax is the
mirrored math (cells, attention, norms, activations) plus the shared signatures, not
control logic copied twice (that belongs in the core)."""
import io
import pathlib
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1] / "rnnflow"
MATH = {"activations.py", "mlp.py", "rnn.py", "transformer.py", "diagonal.py", "lru.py", "mingru.py", "ssm.py"}   # twinned on purpose
LIMIT = 60   # identical non-math code lines between the two backends


def code_lines(src: str) -> list[str]:
    """Stripped code lines: no docstrings or comments, no imports, no ``def``/``class``
    signatures (mirrored by design), nothing shorter than 4 characters."""
    doc = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.STRING and tok.string.startswith(('"""', "'''")):
            doc.update(range(tok.start[0], tok.end[0] + 1))
    out = []
    for i, line in enumerate(src.splitlines(), 1):
        s = line.split("  #")[0].strip()
        if (i in doc or len(s) < 4 or s.startswith(("#", "import ", "from ", "def ", "class ", "@"))
                or s.endswith(("(", "[", "{"))):
            continue
        out.append(s)
    return out


def shared(a: str, b: str) -> list[str]:
    other = set(code_lines(b))
    return [s for s in code_lines(a) if s in other]


def test_identical_non_math_code_between_backends_is_small():
    rows = {}
    for t in sorted((ROOT / "torch").glob("*.py")):
        j = ROOT / "jax" / t.name
        assert j.exists(), f"rnnflow/jax/{t.name} is missing: the backends mirror file for file"
        if t.name not in MATH:
            rows[t.name] = shared(t.read_text(), j.read_text())
    total = sum(len(v) for v in rows.values())
    detail = "\n".join(f"{k}: {s}" for k, v in rows.items() for s in v)
    assert total < LIMIT, f"{total} identical non-math code lines in rnnflow/torch and rnnflow/jax:\n{detail}"


def test_the_counter_counts():
    a = 'def f(x):\n    """doc line here"""\n    y = x + 1  # why\n    return y\n'
    b = 'def g(x):\n    """doc line here"""\n    y = x + 1\n    return y * 2\n'
    assert shared(a, b) == ["y = x + 1"]
    assert (ROOT / "jax").is_dir() and (ROOT / "torch").is_dir()
