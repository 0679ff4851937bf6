"""Run the methods on one data set, match them to the truth, score them.

:func:`compare_methods` unfolds the data once, as the adapter does for a
decomposition (:func:`~hyperspy_cnmf.signals.geometry.signal_geometry` and
:func:`~hyperspy_cnmf.signals.decomposition.kept_data`: masks honoured,
never a float copy), fits every method of :data:`~hyperspy_cnmf.reproduction.
methods.METHODS` on it, puts the components in the truth's order and scores
them (:mod:`hyperspy_cnmf.scoring`). Every MSE is computed by the core on the
data itself, in float64, ``mean((X - L F^T)^2)``, so that all methods are
measured the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..core.data import as_data
from ..core.geometry import Geometry
from ..core.similarity import cosine_similarity
from ..scoring import match_components, resolution_cutoff, score_decomposition
from .methods import DEFAULT_METHODS, METHODS, Context, fit_method, mse_of

__all__ = ["Comparison", "MethodResult", "compare_methods"]

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


class Unfolded(NamedTuple):
    """The data as every method reads it (:func:`unfold`)."""

    data: object  # a data object of hyperspy_cnmf.core.data
    geometry: Geometry
    truth: dict
    scan_step: float | None
    signal: object | None


def _check_4d(shape):
    if len(shape) != 4:
        raise ValueError(
            "compare_methods needs 4D data (nav_rows, nav_cols, rows, cols), "
            f"got shape {tuple(shape)}"
        )


def _check_truth(truth, geometry):
    for what, shape, space in (
        ("patterns", geometry.signal_shape, "signal"),
        ("maps", geometry.navigation_shape, "navigation"),
    ):
        found = truth[f"true_{what}"].shape[1:]
        if found != shape:
            raise ValueError(
                f"true {what} {found} do not match the {space} shape {shape}"
            )


def _unfold_signal(signal, truth) -> Unfolded:
    """A signal unfolded as the adapter unfolds it for a decomposition."""
    from ..signals.decomposition import kept_data
    from ..signals.geometry import signal_geometry

    if truth is None:
        truth = signal.metadata.get_item("Simulation")
    geometry = signal_geometry(signal, use_pyxem_mask=True)
    _check_4d(geometry.navigation_shape + geometry.signal_shape)
    truth = _truth_dict(truth)
    _check_truth(truth, geometry)
    nav_axes = geometry.navigation_axes
    scan_step = float(nav_axes[0].scale) if nav_axes[0].units == "nm" else None
    return Unfolded(kept_data(signal, geometry), geometry, truth, scan_step, signal)


def unfold(data, truth=None) -> Unfolded:
    """The data object of a signal, a ``SimulatedData`` or a 4D array (never
    a copy), its geometry and the ground truth (default: the signal's
    ``metadata.Simulation`` or the ``SimulatedData`` itself)."""
    if hasattr(data, "axes_manager"):  # a HyperSpy signal
        return _unfold_signal(data, truth)
    if hasattr(data, "data") and hasattr(data, "patterns"):  # SimulatedData
        truth, data = (data if truth is None else truth), data.data
    array = np.asarray(data)
    _check_4d(array.shape)
    truth = _truth_dict(truth)
    nav_shape, sig_shape = array.shape[:2], array.shape[2:]
    center = truth["center"]  # the simulation's (row, col)
    geometry = Geometry(
        sig_shape, nav_shape, center=None if center is None else center[::-1]
    )
    _check_truth(truth, geometry)
    X = array.reshape(nav_shape[0] * nav_shape[1], -1)
    return Unfolded(as_data(X), geometry, truth, None, None)


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
        Keys of :data:`~hyperspy_cnmf.reproduction.methods.METHODS`, run in
        this order.
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
        ``pure_phases``, which each method sets); default the estimator's,
        the paper's protocol (10 restarts of 500
        iterations). :data:`~hyperspy_cnmf.reproduction.FULL_SETTINGS` and
        :data:`~hyperspy_cnmf.reproduction.QUICK_SETTINGS` are the shorter
        protocols :func:`~hyperspy_cnmf.reproduction.reproduce` uses. Unless
        set here, ``loss="frobenius"`` and ``scan_binning=1`` (the paper's
        squared error on the data as given, :data:`~hyperspy_cnmf.
        reproduction.methods.PAPER_PROTOCOL`).

    Returns
    -------
    Comparison
    """
    _check_methods(methods, settings)
    unfolded = unfold(data, truth)
    k = int(n_components)
    if cutoff is None:
        cutoff = _default_cutoff(unfolded.scan_step)
    settings = {**settings, "random_state": random_state}
    context = Context(
        settings=settings,
        random_state=random_state,
        sklearn_max_iter=sklearn_max_iter,
        geometry=unfolded.geometry,
        signal=unfolded.signal,
        progress=progress,
    )
    results = {}
    for i, name in enumerate(methods, 1):
        if progress:
            print(
                f"[{i}/{len(methods)}] {METHODS[name].label}: "
                f"{METHODS[name].description} (k={k})",
                flush=True,
            )
        results[name] = result = _run(name, k, unfolded, context, float(cutoff))
        if progress:
            scores = result.scores
            print(
                f"    done in {result.elapsed:.1f} s: MSE {result.mse:.6f}, map "
                f"cosine min {np.nanmin(scores['map_cosine']):.3f}, pattern "
                f"cosine {scores['crystal_pattern_cosine']:.3f}, dark-spot "
                f"{scores['dark_spot_score']:.3f}",
                flush=True,
            )
    return Comparison(
        results=results,
        truth=unfolded.truth,
        n_components=k,
        cutoff=float(cutoff),
        settings=settings,
    )


def _check_methods(methods, settings):
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


def _full(values, mask, shape):
    """``(k, *shape)`` images from ``(n_kept, k)`` values, 0 where ``mask``
    excludes a pixel or position."""
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[1]
    if mask is None:
        return values.T.reshape((k, *shape))
    out = np.zeros((int(np.prod(shape)), k))
    out[~np.asarray(mask, dtype=bool).ravel()] = values
    return out.T.reshape((k, *shape))


def _run(name, k, unfolded, context, cutoff) -> MethodResult:
    """Fit one method, measure its error, order and score its components."""
    method = METHODS[name]
    estimator = method.estimator(k, context)
    start = time.perf_counter()
    loadings, factors, history, parameters = fit_method(
        estimator, unfolded.data, context
    )
    elapsed = time.perf_counter() - start
    mse = mse_of(unfolded.data, loadings, factors)
    geometry, truth = unfolded.geometry, unfolded.truth
    f3 = _full(factors, geometry.signal_mask, geometry.signal_shape)
    m3 = _full(loadings, geometry.navigation_mask, geometry.navigation_shape)
    f3, m3 = _display_order(f3, m3, truth)
    result = MethodResult(
        method=name,
        label=method.label,
        factors=f3,
        maps=m3,
        mse=mse,
        elapsed=elapsed,
        history=history,
        scores=score_decomposition(
            f3, m3, truth, cutoff=cutoff, center=truth["center"]
        ),
        parameters=parameters,
    )
    result.scores["negative_fraction"] = result.negative_fraction
    return result
