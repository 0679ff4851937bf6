"""What importing hyperspy_cnmf adds to HyperSpy signals (a surface).

* ``algorithm="constrained_nmf"`` in ``s.decomposition`` (the checked
  wrapper of :mod:`hyperspy_cnmf.signals.dispatch`);
* ``s.cluster_components()``, ``s.get_cluster_components()`` (the adapter
  functions of :mod:`hyperspy_cnmf.signals.clustering`) and
  ``s.plot_component_clusters()``;
* ``s.residual_check()`` (:mod:`hyperspy_cnmf.signals.residual`): where
  the last decomposition left a structured residual, as a map and a
  message naming the k to try;
* ``merged.get_orientation_ready()`` and ``merged.match_orientations(bank)``
  (:mod:`hyperspy_cnmf.signals.orientation`): merged diffractions handed to
  pyxem's orientation mapping, units and angle conventions handled;
* :func:`plot_similarity_matrices` and :func:`plot_dendrogram`, which
  accept a signal after ``s.cluster_components()`` and pass its arrays to
  :mod:`hyperspy_cnmf.plotting.clustering`.

When HyperSpy has moved what the dispatch wraps, the package still imports
(the core and the patch-free functions work) and a warning names the
HyperSpy version and the alternatives.
"""

from __future__ import annotations

import functools
import warnings

from .core.validation import user_stacklevel
from .plotting import clustering as plots
from .signals import dispatch
from .signals.clustering import (
    cluster_components,
    cluster_results,
    get_cluster_components,
    merged_arrays,
)
from .signals.orientation import match_orientations, orientation_ready
from .signals.residual import residual_check
from .signals.results import PREFIX, fit_details, is_current

__all__ = [
    "install",
    "is_installed",
    "uninstall",
    "plot_dendrogram",
    "plot_similarity_matrices",
]

_MARK = "_hyperspy_cnmf_method"


def _is_signal(obj):
    return hasattr(obj, "axes_manager") and hasattr(obj, "learning_results")


def plot_similarity_matrices(source=None, **kwargs):
    """Cosine and diffraction similarity matrices of the clustering (Fig. 9a-b).

    The signal-side front of
    :func:`hyperspy_cnmf.plotting.clustering.plot_similarity_matrices`: for a
    signal after ``s.cluster_components()`` the stored
    ``cnmf_cluster_cosine_similarity`` and ``cnmf_cluster_similarity`` are
    shown; anything else is passed on unchanged.

    Parameters
    ----------
    source : BaseSignal, (ndarray, ndarray) or ComponentClusters, optional
    **kwargs
        See :func:`hyperspy_cnmf.plotting.clustering.plot_similarity_matrices`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    RuntimeError
        A signal without a stored (or with a stale) clustering.
    """
    if _is_signal(source):
        source = cluster_results(source)
    return plots.plot_similarity_matrices(source, **kwargs)


def plot_dendrogram(source=None, *, weights=None, **kwargs):
    """Dendrogram of the component clustering with merged diffraction insets.

    The signal-side front of
    :func:`hyperspy_cnmf.plotting.clustering.plot_dendrogram` (Fig. 9c-d):
    for a signal after ``s.cluster_components()`` the stored linkage, labels
    and cut are used and the inset patterns are the merged cluster
    diffractions (:func:`get_cluster_components`); anything else is passed
    on unchanged.

    Parameters
    ----------
    source : BaseSignal or ComponentClusters, optional
    weights : {"l2", "sum"} or array_like, optional
        Component weights of the merged insets (:func:`merged_arrays`).
    **kwargs
        See :func:`hyperspy_cnmf.plotting.clustering.plot_dendrogram`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    RuntimeError
        A signal without a stored (or with a stale) clustering.
    """
    if _is_signal(source):
        signal, source = source, cluster_results(source)
        if kwargs.get("insets", True) and kwargs.get("patterns") is None:
            kwargs["patterns"] = merged_arrays(signal, weights=weights).patterns
    return plots.plot_dendrogram(source, **kwargs)


