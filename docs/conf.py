"""Sphinx configuration: furo theme, MyST Markdown pages, autodoc API reference and a
sphinx-gallery that *executes* every experiment script at build time, so each figure on
the site is regenerated from code. Offline: no intersphinx (its inventories need the net)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # rnnflow_docs: the gallery pages' helper and image scraper
os.environ.setdefault("MPLBACKEND", "Agg")
from rnnflow import compile_cache  # noqa: E402 (imports no framework)

compile_cache.configure()  # the gallery's JAX programs kept on disk for the next build (RNNFLOW_JAX_CACHE=off: not)

project = "rnnflow"
author = "the rnnflow developers"
copyright = "2026, the rnnflow developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "sg_execution_times.rst", "gallery/README.rst", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "auto_examples/*.codeobj.json"]
html_theme = "furo"
html_title = "rnnflow"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_custom_sections = [("Fields", "params_style")]   # a NamedTuple's fields (as Attributes would, but no second entry beside autodoc's own)
suppress_warnings = ["config.cache"]

sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "write_computation_times": False,  # its page loads jQuery/DataTables from CDNs and showed "Mem (MB) 0.0"
    "min_reported_time": 1,
    "within_subsection_order": "rnnflow_docs.GalleryNumberSortKey",  # plot_10 after plot_9
    "run_stale_examples": True,  # every build re-runs every study: figures always come from code
    "image_scrapers": ("rnnflow_docs.study_figure_scraper",),
}

# Math renders offline: MathJax 3 (its self-contained SVG build, fonts inside the one file)
# is served from the built site, copied from the django-static-mathjax wheel that
# rnnflow[docs] installs; no CDN, so a reader without a network sees typeset math too.
mathjax_path = "mathjax/tex-svg.js"   # relative to _static


def _mathjax_file():
    import importlib.util
    import pathlib
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the docs need MathJax from the 'django-static-mathjax' package: "
                           "python -m pip install 'rnnflow[docs]'")
    return pathlib.Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5" / "tex-svg.js"


def _copy_mathjax(app, exception):
    import shutil
    if exception is None and app.builder.format == "html":
        dest = os.path.join(app.outdir, "_static", "mathjax")
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(_mathjax_file(), os.path.join(dest, "tex-svg.js"))
        # GitHub Pages serves the folder as it is (no Jekyll, which would drop _static/ and _images/)
        open(os.path.join(app.outdir, ".nojekyll"), "w").close()


def setup(app):
    _mathjax_file()   # fail at the start of a build, not after it
    app.connect("build-finished", _copy_mathjax)
