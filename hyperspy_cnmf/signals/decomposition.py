"""Constrained NMF of a HyperSpy/pyxem signal, stored as native ``learning_results``.

:func:`decomposition` is the patch-free entry point; importing
:mod:`hyperspy_cnmf` also makes it available as
``s.decomposition(algorithm="constrained_nmf", ...)``
(:mod:`hyperspy_cnmf.signals.dispatch`).

The adapter only reshapes: it unfolds the signal to the matrix ``X``
(positions x pixels, masked rows/columns dropped; a dask array stays lazy),
builds the :class:`~hyperspy_cnmf.core.Geometry` from the signal's axes,
fits :class:`~hyperspy_cnmf.core.ConstrainedNMF` and writes the result into
``s.learning_results`` only once the fit has completed, so that an error or
Ctrl-C leaves the signal and any previous results as they were.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np

from ..core.constraints import paper_factor_constraints, paper_loading_constraints
from ..core.estimator import ConstrainedNMF, nonnegative_loadings
from ..core.validation import check_constraints
from .geometry import array_shapes, check_signal, signal_geometry

__all__ = ["ALGORITHM", "PREFIX", "decomposition", "clear_results"]

ALGORITHM = "constrained_nmf"
PREFIX = "cnmf_"
_REPROJECT = (None, "navigation", "signal", "both")


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask")


def clear_results(learning_results) -> list[str]:
    """Delete the ``cnmf_`` keys from ``learning_results``; return their names."""
    keys = [k for k in vars(learning_results) if k.startswith(PREFIX)]
    for key in keys:
        delattr(learning_results, key)
    return keys


def _describe(constraint) -> str:
    """A readable, address-free name for a constraint (for params and print)."""
    if isinstance(constraint, _PoissonScaled):
        return _describe(constraint.constraint)
    if type(constraint).__repr__ is not object.__repr__:
        return repr(constraint)
    name = getattr(constraint, "__qualname__", None) or type(constraint).__qualname__
    module = getattr(constraint, "__module__", None) or type(constraint).__module__
    return f"{module}.{name}"


def _resolve_constraints(value, default, name):
    """None: the paper's defaults; a list (maybe empty) or a callable: as given."""
    if value is None:
        return default()
    if isinstance(value, str):
        raise TypeError(
            f"{name} must be None (the paper's defaults), a list of callables "
            f"constraint(images, context) -> images, or [] for none; got {value!r}"
        )
    return check_constraints(value, name)


def _aligned_data(signal):
    """``s.data`` with its axes in (navigation..., signal...) array order."""
    am = signal.axes_manager
    order = [a.index_in_array for a in am.navigation_axes[::-1]]
    order += [a.index_in_array for a in am.signal_axes[::-1]]
    data = signal.data
    if order != list(range(data.ndim)):
        data = data.transpose(order)
    return data


def _unfolded_matrix(signal, nav_keep, sig_keep):
    """``X`` (n_nav_kept, n_sig_kept) as a view, copy or lazy dask array."""
    nav_shape, sig_shape = array_shapes(signal)
    n_nav, n_sig = int(np.prod(nav_shape)), int(np.prod(sig_shape))
    data = _aligned_data(signal)
    if _is_dask(data):
        n_nav_dims = len(nav_shape)
        data = data.rechunk({i: -1 for i in range(n_nav_dims, data.ndim)})
    X = data.reshape((n_nav, n_sig))
    if nav_keep is not None and sig_keep is not None and not _is_dask(X):
        return X[np.ix_(nav_keep, sig_keep)]  # one copy instead of two
    if nav_keep is not None:
        X = X[nav_keep]
    if sig_keep is not None:
        X = X[:, sig_keep]
    return X


def _check_finite_numpy(X):
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(
            "the signal contains NaN or infinite values; replace them "
            "(s.data = np.nan_to_num(s.data)) or exclude those pixels/positions "
            "with signal_mask / navigation_mask"
        )


class _PoissonScaled:
    """Run a constraint in physical units on Poisson-scaled images.

    The solver sees ``X / (sqrt(aG) sqrt(bH))``, so its images are physical
    images divided by ``weights``; the constraint gets ``images * weights``
    and its output is divided back.
    """

    def __init__(self, constraint, weights):
        self.constraint = constraint
        self.weights = weights  # image shape, > 0

    def __call__(self, images, context):
        xp = context.xp
        w = xp.asarray(self.weights, dtype=images.dtype)
        return self.constraint(images * w, context) / w

    def __repr__(self):
        return f"PoissonScaled({_describe(self.constraint)})"


