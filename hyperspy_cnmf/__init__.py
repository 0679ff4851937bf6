"""Physics-constrained NMF and rotation-invariant clustering for HyperSpy/pyxem.

Importing this package enables ``s.decomposition(algorithm="constrained_nmf")``
on HyperSpy and pyxem signals. The numerical core
(:mod:`hyperspy_cnmf.core`) works on bare numpy/cupy/dask matrices.
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

__version__ = "0.1.0.dev0"

__all__ = [
    "AxisInfo",
    "ConstrainedNMF",
    "Constraint",
    "ConstraintContext",
    "ConvergenceWarning",
    "GaussianSmoothing",
    "Geometry",
    "NonNegativity",
    "RadialContinuity",
    "constrained_nmf",
]

# HyperSpy adapter: ``s.decomposition(algorithm="constrained_nmf")``.
from .signals import decomposition, signal_geometry  # noqa: E402
from .signals.dispatch import install as _install_dispatch  # noqa: E402

_install_dispatch()
__all__ += ["decomposition", "signal_geometry"]

# Component clustering (Fig. 9): ``s.cluster_components()``,
# ``s.get_cluster_components()``, ``s.plot_component_clusters()``.
from .core.clustering import cluster_patterns, merge_components  # noqa: E402
from .core.similarity import cosine_similarity, diffraction_similarity  # noqa: E402
from .plotting.clustering import plot_dendrogram, plot_similarity_matrices  # noqa: E402
from .signals.clustering import (  # noqa: E402
    ComponentClusters,
    cluster_components,
    get_cluster_components,
)
from .signals.clustering import install as _install_clustering  # noqa: E402

_install_clustering()
__all__ += [
    "ComponentClusters",
    "cluster_components",
    "cluster_patterns",
    "cosine_similarity",
    "diffraction_similarity",
    "get_cluster_components",
    "merge_components",
    "plot_dendrogram",
    "plot_similarity_matrices",
]
