"""The methods the reproduction compares: one registry of configured estimators.

Each entry of :data:`METHODS` is a :class:`Method`: its display label, a
short description, whether :func:`~hyperspy_cnmf.reproduction.compare_methods`
runs it by default, and ``estimator(n_components, context)`` that returns a
configured estimator with scikit-learn's ``fit_transform(X)`` (the maps,
``(n_nav, k)``) and ``components_`` (``(k, n_sig)``). ``X`` is the data
object the adapter unfolds (:func:`~hyperspy_cnmf.signals.decomposition.
kept_data`: masks honoured, never a float copy); the errors are computed by
the core (:meth:`residual_squared` of the data classes), the truncated SVD
with the core's range finder (:func:`~hyperspy_cnmf.core.data.sketch`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..core import ConstrainedNMF, ConvergenceWarning
from ..core.constraints import GaussianSmoothing, RadialContinuity
from ..core.data import DenseData, as_data, sketch

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "PAPER_PROTOCOL",
    "Context",
    "Method",
    "SignalNMF",
    "UncentredSVD",
    "fit_method",
    "mse_of",
    "truncated_svd",
]

#: What our solvers run with unless ``**settings`` say otherwise: the
#: paper's squared error on the data as given (no Poisson loss, no binned
#: scan, whatever the data's dtype) and its ``max_iter`` iterations (no
#: early stop: the primitive baselines settle slowly).
PAPER_PROTOCOL = {"loss": "frobenius", "scan_binning": 1, "n_iter_no_change": None}


@dataclass(frozen=True)
class Context:
    """What a method's estimator is configured from.

    Attributes
    ----------
    settings : dict
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` settings of our solvers
        (with ``random_state``).
    random_state : int or None
        Seed of every method.
    sklearn_max_iter : int
        ``max_iter`` of scikit-learn's and HyperSpy's NMF.
    geometry : Geometry
        Shapes, centre and masks of the data.
    signal : BaseSignal or None
        The input signal, if one was given.
    progress : bool
        Show our solver's progress bar.
    """

    settings: dict
    random_state: Any
    sklearn_max_iter: int
    geometry: Any
    signal: Any = None
    progress: bool = False


class Method(NamedTuple):
    """One entry of :data:`METHODS` (``METHODS[name][0]`` is the label)."""

    label: str
    description: str
    estimator: Callable[[int, Context], Any]
    default: bool = True


class UncentredSVD:
    """Rank-k truncated SVD of the *uncentred* data (HyperSpy's ``"SVD"``).

    Randomized: the core's range finder (:func:`~hyperspy_cnmf.core.data.
    sketch`, as :func:`sklearn.utils.extmath.randomized_svd` with
    ``n_oversamples`` extra vectors and ``n_iter`` power iterations) on any
    data object, then the exact SVD of the small sketch in float64. On the
    simulated data its error is within 1e-6 (relative) of the exact rank-k
    optimum (Eckart-Young: the lowest any rank-k factorization reaches).

    Attributes
    ----------
    components_ : ndarray, shape (k, n_sig)
        Unit-norm right singular vectors, by decreasing singular value.
    """

    def __init__(self, n_components, *, n_iter=10, n_oversamples=20, random_state=0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.n_oversamples = n_oversamples
        self.random_state = random_state

    def fit_transform(self, X, y=None):
        """The maps ``U S`` (n_nav, k); ``X ~= maps @ components_``."""
        from sklearn.utils import check_random_state

        data = as_data(X)
        k = int(self.n_components)
        rank = min(k + int(self.n_oversamples), min(data.shape))
        rng = check_random_state(self.random_state)
        approx = sketch(data, rank, rng, int(self.n_iter))
        U, sigma, Vt = np.linalg.svd(
            np.asarray(approx.Z, dtype=np.float64), full_matrices=False
        )
        self.components_ = Vt[:k]
        return approx.P @ (U[:, :k] * sigma[:k])


class SignalNMF:
    """HyperSpy's ``s.decomposition(algorithm="NMF")`` as an estimator: it
    runs on a copy of ``signal`` (the input's learning results are left
    alone) and ignores ``X``."""

    def __init__(self, signal, n_components, *, max_iter=300, random_state=0):
        self.signal = signal
        self.n_components = n_components
        self.max_iter = max_iter
        self.random_state = random_state

    def fit_transform(self, X=None, y=None):
        if self.signal is None:
            raise ValueError("method 'hyperspy_nmf' needs a HyperSpy signal as input")
        s = self.signal.deepcopy()
        k = int(self.n_components)
        s.decomposition(
            algorithm="NMF",
            output_dimension=k,
            max_iter=self.max_iter,
            random_state=self.random_state,
            print_info=False,
        )
        self.components_ = np.asarray(s.learning_results.factors)[:, :k].T
        return np.asarray(s.learning_results.loadings)[:, :k]


def _in_memory(data):
    """The kept data matrix as an array, for scikit-learn (a view when
    nothing is left out)."""
    X = getattr(data, "X", None)
    if X is None:
        raise ValueError(
            "scikit-learn's NMF needs the data in memory, but this lazy signal "
            "is streamed: load it first (s.compute()) or leave the method out"
        )
    rows, cols = getattr(data, "rows", None), getattr(data, "cols", None)
    if rows is not None:
        X = X[rows]
    return X if cols is None else X[:, cols]


class _SklearnNMF:
    """:class:`sklearn.decomposition.NMF` on the kept data matrix."""

    def __init__(self, n_components, *, max_iter, random_state):
        from sklearn.decomposition import NMF

        self.model = NMF(
            n_components=n_components,
            init="nndsvda",
            solver="cd",
            max_iter=max_iter,
            tol=1e-4,
            random_state=random_state,
        )
        self.max_iter = max_iter

    def fit_transform(self, X, y=None):
        loadings = self.model.fit_transform(_in_memory(X))
        self.components_ = self.model.components_
        return loadings


def _ours(solver, factor=(), loading=(), pure_phases=False):
    """Our solver with these constraints, as a method's estimator factory."""

    def estimator(k, context):
        return ConstrainedNMF(
            k,
            factor_constraints=[c() for c in factor],
            loading_constraints=[c() for c in loading],
            geometry=context.geometry,
            solver=solver,
            pure_phases=pure_phases,
            show_progressbar=context.progress,
            **{**PAPER_PROTOCOL, **context.settings},
        )

    return estimator


def _pca(k, context):
    return UncentredSVD(k, random_state=context.random_state)


def _sklearn_nmf(k, context):
    return _SklearnNMF(
        k, max_iter=context.sklearn_max_iter, random_state=context.random_state
    )


def _hyperspy_nmf(k, context):
    return SignalNMF(
        context.signal,
        k,
        max_iter=context.sklearn_max_iter,
        random_state=context.random_state,
    )


_BOTH = ((RadialContinuity,), (GaussianSmoothing,))

#: Every method the reproduction knows, in display order.
METHODS = {
    "pca": Method("PCA", "truncated SVD of the uncentred data", _pca),
    "sklearn_nmf": Method(
        "NMF (scikit-learn)", "sklearn.decomposition.NMF, solver='cd'", _sklearn_nmf
    ),
    "hyperspy_nmf": Method(
        "NMF (HyperSpy)",
        's.decomposition(algorithm="NMF")',
        _hyperspy_nmf,
        default=False,  # it runs the same scikit-learn class
    ),
    "mu": Method("NMF MU", "multiplicative update, nonnegativity only", _ours("mu")),
    "als": Method(
        "NMF ALS", "primitive ALS, nonnegativity only (Fig. 6a)", _ours("als")
    ),
    "maps": Method(
        "ALS + map smoothing",
        "ALS, Gaussian smoothing of the maps (Fig. 6b)",
        _ours("als", loading=(GaussianSmoothing,)),
    ),
    "factors": Method(
        "ALS + radial continuity",
        "ALS, radial continuity of the diffractions (Fig. 6c)",
        _ours("als", factor=(RadialContinuity,)),
    ),
    "both": Method(
        "constrained NMF", "ALS, both constraints (Fig. 6d)", _ours("als", *_BOTH)
    ),
    "pure": Method(
        "constrained NMF + pure phases",
        "ALS, both constraints, amorphous rings taken out of the crystal patterns",
        _ours("als", *_BOTH, pure_phases=True),
    ),
}

#: What :func:`~hyperspy_cnmf.reproduction.compare_methods` runs by default.
DEFAULT_METHODS = tuple(name for name, method in METHODS.items() if method.default)


def _record(estimator, context):
    """``(history, parameters)`` of a fitted estimator: what was run."""
    if isinstance(estimator, UncentredSVD):
        return None, {}
    if not isinstance(estimator, ConstrainedNMF):  # scikit-learn's, HyperSpy's
        return None, {"max_iter": context.sklearn_max_iter}
    history = {key: np.asarray(v) for key, v in estimator.history_.items()}
    names = {
        side: [type(c).__name__ for c in getattr(estimator, side)]
        for side in ("factor_constraints", "loading_constraints")
    }
    return history, {
        "solver": estimator.solver,
        "pure_phases": estimator.pure_phases,
        **names,
        **context.settings,
        "n_iter": estimator.n_iter_,
        "converged": estimator.converged_,
        "compression_rank": estimator.compression_rank_,
        "dead_components": estimator.dead_components_,
    }


def fit_method(estimator, data, context):
    """Fit ``estimator`` on ``data``; return ``(loadings, factors, history,
    parameters)``, ``factors`` as ``(n_sig, k)``.

    Hitting ``max_iter`` before ``tol`` (ours and scikit-learn's) and the
    all-zero detector pixels of the simulation's corners are reported in
    the result, not warned.
    """
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        warnings.filterwarnings("ignore", message=r"X has \d+ all-zero")
        loadings = estimator.fit_transform(data)
    history, parameters = _record(estimator, context)
    return loadings, np.asarray(estimator.components_).T, history, parameters


def mse_of(X, loadings, factors, block_rows=None) -> float:
    """``mean((X - loadings @ factors.T)^2)`` in float64, by the core
    (:meth:`residual_squared` of the data object, in row blocks).

    ``X`` is an array or a data object; ``block_rows`` sets the block of an
    in-memory array.
    """
    data = DenseData(X, block_rows) if block_rows is not None else as_data(X)
    L = np.asarray(loadings, dtype=np.float64)
    F = np.asarray(factors, dtype=np.float64)
    return float(data.residual_squared(L, F)) / (data.shape[0] * data.shape[1])


def truncated_svd(X, n_components, *, n_iter=10, random_state=0):
    """Rank-k SVD of the uncentred ``X`` (n_nav, n_sig) (:class:`UncentredSVD`).

    Returns
    -------
    loadings : (n_nav, k), factors : (n_sig, k)
        ``X ~= loadings @ factors.T``, unit-norm factors, by decreasing
        singular value.
    """
    svd = UncentredSVD(n_components, n_iter=n_iter, random_state=random_state)
    loadings = svd.fit_transform(X)
    return loadings, svd.components_.T
