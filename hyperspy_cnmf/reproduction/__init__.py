"""Reproduce the paper's comparison of PCA, primitive NMF and constrained NMF.

Kimoto *et al.* (Sci. Rep. 2025) decompose one simulated 4D-STEM data set
(Methods, Fig. 10) with PCA, primitive NMF and the constrained NMF (Figs. 1,
6 and 7). :func:`compare_methods` runs all of them on the same data,
matches the components to the ground truth for display and scores them
(:mod:`hyperspy_cnmf.scoring`); :func:`score_table` renders the scores as a
markdown table and :func:`convergence_figure` draws Fig. 7;
:func:`reproduce` writes every figure (``python -m hyperspy_cnmf reproduce``).

By job: :mod:`.methods` (the registry of methods, each a configured
estimator), :mod:`.compare` (the data unfolded once, as the adapter does;
every method fitted, matched and scored) and :mod:`.report` (the table, the
figures and the files).

Methods (keys of :data:`METHODS`):

=============== ==========================================================
``pca``         rank-k truncated SVD of the *uncentred* data (HyperSpy's
                ``"SVD"`` default; Eckart-Young: the lowest MSE any rank-k
                factorization can reach, the paper's reference line)
``sklearn_nmf`` :class:`sklearn.decomposition.NMF` (coordinate descent,
                ``init="nndsvda"``)
``hyperspy_nmf`` HyperSpy's ``s.decomposition(algorithm="NMF")`` (needs a
                signal; not in the default list: it runs the same
                scikit-learn class)
``mu``          our multiplicative-update NMF (paper eqs. 3-4), no
                domain constraints
``als``         our primitive ALS NMF (paper eqs. 5-6, Fig. 6a)
``maps``        ALS with the map constraint only (Gaussian smoothing, Fig. 6b)
``factors``     ALS with the diffraction constraint only (radial
                continuity, Fig. 6c)
``both``        the fully constrained NMF (Fig. 6d), the paper's protocol
                (``pure_phases=False``)
``pure``        the same fit followed by the pure-phase re-parameterisation
                (``pure_phases=True``,
                :func:`~hyperspy_cnmf.core.phases.separate_phases`): the
                crystalline factors lose the amorphous rings; not in the
                paper
=============== ==========================================================

Every fit of our own solvers but ``pure`` runs with ``pure_phases=False``,
so that the rows reproduce the paper.

Every MSE is computed by the core in float64 on the data itself, ``mean((X
- L F^T)^2)``, so that all methods are measured the same way.
"""

from .compare import Comparison, MethodResult, compare_methods, unfold
from .methods import DEFAULT_METHODS, METHODS, Method, mse_of, truncated_svd
from .report import (
    CLUSTERING_MIN_K,
    FULL_SETTINGS,
    QUICK_SETTINGS,
    clustering_figure,
    convergence_figure,
    refuse_link,
    reproduce,
    score_table,
)

__all__ = [
    "CLUSTERING_MIN_K",
    "DEFAULT_METHODS",
    "FULL_SETTINGS",
    "METHODS",
    "QUICK_SETTINGS",
    "Comparison",
    "Method",
    "MethodResult",
    "clustering_figure",
    "compare_methods",
    "convergence_figure",
    "mse_of",
    "refuse_link",
    "reproduce",
    "score_table",
    "truncated_svd",
    "unfold",
]