def _poisson_weights(X):
    """``sqrt(aG)`` per kept position and ``sqrt(bH)`` per kept pixel (zeros -> 1)."""
    if _is_dask(X):
        import dask

        aG, bH = dask.compute(X.sum(axis=1), X.sum(axis=0))
    else:
        aG, bH = X.sum(axis=1), X.sum(axis=0)
    ra = np.sqrt(np.asarray(aG, dtype=np.float64))
    rb = np.sqrt(np.asarray(bH, dtype=np.float64))
    ra[ra == 0] = 1.0
    rb[rb == 0] = 1.0
    return ra, rb


def _full_image(values, keep, shape):
    """Flat kept ``values`` to an image of ``shape``, ones where excluded."""
    full = np.ones(int(np.prod(shape)))
    if keep is None:
        full[:] = values
    else:
        full[keep] = values
    return full.reshape(shape)


def _nan_expand(arr, keep, n_total):
    """Rows of ``arr`` at the kept positions of an (n_total, k) NaN array."""
    if keep is None:
        return arr
    out = np.full((n_total, arr.shape[1]), np.nan, dtype=arr.dtype)
    out[keep] = arr
    return out


def _as_float(X):
    return X if X.dtype.kind == "f" and X.dtype.itemsize >= 4 else X.astype(np.float64)


def _compute(a):
    return np.asarray(a.compute() if _is_dask(a) else a)


def _json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return repr(value)


