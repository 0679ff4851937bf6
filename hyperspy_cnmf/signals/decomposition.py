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

import dataclasses
import inspect
import logging
import time
from types import SimpleNamespace

import numpy as np

from ..core.backend import get_backend, is_dask, to_host
from ..core.binning import is_counts
from ..core.constraints import (
    RadialContinuity,
    SpectralContinuity,
    paper_factor_constraints,
    paper_loading_constraints,
)
from ..core.data import DaskData, as_data
from ..core.estimator import ConstrainedNMF, resolve_constraints
from ..core.geometry import center_rc_from_xy
from ..core.memory import available_memory, format_bytes
from .geometry import array_shapes, check_signal, signal_geometry
from .results import (
    ALGORITHM,
    clear_results,
    decomposition_results,
    fit_summary,
    store,
)

__all__ = [
    "ALGORITHM",
    "SPECTRUM_DEFAULTS",
    "decomposition",
    "spectrum_kind",
    "clear_results",
    "estimator_parameters",
    "signal_arguments",
    "kept_data",
    "working_copy",
]

_REPROJECT = (None, "navigation", "signal", "both")
# Parameters of ConstrainedNMF that the adapter sets itself from the signal.
_SET_BY_ADAPTER = ("n_components", "geometry", "show_progressbar")
# Lazy data taking at most this fraction of the available memory are loaded
# once (in their own dtype) instead of being read on every pass.
LOAD_FRACTION = 0.5

_logger = logging.getLogger(__name__)

# Spectrum images whose factors get SpectralContinuity by default: exspy's
# signal_type (or class name, for subclasses without one) -> the default
# baseline window (width, units): a few peak widths.
SPECTRUM_DEFAULTS = {
    "EELS": (50.0, "eV"),  # white lines and ELNES: a few eV wide
    "EDS": (1.0, "keV"),  # X-ray lines: about 0.13 keV wide
}
_SPECTRUM_TYPES = {
    "EELS": "EELS",
    "EDS": "EDS",
    "EDS_TEM": "EDS",
    "EDS_SEM": "EDS",
}
_SPECTRUM_CLASSES = {
    "EELSSpectrum": "EELS",
    "EDSSpectrum": "EDS",
    "EDSTEMSpectrum": "EDS",
    "EDSSEMSpectrum": "EDS",
}


def estimator_parameters() -> dict:
    """The :class:`~hyperspy_cnmf.core.ConstrainedNMF` settings a signal's
    decomposition passes through, with their defaults."""
    params = ConstrainedNMF().get_params()
    return {k: v for k, v in params.items() if k not in _SET_BY_ADAPTER}


def signal_arguments() -> tuple:
    """The arguments :func:`decomposition` takes itself (the signal's), read
    from its signature."""
    return tuple(
        name
        for name, p in inspect.signature(decomposition).parameters.items()
        if p.kind is not p.VAR_KEYWORD and name not in ("signal", "centre")
    )


def _check_parameters(params) -> None:
    """Unknown names and bad values fail before any work (estimator's rules)."""
    known = estimator_parameters()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(
            f"unknown argument(s) {', '.join(unknown)} for "
            f"algorithm='{ALGORITHM}'; it takes the signal's own arguments "
            f"({', '.join(signal_arguments())}) and ConstrainedNMF's: "
            f"{', '.join(known)}"
        )
    ConstrainedNMF(**params)._validate_params()


def working_copy(signal):
    """A copy of ``signal`` that shares its data (never written) but nothing
    else: decompositions of the copy leave the signal and its
    ``learning_results`` untouched, at no memory cost."""
    copy = signal._deepcopy_with_new_data(signal.data)
    copy.learning_results.__init__()
    return copy


def _describe(constraint) -> str:
    """A readable, address-free name for a constraint (for params and print)."""
    if type(constraint).__repr__ is not object.__repr__:
        return repr(constraint)
    name = getattr(constraint, "__qualname__", None) or type(constraint).__qualname__
    module = getattr(constraint, "__module__", None) or type(constraint).__module__
    return f"{module}.{name}"


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
    if is_dask(data):
        n_nav_dims = len(nav_shape)
        data = data.rechunk({i: -1 for i in range(n_nav_dims, data.ndim)})
    X = data.reshape((n_nav, n_sig))
    if nav_keep is not None and sig_keep is not None and not is_dask(X):
        return X[np.ix_(nav_keep, sig_keep)]  # one copy instead of two
    if nav_keep is not None:
        X = X[nav_keep]
    if sig_keep is not None:
        X = X[:, sig_keep]
    return X


