"""Collection settings for the doctests of the package modules."""

import importlib.util

import matplotlib

matplotlib.use("Agg")

# The ipywidgets form needs the optional GUI extra; skip its doctests without it.
collect_ignore = []
if (
    importlib.util.find_spec("link_traits") is None
    or importlib.util.find_spec("ipywidgets") is None
):
    collect_ignore.append("hyperspy_cnmf/gui/ipywidgets.py")