def decomposition(
    signal,
    output_dimension=None,
    *,
    factor_constraints=None,
    loading_constraints=None,
    navigation_mask=None,
    signal_mask=None,
    center=None,
    normalize_poissonian_noise=False,
    reproject=None,
    centre=None,
    solver="als",
    n_init=10,
    max_iter=500,
    tol=0.0,
    compression=None,
    n_exact_iter=30,
    random_state=None,
    show_progressbar=None,
    print_info=True,
    return_info=False,
):
    r"""Constrained NMF (Kimoto et al., Sci. Rep. 2025) of a HyperSpy/pyxem signal.

    Same as ``signal.decomposition(algorithm="constrained_nmf", ...)``. The
    unfolded data ``X`` (positions x detector pixels) is factorized as
    ``X ~= loadings @ factors.T`` by alternating least squares, with the
    constraints applied to the diffraction patterns (factors, the paper's
    ``W``) and to the maps (loadings, the paper's ``H``) after each
    half-step. The results are stored in ``signal.learning_results`` as for
    any HyperSpy decomposition, plus the fit's history under keys starting
    with ``cnmf_``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        1 or 2 navigation axes and 1 or 2 signal axes (pyxem
        ``Diffraction2D``, ``Signal2D``, a ``Signal1D`` spectrum image),
        lazy or not, nonnegative, without NaN. Its data, metadata and any
        previous ``learning_results`` are not touched unless the fit
        completes. Integer data are converted (a copy).
    output_dimension : int
        Number of components ``k``, required (< number of kept positions and
        of kept pixels).
    factor_constraints : list of callables or None, default None
        Constraints on the diffraction patterns, each
        ``constraint(images, context) -> images`` (see
        :mod:`hyperspy_cnmf.core.constraints`); ``context.axes`` holds the
        calibrated signal axes in array order and ``context.center`` the beam
        centre. ``None``: the paper's
        :class:`~hyperspy_cnmf.core.RadialContinuity` about the calibrated
        centre (2D signals; none for 1D signals). ``[]``: nonnegativity only.
    loading_constraints : list of callables or None, default None
        Constraints on the maps. ``None``: the paper's 3x3
        :class:`~hyperspy_cnmf.core.GaussianSmoothing`. ``[]``: none.
    navigation_mask, signal_mask : BaseSignal, numpy/dask array or None
        ``True`` marks excluded positions/pixels (HyperSpy's convention).
        A BaseSignal mask is used through its ``data``; **arrays are in
        array order** ``(rows, cols) = (y, x)``, the order of
        ``s.data.shape[:nav_dim]`` / ``s.data.shape[nav_dim:]`` (this differs
        from HyperSpy's own numpy navigation masks, given in ``(x, y)`` order
        and transposed). ``signal_mask=None`` uses pyxem's
        ``s.calibration.mask`` when one is set. Excluded entries of the
        factors/loadings are NaN, as in HyperSpy, unless reprojected.
    center : (float, float), optional
        Beam centre ``(row, col)`` in pixels. Default: the calibrated one,
        ``-offset / scale`` of each signal axis (pyxem's
        ``s.calibration.center`` in array order). A warning is given when it
        lies at (0, 0) or near an edge (an uncalibrated signal).
    normalize_poissonian_noise : bool, default False
        Scale the data by ``1 / (sqrt(aG) sqrt(bH))`` (Keenan & Kotula 2004,
        as HyperSpy does) before the fit and undo the scaling on the
        results. The constraints still act on physical (unscaled) patterns
        and maps: each is applied to the rescaled images. The user's data
        are not modified.
    reproject : {None, "navigation", "signal", "both"}
        Fill the excluded positions ("navigation") and/or pixels ("signal")
        by nonnegative least squares against the fitted factors/loadings,
        instead of NaN. The fitted entries are kept.
    centre : None
        Only None: centring would break nonnegativity.
    solver : {"als", "mu"}, default "als"
    n_init : int, default 10
        Random restarts, run side by side; the best is kept.
    max_iter : int, default 500
    tol : float, default 0
        Stop when the relative L1 change of factors and maps falls below
        ``tol``; 0 runs ``max_iter`` iterations (the paper's protocol).
    compression : None, "auto" or int
        Iterate on a randomized low-rank sketch of the data (a few passes
        over it, cheap for lazy signals), then ``n_exact_iter`` exact
        iterations.
    n_exact_iter : int, default 30
    random_state : int, RandomState or None
    show_progressbar : bool or None
        None: HyperSpy's preference
        ``hs.preferences.General.show_progressbar``.
    print_info : bool, default True
        Print a summary, like HyperSpy's decompositions.
    return_info : bool, default False
        Return the fitted :class:`~hyperspy_cnmf.core.ConstrainedNMF`
        (fitted on the kept positions/pixels; with Poisson normalization, on
        the scaled data).

    Returns
    -------
    ConstrainedNMF or None

    Raises
    ------
    ValueError
        Unsupported signal, missing or too large ``output_dimension``, NaN
        or negative data, masks that exclude everything, a beam centre
        outside the pattern, ``centre`` not None, bad ``reproject``.
    KeyboardInterrupt
        Re-raised after Ctrl-C; nothing has been stored.

    Notes
    -----
    Stored in ``signal.learning_results``: ``factors`` (n_pixels, k) and
    ``loadings`` (n_positions, k) in HyperSpy's unfolded C order,
    ``decomposition_algorithm = "constrained_nmf"``, ``output_dimension``,
    ``explained_variance = None``, ``mean = None``, ``centre = None``,
    ``poissonian_noise_normalized``, ``navigation_mask``, ``signal_mask``
    (array order or None), ``unfolded``, ``original_shape``, and the
    ``cnmf_*`` keys: ``cnmf_mse``, ``cnmf_mse_history``,
    ``cnmf_factor_change_history``, ``cnmf_loading_change_history``,
    ``cnmf_exact_history``, ``cnmf_restart_mse``, ``cnmf_best_restart``,
    ``cnmf_n_init``, ``cnmf_n_iter``, ``cnmf_converged``,
    ``cnmf_dead_components``, ``cnmf_compression_rank`` (0: none),
    ``cnmf_center`` (row, col px), ``cnmf_factor_constraints``,
    ``cnmf_loading_constraints``, ``cnmf_elapsed`` (s) and ``cnmf_params``
    (JSON). They survive ``s.save`` (hspy, zspy) and are removed when
    another decomposition runs on the signal.

    Examples
    --------
    >>> import hyperspy_cnmf  # enables the algorithm name
    >>> s.calibration.center = None  # doctest: +SKIP
    >>> s.decomposition(algorithm="constrained_nmf", output_dimension=4)  # doctest: +SKIP
    >>> s.plot_decomposition_results()  # doctest: +SKIP
    """
    start = time.perf_counter()
    check_signal(signal)
    if output_dimension is None:
        raise ValueError(
            "output_dimension must be given for algorithm='constrained_nmf': "
            "the number of components to extract"
        )
    if centre is not None:
        raise ValueError(
            f"centre={centre!r} is not supported by constrained_nmf: centring "
            "makes the data negative and NMF needs nonnegative data; use "
            "centre=None"
        )
    if reproject not in _REPROJECT:
        raise ValueError(f"reproject={reproject!r} must be one of {_REPROJECT}")
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = bool(preferences.General.show_progressbar)

    nav_shape, sig_shape = array_shapes(signal)
    n_nav, n_sig = int(np.prod(nav_shape)), int(np.prod(sig_shape))
    image_signal = len(sig_shape) == 2
    factor_constraints = _resolve_constraints(
        factor_constraints,
        paper_factor_constraints if image_signal else list,
        "factor_constraints",
    )
    loading_constraints = _resolve_constraints(
        loading_constraints, paper_loading_constraints, "loading_constraints"
    )
    if signal_mask is None:
        signal_mask = _pyxem_mask(signal)
    if image_signal and not factor_constraints and center is None:
        center = ((sig_shape[0] - 1) / 2, (sig_shape[1] - 1) / 2)  # unused
    geometry = signal_geometry(
        signal,
        signal_mask=signal_mask,
        navigation_mask=navigation_mask,
        center=center,
        check_beam_center=bool(factor_constraints),
    )
    nav_keep = (
        None if geometry.navigation_mask is None else ~geometry.navigation_mask.ravel()
    )
    sig_keep = None if geometry.signal_mask is None else ~geometry.signal_mask.ravel()
    n_nav_kept, n_sig_kept = geometry.n_navigation, geometry.n_signal
    if (
        isinstance(output_dimension, (int, np.integer))
        and not isinstance(output_dimension, bool)
        and output_dimension >= min(n_nav_kept, n_sig_kept)
    ):
        raise ValueError(
            f"output_dimension={output_dimension} is too large: it must be "
            f"smaller than the number of kept positions ({n_nav_kept}) and of "
            f"kept pixels ({n_sig_kept})"
        )

    X = _unfolded_matrix(signal, nav_keep, sig_keep)
    lazy = _is_dask(X)
    if not lazy:
        _check_finite_numpy(X)
    X = _as_float(X)

    weights = None
    fit_factor_constraints, fit_loading_constraints = (
        factor_constraints,
        loading_constraints,
    )
    X_fit = X
    if normalize_poissonian_noise:
        if not lazy:
            _check_finite_numpy(X)
            if X.size and X.min() < 0:
                raise ValueError(
                    "normalize_poissonian_noise needs nonnegative data; the "
                    "signal has negative values"
                )
        ra, rb = _poisson_weights(X)
        weights = (ra, rb)
        X_fit = X / ra[:, None].astype(X.dtype) / rb[None, :].astype(X.dtype)
        sig_w = _full_image(rb, sig_keep, sig_shape)
        nav_w = _full_image(ra, nav_keep, nav_shape)
        fit_factor_constraints = [_PoissonScaled(c, sig_w) for c in factor_constraints]
        fit_loading_constraints = [
            _PoissonScaled(c, nav_w) for c in loading_constraints
        ]

    estimator = ConstrainedNMF(
        n_components=int(output_dimension)
        if isinstance(output_dimension, (int, np.integer))
        else output_dimension,
        factor_constraints=fit_factor_constraints,
        loading_constraints=fit_loading_constraints,
        geometry=geometry,
        solver=solver,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        compression=compression,
        n_exact_iter=n_exact_iter,
        random_state=random_state,
        show_progressbar=bool(show_progressbar),
    )
    loadings = np.asarray(estimator.fit_transform(X_fit))
    factors = np.asarray(estimator.components_.T)
    if weights is not None:
        ra, rb = weights
        factors = factors * rb[:, None].astype(factors.dtype)
        loadings = loadings * ra[:, None].astype(loadings.dtype)
    k = factors.shape[1]

    factors_full = _nan_expand(factors, sig_keep, n_sig)
    loadings_full = _nan_expand(loadings, nav_keep, n_nav)
    if reproject in ("navigation", "both") and nav_keep is not None:
        rows = _unfolded_matrix(signal, ~nav_keep, sig_keep)
        loadings_full[~nav_keep] = nonnegative_loadings(
            _as_float(_compute(rows)).astype(factors.dtype), factors
        )
    if reproject in ("signal", "both") and sig_keep is not None:
        cols = _unfolded_matrix(signal, nav_keep, ~sig_keep)
        factors_full[~sig_keep] = nonnegative_loadings(
            _as_float(_compute(cols)).astype(loadings.dtype).T, loadings
        )

    elapsed = time.perf_counter() - start
    params = {
        "algorithm": ALGORITHM,
        "output_dimension": k,
        "factor_constraints": [_describe(c) for c in factor_constraints],
        "loading_constraints": [_describe(c) for c in loading_constraints],
        "solver": solver,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
        "compression": compression,
        "n_exact_iter": n_exact_iter,
        "random_state": random_state,
        "normalize_poissonian_noise": bool(normalize_poissonian_noise),
        "reproject": reproject,
        "center": list(geometry.center) if geometry.center is not None else None,
        "lazy": lazy,
        "data_shape": [n_nav_kept, n_sig_kept],
    }
    history = estimator.history_
    results = {
        "factors": factors_full,
        "loadings": loadings_full,
        "explained_variance": None,
        "explained_variance_ratio": None,
        "number_significant_components": None,
        "decomposition_algorithm": ALGORITHM,
        "poissonian_noise_normalized": bool(normalize_poissonian_noise),
        "output_dimension": k,
        "centre": None,
        "mean": None,
        "unmixing_matrix": None,
        "bss_algorithm": None,
        "bss_factors": None,
        "bss_loadings": None,
        "unfolded": len(nav_shape) > 1 or len(sig_shape) > 1,
        "original_shape": tuple(signal.data.shape),
        "navigation_mask": geometry.navigation_mask,
        "signal_mask": geometry.signal_mask,
        PREFIX + "mse": float(estimator.mse_),
        PREFIX + "mse_history": np.asarray(history["mse"], dtype=np.float64),
        PREFIX + "factor_change_history": np.asarray(
            history["factor_change_l1"], dtype=np.float64
        ),
        PREFIX + "loading_change_history": np.asarray(
            history["loading_change_l1"], dtype=np.float64
        ),
        PREFIX + "exact_history": np.asarray(history["exact"], dtype=bool),
        PREFIX + "restart_mse": np.asarray(estimator.restart_mse_, dtype=np.float64),
        PREFIX + "best_restart": int(estimator.best_restart_),
        PREFIX + "n_init": int(n_init),
        PREFIX + "n_iter": int(estimator.n_iter_),
        PREFIX + "converged": bool(estimator.converged_),
        PREFIX + "dead_components": np.asarray(
            estimator.dead_components_, dtype=np.int64
        ),
        PREFIX + "compression_rank": int(estimator.compression_rank_ or 0),
        PREFIX + "center": np.asarray(
            geometry.center if geometry.center is not None else (), dtype=np.float64
        ),
        PREFIX + "factor_constraints": "; ".join(params["factor_constraints"]),
        PREFIX + "loading_constraints": "; ".join(params["loading_constraints"]),
        PREFIX + "elapsed": float(elapsed),
        PREFIX + "params": json.dumps({k_: _json_value(v) for k_, v in params.items()}),
    }
    _store(signal.learning_results, results)

    if print_info:
        print(_info_text(results, params))
    return estimator if return_info else None