def _plot_component_clusters(self, **kwargs):
    """Similarity matrices and dendrogram of the component clustering.

    Runs :func:`~hyperspy_cnmf.methods.plot_similarity_matrices`
    and :func:`~hyperspy_cnmf.methods.plot_dendrogram` on this
    signal after ``s.cluster_components()``; keyword arguments go to
    ``plot_dendrogram``.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.figure.Figure)
        The similarity figure and the dendrogram figure.
    """
    return plot_similarity_matrices(self), plot_dendrogram(self, **kwargs)


def _method(function):
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    method.__name__ = function.__name__
    method.__qualname__ = function.__name__
    method.__doc__ = function.__doc__
    setattr(method, _MARK, True)
    return method


def _methods():
    return {
        "cluster_components": _method(cluster_components),
        "get_cluster_components": _method(get_cluster_components),
        "residual_check": _method(residual_check),
        "plot_component_clusters": _method(_plot_component_clusters),
        "get_orientation_ready": _method(orientation_ready),
        "match_orientations": _method(match_orientations),
    }


def _target():
    from hyperspy.learn._mva import MVA

    return MVA


def _signal_class():
    from hyperspy.signal import BaseSignal

    return BaseSignal


def _learning_results_class():
    from hyperspy.learn import LearningResults

    return LearningResults


def _summary_with_fit(original):
    """HyperSpy's summary of the learning results, plus the constrained
    fit's own account (constraints, centre, iterations, error)."""

    @functools.wraps(original)
    def summary(self):
        text = original(self)
        if is_current(self) and hasattr(self, PREFIX + "params"):
            title = "Constrained NMF"
            text += f"\n\n{title}\n{'-' * len(title)}\n" + "\n".join(fit_details(self))
        return text

    setattr(summary, _MARK, original)
    return summary


def _install_summary() -> None:
    cls = _learning_results_class()
    current = cls.__dict__.get("summary")
    if callable(current) and not hasattr(current, _MARK):
        cls.summary = _summary_with_fit(current)


def _uninstall_summary() -> None:
    cls = _learning_results_class()
    original = getattr(cls.__dict__.get("summary"), _MARK, None)
    if original is not None:
        cls.summary = original


def install() -> None:
    """Enable ``algorithm="constrained_nmf"``, add ``cluster_components``,
    ``get_cluster_components``, ``plot_component_clusters``,
    ``get_orientation_ready`` and ``match_orientations`` to HyperSpy
    signals, and the constrained fit's account to
    ``s.learning_results.summary()`` / ``print(s.learning_results)``
    (idempotent).

    A name that HyperSpy (or another package) already defines is left alone,
    with a warning.
    """
    try:
        dispatch.install()
    except dispatch.DispatchError as error:
        warnings.warn(str(error), RuntimeWarning, stacklevel=user_stacklevel())
    _install_summary()
    cls = _target()
    for name, method in _methods().items():
        current = getattr(_signal_class(), name, None)
        if current is None:
            setattr(cls, name, method)
        elif not getattr(current, _MARK, False):
            warnings.warn(
                f"{cls.__name__}.{name} already exists; hyperspy_cnmf leaves it "
                "alone: call the functions hyperspy_cnmf.cluster_components(s), "
                "get_cluster_components(s) and plot_dendrogram(s) instead",
                UserWarning,
                stacklevel=user_stacklevel(),
            )


def is_installed() -> bool:
    """Whether the algorithm name and the clustering methods are installed."""
    cls = _signal_class()
    return dispatch.is_installed() and all(
        getattr(getattr(cls, n, None), _MARK, False) for n in _methods()
    )


def uninstall() -> None:
    """Remove what :func:`install` added."""
    dispatch.uninstall()
    _uninstall_summary()
    cls = _target()
    for name in _methods():
        if getattr(cls.__dict__.get(name), _MARK, False):
            delattr(cls, name)
