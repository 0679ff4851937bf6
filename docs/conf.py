"""Sphinx configuration of the hyperspy_cnmf documentation.

Build from the repository root (``pip install -e ".[docs]"`` first)::

    python -m sphinx -W -b html docs docs/_build/html

``python tools/check_docs.py`` builds the same way and then checks the
built pages (no figure shown twice, no empty sidebar, no cut summaries).

The gallery scripts in ``docs/examples`` run during the build (about a
minute on two cores); ``-D plot_gallery=0`` skips running them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import hyperspy_cnmf  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))  # gallery_helpers

# -- Project -----------------------------------------------------------------

project = "hyperspy_cnmf"
author = "hyperspy_cnmf developers"
copyright = "2025, hyperspy_cnmf developers"  # noqa: A001
release = hyperspy_cnmf.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "README*",
    "sphinxext",
    "examples",
]
templates_path: list[str] = []
default_role = "code"  # `x` renders as code, never as a broken reference

# No internet on the build machines: no intersphinx.
# References to numpy/scipy/HyperSpy objects render as plain text.

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections say it all
autodoc_mock_imports = ["traitsui", "cupy", "cupyx"]

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Autosummary's one-line summaries end at the first ". ": keep the paper's
# abbreviations ("Sci. Rep.", "Fig. 4", "eqs. 10-11") inside the sentence.
import sphinx.ext.autosummary  # noqa: E402

sphinx.ext.autosummary.WELL_KNOWN_ABBREVIATIONS = (
    *sphinx.ext.autosummary.WELL_KNOWN_ABBREVIATIONS,
    "Sci.",
    "Rep.",
    "Fig.",
    "Figs.",
    "eq.",
    "eqs.",
)

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"hyperspy_cnmf {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_show_sourcelink = True
# Pages with no sub-pages get no (empty) "Section Navigation" sidebar; the
# user guide and the gallery keep theirs (their index pages list them).
html_sidebars = {
    "index": [],
    "api": [],
    "benchmarks": [],
    "changelog": [],
    "dev/architecture": [],
}


# -- Sphinx-Gallery ------------------------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("hyperspy_cnmf",),
    "reference_url": {"hyperspy_cnmf": None},
    "image_scrapers": ("matplotlib", "gallery_helpers.scrape_figures"),
    "reset_modules": ("matplotlib", "gallery_helpers.reset_state"),
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # no sg_execution_times.rst in docs/
}
