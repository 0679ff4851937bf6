"""Reproduce the paper's comparison of PCA, primitive NMF and constrained NMF.

Kimoto *et al.* (Sci. Rep. 2025) decompose one simulated 4D-STEM data set
(Methods, Fig. 10) with PCA, primitive NMF and the constrained NMF (Figs. 1,
6 and 7). :func:`compare_methods` runs all of them on the same data,
matches the components to the ground truth for display and scores them
(:mod:`hyperspy_cnmf.scoring`); :func:`score_table` renders the scores as a
markdown table and :func:`convergence_figure` draws Fig. 7.

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

Every MSE is recomputed here in float64 on the data itself, ``mean((X - L
F^T)^2)``, so that all methods are measured the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .core import ConvergenceWarning, constrained_nmf
from .core.constraints import GaussianSmoothing, RadialContinuity
from .core.geometry import Geometry
from .core.similarity import cosine_similarity
from .scoring import match_components, resolution_cutoff, score_decomposition

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "Comparison",
    "MethodResult",
    "compare_methods",
    "convergence_figure",
    "reproduce",
    "score_table",
    "truncated_svd",
]

#: Display label and short description of every method.
METHODS = {
    "pca": ("PCA", "truncated SVD of the uncentred data"),
    "sklearn_nmf": ("NMF (scikit-learn)", "sklearn.decomposition.NMF, solver='cd'"),
    "hyperspy_nmf": ("NMF (HyperSpy)", 's.decomposition(algorithm="NMF")'),
    "mu": ("NMF MU", "multiplicative update, nonnegativity only"),
    "als": ("NMF ALS", "primitive ALS, nonnegativity only (Fig. 6a)"),
    "maps": ("ALS + map smoothing", "ALS, Gaussian smoothing of the maps (Fig. 6b)"),
    "factors": (
        "ALS + radial continuity",
        "ALS, radial continuity of the diffractions (Fig. 6c)",
    ),
    "both": ("constrained NMF", "ALS, both constraints (Fig. 6d)"),
    "pure": (
        "constrained NMF + pure phases",
        "ALS, both constraints, amorphous rings taken out of the crystal patterns",
    ),
}

#: What :func:`compare_methods` runs by default.
DEFAULT_METHODS = (
    "pca",
    "sklearn_nmf",
    "mu",
    "als",
    "maps",
    "factors",
    "both",
    "pure",
)

# (factor constraints, loading constraints, solver, pure_phases) of our own
# solvers.
_OURS = {
    "mu": ((), (), "mu", False),
    "als": ((), (), "als", False),
    "maps": ((), (GaussianSmoothing,), "als", False),
    "factors": ((RadialContinuity,), (), "als", False),
    "both": ((RadialContinuity,), (GaussianSmoothing,), "als", False),
    "pure": ((RadialContinuity,), (GaussianSmoothing,), "als", True),
}

# The paper's experiment: 2 nm probe (FWHM), 1.5 nm scan step.
_PAPER_PROBE_FWHM = 2.0
_PAPER_SCAN_STEP = 1.5


@dataclass
class MethodResult:
    """One decomposition, in display order.

    Attributes
    ----------
    method : str
        Key in :data:`METHODS`.
    label : str
        Display label.
    factors : numpy.ndarray
        ``(k, rows, cols)`` diffraction components; the first ``m`` are
        matched to the ``m`` true components (in the truth's order), the
        others follow by decreasing map norm. PCA components are sign-flipped
        to correlate positively with their best true pattern.
    maps : numpy.ndarray
        ``(k, nav_rows, nav_cols)`` the matching maps (``X ~= maps^T factors``).
    mse : float
        ``mean((X - L F^T)^2)`` in float64.
    elapsed : float
        Seconds taken by the fit.
    history : dict or None
        Convergence history (``"mse"``, ``"factor_change_l1"``,
        ``"loading_change_l1"``) for our solvers; None otherwise.
    scores : dict
        :func:`hyperspy_cnmf.scoring.score_decomposition` of the display-order
        components, plus ``negative_fraction`` of the factors.
    parameters : dict
        What was run.
    """

    method: str
    label: str
    factors: np.ndarray
    maps: np.ndarray
    mse: float
    elapsed: float
    history: dict | None = None
    scores: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    @property
    def negative_fraction(self) -> float:
        """Fraction of factor (diffraction) pixels below zero."""
        return float(np.mean(self.factors < 0))


@dataclass
class Comparison:
    """What :func:`compare_methods` returns.

    Attributes
    ----------
    results : dict
        ``{method: MethodResult}`` in the order run.
    truth : dict
        ``true_patterns``, ``true_maps``, ``spot_masks``, ``center``,
        ``component_names``.
    n_components : int
    cutoff : float
        Resolution limit (cycles per scan pixel) used for the high-frequency
        scores and drawn in the Fourier transforms.
    settings : dict
        ``n_init``, ``max_iter``, ``tol``, ``compression``, ``random_state``.
    """

    results: dict
    truth: dict
    n_components: int
    cutoff: float
    settings: dict = field(default_factory=dict)

    def __getitem__(self, method) -> MethodResult:
        return self.results[method]

    def __contains__(self, method) -> bool:
        return method in self.results

    def __iter__(self):
        return iter(self.results)

    @property
    def reference_mse(self) -> float | None:
        """PCA's MSE (the lowest a rank-k factorization can reach), if run."""
        return self.results["pca"].mse if "pca" in self.results else None

    def histories(self, methods=None) -> dict:
        """``{label: history}`` of the methods that record one."""
        methods = self.results if methods is None else methods
        return {
            self.results[m].label: self.results[m].history
            for m in methods
            if m in self.results and self.results[m].history is not None
        }


# --------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------


def _truth_dict(truth) -> dict:
    if truth is None:
        raise ValueError(
            "compare_methods needs the ground truth: pass a signal from "
            "hyperspy_cnmf.data.simulated_4dstem (truth in metadata.Simulation), "
            "a SimulatedData, or truth={'true_patterns': ..., 'true_maps': ...}"
        )
    if hasattr(truth, "as_dictionary"):
        truth = truth.as_dictionary()
    get = truth.get if isinstance(truth, Mapping) else lambda n: getattr(truth, n, None)
    patterns = get("true_patterns")
    patterns = get("patterns") if patterns is None else patterns
    maps = get("true_maps")
    maps = get("maps") if maps is None else maps
    if patterns is None or maps is None:
        raise ValueError("the truth needs true patterns and true maps")
    out = {
        "true_patterns": np.asarray(patterns, dtype=np.float64),
        "true_maps": np.asarray(maps, dtype=np.float64),
        "spot_masks": get("spot_masks"),
        "center": get("center"),
        "component_names": get("component_names"),
    }
    if out["spot_masks"] is not None:
        out["spot_masks"] = np.asarray(out["spot_masks"], dtype=bool)
    if out["center"] is not None:
        out["center"] = tuple(float(c) for c in out["center"])
    names = out["component_names"]
    n_true = out["true_patterns"].shape[0]
    out["component_names"] = (
        [str(n) for n in names]
        if names is not None
        else [f"c{i}" for i in range(n_true)]
    )
    return out


def _prepare(data, truth):
    """``(X, geometry, truth, scan_step, signal)`` from a signal or arrays."""
    signal = None
    scan_step = None
    if hasattr(data, "axes_manager"):  # a HyperSpy signal
        from .signals.geometry import signal_geometry

        signal = data
        if truth is None:
            truth = data.metadata.get_item("Simulation")
        geometry = signal_geometry(data)
        array = data.data
        if hasattr(array, "compute"):
            array = array.compute()
        nav_axes = geometry.navigation_axes
        if nav_axes and nav_axes[0].units == "nm":
            scan_step = float(nav_axes[0].scale)
    elif hasattr(data, "data") and hasattr(data, "patterns"):  # SimulatedData
        truth = data if truth is None else truth
        array = data.data
        geometry = None
    else:
        array = data
        geometry = None
    array = np.asarray(array)
    if array.ndim != 4:
        raise ValueError(
            "compare_methods needs 4D data (nav_rows, nav_cols, rows, cols), "
            f"got shape {array.shape}"
        )
    truth = _truth_dict(truth)
    nav_shape, sig_shape = array.shape[:2], array.shape[2:]
    if truth["true_patterns"].shape[1:] != sig_shape:
        raise ValueError(
            f"true patterns {truth['true_patterns'].shape[1:]} do not match the "
            f"signal shape {sig_shape}"
        )
    if truth["true_maps"].shape[1:] != nav_shape:
        raise ValueError(
            f"true maps {truth['true_maps'].shape[1:]} do not match the "
            f"navigation shape {nav_shape}"
        )
    if geometry is None:
        center = truth["center"]  # the simulation's (row, col)
        geometry = Geometry(
            sig_shape, nav_shape, center=None if center is None else center[::-1]
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    X = np.ascontiguousarray(array.reshape(nav_shape[0] * nav_shape[1], -1))
    return X, geometry, truth, scan_step, signal


# --------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------


def mse_of(X, loadings, factors, block_rows=256) -> float:
    """``mean((X - loadings @ factors.T)^2)`` in float64, in row blocks."""
    L = np.asarray(loadings, dtype=np.float64)
    F = np.asarray(factors, dtype=np.float64)
    total = 0.0
    for start in range(0, X.shape[0], block_rows):
        stop = start + block_rows
        r = X[start:stop].astype(np.float64) - L[start:stop] @ F.T
        total += float(np.einsum("ij,ij->", r, r))
    return total / (X.shape[0] * X.shape[1])


def truncated_svd(X, n_components, *, n_iter=10, random_state=0):
    """Rank-k SVD of the uncentred ``X`` (n_nav, n_sig).

    Randomized (``sklearn.utils.extmath.randomized_svd`` with 20 extra
    vectors and ``n_iter`` power iterations): on the simulated data its MSE
    is within 1e-6 (relative) of the exact rank-k optimum, ten times closer
    than the primitive NMFs get, in a tenth of the time of an exact
    decomposition.

    Returns
    -------
    loadings : (n_nav, k), factors : (n_sig, k)
        ``X ~= loadings @ factors.T``, unit-norm factors, by decreasing
        singular value.
    """
    from sklearn.utils.extmath import randomized_svd

    U, S, Vt = randomized_svd(
        X,
        int(n_components),
        n_oversamples=20,
        n_iter=n_iter,
        random_state=random_state,
    )
    return U * S, Vt.T


def _run_pca(X, k, *, random_state, **_):
    return truncated_svd(X, k, random_state=random_state) + (None,)


def _run_sklearn(X, k, *, random_state, sklearn_max_iter, **_):
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(
        n_components=k,
        init="nndsvda",
        solver="cd",
        max_iter=sklearn_max_iter,
        tol=1e-4,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loadings = model.fit_transform(X)
    return loadings, model.components_.T, None


def _run_hyperspy_nmf(X, k, *, signal, random_state, sklearn_max_iter, **_):
    if signal is None:
        raise ValueError("method 'hyperspy_nmf' needs a HyperSpy signal as input")
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    s = signal.deepcopy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s.decomposition(
            algorithm="NMF",
            output_dimension=k,
            max_iter=sklearn_max_iter,
            random_state=random_state,
            print_info=False,
        )
    factors = np.asarray(s.learning_results.factors)[:, :k]
    loadings = np.asarray(s.learning_results.loadings)[:, :k]
    return loadings, factors, None


def _run_ours(X, k, *, method, geometry, settings, show_progressbar, info, **_):
    import warnings

    factor_c, loading_c, solver, pure_phases = _OURS[method]
    with warnings.catch_warnings():
        # Reported in the result instead: hitting max_iter before tol, and
        # the all-zero detector pixels of the simulation's corners.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=r"X has \d+ all-zero")
        result = constrained_nmf(
            X,
            k,
            factor_constraints=[c() for c in factor_c],
            loading_constraints=[c() for c in loading_c],
            geometry=geometry,
            solver=solver,
            pure_phases=pure_phases,
            show_progressbar=show_progressbar,
            **settings,
        )
    info.update(
        n_iter=result.n_iter,
        converged=result.converged,
        compression_rank=result.compression_rank,
        dead_components=result.dead_components,
    )
    history = {key: np.asarray(v) for key, v in result.history.items()}
    return result.loadings, result.factors, history


# --------------------------------------------------------------------------
# Matching and scoring
# --------------------------------------------------------------------------


def _display_order(factors, maps, truth):
    """Flip PCA signs, then put matched components first (in truth order)."""
    true_patterns = truth["true_patterns"]
    sim = cosine_similarity(factors, true_patterns)
    best = np.take_along_axis(sim, np.argmax(np.abs(sim), axis=1)[:, None], 1)[:, 0]
    sign = np.where(best < 0, -1.0, 1.0)
    factors = factors * sign[:, None, None]
    maps = maps * sign[:, None, None]
    matching = match_components(factors, true_patterns)
    matched = list(matching.pairs[:, 0])
    rest = [i for i in range(factors.shape[0]) if i not in matched]
    norms = np.sqrt((maps.reshape(maps.shape[0], -1) ** 2).sum(axis=1))
    rest.sort(key=lambda i: -norms[i])
    order = np.asarray(matched + rest, dtype=np.int64)
    return factors[order], maps[order]


def _default_cutoff(scan_step):
    return resolution_cutoff(_PAPER_PROBE_FWHM, scan_step or _PAPER_SCAN_STEP)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def compare_methods(
    data,
    n_components: int = 4,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    truth=None,
    sklearn_max_iter: int = 300,
    random_state=0,
    cutoff: float | None = None,
    progress: bool = True,
    **settings,
) -> Comparison:
    """Run PCA, primitive NMFs and the constrained NMFs on the same data.

    Parameters
    ----------
    data : signal, SimulatedData or array
        A pyxem/HyperSpy 4D signal (e.g. :func:`hyperspy_cnmf.data.simulated_4dstem`,
        truth read from ``metadata.Simulation``), a
        :class:`~hyperspy_cnmf.data.SimulatedData`, or a 4D array
        ``(nav_rows, nav_cols, rows, cols)`` with ``truth``.
    n_components : int
        ``k`` for every method (the paper: 4 for Figs. 1 and 6, 6 for Fig. 7).
    methods : sequence of str
        Keys of :data:`METHODS`, run in this order.
    truth : mapping, optional
        ``true_patterns`` ``(m, rows, cols)``, ``true_maps`` ``(m, nav_rows,
        nav_cols)`` and optionally ``spot_masks``, ``center``,
        ``component_names``; default from ``data``.
    sklearn_max_iter : int
        ``max_iter`` of scikit-learn's (and HyperSpy's) NMF.
    random_state : int or None
        Seed of every method.
    cutoff : float, optional
        Resolution limit in cycles per scan pixel; default
        :func:`~hyperspy_cnmf.scoring.resolution_cutoff` of the paper's 2 nm
        probe at the data's scan step (1.5 nm when not calibrated in nm):
        0.33.
    progress : bool
        Print a line per method and show the solver's progress bar.
    **settings
        Settings of our solvers, passed through to
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` (``n_init``,
        ``max_iter``, ``tol``, ``compression``, ``n_exact_iter``; not
        ``pure_phases``, which each method sets); default the estimator's, the paper's protocol (10 restarts of 500
        iterations). :data:`FULL_SETTINGS` and :data:`QUICK_SETTINGS` are
        the shorter protocols :func:`reproduce` uses.

    Returns
    -------
    Comparison
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat: {list(methods)}")
    if "pure_phases" in settings:
        raise ValueError(
            "pure_phases is set per method: 'both' runs without it (the "
            "paper's protocol), 'pure' with it"
        )
    X, geometry, truth, scan_step, signal = _prepare(data, truth)
    k = int(n_components)
    cutoff = _default_cutoff(scan_step) if cutoff is None else float(cutoff)
    settings = {**settings, "random_state": random_state}
    runners = {"pca": _run_pca, "sklearn_nmf": _run_sklearn}
    runners["hyperspy_nmf"] = _run_hyperspy_nmf
    results = {}
    nav_shape = truth["true_maps"].shape[1:]
    sig_shape = truth["true_patterns"].shape[1:]
    for i, method in enumerate(methods, 1):
        label = METHODS[method][0]
        if progress:
            print(
                f"[{i}/{len(methods)}] {label}: {METHODS[method][1]} (k={k})",
                flush=True,
            )
        runner = runners.get(method, _run_ours)
        info = {}
        start = time.perf_counter()
        loadings, factors, history = runner(
            X,
            k,
            method=method,
            geometry=geometry,
            settings=settings,
            signal=signal,
            random_state=random_state,
            sklearn_max_iter=sklearn_max_iter,
            show_progressbar=progress,
            info=info,
        )
        elapsed = time.perf_counter() - start
        mse = mse_of(X, loadings, factors)
        f3 = np.asarray(factors, dtype=np.float64).T.reshape((k, *sig_shape))
        m3 = np.asarray(loadings, dtype=np.float64).T.reshape((k, *nav_shape))
        f3, m3 = _display_order(f3, m3, truth)
        scores = score_decomposition(
            f3, m3, truth, cutoff=cutoff, center=truth["center"]
        )
        result = MethodResult(
            method=method,
            label=label,
            factors=f3,
            maps=m3,
            mse=mse,
            elapsed=elapsed,
            history=history,
            scores=scores,
            parameters=_parameters(method, settings, sklearn_max_iter, info),
        )
        result.scores["negative_fraction"] = result.negative_fraction
        results[method] = result
        if progress:
            print(
                f"    done in {elapsed:.1f} s: MSE {mse:.6f}, map cosine min "
                f"{np.nanmin(scores['map_cosine']):.3f}, pattern cosine "
                f"{scores['crystal_pattern_cosine']:.3f}, dark-spot "
                f"{scores['dark_spot_score']:.3f}",
                flush=True,
            )
    return Comparison(
        results=results, truth=truth, n_components=k, cutoff=cutoff, settings=settings
    )


def _parameters(method, settings, sklearn_max_iter, info):
    if method in _OURS:
        factor_c, loading_c, solver, pure_phases = _OURS[method]
        return {
            "solver": solver,
            "pure_phases": pure_phases,
            "factor_constraints": [c.__name__ for c in factor_c],
            "loading_constraints": [c.__name__ for c in loading_c],
            **settings,
            **info,
        }
    if method.endswith("nmf"):
        return {"max_iter": sklearn_max_iter}
    return {}


def _fmt(value, spec):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


def score_table(comparison: Comparison) -> str:
    """The scores of a :class:`Comparison` as a markdown table.

    Columns: matched map cosines (minimum, then per true component),
    pattern cosine (over the crystalline true components, the minimum of
    the best cosine of any recovered factor to the true pattern; low when
    the crystal factors carry the amorphous rings), dark-spot score of the component matched to the amorphous pattern (1:
    no dark spots, < 1: dark spots at the other phases' Bragg spots), mean
    fraction of the maps' Fourier power beyond the resolution limit, MSE and
    its excess over PCA's, fraction of negative factor pixels, time.
    """
    names = comparison.truth["component_names"]
    ref = comparison.reference_mse
    header = (
        ["method", "map cos min"]
        + [f"map cos {n}" for n in names]
        + [
            "pattern cosine",
            "dark-spot",
            f"HF power > {comparison.cutoff:.2f}",
            "MSE",
            "MSE vs PCA",
            "negative factors",
            "time (s)",
        ]
    )
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for result in comparison.results.values():
        sc = result.scores
        cos = np.asarray(sc["map_cosine"], dtype=float)
        excess = None if ref is None else 100.0 * (result.mse - ref) / ref
        row = (
            [result.label, _fmt(float(np.nanmin(cos)), ".3f")]
            + [_fmt(float(c), ".3f") for c in cos]
            + [
                _fmt(float(sc["crystal_pattern_cosine"]), ".3f"),
                _fmt(float(sc["dark_spot_score"]), ".3f"),
                _fmt(float(sc["hf_fraction_mean"]), ".4f"),
                _fmt(result.mse, ".6f"),
                "–" if excess is None else f"{excess:+.3f} %",
                _fmt(result.negative_fraction, ".3f"),
                _fmt(result.elapsed, ".1f"),
            ]
        )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def convergence_figure(
    comparison: Comparison, methods=("mu", "als", "both"), title=None
):
    """Paper Fig. 7: MSE and L1 changes per iteration, PCA's MSE as a line."""
    from .plotting.convergence import plot_convergence

    histories = comparison.histories(methods)
    if not histories:
        raise ValueError(f"none of {list(methods)} recorded a convergence history")
    return plot_convergence(
        histories,
        reference_mse=comparison.reference_mse,
        title=title or f"Convergence, k = {comparison.n_components}",
    )


#: Settings of ``python -m hyperspy_cnmf reproduce`` (full and ``--quick``).
#: Full: exact iterations as in the paper (no sketch, so Fig. 7 shows the
#: data's own MSE throughout), 4 restarts instead of 10 and at most 200
#: iterations instead of 500, stopping once every restart changes by less
#: than 1e-5 (relative L1); the constrained fits stop after a few tens of
#: iterations, the primitive ones run to max_iter. Every restart runs to the
#: end (no successive halving), as in the paper.
FULL_SETTINGS = {
    "n_init": 4,
    "max_iter": 200,
    "tol": 1e-5,
    "compression": None,
    "prune_restarts": False,
    "sklearn_max_iter": 300,
}
QUICK_SETTINGS = {
    "n_init": 2,
    "max_iter": 60,
    "tol": 1e-4,
    "compression": "auto",
    "sklearn_max_iter": 100,
}


#: :func:`reproduce` draws the clustering figure (Fig. 9) from this ``k`` on.
CLUSTERING_MIN_K = 6


def clustering_figure(signal, k, path, *, random_state=0, dpi=72, **settings):
    """Fit ``k`` pure-phase components, cluster them, save Fig. 9 as one PNG.

    The paper's Fig. 9: a signal-level constrained NMF with
    ``pure_phases=True`` on a copy of ``signal`` (sharing its data; neither
    is modified), :func:`~hyperspy_cnmf.signals.clustering.cluster_components`
    with its defaults, then the cosine and diffraction similarity matrices
    (:func:`~hyperspy_cnmf.methods.plot_similarity_matrices`) and the
    dendrogram with the merged diffractions
    (:func:`~hyperspy_cnmf.methods.plot_dendrogram`) side by side.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The 4D signal (e.g. :func:`hyperspy_cnmf.data.simulated_4dstem`).
    k : int
        Number of components.
    path : str or pathlib.Path
        The PNG to write.
    random_state : int
        Seed of the fit.
    dpi : int
        Resolution of both panels.
    **settings
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` parameters (``n_init``,
        ``max_iter``, ...); ``sklearn_max_iter`` is ignored.

    Returns
    -------
    ComponentClusters
        The clustering.
    """
    import io
    import warnings

    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    from .methods import plot_dendrogram, plot_similarity_matrices
    from .signals.clustering import cluster_components
    from .signals.decomposition import decomposition, working_copy

    settings = {key: v for key, v in settings.items() if key != "sklearn_max_iter"}
    work = working_copy(signal)
    with warnings.catch_warnings():  # the quick settings stop early by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        decomposition(
            work,
            output_dimension=int(k),
            pure_phases=True,
            random_state=random_state,
            print_info=False,
            show_progressbar=False,
            **settings,
        )
    clusters = cluster_components(work)
    panels = []
    for fig in (plot_similarity_matrices(work), plot_dendrogram(work)):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        buffer.seek(0)
        panels.append(mpimg.imread(buffer, format="png"))
    title_in = 0.4  # inches above the panels for the title
    height_in = max(p.shape[0] for p in panels) / dpi + title_in
    width = sum(p.shape[1] for p in panels)
    figure = Figure(figsize=(width / dpi, height_in), dpi=dpi)
    figure.suptitle(
        f"Fig. 9: k = {k} pure-phase components in {clusters.n_clusters} clusters"
    )
    left = 0
    for panel in panels:  # pixel for pixel, top-aligned under the title
        rows, cols = panel.shape[:2]
        h = rows / dpi / height_in
        box = (left / width, 1 - title_in / height_in - h, cols / width, h)
        ax = figure.add_axes(box)
        ax.imshow(panel, interpolation="none")
        ax.set_axis_off()
        left += cols
    figure.savefig(path, dpi=dpi)
    return clusters


def refuse_link(path):
    """``path``, unless it is a symbolic link: files are never written through
    a link (one planted in the output folder could point anywhere)."""
    from pathlib import Path

    path = Path(path)
    if path.is_symlink():
        raise FileExistsError(
            f"{path} is a symbolic link; hyperspy_cnmf does not write through "
            "links: remove it or choose another output folder"
        )
    return path


def reproduce(
    output,
    n_components=(4,),
    *,
    quick: bool = False,
    seed: int = 0,
    methods: Sequence[str] = DEFAULT_METHODS,
    progress: bool = True,
    dpi: int = 72,
    simulation: Mapping | None = None,
) -> list:
    """Run the comparison on the default simulation; write PNGs and ``scores.md``.

    For each ``k`` in ``n_components``, ``output/k<k>/`` receives
    ``comparison.png`` (all methods), ``fig1_pca_nmf_constrained.png``
    (paper Fig. 1 b-d), ``fig6_constraints.png`` (Fig. 6 a-d),
    ``fig7_convergence.png`` (Fig. 7) and ``scores.md``; for ``k >= 6``
    (more components than the simulation's four phases) also
    ``fig9_clustering.png`` (Fig. 9, see :func:`clustering_figure`).
    ``output/scores.md`` collects the tables of every ``k``.

    ``simulation`` holds keyword arguments for
    :func:`hyperspy_cnmf.data.simulated_4dstem` (default: the paper's data
    set, 36 x 36 x 128 x 128, 1e4 electrons per pattern).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from pathlib import Path

    from .data import simulated_4dstem
    from .plotting.decomposition import plot_comparison

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    settings = dict(QUICK_SETTINGS if quick else FULL_SETTINGS)
    start = time.perf_counter()
    s = simulated_4dstem(**{"seed": seed, **(simulation or {})})
    if progress:
        print(f"Simulated data: {s} ({time.perf_counter() - start:.1f} s)", flush=True)
        print(f"Settings: {settings}", flush=True)
    written, tables = [], []
    for k in n_components:
        folder = refuse_link(output / f"k{k}")
        folder.mkdir(exist_ok=True)
        comparison = compare_methods(
            s, k, methods, random_state=seed, progress=progress, **settings
        )
        figures = {
            "comparison.png": plot_comparison(
                comparison, title=f"PCA, primitive and constrained NMF, k = {k}"
            ),
            "fig7_convergence.png": convergence_figure(
                comparison, [m for m in ("mu", "als", "both") if m in comparison]
            ),
        }
        fig1 = [m for m in ("pca", "als", "both") if m in comparison]
        if fig1:
            figures["fig1_pca_nmf_constrained.png"] = plot_comparison(
                comparison, methods=fig1, title=f"Fig. 1 b-d, k = {k}"
            )
        fig6 = [m for m in ("als", "maps", "factors", "both") if m in comparison]
        if fig6:
            figures["fig6_constraints.png"] = plot_comparison(
                comparison, methods=fig6, title=f"Fig. 6 a-d, k = {k}"
            )
        for name, fig in figures.items():
            fig.savefig(refuse_link(folder / name), dpi=dpi)
            written.append(folder / name)
        if k >= CLUSTERING_MIN_K:
            path = refuse_link(folder / "fig9_clustering.png")
            clustering_figure(s, k, path, random_state=seed, dpi=dpi, **settings)
            written.append(path)
        table = score_table(comparison)
        heading = f"## k = {k}\n\n"
        note = (
            f"Settings: {settings}; resolution limit {comparison.cutoff:.3f} "
            "cycles/pixel.\n\n"
        )
        refuse_link(folder / "scores.md").write_text(heading + note + table)
        written.append(folder / "scores.md")
        tables.append(heading + note + table)
        if progress:
            print(table, flush=True)
    refuse_link(output / "scores.md").write_text(
        "# Scores on the simulated data (Kimoto et al. 2025, Fig. 10)\n\n"
        + "\n".join(tables)
    )
    written.append(output / "scores.md")
    if progress:
        print(f"Total {time.perf_counter() - start:.0f} s", flush=True)
    return written
