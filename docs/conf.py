"""Sphinx configuration: furo theme, MyST Markdown pages, autodoc API reference and a
sphinx-gallery that *executes* every experiment script at build time, so each figure on
the site is regenerated from code. Offline: no intersphinx (its inventories need the net)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # rnnflow_docs: the gallery pages' helper and image scraper
os.environ.setdefault("MPLBACKEND", "Agg")

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
exclude_patterns = ["_build", "gallery/README.rst", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "auto_examples/*.codeobj.json"]
html_theme = "furo"
html_title = "rnnflow"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
suppress_warnings = ["config.cache"]

sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 1,
    "within_subsection_order": "FileNameSortKey",
    "run_stale_examples": True,  # every build re-runs every study: figures always come from code
    "image_scrapers": ("rnnflow_docs.study_figure_scraper",),
}
