"""sphinx-gallery image scraper: the figures a study wrote are the figures the page shows.

Named in docs/conf.py as
``"image_scrapers": ("rnnflow.studies._sphinx.study_figure_scraper",)``.
"""
from __future__ import annotations

import shutil

from ._common import drain_new_figures


def study_figure_scraper(block, block_vars, gallery_conf, **kwargs) -> str:
    """Copy the PNGs written by the code block just run into the gallery and return their rST."""
    from sphinx_gallery.scrapers import figure_rst
    names = []
    for src, dst in zip(drain_new_figures(), block_vars["image_path_iterator"]):
        shutil.copyfile(src, dst)
        names.append(dst)
    return figure_rst(names, gallery_conf["src_dir"]) if names else ""
