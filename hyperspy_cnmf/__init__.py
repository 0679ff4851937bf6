"""Physics-constrained NMF and rotation-invariant clustering for HyperSpy/pyxem.

Importing this package enables, on HyperSpy and pyxem signals:

* ``s.decomposition(algorithm="constrained_nmf", output_dimension=k, ...)``
  (also :func:`decomposition`, without patching);
* ``s.cluster_components()``, ``s.get_cluster_components()`` and
  ``s.plot_component_clusters()`` after any decomposition.

The numerical core (:mod:`hyperspy_cnmf.core`) imports no HyperSpy and works
on bare numpy, cupy or dask matrices, also where HyperSpy, pyxem and
rosettasciio are not installed (then only the core names are exported);
:class:`ConstrainedNMF` is its scikit-learn estimator, and
``s.decomposition(algorithm=ConstrainedNMF(k, ...))`` the route that needs no
patching at all.
"""

import importlib.util as _importlib_util

from .core import (
    AxisInfo,
    Backend,
    ConstrainedNMF,
    Constraint,
    ConstraintContext,
    ConvergenceWarning,
    GaussianSmoothing,
    Geometry,
    NonNegativity,
    RadialContinuity,
    SpectralContinuity,
    constrained_nmf,
    get_backend,
)
from .core.clustering import cluster_patterns, merge_components
from .core.similarity import cosine_similarity, diffraction_similarity

__version__ = "0.1.0.dev0"

__all__ = [
    "AxisInfo",
    "Backend",
    "ConstrainedNMF",
    "Constraint",
    "ConstraintContext",
    "ConvergenceWarning",
    "GaussianSmoothing",
    "Geometry",
    "NonNegativity",
    "RadialContinuity",
    "SpectralContinuity",
    "cluster_patterns",
    "constrained_nmf",
    "cosine_similarity",
    "diffraction_similarity",
    "get_backend",
    "merge_components",
]

# The core needs only numpy, scipy and scikit-learn; the signal layer and the
# algorithm name need HyperSpy, and are enabled only where it is installed.
if _importlib_util.find_spec("hyperspy") is not None:
    from .methods import install as _install_methods
    from .methods import plot_dendrogram, plot_similarity_matrices
    from .signals import decomposition, signal_geometry
    from .signals.clustering import (
        ComponentClusters,
        cluster_components,
        get_cluster_components,
    )
    from .signals.orientation import match_orientations, orientation_ready

    _install_methods()
    __all__ += [
        "ComponentClusters",
        "cluster_components",
        "decomposition",
        "get_cluster_components",
        "match_orientations",
        "orientation_ready",
        "plot_dendrogram",
        "plot_similarity_matrices",
        "signal_geometry",
    ]
