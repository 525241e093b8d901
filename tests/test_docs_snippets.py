"""Every ```python block in the docs' prose pages and the README runs as written."""
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = sorted(DOCS.glob("*.md")) + [DOCS.parent / "README.md"]
SNIPPETS = [(f"{page.stem}-{i}", code) for page in PAGES for i, code in enumerate(BLOCK.findall(page.read_text()))]


@pytest.mark.parametrize("code", [c for _, c in SNIPPETS], ids=[n for n, _ in SNIPPETS])
def test_snippet_runs(code):
    # as a reader runs it: JAX's default (standard) dtype promotion, not the suite's strict one
    # (optax's own Adam mixes a Python float with an int32 step count)
    import contextlib
    try:
        import jax
        scope = jax.numpy_dtype_promotion("standard")
    except ImportError:  # pragma: no cover
        scope = contextlib.nullcontext()
    with scope:
        exec(compile(code, "<docs>", "exec"), {"__name__": "__docs__"})


def test_there_are_snippets():
    assert len(SNIPPETS) >= 5
