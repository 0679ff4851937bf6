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


def pytest_configure(config):
    """Compile the numba functions of our dependencies once, before xdist workers.

    pyxem imports orix and diffsims, whose numba functions compile and write
    their cache into site-packages on first use. In a fresh environment two
    pytest-xdist workers compiling at once can leave a corrupt cache that
    then segfaults every later import; compiling here, in the controller,
    before the workers start, avoids the race.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    import numpy as np
    import pyxem.utils.indexation_utils  # noqa: F401  (orix, diffsims)
    from hyperspy.misc import array_tools

    array_tools.round_half_away_from_zero(np.array([0.5]))
    array_tools.round_half_towards_zero(np.array([0.5]))