def _store(learning_results, results) -> None:
    """Replace the decomposition in ``learning_results`` (no error can occur here)."""
    clear_results(learning_results)
    for key, value in results.items():
        setattr(learning_results, key, value)


def _pyxem_mask(signal):
    """pyxem's calibration mask (``metadata.General.mask``), if any."""
    mask = signal.metadata.get_item("General.mask", None)
    if mask is None:
        return None
    if hasattr(mask, "axes_manager"):
        return mask
    mask = np.asarray(mask)
    if mask.dtype == object or mask.shape != array_shapes(signal)[1]:
        warnings.warn(
            "ignoring metadata.General.mask (pyxem's s.calibration.mask): it is "
            f"not a boolean array of the signal shape {array_shapes(signal)[1]}",
            UserWarning,
            stacklevel=3,
        )
        return None
    return mask.astype(bool)


def _info_text(results, params) -> str:
    center = params["center"]
    lines = [
        "Decomposition info:",
        f"  normalize_poissonian_noise={params['normalize_poissonian_noise']}",
        f"  algorithm={ALGORITHM}",
        f"  output_dimension={params['output_dimension']}",
        "  centre=None",
        f"  factor_constraints=[{', '.join(params['factor_constraints'])}]",
        f"  loading_constraints=[{', '.join(params['loading_constraints'])}]",
    ]
    if center is not None:
        lines.append(f"  beam centre (row, col)=({center[0]:.4g}, {center[1]:.4g}) px")
    lines += [
        f"  solver={params['solver']}, n_init={params['n_init']}, "
        f"max_iter={params['max_iter']}, tol={params['tol']}, "
        f"compression={params['compression']}",
        f"  n_iter={results[PREFIX + 'n_iter']}, "
        f"converged={results[PREFIX + 'converged']}, "
        f"best restart={results[PREFIX + 'best_restart']}, "
        f"mse={results[PREFIX + 'mse']:.6g}",
    ]
    return "\n".join(lines)
