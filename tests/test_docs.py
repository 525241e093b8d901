"""The docs promise: every study has a page that regenerates its figures, every image the
docs reference comes from code, and the site builds with warnings as errors (smoke scale)."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from rnnflow import studies

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _gallery_pages():
    return {p: p.read_text() for p in sorted((DOCS / "gallery").glob("plot_*.py"))}


def test_every_study_has_a_gallery_page_that_runs_it_in_both_backends():
    pages = _gallery_pages()
    for name in studies.STUDIES:
        hits = [p for p, text in pages.items() if f'run_for_docs("{name}", "torch")' in text]
        assert hits, f"no docs page runs study {name!r}"
        text = pages[hits[0]]
        assert f'run_for_docs("{name}", "jax"' in text, f"{hits[0].name} does not run the jax backend"
        assert f"rnnflow run {name}" in text, f"{hits[0].name} does not show the command"
    for p, text in pages.items():
        assert any(f'"{n}"' in text for n in studies.STUDIES), f"{p.name} runs no registered study"


def test_no_static_images_in_the_docs():
    """Figures reach the site only through the gallery scraper (written by the studies)."""
    pattern = re.compile(r"!\[[^\]]*\]\(([^)]+)\)|\.\. (?:image|figure):: (\S+)")
    for page in list(DOCS.glob("*.md")) + list(DOCS.glob("*.rst")):
        for m in pattern.finditer(page.read_text()):
            ref = m.group(1) or m.group(2)
            pytest.fail(f"{page.name} references a static image {ref!r}; draw it in a study instead")
    static = [p for p in DOCS.rglob("*.png") if "_build" not in p.parts and "auto_examples" not in p.parts]
    assert not static, f"hand-made images in docs/: {static}"


def test_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx_gallery")
    src = tmp_path / "docs"  # a copy, so the gallery's generated files stay out of the tree
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "auto_examples"))
    env = dict(os.environ, RNNFLOW_SCALE="smoke", RNNFLOW_DOCS_OUT=str(tmp_path / "results"), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "html")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    for name in studies.STUDIES:
        assert list((tmp_path / "results" / name).glob("*/summary.json")), name
    gallery = list((tmp_path / "html" / "_images").glob("sphx_glr_plot_*"))
    assert len(gallery) >= len(studies.STUDIES)
