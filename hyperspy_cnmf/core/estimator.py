"""The scikit-learn estimator :class:`ConstrainedNMF` and its function form.

Every setting of the fit is declared once, as a parameter of
:class:`ConstrainedNMF` (default, validation rule, documentation).
:func:`constrained_nmf` and the HyperSpy adapter take the same names as
keyword arguments and pass them through; the solver reads them from the
estimator.
"""

from __future__ import annotations

import dataclasses
import logging
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .backend import get_backend, is_dask
from .binning import (
    auto_scan_binning,
    auto_signal_binning,
    bin_scan,
    counts_per_position,
    is_counts,
)
from .constraints import paper_factor_constraints, paper_loading_constraints
from .data import as_data, is_data, is_streamed
from .geometry import Geometry
from .solver import (
    LOSSES,
    SOLVERS,
    NMFResult,
    auto_compression_rank,
    exact_iterations,
    kept_restart_loss,
    solve,
)
from .validation import check_constraints, check_data, check_n_components
from .weighting import poisson_weights, scaled_constraints, unscaled

_logger = logging.getLogger(__name__)

__all__ = ["ConstrainedNMF", "constrained_nmf", "nonnegative_loadings"]

# Parameters that take numbers: a bool (an int in Python) is refused.
_NUMBERS = (
    "n_components",
    "n_init",
    "max_iter",
    "tol",
    "n_iter_no_change",
    "compression",
    "n_exact_iter",
    "random_state",
)


def resolve_constraints(value, default_factory, geometry, name):
    """The constraint list a fit runs: ``"auto"`` gives ``default_factory()``
    when ``geometry`` is known (the paper's constraints), none otherwise."""
    if isinstance(value, str):  # "auto", validated by the estimator
        return [] if geometry is None else default_factory()
    return check_constraints(value, name)


def nonnegative_loadings(X, factors, n_iter=200, tol=1e-6):
    """Nonnegative least-squares maps of ``X`` (n, n_sig) for fixed ``factors``.

    Solves ``min_L ||X - L F^T||`` with ``L >= 0`` by projected coordinate
    descent (HALS), started from the clipped unconstrained solution. One pass
    over ``X``.
    """
    xp = get_backend(factors).xp
    G = factors.T @ factors
    XF = X @ factors
    diag = xp.maximum(xp.diagonal(G), xp.finfo(G.dtype).tiny)
    ridge = 1e-10 * float(xp.trace(G)) / G.shape[0] + float(xp.finfo(G.dtype).tiny)
    eye = xp.eye(G.shape[0], dtype=G.dtype)
    L = xp.maximum(xp.linalg.solve(G + ridge * eye, XF.T).T, 0)
    for _ in range(n_iter):
        change = 0.0
        for j in range(G.shape[0]):
            new = xp.maximum(L[:, j] + (XF[:, j] - L @ G[:, j]) / diag[j], 0)
            change += float(xp.abs(new - L[:, j]).sum())
            L[:, j] = new
        if change <= tol * max(float(xp.abs(L).sum()), 1e-300):
            break
    return L


class ConstrainedNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Nonnegative matrix factorization with domain-specific constraints.

    Factorizes nonnegative data ``X`` (n_samples = probe positions,
    n_features = detector pixels) as ``X ~= L @ components_`` by the
    alternating least squares protocol of Kimoto et al. (Sci. Rep. 2025):

    .. math::

        W \leftarrow [X^T L (L^T L)^{-1}]_W, \quad
        L \leftarrow [X W (W^T W)^{-1}]_H

    where :math:`[\cdot]_W` and :math:`[\cdot]_H` are nonnegativity followed
    by the given constraints on the diffraction patterns (``components_``)
    and on the maps (the transformed data). ``n_init`` random restarts run
    side by side; the one with the lowest error is kept and its components
    are sorted by the L2 norm of their maps.

    Parameters
    ----------
    n_components : int
        Number of components, smaller than ``min(n_samples, n_features)``.
    factor_constraints : "auto" or list of callables, default "auto"
        Constraints on the diffraction patterns, each
        ``constraint(images, context) -> images``
        (see :mod:`hyperspy_cnmf.core.constraints`). ``"auto"``: the paper's
        :class:`~hyperspy_cnmf.core.constraints.RadialContinuity` when a 2D
        ``geometry`` is given, none otherwise. ``[]``: nonnegativity only.
    loading_constraints : "auto" or list of callables, default "auto"
        Constraints on the maps. ``"auto"``: the paper's 3x3
        :class:`~hyperspy_cnmf.core.constraints.GaussianSmoothing` when
        ``geometry`` is given, none otherwise.
    geometry : Geometry, optional
        Signal and navigation shapes, calibrated axes, beam centre and
        masks of the rows/columns of ``X``. Without it the data are a bare
        matrix and the constraints that need images cannot run.
    solver : {"als", "mu"}, default "als"
        Alternating least squares (the paper's protocol) or the primitive
        multiplicative update, for comparison.
    loss : {"auto", "frobenius", "poisson"}, default "auto"
        What the fit minimises. ``"frobenius"``: the squared error (the
        paper's ALS). ``"poisson"``: the Poisson negative log-likelihood of
        counts (the generalized Kullback-Leibler divergence), by
        ``n_exact_iter`` constrained multiplicative updates on the data
        started from the Frobenius fit, which has chosen the restart
        (:mod:`~hyperspy_cnmf.core.poisson`; on spectra held in memory the
        restart of lowest divergence instead,
        :func:`~hyperspy_cnmf.core.solver.kept_restart_loss`); the iterate
        with the lowest divergence is kept, and the model holds the data's
        counts.
        ``"auto"``: ``"poisson"`` for integer counts and for spectra (a 1D
        signal in ``geometry``) stored as floats that are all nonnegative
        whole numbers (espm writes its EDS counts as float64; told by the
        checks' pass), ``"frobenius"`` for other float data (whose noise
        is unknown) and for Poisson-normalised data. Whole-number float
        *patterns* keep ``"frobenius"``: on the paper's simulation
        (float32 counts, 10^4 per pattern) the Poisson fit loses a crystal
        at k = 6 and 8 where the squared error finds all four phases (as
        it does on the same counts stored as integers: the user guide's
        method page, "A known limit of the Poisson default"). Measured on
        the realistic simulation
        (``benchmarks/bench_minor_phases.py``): on counts the Poisson
        likelihood recovers the maps better at every dose (the glass map at
        3000 counts per pattern, the rotations of a 10 % phase at 100) and
        removes the 20-35 % excess of counts of the least-squares model.
    n_init : int, default 10
        Random restarts, run side by side. Each keeps its best iterate (its
        latest while within 5 % of its lowest error); restarts within 0.1 %
        of the lowest error are tied and the first is kept, so that rounding
        (the BLAS thread count) cannot change the choice.
    prune_restarts : bool, default True
        Successive halving: at ``max_iter`` / 16, / 8, / 4 and / 2 (never
        before iteration 20) drop the worse half of the restarts, except
        those within 0.1 % of the best error at the first of these
        iterations (a margin that shrinks in proportion later), so that
        usually only the best runs to ``max_iter``; about 4 times cheaper
        for 10 restarts.
        ``False`` runs every restart to the end (the paper's protocol).
        ALS only: the multiplicative update converges too slowly for early
        rankings to hold, and its restarts are never pruned.
    max_iter : int, default 500
        Maximum iterations.
    tol : float, default 0.0
        Stop a restart when the relative L1 change of its factors and maps
        falls below ``tol`` (e.g. 1e-4); 0: no such test.
    n_iter_no_change : int or None, default 10
        Stop a restart when its error has not fallen by more than 0.001 %
        in this many iterations (its best iterate is kept): the cost then
        follows the data instead of ``max_iter``. On the paper's
        simulation the restarts settle in 30-60 iterations, and the fits
        (after the exact phase) are those of 500 iterations
        (``benchmarks/bench_first_hour.py``). The Poisson polish
        (``loss="poisson"``) stops likewise once its deviance has
        stalled for 1 iteration (at most this many;
        ``hyperspy_cnmf.core.solver.POISSON_NO_CHANGE``), keeping its
        iterate of lowest deviance (on the realistic
        simulation one of the first: the constraints raise the deviance
        that the updates lower). None, with ``tol=0``, always runs
        ``max_iter`` iterations (and every Poisson iteration), as in the
        paper.
    compression : None, "auto" or int, default "auto"
        Iterate on a randomized low-rank sketch of ``X`` of this rank, then
        polish the kept restart with ``n_exact_iter`` exact iterations.
        ``"auto"`` sketches at rank ``max(2 k, k + 50)`` where that pays off
        (``X`` of at least 2 million entries and rank well below its
        shape), exact iterations otherwise. The final error is within
        0.04 % of exact ALS from the same starts on the paper's simulation
        at k = 30 and experiment at k = 6; with many more components than
        phases the spare ones can reach a lower error by fitting noise
        that the sketch leaves out, which only exact iterations see (the
        experiment at k = 30: 1.1 % above, the same phases recovered;
        ``benchmarks/bench_default.py``).
        ``None``: exact iterations throughout (the paper's protocol, with
        ``prune_restarts=False``, ``n_iter_no_change=None``).
    n_exact_iter : int or "auto", default "auto"
        Exact iterations after a compressed phase. ``"auto"``: 30 for data
        in memory, 10 for data streamed from a dask array, where each exact
        iteration reads the data twice (the sketch has done most of the
        work: the last 20 iterations change the error by a fraction of a
        percent). With ``loss="poisson"``: the Poisson iterations after
        the Frobenius fit (``"auto"``: 50 in memory, 10 streamed).
    scan_binning : "auto" or int, default "auto"
        Coarse-to-fine fit of low-dose scans
        (:mod:`~hyperspy_cnmf.core.binning`): the restarts run on the scan
        binned ``b x b`` (``b^2`` times the counts per pattern), then the
        exact phase on the full-resolution data from those patterns and the
        coarse maps. ``"auto"``: for counts (as ``loss`` tells them) on a
        2D scan, the smallest ``b`` that brings a pattern to 400 counts (at
        most 4, and at least 12 binned positions a side); 1 (no binning)
        for other float data, whose units are unknown: give ``b``
        yourself. With
        ``loss="poisson"`` the coarse fit keeps the restart of lowest
        Poisson deviance on the binned counts, not of lowest squared error:
        at 100 counts per pattern the errors of the restarts are alike and
        the lowest one can split a phase (realistic simulation, seed 101:
        one rotation of a 10 % phase lost with the error's choice, both
        found with the deviance's).
    signal_binning : "auto" or int, default "auto"
        The restarts on the sketch run on patterns binned ``b x b`` (the
        mean of each bin's kept pixels, the beam centre and mask binned
        alike, :func:`~hyperspy_cnmf.core.binning.bin_signal`); the exact
        phase then fits the full-resolution data from their maps. The
        restarts only choose where the exact phase starts, and their cost
        is the patterns' size times the restarts. ``"auto"``: 2 for 2D
        patterns of at least 128 pixels a side fitted on a sketch with
        pattern constraints that take the pixel grid from the geometry
        (``Constraint.follows_binning``: the paper's ``RadialContinuity()``),
        else 1 (spectra, ``compression=None``, constraints of your own or
        given a centre or ``r_min`` in pixels, Poisson weights, and
        streamed data: there the binned start
        cost one more polish iteration, two passes, on
        ``bench_scale.py``'s 128 x 128 scan).
    pure_phases : "auto" or bool, default "auto"
        After the fit, take the amorphous part out of the crystalline
        diffraction factors by an exact re-parameterisation of ``L W^T``
        (:func:`~hyperspy_cnmf.core.phases.separate_phases`): a crystal's
        pattern is its spots on its own monotonic background, not the
        glass's rings. The product changes only by the clipping of negative
        noise (on the paper's simulation the error rises by < 0.05 %);
        crystalline components become comparable across rotations, so that
        clustering separates phases. ``"auto"``: on for 2D diffraction
        patterns (a 2D ``geometry``), off otherwise; it does nothing where
        no amorphous-like component is found. ``True`` with a 1D
        ``geometry`` (spectra): take each host's floor out of the maps of
        the phases it surrounds, the same kind of exact move on the maps
        (:func:`~hyperspy_cnmf.core.map_floors.remove_map_floors`); HyperSpy
        EELS and EDS signals get it by default.
    normalize_poissonian_noise : bool, default False
        Fit ``X / (sqrt(aG) sqrt(bH))`` (``aG``, ``bH`` the row and column
        sums of ``X``; Keenan & Kotula 2004, as HyperSpy does), the data
        never copied, with the constraints still acting on physical
        (unscaled) patterns and maps; ``components_`` and the maps are
        scaled back (``mse_``, ``history_`` and ``reconstruction_err_`` are
        those of the scaled fit). For counts, ``loss="poisson"`` models the
        same noise exactly: the two are not combined.
    random_state : int, RandomState or Generator instance, or None
        Seed of the random initial maps (a Generator is drawn from once).
    show_progressbar : bool, default False
        Show a progress bar over iterations.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Diffraction patterns (the paper's ``W`` transposed), unit L2 norm.
    n_components_ : int
    n_iter_ : int
        Iterations run.
    reconstruction_err_ : float
        Frobenius norm ``||X - L components_||`` of the kept fit.
    mse_ : float
        Mean squared error of the kept fit.
    history_ : dict of ndarray
        Per iteration: ``"mse"``, ``"factor_change_l1"``,
        ``"loading_change_l1"``, ``"exact"``.
    restart_mse_ : ndarray of shape (n_init,)
    best_restart_ : int
    converged_ : bool
    dead_components_ : list of int
    loss_ : str
        The loss the fit ran with (``loss`` resolved).
    scan_binning_ : int
        The binning the fit ran with (``scan_binning`` resolved).
    signal_binning_ : int
        The binning of the restarts' patterns (``signal_binning`` resolved).
    resolved_params_ : dict
        :meth:`get_params` with every ``"auto"`` turned into the value the
        fit ran with (the constraints as the lists that ran, ``compression``
        as the sketch's rank or None).
    poisson_deviance_ : float or None
        Mean Poisson deviance of the fit (``loss="poisson"``), None otherwise.
    phase_separation_ : PhaseSeparation, MapFloors or None
        What the pure-phase step did (on patterns: which components it took
        as amorphous and crystalline, the coefficients; on spectra: the
        floors taken out), None when it was off.
    factor_constraints_, loading_constraints_ : list
        The constraints that ran.
    n_features_in_ : int

    See Also
    --------
    hyperspy_cnmf.core.solver.constrained_nmf : the function behind ``fit``.
    sklearn.decomposition.NMF : unconstrained NMF.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_cnmf import ConstrainedNMF
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(50, 3)) @ rng.uniform(size=(3, 40))
    >>> model = ConstrainedNMF(n_components=3, random_state=0)
    >>> maps = model.fit_transform(X)
    >>> maps.shape, model.components_.shape
    ((50, 3), (3, 40))
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "factor_constraints": [StrOptions({"auto"}), list, tuple, callable],
        "loading_constraints": [StrOptions({"auto"}), list, tuple, callable],
        "geometry": [Geometry, None],
        "solver": [StrOptions(set(SOLVERS))],
        "loss": [StrOptions({"auto", *LOSSES})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "prune_restarts": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "compression": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "n_exact_iter": [
            Interval(Integral, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "scan_binning": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "signal_binning": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "pure_phases": [StrOptions({"auto"}), "boolean"],
        "normalize_poissonian_noise": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "show_progressbar": ["boolean"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        factor_constraints="auto",
        loading_constraints="auto",
        geometry=None,
        solver="als",
        loss="auto",
        n_init=10,
        prune_restarts=True,
        max_iter=500,
        tol=0.0,
        n_iter_no_change=10,
        compression="auto",
        n_exact_iter="auto",
        scan_binning="auto",
        signal_binning="auto",
        pure_phases="auto",
        normalize_poissonian_noise=False,
        random_state=None,
        show_progressbar=False,
    ):
        self.n_components = n_components
        self.factor_constraints = factor_constraints
        self.loading_constraints = loading_constraints
        self.geometry = geometry
        self.solver = solver
        self.loss = loss
        self.n_init = n_init
        self.prune_restarts = prune_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.compression = compression
        self.n_exact_iter = n_exact_iter
        self.scan_binning = scan_binning
        self.signal_binning = signal_binning
        self.pure_phases = pure_phases
        self.normalize_poissonian_noise = normalize_poissonian_noise
        self.random_state = random_state
        self.show_progressbar = show_progressbar

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate_input(self, X, reset):
        if is_data(X) or is_dask(X) or get_backend(X).name != "numpy":
            if reset:
                self.n_features_in_ = X.shape[1]
                if is_dask(X) and X.ndim == 2:
                    X = as_data(X)  # one pass for the checks and ||X||^2
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} "
                    f"is expecting {self.n_features_in_} features as input"
                )
            return check_data(X, fitting=reset)
        # Numbers keep their dtype here (integer counts are never converted
        # whole: the data classes cast blocks); NaN/inf pass on to
        # check_data, whose messages name the fix.
        kind = getattr(getattr(X, "dtype", None), "kind", None)
        X = validate_data(
            self,
            X,
            dtype=None if kind in ("i", "u", "b", "f") else [np.float64, np.float32],
            reset=reset,
            ensure_min_features=2 if reset else 1,
            ensure_all_finite=False,
        )
        return check_data(X, fitting=reset)

    def fit_transform(self, X, y=None):
        """Fit and return the maps (n_samples, n_components)."""
        return self._fit(X).loadings

    def _validate_params(self):
        """scikit-learn's checks, no bool where a number is meant
        (``max_iter=True`` is not one iteration, ``n_init=True`` not one
        restart), no two models of the same noise."""
        super()._validate_params()
        if self.normalize_poissonian_noise and self.loss == "poisson":
            raise ValueError(
                "normalize_poissonian_noise=True and loss='poisson' both model "
                "Poisson noise: the Poisson likelihood needs the raw counts. Use "
                "loss='poisson' alone (or normalize_poissonian_noise=True with "
                "the default loss='auto')"
            )
        for name in _NUMBERS:
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                raise ValueError(
                    f"{name}={value!r} is a bool; {name} takes a number "
                    f"(default {type(self)().get_params()[name]!r})"
                )

    def _fit(self, X) -> NMFResult:
        """Validate, resolve every "auto", run the solver (on the
        Poisson-scaled data when asked), set the learned attributes."""
        self._validate_params()
        X = self._validate_input(X, reset=True)
        data = as_data(X)
        weights = None
        if self.normalize_poissonian_noise:
            weights = poisson_weights(data)
            label = getattr(data, "label", None)
            data = data.with_scaling(*weights)
            data.label = label
        resolved = self._resolve(data)
        result = self._solve(data, resolved, weights)
        n_entries = X.shape[0] * X.shape[1]
        self.components_ = result.factors.T
        self.n_components_ = self.components_.shape[0]
        self._n_features_out = self.n_components_
        self.n_iter_ = result.n_iter
        self.mse_ = result.mse
        self.reconstruction_err_ = float(np.sqrt(result.mse * n_entries))
        self.history_ = result.history
        self.restart_mse_ = result.restart_mse
        self.best_restart_ = result.best_restart
        self.converged_ = result.converged
        self.dead_components_ = result.dead_components
        self.phase_separation_ = result.phase_separation
        self.compression_rank_ = result.compression_rank
        self.poisson_deviance_ = result.poisson_deviance
        self.loss_ = resolved["loss"]
        self.scan_binning_ = resolved["scan_binning"]
        self.signal_binning_ = resolved["signal_binning"]
        self.factor_constraints_ = resolved["factor_constraints"]
        self.loading_constraints_ = resolved["loading_constraints"]
        self.resolved_params_ = resolved
        return result

    def _resolve(self, data) -> dict:
        """Every setting with its ``"auto"`` turned into a value for ``data``
        (the one place where defaults that depend on the data are chosen):
        the parameters as :meth:`get_params` names them, concrete."""
        image_geometry = self._image_geometry()
        pure_phases = self.pure_phases
        if isinstance(pure_phases, str):  # "auto": diffraction patterns only
            pure_phases = image_geometry is not None
        elif pure_phases and self.geometry is None:
            raise ValueError(
                "pure_phases=True needs to know the signal: give a geometry "
                "with signal_shape=(rows, cols) for diffraction patterns or "
                "(n_channels,) for spectra"
            )
        resolved = {
            **self.get_params(deep=False),
            "factor_constraints": resolve_constraints(
                self.factor_constraints,
                paper_factor_constraints,
                image_geometry,
                "factor_constraints",
            ),
            "loading_constraints": resolve_constraints(
                self.loading_constraints,
                paper_loading_constraints,
                self.geometry,
                "loading_constraints",
            ),
            "pure_phases": bool(pure_phases),
            "loss": self._resolved_loss(data),
            "scan_binning": self._scan_binning_factor(data),
        }
        return {**resolved, **self._iterations(data, resolved)}

    def _iterations(self, data, resolved) -> dict:
        """``n_components`` checked against ``data`` (the full data or the
        binned scan), ``compression`` (the sketch's rank or None) and
        ``n_exact_iter`` resolved for it."""
        k = check_n_components(resolved["n_components"], data.shape)
        compression = resolved["compression"]
        if compression == "auto":
            compression = auto_compression_rank(k, data.shape)
        signal_binning = resolved["signal_binning"]
        if signal_binning == "auto":
            # Poisson weights act on full-resolution pixels; streamed, the
            # binned start cost a polish iteration (two passes) more
            signal_binning = (
                1
                if self.normalize_poissonian_noise or is_streamed(data)
                else auto_signal_binning(
                    self.geometry, compression, resolved["factor_constraints"]
                )
            )
        return {
            "n_components": k,
            "compression": compression,
            "signal_binning": signal_binning,
            "n_exact_iter": exact_iterations(
                resolved["n_exact_iter"], data, resolved["loss"]
            ),
        }

    def _scan_binning_factor(self, data) -> int:
        """``scan_binning`` with ``"auto"`` resolved (one pass over counts)."""
        if self.scan_binning != "auto":
            return int(self.scan_binning)
        if self.geometry is None or len(self.geometry.navigation_shape) != 2:
            return 1
        counts = counts_per_position(data, whole_floats=self._fits_spectra())
        if counts is None:
            return 1
        return auto_scan_binning(counts, self.geometry.navigation_shape)

    def _resolved_loss(self, data) -> str:
        """``loss`` with ``"auto"`` resolved: the Poisson likelihood for
        counts, the squared error for anything else."""
        if self.loss != "auto":
            return self.loss
        # scaled (Poisson-normalised) data are no longer counts: "frobenius"
        if is_counts(data):
            return "poisson"
        if is_counts(data, whole_floats=self._fits_spectra()):
            _logger.info(
                "constrained_nmf: these float spectra are all whole numbers: "
                "fitted as counts (loss='poisson'); pass loss='frobenius' "
                "for the squared error"
            )
            return "poisson"
        return "frobenius"

    def _fits_spectra(self) -> bool:
        """Whether the geometry names a 1D signal (spectra)."""
        return self.geometry is not None and len(self.geometry.signal_shape) == 1

    def _solve(self, data, resolved, weights=None) -> NMFResult:
        """The solver with the resolved settings as keywords, on the binned
        scan first when ``scan_binning`` asks; with Poisson ``weights``, the
        constraints wrapped to act on physical images and the result scaled
        back."""
        factor = resolved["scan_binning"]
        geometry = self.geometry or Geometry.flat(*data.shape)
        settings = {
            name: resolved[name]
            for name in resolved
            if name not in ("scan_binning", "normalize_poissonian_noise")
        }
        if weights is not None:
            if resolved["signal_binning"] != 1:
                raise ValueError(
                    f"signal_binning={resolved['signal_binning']} and "
                    "normalize_poissonian_noise=True are not combined (the "
                    "weights are per full-resolution pixel): give "
                    "signal_binning=1 or leave it 'auto'"
                )
            if factor != 1:
                raise ValueError(
                    f"scan_binning={factor} and normalize_poissonian_noise=True "
                    "are not combined (the binned scan has other weights): "
                    "leave scan_binning='auto' or give scan_binning=1"
                )
            settings["factor_constraints"], settings["loading_constraints"] = (
                scaled_constraints(
                    weights,
                    resolved["factor_constraints"],
                    resolved["loading_constraints"],
                    geometry,
                )
            )
        if factor == 1:
            # not a parameter (_resolve returns those): the binned coarse fit
            # picks its restart by its own rule
            restart_loss = kept_restart_loss(
                settings["loss"], data, len(geometry.signal_shape)
            )
            result = solve(data, **settings, restart_loss=restart_loss)
        else:
            result = self._solve_binned(data, settings, factor)
        return result if weights is None else unscaled(result, weights)

    def _solve_binned(self, data, settings, factor) -> NMFResult:
        """A coarse fit on the scan binned ``factor x factor``, then the fit
        of ``data`` started from it."""
        if self.geometry is None:
            raise ValueError(
                f"scan_binning={factor} needs the scan's shape: give a geometry"
            )
        binning = bin_scan(data, self.geometry, factor)
        coarse_settings = {
            **settings,
            "geometry": binning.geometry,
            "loss": "frobenius",
            # the binned scan is counts too: its restart chosen by their loss
            "restart_loss": settings["loss"],
            "pure_phases": False,
        }
        coarse_settings.update(
            self._iterations(
                binning.data,
                {
                    **self.get_params(),
                    "loss": "frobenius",
                    "factor_constraints": settings["factor_constraints"],
                },
            )
        )
        coarse = solve(binning.data, **coarse_settings)
        init = (coarse.factors, binning.spread(coarse.loadings))
        return _chain(coarse, solve(data, **settings, init=init))

    def _image_geometry(self):
        """The geometry when the signal is 2D images, else None."""
        if self.geometry is not None and len(self.geometry.signal_shape) == 2:
            return self.geometry
        return None

    def fit(self, X, y=None):
        """Fit the model to ``X`` (n_samples, n_features)."""
        self.fit_transform(X)
        return self

    def transform(self, X):
        """Nonnegative least-squares maps of ``X`` for the fitted components.

        The loading constraints are not applied: new data need not share the
        scan geometry (HyperSpy's ``reproject="navigation"``).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return nonnegative_loadings(_dense(X, self.components_), self.components_.T)

    def extend_components(self, X, maps):
        """Nonnegative least-squares components at new features.

        Parameters
        ----------
        X : array of shape (n_samples, n_new_features)
            The data at features (detector pixels) the fit did not use,
            from the samples it used.
        maps : array of shape (n_samples, n_components)
            The fitted maps (:meth:`fit_transform`'s result).

        Returns
        -------
        array of shape (n_components, n_new_features)
            The components there (HyperSpy's ``reproject="signal"``).
        """
        check_is_fitted(self)
        if X.shape[0] != maps.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples and maps {maps.shape[0]}: give "
                "the data of the fitted samples"
            )
        check_data(X, fitting=False)
        return nonnegative_loadings(_dense(X, maps).T, maps).T

    def inverse_transform(self, X):
        """Data from maps: ``X @ components_``."""
        check_is_fitted(self)
        return X @ self.components_


def _dense(X, like):
    """``X`` in memory, on ``like``'s device and in its float dtype."""
    if is_dask(X):
        X = X.compute()
    return get_backend(like).xp.asarray(X).astype(like.dtype, copy=False)


def _chain(coarse: NMFResult, fine: NMFResult) -> NMFResult:
    """One result from a coarse fit and the fine fit started from it: the
    fine patterns and maps, the restarts' record and the whole history (the
    coarse iterations marked as not exact: they ran on the binned scan)."""
    history = {}
    for key in set(coarse.history) | set(fine.history):
        if key == "exact":
            continue
        parts = [
            np.asarray(
                result.history.get(key, np.full(result.n_iter, np.nan)), np.float64
            )
            for result in (coarse, fine)
        ]
        history[key] = np.concatenate(parts)
    history["exact"] = np.concatenate(
        [np.zeros(coarse.n_iter, bool), np.asarray(fine.history["exact"], bool)]
    )
    return dataclasses.replace(
        fine,
        history=history,
        restart_mse=coarse.restart_mse,
        best_restart=coarse.best_restart,
        n_iter=coarse.n_iter + fine.n_iter,
        converged=coarse.converged,
        compression_rank=coarse.compression_rank,
        elapsed=coarse.elapsed + fine.elapsed,
    )


def constrained_nmf(X, n_components, **params) -> NMFResult:
    """Function form of :class:`ConstrainedNMF`: fit ``X`` and return the result.

    Parameters
    ----------
    X : array-like, shape (n_nav, n_sig)
        Nonnegative data (numpy, cupy or dask), one row per probe position.
    n_components : int
    **params
        Any parameter of :class:`ConstrainedNMF` (``factor_constraints``,
        ``geometry``, ``n_init``, ``max_iter``, ``tol``, ``compression``,
        ...), with the same defaults and checks.

    Returns
    -------
    NMFResult
        ``factors`` (n_sig, k), ``loadings`` (n_nav, k), ``mse``, ``history``
        and the other fields documented there.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_cnmf.core import constrained_nmf
    >>> X = np.random.default_rng(0).uniform(size=(30, 20))
    >>> result = constrained_nmf(X, 3, n_init=2, max_iter=50, random_state=0)
    >>> result.factors.shape, result.loadings.shape
    ((20, 3), (30, 3))
    """
    return ConstrainedNMF(n_components, **params)._fit(X)