def kept_data(signal, learning_results):
    """The data matrix ``X`` (positions x pixels) at the positions and pixels
    the decomposition in ``learning_results`` kept, as the data object a fit
    reads (:mod:`hyperspy_cnmf.core.data`): never a copy of the signal's
    data; lazy data are loaded once when they fit, streamed otherwise."""
    nav_mask, sig_mask = learning_results.navigation_mask, learning_results.signal_mask
    nav_keep = None if nav_mask is None else ~np.asarray(nav_mask, bool).ravel()
    sig_keep = None if sig_mask is None else ~np.asarray(sig_mask, bool).ravel()
    data, _ = _fit_data(signal, nav_keep, sig_keep, stream=None)
    return data


def _fit_data(signal, nav_keep, sig_keep, stream):
    """The data object the fit reads, never a copy of the signal's data.

    In-memory data: the (n_nav, n_sig) view of ``s.data``, read in cast row
    blocks when it holds integer counts or masks are given. Lazy data: loaded
    once into memory in their own (compact) dtype when they fit
    (``stream=None``: the data take at most :data:`LOAD_FRACTION` of the
    available memory) or ``stream=False``; streamed block by block
    otherwise. Returns ``(data, streamed)``.
    """
    nav_shape, sig_shape = array_shapes(signal)
    n_nav, n_sig = int(np.prod(nav_shape)), int(np.prod(sig_shape))
    array = _aligned_data(signal)
    if is_dask(array):
        if stream is None:
            available = available_memory()
            stream = available is not None and array.nbytes > LOAD_FRACTION * available
        if stream:
            return DaskData(array, len(nav_shape), nav_keep, sig_keep), True
        array = _load(array)
    X = array.reshape((n_nav, n_sig))  # a view of aligned C-order data
    return as_data(X, nav_keep, sig_keep), False


def _writes_in_place(array) -> bool:
    """Whether ``array`` computes in this process (the threaded or the
    synchronous scheduler), so that its chunks can be stored into an
    in-memory array; dask.distributed and process pools compute elsewhere."""
    import dask.base
    import dask.local
    import dask.threaded

    scheduler = dask.base.get_scheduler(collections=[array])
    return scheduler in (dask.threaded.get, dask.local.get_sync)


def _load(array):
    """A dask array computed into one in-memory array of its own dtype.

    Written into a preallocated array: no second copy, no float conversion.
    In this process each chunk is stored in place as it is read, on every
    thread (``da.store``; 128x128 x 256x256 uint16 from zspy: 3.4 s against
    4.9-7.2 s band by band); under dask.distributed one band of chunks
    (along the first axis) is computed at a time.
    """
    if get_backend(array).name != "numpy":
        return array.compute()
    available = available_memory()
    if available is not None and array.nbytes > available:
        raise MemoryError(
            f"the lazy signal holds {format_bytes(array.nbytes)} but only "
            f"{format_bytes(available)} of memory are available: leave "
            "stream=None (or stream=True) so that it is streamed chunk by chunk"
        )
    out = np.empty(array.shape, dtype=array.dtype)
    if _writes_in_place(array):
        import dask.array as da

        da.store(array, out, lock=False)
        return out
    start = 0
    for size in array.chunks[0]:
        out[start : start + size] = array[start : start + size].compute()
        start += size
    return out


def _either(a, b):
    return b if a is None else a | b


