"""The docs promise: every study has a page that regenerates its figures, every image the
docs reference comes from code, and the site builds with warnings as errors (smoke scale).
The docs build's own code (gallery helper, image scraper) lives in docs/_ext, not in the package."""
import importlib.util
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


def _docs_ext():
    spec = importlib.util.spec_from_file_location("rnnflow_docs", DOCS / "_ext" / "rnnflow_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scraper_shows_the_figures_of_the_runs_the_page_asked_to_show(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sphinx_gallery")
    docs = _docs_ext()
    monkeypatch.setenv("RNNFLOW_SCALE", "smoke")
    monkeypatch.setenv("RNNFLOW_DOCS_OUT", str(tmp_path / "results"))
    monkeypatch.delenv("RNNFLOW_DOCS_REUSE", raising=False)
    torch_result = docs.run_for_docs("tanh_vs_weights", "torch")
    jax_result = docs.run_for_docs("tanh_vs_weights", "jax", show_figures=False, compare_to=torch_result)
    out = capsys.readouterr().out
    assert "tanh_vs_weights [torch, seed 0, smoke]" in out and "tanh_vs_weights [seed 0, smoke]: torch vs jax" in out
    assert f"files in {jax_result.folder}" in out  # tmp_path lies outside the checkout: shown in full
    paths = (str(tmp_path / "gallery" / f"sphx_glr_page_{i:03}.png") for i in range(1, 100))
    os.makedirs(tmp_path / "gallery")
    rst = docs.study_figure_scraper(None, {"image_path_iterator": paths}, {"src_dir": str(tmp_path)})
    shown = sorted((tmp_path / "gallery").iterdir())
    assert len(shown) == len(torch_result.figures) > 0 and all(p.name in rst for p in shown)
    assert "sphx-glr-multi-img" not in rst and rst.count(".. image::") == len(shown)  # full width, one each
    assert "tanh_vs_weights study, torch:" in rst  # alt text says what the figure is
    for png, copy in zip(torch_result.figures, shown):  # the torch run's figures, not the jax run's
        assert copy.read_bytes() == pathlib.Path(png).read_bytes()
    assert docs.study_figure_scraper(None, {"image_path_iterator": paths}, {"src_dir": str(tmp_path)}) == ""


def test_the_package_holds_no_docs_build_code():
    for path in (ROOT / "rnnflow").rglob("*.py"):
        text = path.read_text()
        for word in ("sphinx", "RNNFLOW_DOCS", "run_for_docs"):
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word!r}: docs code goes in docs/_ext"


def test_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx_gallery")
    src = tmp_path / "docs"  # a copy, so the gallery's generated files stay out of the tree
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "auto_examples"))
    # PYTHONPATH: build with this checkout's package (the copy's conf.py points at tmp_path)
    env = dict(os.environ, RNNFLOW_SCALE="smoke", RNNFLOW_DOCS_OUT=str(tmp_path / "results"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # as `make docs` does: the studies first, one per core, then the pages reuse their folders
    pre = subprocess.run([sys.executable, str(DOCS / "_ext" / "precompute.py"), "--scale", "smoke",
                          "--out", str(tmp_path / "results")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert pre.returncode == 0, pre.stdout[-3000:] + pre.stderr[-3000:]
    assert f"{2 * len(studies.STUDIES)}/{2 * len(studies.STUDIES)} runs" in pre.stdout
    env["RNNFLOW_DOCS_REUSE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "html")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    for name in studies.STUDIES:
        assert list((tmp_path / "results" / name).glob("*/summary.json")), name
    pages = list((tmp_path / "html" / "auto_examples").glob("plot_*.html"))
    assert len(pages) >= len(studies.STUDIES)
    for page in pages:   # reused, not recomputed
        text = page.read_text()
        assert "computed in" not in text and ("reused;" in text or "plot_11_sweep" in page.name), page.name
    gallery = list((tmp_path / "html" / "_images").glob("sphx_glr_plot_*"))
    assert len(gallery) >= len(studies.STUDIES)
    # math renders offline: MathJax is served from the site itself, and no page loads a remote script
    assert (tmp_path / "html" / "_static" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
    assert (tmp_path / "html" / ".nojekyll").exists()   # publishable on GitHub Pages as built
    for page in (tmp_path / "html").rglob("*.html"):
        remote = re.findall(r'<script[^>]+src="(?:https?:)?//[^"]*"', page.read_text())
        assert not remote, f"{page.name} loads a remote script: {remote}"
        if "\\(" in page.read_text() or "\\[" in page.read_text():
            assert "_static/mathjax/tex-svg.js" in page.read_text(), f"{page.name} has math but no MathJax"


def test_the_pages_workflow_publishes_what_make_docs_builds():
    """.github/workflows/docs.yml (the README's publishing job) runs `make docs` and uploads the
    folder the Makefile's docs target writes, on the Python the project supports."""
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "docs.yml").read_text())
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    runs = [s["run"] for s in build["steps"] if "run" in s]
    assert runs == ["make docs"]
    make = (ROOT / "Makefile").read_text()
    target = re.search(r"^docs:.*?(?=^\S)", make, re.S | re.M).group(0)
    uploaded = [s["with"]["path"] for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert uploaded and f"-b html docs {uploaded[0]}" in target
    python = [s["with"]["python-version"] for s in build["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    least = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text()).groups()
    assert python and tuple(map(int, python[0].split("."))) >= tuple(map(int, least))
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][-1]["uses"].startswith("actions/deploy-pages")


def test_readme_links_resolve_and_name_every_study_page():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", readme)
    local = [l for l in links if "://" not in l]
    assert local, "the README links no docs page"
    missing = [l for l in local if not (ROOT / l).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    pages = {p.name for p in (DOCS / "gallery").glob("plot_*.py")}
    linked = {pathlib.Path(l).name for l in local}
    assert pages <= linked, f"gallery pages the README does not link: {sorted(pages - linked)}"
