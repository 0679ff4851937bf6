"""Physics-constrained NMF and rotation-invariant clustering for HyperSpy/pyxem.

Importing this package enables, on HyperSpy and pyxem signals:

* ``s.decomposition(algorithm="constrained_nmf", output_dimension=k, ...)``
  (also :func:`decomposition`, without patching);
* ``s.cluster_components()``, ``s.get_cluster_components()`` and
  ``s.plot_component_clusters()`` after any decomposition.

The numerical core (:mod:`hyperspy_cnmf.core`) imports no HyperSpy and works
on bare numpy, cupy or dask matrices; :class:`ConstrainedNMF` is its
scikit-learn estimator.
"""

from .core import (
    AxisInfo,
    ConstrainedNMF,
    Constraint,
    ConstraintContext,
    ConvergenceWarning,
    GaussianSmoothing,
    Geometry,
    NonNegativity,
    RadialContinuity,
    constrained_nmf,
)
from .core.clustering import cluster_patterns, merge_components
from .core.similarity import cosine_similarity, diffraction_similarity
from .plotting.clustering import plot_dendrogram, plot_similarity_matrices
from .signals import decomposition, signal_geometry
from .signals.clustering import (
    ComponentClusters,
    cluster_components,
    get_cluster_components,
)
from .signals.clustering import install as _install_clustering
from .signals.dispatch import install as _install_dispatch

__version__ = "0.1.0.dev0"

_install_dispatch()
_install_clustering()

__all__ = [
    "AxisInfo",
    "ComponentClusters",
    "ConstrainedNMF",
    "Constraint",
    "ConstraintContext",
    "ConvergenceWarning",
    "GaussianSmoothing",
    "Geometry",
    "NonNegativity",
    "RadialContinuity",
    "cluster_components",
    "cluster_patterns",
    "constrained_nmf",
    "cosine_similarity",
    "decomposition",
    "diffraction_similarity",
    "get_cluster_components",
    "merge_components",
    "plot_dendrogram",
    "plot_similarity_matrices",
    "signal_geometry",
]