def _without_numpy_mask(signal):
    """``(signal, None)``, or for data in a numpy masked array a copy that
    shares the unmasked values (``s.data`` is not changed) and the masks
    ``(navigation, signal)`` (array order) of the patterns and pixels it
    hides entirely. Entries hidden elsewhere cannot be left out of a
    factorization: an error names the fix."""
    if not isinstance(signal.data, np.ma.MaskedArray):
        return signal, None
    nav_shape, sig_shape = array_shapes(signal)
    hidden = np.ma.getmaskarray(_aligned_data(signal))
    hidden = hidden.reshape(int(np.prod(nav_shape)), int(np.prod(sig_shape)))
    nav = hidden.all(axis=1)
    sig = hidden.all(axis=0)
    scattered = int((hidden & ~nav[:, None] & ~sig[None, :]).sum())
    if scattered:
        raise ValueError(
            f"the data are a numpy masked array with {scattered} masked entries "
            "that are neither whole diffraction patterns nor whole detector "
            "pixels; NMF can leave out only those: fill the others "
            "(s.data = s.data.filled(0)) or mask whole patterns/pixels "
            "(navigation_mask=, signal_mask=)"
        )
    copy = signal._deepcopy_with_new_data(np.ma.getdata(signal.data))
    copy.learning_results.__init__()
    return copy, (nav.reshape(nav_shape), sig.reshape(sig_shape))


def _check_input_signal(signal, output_dimension) -> None:
    """Refusals that must come before any reshaping or numpy cast."""
    folding = signal.metadata.get_item("_HyperSpy.Folding", None)
    if folding is not None and folding.get_item("unfolded", False):
        raise ValueError(
            "this signal has been unfolded (s.unfold() or "
            "s.unfold_navigation_space()): its scan and diffraction geometry "
            "are lost, so the radial constraint would be dropped and the maps "
            "smoothed across row ends. Fold it back first: s.fold()"
        )
    if np.dtype(signal.data.dtype).kind == "c":
        raise TypeError(
            f"the signal holds complex data ({signal.data.dtype}); NMF needs "
            "real nonnegative intensities: decompose the amplitude or the "
            "intensity instead, e.g. abs(s) or (abs(s) ** 2)"
        )
    if output_dimension is None:
        raise ValueError(
            "output_dimension must be given for algorithm='constrained_nmf': "
            "the number of components to extract"
        )
    if (
        isinstance(output_dimension, (bool, np.bool_))
        or not isinstance(output_dimension, (int, np.integer))
        or output_dimension < 1
    ):
        raise ValueError(
            f"output_dimension={output_dimension!r} must be a positive integer: "
            "the number of components to extract"
        )


def _check_not_all_dead(factors, loadings, factor_constraints, loading_constraints):
    """Raise, before anything is stored, when every component came out zero."""
    model_zero = not (
        np.nan_to_num(factors).any(axis=0) & np.nan_to_num(loadings).any(axis=0)
    ).any()
    if model_zero:
        raise ValueError(
            "every component came out zero: the constraints "
            f"(factor_constraints={[_describe(c) for c in factor_constraints]}, "
            f"loading_constraints={[_describe(c) for c in loading_constraints]}) "
            "or the masks remove everything the fit finds. Nothing was stored "
            "(any previous learning_results are kept); check the constraints, "
            "e.g. run with factor_constraints=[] and loading_constraints=[]"
        )


def _nan_expand(arr, keep):
    """Rows of ``arr`` at the kept rows of a NaN array of ``keep.size`` rows."""
    if keep is None:
        return arr
    out = np.full((keep.size, arr.shape[1]), np.nan, dtype=arr.dtype)
    out[keep] = arr
    return out


def spectrum_kind(signal) -> str | None:
    """``"EELS"`` or ``"EDS"`` for an exspy spectrum image (by its
    ``signal_type``, or the name of its class or a base class), else None.
    exspy is never imported."""
    if signal.axes_manager.signal_dimension != 1:
        return None
    signal_type = signal.metadata.get_item("Signal.signal_type", "") or ""
    kind = _SPECTRUM_TYPES.get(str(signal_type).upper())
    if kind is not None:
        return kind
    for cls in type(signal).__mro__:
        name = cls.__name__.removeprefix("Lazy")
        if name in _SPECTRUM_CLASSES:
            return _SPECTRUM_CLASSES[name]
    return None


