"""Sphinx-Gallery helpers, referenced by name from ``docs/conf.py``.

They live in an importable module (not in ``conf.py``) so that Sphinx can
pickle the configuration, which names them as strings.
"""

from __future__ import annotations

import warnings

__all__ = ["reset_state", "scrape_figures"]

_SEEN: list = []  # strong references, so that ids of saved figures stay unique


def _made_by_pyplot(fig) -> bool:
    """True for a figure that pyplot created, even after it was closed.

    Sphinx-Gallery's matplotlib scraper saves and *closes* pyplot's figures;
    a closed figure is no longer in ``plt.get_fignums()`` but keeps the
    ``number`` that pyplot gave it (a bare ``Figure()`` has none).
    """
    try:
        return fig.number is not None
    except AttributeError:
        return False


def _new_figures(namespace):
    """Figures bound to a name in ``namespace`` (alone or in a tuple/list)
    that pyplot did not create and that have not been saved yet."""
    from matplotlib.figure import Figure

    found = []
    for value in list(namespace.values()):
        values = value if isinstance(value, (tuple, list)) else (value,)
        for item in values:
            if (
                isinstance(item, Figure)
                and not _made_by_pyplot(item)
                and not any(item is f for f in _SEEN)
                and not any(item is f for f in found)
            ):
                found.append(item)
    return found


def scrape_figures(block, block_vars, gallery_conf):
    """Save matplotlib figures built without pyplot.

    The package's plotting functions (:mod:`hyperspy_cnmf.plotting`) return
    :class:`matplotlib.figure.Figure` objects that pyplot does not know
    about (no global state is left behind), so Sphinx-Gallery's matplotlib
    scraper misses them. This scraper saves every new ``Figure`` bound to a
    name in the example's globals, e.g. ``fig = plot_dendrogram(s)``, and
    leaves pyplot's figures (``plt.subplots``, ``hs.plot.plot_images``,
    ``s.plot()``) to the matplotlib scraper, so none is shown twice.
    """
    from sphinx_gallery.scrapers import figure_rst

    paths = []
    namespace = block_vars.get("example_globals", {})
    for fig in _new_figures(namespace):
        path = next(block_vars["image_path_iterator"])
        fig.savefig(path, dpi=100)
        _SEEN.append(fig)
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])


def reset_state(gallery_conf, fname):
    """Before each example: no progress bars, no third-party noise.

    Also silenced: the solver's note that the simulated data have a few
    detector pixels (corners) with zero counts in every pattern.
    """
    import hyperspy.api as hs

    hs.preferences.General.show_progressbar = False
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*_get_block_pattern.*")
    warnings.filterwarnings("ignore", message="X has .* all-zero", category=UserWarning)