def _spectral_default(signal, geometry):
    """The ``"auto"`` factor constraints of a 1D signal, as a factory."""
    kind = spectrum_kind(signal)
    if kind is None:
        _logger.info(
            "constrained_nmf: a %s without an EELS/EDS signal_type gets map "
            "smoothing only (factor_constraints=[], pure_phases=False); for "
            "spectra pass "
            "factor_constraints=[hyperspy_cnmf.SpectralContinuity(width=..., "
            "units='eV')] or set the signal type (s.set_signal_type('EELS'))",
            type(signal).__name__,
        )
        return list
    width, units = SPECTRUM_DEFAULTS[kind]
    (axis,) = geometry.signal_axes
    try:
        constraint = SpectralContinuity(width=width, units=units)
        constraint.half_width(geometry.context("factors"))
    except ValueError:  # an energy axis in no energy unit: a tenth of it
        _logger.info(
            "constrained_nmf: the energy axis of this %s signal has units %r; "
            "SpectralContinuity uses a tenth of its range as the baseline "
            "window (calibrate it in eV/keV for the default %g %s)",
            kind,
            axis.units,
            width,
            units,
        )
        constraint = SpectralContinuity()
    return lambda: [constraint]


def _advise_on_weighted_counts(signal, settings, data):
    """A warning where Poisson weights replace the Poisson likelihood on the
    counts of an EELS/EDS signal (exspy's ``EDSTEMSpectrum.decomposition``
    passes ``normalize_poissonian_noise=True`` by default): integers, or
    floats that are all whole numbers, told by the statistics of ``data``,
    the object the estimator checks next (one pass for both)."""
    if (
        settings["normalize_poissonian_noise"]
        and _is_auto(settings["loss"])
        and spectrum_kind(signal) is not None
        and is_counts(data, whole_floats=True)
    ):
        _logger.warning(
            "constrained_nmf: normalize_poissonian_noise=True fits these "
            "counts by a weighted squared error; normalize_poissonian_noise="
            "False fits them by the Poisson likelihood, which recovered "
            "espm's EDS phases better (worst spectrum cosine 0.85-0.98 "
            "weighted, 0.98-1.00 Poisson; docs/user_guide/spectra.rst)"
        )


def _signal_pure_phases(signal, pure_phases):
    """``pure_phases`` with ``"auto"`` resolved for the signal's spectra: on
    for an EELS or EDS signal (the host floors taken out of the maps), off
    for another ``Signal1D``; the estimator resolves it for 2D patterns."""
    if not _is_auto(pure_phases) or signal.axes_manager.signal_dimension != 1:
        return pure_phases
    return spectrum_kind(signal) is not None


def _signal_constraints(signal, settings, geometry):
    """The constraints with "auto" resolved for the signal: the paper's on
    2D patterns, by signal type on spectra (:func:`_spectral_default`)."""
    if len(geometry.signal_shape) == 2:
        factor_default = paper_factor_constraints
    elif _is_auto(settings["factor_constraints"]):  # spectra: by signal type
        factor_default = _spectral_default(signal, geometry)
    else:
        factor_default = list
    factor_constraints = resolve_constraints(
        settings["factor_constraints"], factor_default, geometry, "factor_constraints"
    )
    loading_constraints = resolve_constraints(
        settings["loading_constraints"],
        paper_loading_constraints,
        geometry,
        "loading_constraints",
    )
    return factor_constraints, loading_constraints


def _keeps(geometry):
    """Flat ``(nav_keep, sig_keep)`` of the kept positions and pixels (None: all)."""
    return tuple(
        None if mask is None else ~mask.ravel()
        for mask in (geometry.navigation_mask, geometry.signal_mask)
    )


def _reproject(signal, estimator, reproject, factors, loadings, geometry):
    """Full-size factors and maps (NaN where excluded), the excluded
    positions/pixels reprojected by the estimator as ``reproject`` asks."""
    nav_keep, sig_keep = _keeps(geometry)
    factors_full = _nan_expand(factors, sig_keep)
    loadings_full = _nan_expand(loadings, nav_keep)
    if reproject in ("navigation", "both") and nav_keep is not None:
        rows = _unfolded_matrix(signal, ~nav_keep, sig_keep)
        loadings_full[~nav_keep] = to_host(estimator.transform(rows))
    if reproject in ("signal", "both") and sig_keep is not None:
        cols = _unfolded_matrix(signal, nav_keep, ~sig_keep)
        factors_full[~sig_keep] = to_host(estimator.extend_components(cols, loadings)).T
    return factors_full, loadings_full


def _record(estimator, geometry, center_xy, **facts):
    """What ``cnmf_params`` stores: the settings the fit ran with (every
    "auto" resolved, the constraints by name) and ``facts`` about the run."""
    resolved = estimator.resolved_params_
    settings = {k: v for k, v in resolved.items() if k not in _SET_BY_ADAPTER}
    return {
        "algorithm": ALGORITHM,
        "output_dimension": int(estimator.n_components_),
        **settings,
        "factor_constraints": [_describe(c) for c in resolved["factor_constraints"]],
        "loading_constraints": [_describe(c) for c in resolved["loading_constraints"]],
        "center_xy": center_xy,
        **facts,
        "data_shape": [geometry.n_navigation, geometry.n_signal],
    }


def _check_arguments(signal, *, centre, reproject, show_progressbar, stream):
    """The signal-level arguments checked; returns ``show_progressbar`` (None:
    HyperSpy's preference)."""
    if centre is not None:
        raise ValueError(
            f"centre={centre!r} is not supported by constrained_nmf: centring "
            "makes the data negative and NMF needs nonnegative data; use "
            "centre=None"
        )
    if reproject not in _REPROJECT:
        raise ValueError(f"reproject={reproject!r} must be one of {_REPROJECT}")
    for name, value in (("show_progressbar", show_progressbar), ("stream", stream)):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise ValueError(
                f"{name}={value!r} must be True, False or None (the default)"
            )
    if stream and not signal._lazy:
        raise ValueError(
            "stream=True streams a lazy signal chunk by chunk, but this signal "
            "is in memory: leave stream=None, or load it lazily "
            "(hs.load(..., lazy=True) or s.as_lazy())"
        )
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = bool(preferences.General.show_progressbar)

    return show_progressbar


def decomposition(
    signal,
    output_dimension=None,
    *,
    navigation_mask=None,
    signal_mask=None,
    center=None,
    reproject=None,
    centre=None,
    show_progressbar=None,
    print_info=True,
    return_info=False,
    stream=None,
    **params,
):
    r"""Constrained NMF of a HyperSpy/pyxem signal (Kimoto et al., Sci. Rep. 2025).

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
        lazy or not, real (take ``abs`` or the intensity of complex data
        first), nonnegative, without NaN, not unfolded (``s.fold()``
        first). Its data, metadata and any
        previous ``learning_results`` are not touched unless the fit
        completes. Nothing is copied or converted: integer counts are read
        in blocks, each cast to float32 as it is used.
    output_dimension : int
        Number of components ``k``, required (< number of kept positions and
        of kept pixels).
    navigation_mask, signal_mask : BaseSignal, numpy/dask array or None
        ``True`` marks excluded positions/pixels, read exactly as
        HyperSpy's own decompositions read them, so that the same argument
        excludes the same positions and pixels as ``algorithm="SVD"``:
        a BaseSignal mask is used through its ``data`` (array order); a
        numpy/dask **navigation** mask is in HyperSpy's ``(x, y)`` order,
        shape ``s.axes_manager.navigation_shape`` (it is transposed, as
        HyperSpy does: pass ``mask.T`` for a mask built on
        ``s.data.shape[:nav_dim]``); a numpy/dask **signal** mask has shape
        ``s.axes_manager.signal_shape`` and is flattened as it is (as
        HyperSpy does; for non-square patterns wrap an array-order mask in
        a signal, ``hs.signals.Signal2D(mask)``). Masks are boolean (0/1
        numbers are accepted). ``signal_mask=None`` uses pyxem's
        ``s.calibration.mask`` when one is set. Excluded entries of the
        factors/loadings are NaN, as in HyperSpy, unless reprojected.
    center : (float, float), list or array, optional
        Beam centre ``(x, y) = (col, row)`` in detector pixels, pyxem's
        order: ``center=s.calibration.center`` is the default. Default: the
        calibrated one, ``-offset / scale`` of each signal axis, or the one
        given to ``RadialContinuity(center=...)`` (also ``(x, y)``; two
        different centres are an error). A signal whose signal axes offsets
        are all zero (uncalibrated: the centre would be the corner pixel) is
        refused unless ``center`` is given; a warning is given when the
        centre lies near an edge; a centre outside the pattern is an error.
        It is stored as ``learning_results.cnmf_center_xy``, in the same
        ``(x, y)`` order.
    reproject : {None, "navigation", "signal", "both"}
        Fill the excluded positions ("navigation") and/or pixels ("signal")
        by nonnegative least squares against the fitted factors/loadings,
        instead of NaN. The fitted entries are kept.
    centre : None
        Only None: centring would break nonnegativity.
    show_progressbar : bool or None
        None: HyperSpy's preference
        ``hs.preferences.General.show_progressbar``.
    print_info : bool, default True
        Print a summary, like HyperSpy's decompositions.
    stream : bool or None, default None
        Lazy signals only. None: load the data once into memory, in their
        own dtype (integer counts stay integers), when they take at most
        half of the available memory, and stream them chunk by chunk from
        their source otherwise; True: always stream; False: always load.
        Streamed data are read ``8 + 2 * n_exact_iter`` times (the checks,
        the sketch, the exact polishing and the final error), and
        ``n_exact_iter="auto"`` is then 10 instead of 30 (the exact
        polishing mostly refines the last digits; see the big-data guide).
        Chunks may be split along any axes: they are used as they are,
        never rechunked.
    return_info : bool, default False
        Return the fitted :class:`~hyperspy_cnmf.core.ConstrainedNMF`
        (fitted on the kept positions/pixels; with
        ``normalize_poissonian_noise=True`` its ``components_`` are scaled
        back, its errors are those of the scaled fit).
    **params
        The settings of the fit, passed through to
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` (documented there, with
        the same defaults): ``factor_constraints`` and
        ``loading_constraints`` (``"auto"``: the paper's
        :class:`~hyperspy_cnmf.core.RadialContinuity` about the calibrated
        centre on 2D patterns, on the spectra of an exspy EELS or EDS
        signal (``signal_type`` "EELS", "EDS_TEM", "EDS_SEM")
        :class:`~hyperspy_cnmf.core.SpectralContinuity` with a 50 eV (EELS)
        or 1 keV (EDS) window (:data:`SPECTRUM_DEFAULTS`), nothing on the
        spectra of another ``Signal1D`` (logged at INFO level); and 3x3
        :class:`~hyperspy_cnmf.core.GaussianSmoothing` on the maps; ``[]``:
        nonnegativity only; or a list of callables
        ``constraint(images, context) -> images``), and the others:
        ESTIMATOR_PARAMETERS.

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
    ``cnmf_center_xy`` (x, y px, the order of pyxem's
    ``s.calibration.center``; empty when the fit used no centre; results
    saved by earlier versions hold ``cnmf_center`` in array order
    (row, col), read by
    :func:`~hyperspy_cnmf.signals.results.stored_center_xy`),
    ``cnmf_factor_constraints``,
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
    _check_input_signal(signal, output_dimension)
    _check_parameters(params)
    target = signal  # where the results go
    signal, numpy_mask = _without_numpy_mask(signal)
    show_progressbar = _check_arguments(
        signal,
        centre=centre,
        reproject=reproject,
        show_progressbar=show_progressbar,
        stream=stream,
    )
    settings = {**estimator_parameters(), **params}
    geometry, center_used = _fit_geometry(
        signal, settings, center, signal_mask, navigation_mask, numpy_mask
    )
    factor_constraints, loading_constraints = _signal_constraints(
        signal, settings, geometry
    )
    data, streamed = _fit_data(signal, *_keeps(geometry), stream)
    _advise_on_weighted_counts(signal, settings, data)
    data.label = "the signal's data"  # what the estimator's messages call it
    estimator = ConstrainedNMF(
        n_components=output_dimension,
        geometry=geometry,
        show_progressbar=show_progressbar,
        **{
            **settings,
            "factor_constraints": factor_constraints,
            "loading_constraints": loading_constraints,
            "pure_phases": _signal_pure_phases(signal, settings["pure_phases"]),
        },
    )
    loadings = to_host(estimator.fit_transform(data))
    factors = to_host(estimator.components_.T)
    _check_not_all_dead(factors, loadings, factor_constraints, loading_constraints)
    factors_full, loadings_full = _reproject(
        signal, estimator, reproject, factors, loadings, geometry
    )
    record = _record(
        estimator,
        geometry,
        center_used,
        reproject=reproject,
        lazy=signal._lazy,
        streamed=streamed,
    )
    results = _results(
        signal, estimator, factors_full, loadings_full, record, geometry, start
    )
    summary = fit_summary(SimpleNamespace(**results)) if print_info else None
    # The last step: nothing after it can fail (or be interrupted) half-way.
    store(target.learning_results, results)
    if summary is not None:
        print(summary)
    return estimator if return_info else None


def _results(signal, estimator, factors, loadings, record, geometry, start):
    """The ``learning_results`` entries of the fit, with HyperSpy's elbow
    estimate of the number of significant components."""
    results = decomposition_results(
        estimator,
        factors,
        loadings,
        params=record,
        geometry=geometry,
        elapsed=time.perf_counter() - start,
        shape={
            "unfolded": any(len(shape) > 1 for shape in array_shapes(signal)),
            "original_shape": tuple(signal.data.shape),
        },
    )
    ratio = results["explained_variance_ratio"]
    if ratio is not None and ratio.size > 2:  # HyperSpy's elbow needs 3 points
        results["number_significant_components"] = (
            int(signal.estimate_elbow_position(ratio)) + 1
        )
    return results


def _fit_geometry(signal, settings, center, signal_mask, navigation_mask, numpy_mask):
    """The fit's :class:`~hyperspy_cnmf.core.Geometry` from the signal and
    the masks, and the beam centre ``(x, y)`` it uses (a list), None where
    nothing reads it."""
    image_signal = len(signal.axes_manager.signal_shape) == 2
    # The beam centre is needed (and checked) only where a factor constraint
    # or the pure-phase step may use it.
    wants_center = (
        _is_auto(settings["factor_constraints"])
        or bool(settings["factor_constraints"])
        or settings["pure_phases"] is not False
    )
    if image_signal:
        center = _one_center(center, settings["factor_constraints"])
    geometry = signal_geometry(
        signal,
        signal_mask=signal_mask,
        navigation_mask=navigation_mask,
        center=center,
        check_beam_center=image_signal and wants_center,
        use_pyxem_mask=True,
    )
    if numpy_mask is not None:  # a numpy masked array's whole rows/columns
        geometry = dataclasses.replace(
            geometry,
            navigation_mask=_either(geometry.navigation_mask, numpy_mask[0]),
            signal_mask=_either(geometry.signal_mask, numpy_mask[1]),
        )
    used = geometry.center is not None and (wants_center or center is not None)
    return geometry, list(geometry.center) if used else None


decomposition.__doc__ = decomposition.__doc__.replace(
    "ESTIMATOR_PARAMETERS",
    ", ".join(
        f"``{name}``"
        for name in estimator_parameters()
        if not name.endswith("_constraints")
    ),
)


def _one_center(center, factor_constraints):
    """The one beam centre ``(x, y)`` of the fit: ``center=`` or the centre
    given to a ``RadialContinuity(center=...)`` (both in pyxem's order), so
    that the centre stored and printed is the one the constraint uses."""
    if _is_auto(factor_constraints) or not isinstance(
        factor_constraints, (list, tuple)
    ):
        return center
    given = [
        c.center
        for c in factor_constraints
        if isinstance(c, RadialContinuity) and c.center is not None
    ]
    points = {center_rc_from_xy(c) for c in given}
    if center is not None:
        points.add(center_rc_from_xy(center))
    if len(points) > 1:
        raise ValueError(
            "the beam centre is given twice with different values: "
            + ", ".join(f"(x, y) = ({c:.4g}, {r:.4g})" for r, c in sorted(points))
            + " (center= and RadialContinuity(center=...) are both (x, y), "
            "pyxem's order); give it once, e.g. center=s.calibration.center"
        )
    if center is None and given:
        return tuple(float(v) for v in given[0])
    return center


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"
