"""Rotation-invariant clustering of decomposition components on signals.

The signal-level side of Kimoto et al. 2025, Fig. 9 (eqs. 9-11): after any
decomposition of a 4D-STEM signal (``algorithm="constrained_nmf"`` or one of
HyperSpy's), :func:`cluster_components` refolds the factors (the component
diffraction patterns, the paper's ``W``) to the detector shape, computes the
cosine similarity (eq. 9) and the rotation-invariant diffraction similarity
with the rotation between every pair (eqs. 10-11) about the calibrated beam
centre, and clusters the components hierarchically on ``1 - similarity``.
:func:`get_cluster_components` merges the members of each cluster into one
rotation-corrected, map-weighted diffraction pattern and one summed map.

Spectrum images (EELS, EDS: one signal axis) are clustered on a 1D
similarity instead (:func:`~hyperspy_cnmf.core.similarity.spectral_similarity`:
the cosine, or the peak of the cross-correlation over small energy shifts),
with the rotation-specific steps skipped; ``cnmf_cluster_params`` says so.

All numerics live in :mod:`hyperspy_cnmf.core.similarity` and
:mod:`hyperspy_cnmf.core.clustering`; this module only reads the signal's
``learning_results``, axes and masks, and stores flat ``cnmf_cluster_*`` keys
in ``learning_results`` (they survive ``s.save`` / ``hs.load`` in the hspy
and zspy formats, and are removed when another decomposition replaces the
factors):

``cnmf_cluster_labels`` (k,) int
    Cluster of each component, 0-based in order of first appearance.
``cnmf_cluster_linkage`` (k - 1, 4)
    SciPy linkage matrix (:func:`scipy.cluster.hierarchy.dendrogram`).
``cnmf_cluster_similarity`` (k, k)
    Diffraction similarity (eq. 10), 1 on the diagonal.
``cnmf_cluster_cosine_similarity`` (k, k)
    Cosine similarity of the flattened patterns (eq. 9).
``cnmf_cluster_rotation`` (k, k)
    ``rotation[i, j]``: degrees by which component ``j`` must be rotated
    (:func:`~hyperspy_cnmf.core.polar.rotate_images`) to match ``i``.
``cnmf_cluster_params`` str
    JSON: the arguments, the resolved radial range, centre and cut height,
    and a fingerprint of the factors the clustering was computed from.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.clustering import (
    AUTO_THRESHOLD_RANGE,
    check_cut,
    cut_dendrogram,
    merge_components,
    radial_range,
)
from ..core.geometry import check_center_rc
from ..core.similarity import (
    cosine_similarity,
    diffraction_similarity,
    spectral_similarity,
)
from .geometry import (
    array_shapes,
    axis_info,
    pyxem_mask,
    signal_center_rc,
    signal_mask_array,
)
from .results import (
    CLUSTER_KEYS,
    CLUSTER_PREFIX,
    clear_cluster_results,
    drop_stale,
    factors_fingerprint,
    store_clustering,
    stored_center_xy,
    stored_clustering,
)

__all__ = [
    "AUTO_THRESHOLD_RANGE",
    "PREFIX",
    "ComponentClusters",
    "cluster_components",
    "cluster_results",
    "clear_cluster_results",
    "get_cluster_components",
    "merged_arrays",
]

PREFIX = CLUSTER_PREFIX


# --------------------------------------------------------------------------
# Result object
# --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ComponentClusters:
    """Result of :func:`cluster_components` (also stored in ``learning_results``).

    Attributes
    ----------
    labels : ndarray of int, shape (k,)
        Cluster of each component, 0-based in order of first appearance.
    linkage : ndarray, shape (k - 1, 4)
        SciPy linkage matrix.
    similarity : ndarray, shape (k, k)
        Diffraction similarity (eq. 10).
    cosine_similarity : ndarray, shape (k, k)
        Cosine similarity (eq. 9).
    rotation : ndarray, shape (k, k)
        ``rotation[i, j]``: degrees rotating component ``j`` onto ``i``.
    params : dict
        Arguments and resolved values (``r_min``, ``r_max`` in pixels,
        ``center_xy`` (x, y) px, pyxem's order, ``cut_height``, ...).
    """

    labels: np.ndarray
    linkage: np.ndarray
    similarity: np.ndarray
    cosine_similarity: np.ndarray
    rotation: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.labels.max()) + 1

    @property
    def members(self) -> list[np.ndarray]:
        """Component indices of each cluster."""
        return [np.flatnonzero(self.labels == c) for c in range(self.n_clusters)]

    def __repr__(self) -> str:
        groups = ", ".join(
            "{" + ", ".join(str(i) for i in m) + "}" for m in self.members
        )
        return (
            f"<ComponentClusters: {self.labels.size} components in "
            f"{self.n_clusters} clusters {groups}, cut at 1 - similarity = "
            f"{self.params.get('cut_height', float('nan')):.3g}>"
        )


# --------------------------------------------------------------------------
# Reading the signal
# --------------------------------------------------------------------------


def _check_2d(signal, what="component clustering"):
    if not hasattr(signal, "axes_manager") or not hasattr(signal, "learning_results"):
        raise TypeError(
            f"{what} needs a HyperSpy signal (e.g. a pyxem Diffraction2D), got "
            f"{type(signal).__name__}"
        )
    sig_dim = signal.axes_manager.signal_dimension
    if sig_dim != 2:
        raise ValueError(
            f"{what} compares 2D diffraction patterns: it needs a signal with "
            f"2 signal axes (a Signal2D, e.g. a pyxem Diffraction2D), but this "
            f"{type(signal).__name__} has {sig_dim} signal "
            f"axis{'es' if sig_dim != 1 else ''} "
            f"(axes_manager: {signal.axes_manager.navigation_shape} | "
            f"{signal.axes_manager.signal_shape})"
        )


def _stored_mask(learning_results, shape, name):
    mask = getattr(learning_results, name, None)
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.size != int(np.prod(shape)):
        return None
    return mask.reshape(shape)


def _combine(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    out = np.zeros_like(masks[0], dtype=bool)
    for m in masks:
        out |= m
    return out


def _check_decomposition(signal, min_components=2):
    lr = signal.learning_results
    factors = getattr(lr, "factors", None)
    loadings = getattr(lr, "loadings", None)
    if factors is None or loadings is None:
        raise RuntimeError(
            "no decomposition results on this signal: run s.decomposition(...) "
            "first, e.g. s.decomposition(algorithm='constrained_nmf', "
            "output_dimension=k) or s.decomposition(algorithm='NMF', "
            "output_dimension=k)"
        )
    factors = np.asarray(factors)
    loadings = np.asarray(loadings)
    if factors.ndim != 2 or loadings.ndim != 2 or factors.shape[1] != loadings.shape[1]:
        raise ValueError(
            f"learning_results has factors of shape {factors.shape} and loadings "
            f"of shape {loadings.shape}; expected (n_pixels, k) and "
            "(n_positions, k): re-run s.decomposition(...)"
        )
    k = factors.shape[1]
    if k < min_components:
        raise ValueError(
            f"the decomposition has {k} component; clustering needs at least 2 "
            "components: re-run s.decomposition(..., output_dimension=k) with "
            "k >= 2"
        )
    return factors, loadings


def _all_rows(signal, values, shape, space):
    """Factors (``space="signal"``) or loadings (``"navigation"``) with one row
    per pixel / position: rows left out by the decomposition's stored mask
    come back as NaN. Returns the values and the stored mask (or None)."""
    stored = _stored_mask(signal.learning_results, shape, f"{space}_mask")
    n_total = int(np.prod(shape))
    if values.shape[0] == n_total:
        return values, stored
    if stored is None or values.shape[0] != int((~stored).sum()):
        what, rows = (
            ("factors", "pixels")
            if space == "signal"
            else (
                "loadings",
                "positions",
            )
        )
        raise ValueError(
            f"the {what} have {values.shape[0]} rows but the signal has "
            f"{n_total} {rows} {shape}; the decomposition does not belong to "
            "this signal's current shape: re-run s.decomposition(...)"
        )
    out = np.full((n_total, values.shape[1]), np.nan)
    out[~stored.ravel()] = values
    return out, stored


def _component_factors(signal, signal_mask, unit):
    """The factors as ``(k, *signal_shape)`` arrays and the combined mask.

    Masked pixels (``learning_results.signal_mask``, pyxem's mask for
    patterns, the ``signal_mask`` argument) are set to 0; NaN anywhere else
    is an error. ``unit`` ("pixel" or "channel") names them in messages.
    """
    factors, _ = _check_decomposition(signal)
    k = factors.shape[1]
    _, sig_shape = array_shapes(signal)
    factors, stored = _all_rows(signal, factors, sig_shape, "signal")
    user = None if signal_mask is None else signal_mask_array(signal, signal_mask)
    pyxem = pyxem_mask(signal) if unit == "pixel" else None
    mask = _combine(stored, pyxem, user)
    values = np.array(factors, dtype=np.float64).T.reshape((k, *sig_shape))
    bad = ~np.isfinite(values)
    if mask is not None:
        bad &= ~mask
    if bad.any():
        comps = np.flatnonzero(bad.reshape(k, -1).any(axis=1)).tolist()
        raise ValueError(
            f"the factors of components {comps} contain NaN or infinite values "
            "outside the signal mask (the decomposition failed or diverged): "
            "re-run s.decomposition(...), or pass signal_mask= to exclude those "
            f"{unit}s"
        )
    values[~np.isfinite(values)] = 0.0
    if mask is not None:
        if mask.all():
            raise ValueError(f"the signal mask excludes every {unit}; True = excluded")
        values[:, mask] = 0.0
    return values, mask


def _component_patterns(signal, signal_mask=None):
    """The factors as ``(k, rows, cols)`` patterns and the combined mask
    (:func:`_component_factors`)."""
    _check_2d(signal)
    return _component_factors(signal, signal_mask, "pixel")


def _is_spectra(signal) -> bool:
    return (
        hasattr(signal, "axes_manager")
        and hasattr(signal, "learning_results")
        and signal.axes_manager.signal_dimension == 1
    )


def _component_spectra(signal, signal_mask=None):
    """The factors as ``(k, n_channels)`` spectra and the combined mask
    (:func:`_component_factors`)."""
    return _component_factors(signal, signal_mask, "channel")


def _component_maps(signal):
    """The loadings as ``(k, *nav_shape)`` maps (NaN -> 0) and the NaN positions."""
    _, loadings = _check_decomposition(signal)
    k = loadings.shape[1]
    nav_shape, _ = array_shapes(signal)
    loadings, _ = _all_rows(signal, loadings, nav_shape, "navigation")
    maps = np.array(loadings, dtype=np.float64).T.reshape((k, *nav_shape))
    missing = ~np.isfinite(maps).any(axis=0)
    if not np.isfinite(maps[:, ~missing]).all():
        raise ValueError(
            "the loadings contain NaN or infinite values outside the navigation "
            "mask: re-run s.decomposition(...)"
        )
    return np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0), missing


def _resolve_center(signal, center):
    """Beam centre ``(row, col)`` px for the core: the argument > the
    decomposition's > the calibrated one.

    ``center`` is given in pyxem's order, ``(x, y) = (col, row)``
    (:func:`~hyperspy_cnmf.signals.geometry.center_from_xy`), as the stored
    ``cnmf_center_xy`` (:func:`~hyperspy_cnmf.signals.results.stored_center_xy`
    also reads the ``(row, col)`` ``cnmf_center`` of earlier versions); each
    is validated by the core's
    :func:`~hyperspy_cnmf.core.geometry.check_center_rc`.
    """
    stored = None if center is not None else stored_center_xy(signal.learning_results)
    if stored is None:
        return signal_center_rc(signal, center, check_beam_center=center is None)
    _, sig_shape = array_shapes(signal)
    return check_center_rc(
        (stored[1], stored[0]),
        sig_shape,
        "the centre of the decomposition (learning_results.cnmf_center_xy)",
    )


def _pixel_scale(signal):
    """Mean calibrated size of one detector pixel (signal-axis units)."""
    row_axis, col_axis = (axis_info(a) for a in signal.axes_manager.signal_axes[::-1])
    scales = np.abs([row_axis.scale, col_axis.scale])
    if not np.isclose(scales[0], scales[1], rtol=1e-3):
        warnings.warn(
            f"the detector pixels are not square (scales {scales.tolist()}); "
            "calibrated radii are converted with their mean",
            UserWarning,
            stacklevel=4,
        )
    return float(scales.mean()), row_axis.units


def _radial_range(signal, patterns, mask, center_rc, r_min, r_max, radius_units):
    """The core's radii policy (:func:`~hyperspy_cnmf.core.clustering.radial_range`)
    with the radii given in pixels or in the signal axes' units."""
    if radius_units not in ("px", "calibrated"):
        raise ValueError(
            f"radius_units must be 'px' or 'calibrated', got {radius_units!r}"
        )
    scale = _pixel_scale(signal)[0] if radius_units == "calibrated" else 1.0
    return radial_range(
        patterns,
        center_rc,
        mask=mask,
        r_min=r_min,
        r_max=r_max,
        scale=scale,
        stacklevel=4,  # the user's line, through cluster_components and s.method
    )


def _refuse_pattern_arguments(n_azimuthal, r_min, r_max, center, subtract_mean):
    """Spectra: refuse the arguments that only apply to patterns."""
    given = {
        "n_azimuthal": n_azimuthal != 360,
        "r_min": r_min is not None,
        "r_max": r_max is not None,
        "center": center is not None,
        "subtract_mean": not _is_default_subtract_mean(subtract_mean),
    }
    if any(given.values()):
        names = ", ".join(name for name, on in given.items() if on)
        raise ValueError(
            f"{names} only apply to diffraction patterns (2 signal axes); "
            "this signal has spectra: leave them out (max_shift= sets the "
            "energy shifts the spectral similarity tries)"
        )


def _cut_params(cut, n_clusters, distance_threshold, method) -> dict:
    """The dendrogram cut's record in ``cnmf_cluster_params``."""
    return {
        "n_clusters": None if n_clusters is None else int(n_clusters),
        "distance_threshold": "auto" if cut.auto else distance_threshold,
        "cut_height": cut.cut_height,
        "method": method,
    }


def _source_params(signal, mask, k) -> dict:
    """What the clustering was computed from, in ``cnmf_cluster_params``;
    the fingerprint detects a stale clustering."""
    return {
        "masked_pixels": 0 if mask is None else int(mask.sum()),
        "n_components": int(k),
        "decomposition_algorithm": str(
            getattr(signal.learning_results, "decomposition_algorithm", None)
        ),
        "factors_fingerprint": factors_fingerprint(signal.learning_results.factors),
    }


def _store(signal, clustering, similarity, cosine, rotation, params):
    """The :class:`ComponentClusters`, stored in ``learning_results``."""
    result = ComponentClusters(
        labels=np.asarray(clustering.labels, dtype=np.int64),
        linkage=np.asarray(clustering.linkage, dtype=np.float64),
        similarity=similarity,
        cosine_similarity=cosine,
        rotation=rotation,
        params=params,
    )
    store_clustering(
        signal.learning_results, {key: getattr(result, key) for key in CLUSTER_KEYS}
    )
    return result


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def _is_default_subtract_mean(value) -> bool:
    return isinstance(value, str) and value == "auto"


def cluster_components(
    signal,
    n_clusters=None,
    distance_threshold=None,
    method="average",
    n_azimuthal=360,
    r_min=None,
    r_max=None,
    *,
    radius_units="px",
    center=None,
    signal_mask=None,
    subtract_mean="auto",
    refine=True,
    max_shift=0,
):
    """Cluster the decomposition components by rotation-invariant similarity.

    Kimoto et al. 2025, Fig. 9 and eqs. 9-11. The factors of the last
    decomposition (any algorithm) are refolded to ``(k, rows, cols)``
    diffraction patterns; the diffraction similarity (peak of the azimuthal
    cross-correlation of the polar-transformed patterns about the beam
    centre) and the rotation between every pair are computed with
    :func:`~hyperspy_cnmf.core.similarity.diffraction_similarity`, the cosine
    similarity with :func:`~hyperspy_cnmf.core.similarity.cosine_similarity`,
    and the components are clustered hierarchically on ``1 - similarity``
    (:func:`~hyperspy_cnmf.core.clustering.cluster_patterns`). Also available
    as ``s.cluster_components(...)`` once :mod:`hyperspy_cnmf` is imported.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A signal with 2 signal axes (pyxem ``Diffraction2D``, ``Signal2D``),
        lazy or not, after ``s.decomposition(...)`` with ``k >= 2``.
    n_clusters : int, optional
        Cut the dendrogram into at most this many clusters.
    distance_threshold : float or "auto", optional
        Cut the dendrogram at this ``1 - similarity``. ``"auto"`` (default
        when neither ``n_clusters`` nor ``distance_threshold`` is given): in
        the middle of the largest gap between the merge heights that lie in
        :data:`AUTO_THRESHOLD_RANGE` = (0.05, 0.3), so that components with a
        similarity >= 0.95 (rotated copies) are always merged and those below
        0.7 never are. The core's fixed default is 0.3; pass it for the fixed
        cut. Decompositions whose crystalline components keep much amorphous
        intensity (e.g. with smoothing constraints) give crystal-vs-amorphous
        similarities around 0.85-0.95, which a fixed 0.3 cut merges.
    method : str, default "average"
        Linkage method (:func:`scipy.cluster.hierarchy.linkage`).
    n_azimuthal : int, default 360
        Azimuthal bins of the polar transform (the rotation resolution is
        ``360 / n_azimuthal`` degrees before sub-bin refinement).
    r_min, r_max : float, "auto" or None
        Radial range of the comparison, in pixels (``radius_units="px"``) or
        in the signal axes' calibrated units (``"calibrated"``, e.g. 1/nm).
        ``r_min=None`` / ``"auto"``: the radius of the masked direct-beam
        disc if the signal mask covers the centre, else 2.5 half-widths of a
        bright unmasked direct beam found in the components' mean radial
        profile, else 0. An unmasked direct beam is shared by all components
        and makes every pair look alike, so it must be left out. ``r_max``
        defaults to the largest circle about the centre inside the pattern.
    radius_units : {"px", "calibrated"}, default "px"
    center : (float, float), optional
        Beam centre ``(x, y) = (col, row)`` in pixels, pyxem's order (that of
        ``s.calibration.center``). Default: the centre the constrained NMF
        used (``learning_results.cnmf_center_xy``) or else the calibrated
        one, ``-offset / scale`` of each signal axis (an uncalibrated signal,
        all signal offsets zero, is refused).
    signal_mask : BaseSignal or bool array, optional
        Extra pixels to exclude (``True`` = excluded), read as HyperSpy
        reads a decomposition's signal mask (a BaseSignal's data, or an
        array of ``s.axes_manager.signal_shape`` flattened as it is). The
        decomposition's ``learning_results.signal_mask`` and pyxem's
        ``s.calibration.mask`` are always excluded.
    subtract_mean : bool or "auto", default "auto"
        See :func:`~hyperspy_cnmf.core.similarity.diffraction_similarity`:
        ``"auto"`` compares two crystalline components by their Bragg spots
        as well (the lower of the plain and the anisotropic similarity), so
        that two phases on a shared diffuse background are not merged;
        ``False`` is the paper's plain correlation.
    refine : bool
        See :func:`~hyperspy_cnmf.core.similarity.diffraction_similarity`.
    max_shift : float, default 0
        Spectra only (a signal with 1 signal axis, e.g. an EELS or EDS
        spectrum image): the largest energy shift, in the energy axis'
        units, over which the components are cross-correlated
        (:func:`~hyperspy_cnmf.core.similarity.spectral_similarity`); 0:
        the plain cosine similarity. The rotation-specific steps (polar
        transform, radial range, beam centre, rotation alignment) are
        skipped; ``rotation`` holds zeros, the shift at each peak is in
        ``params["shift"]`` (channels) and ``params["similarity"]`` says
        which similarity ran. Merging (:func:`get_cluster_components`)
        averages the member spectra without shifting them.

    Returns
    -------
    ComponentClusters
        Labels, linkage, both similarity matrices, rotations and the
        resolved parameters; the same values are stored in
        ``s.learning_results`` under ``cnmf_cluster_*`` keys (see
        :mod:`hyperspy_cnmf.signals.clustering`).

    Raises
    ------
    RuntimeError
        No decomposition on the signal.
    ValueError
        A signal without 2 signal axes, fewer than 2 components, NaN
        factors outside the signal mask, a centre outside the pattern, an
        empty radial range or bad clustering arguments.

    See Also
    --------
    get_cluster_components, hyperspy_cnmf.plot_dendrogram,
    hyperspy_cnmf.plot_similarity_matrices

    Examples
    --------
    >>> import hyperspy_cnmf
    >>> from hyperspy_cnmf.data import simulated_4dstem
    >>> s = simulated_4dstem((24, 24), (32, 32), crystallinity=(0.9, 0.8, 0.7))
    >>> s.decomposition(algorithm="constrained_nmf", output_dimension=5,
    ...                 n_init=2, max_iter=30, random_state=0, print_info=False)
    >>> result = s.cluster_components()
    >>> diffractions, maps = s.get_cluster_components()
    >>> diffractions.axes_manager.navigation_shape == (result.n_clusters,)
    True
    """
    drop_stale(signal.learning_results)  # no centre from a replaced fit
    if _is_spectra(signal):
        _refuse_pattern_arguments(n_azimuthal, r_min, r_max, center, subtract_mean)
        return _cluster_spectra(
            signal, n_clusters, distance_threshold, method, max_shift, signal_mask
        )
    patterns, mask = _component_patterns(signal, signal_mask)
    check_cut(n_clusters, distance_threshold)
    center_rc = _resolve_center(signal, center)
    radii = _radial_range(signal, patterns, mask, center_rc, r_min, r_max, radius_units)
    similarity, rotation = diffraction_similarity(
        patterns,
        center_rc=center_rc,
        mask=mask,
        n_azimuthal=n_azimuthal,
        r_min=radii.r_min,
        r_max=radii.r_max,
        subtract_mean=subtract_mean,
        refine=refine,
    )
    cosine = cosine_similarity(patterns if mask is None else patterns[:, ~mask])
    cut = cut_dendrogram(similarity, n_clusters, distance_threshold, method)
    params = {
        **_cut_params(cut, n_clusters, distance_threshold, method),
        "n_azimuthal": int(n_azimuthal),
        "r_min": radii.r_min,
        "r_max": radii.r_max,
        "r_min_source": radii.r_min_source,
        "radius_units": "px",
        "center_xy": [center_rc[1], center_rc[0]],
        "subtract_mean": (
            subtract_mean if isinstance(subtract_mean, str) else bool(subtract_mean)
        ),
        "refine": bool(refine),
        **_source_params(signal, mask, patterns.shape[0]),
    }
    return _store(signal, cut.clustering, similarity, cosine, rotation, params)


def _cluster_spectra(signal, n_clusters, distance_threshold, method, max_shift, mask):
    """:func:`cluster_components` for spectra: a 1D similarity, no rotation."""
    spectra, mask = _component_spectra(signal, mask)
    k = spectra.shape[0]
    check_cut(n_clusters, distance_threshold)
    axis = axis_info(signal.axes_manager.signal_axes[0])
    if not np.isfinite(max_shift) or max_shift < 0:
        raise ValueError(
            f"max_shift={max_shift!r} must be a number >= 0 (in the energy "
            f"axis' units, {axis.units})"
        )
    shift_channels = int(round(float(max_shift) / abs(axis.scale)))
    similarity, shift = spectral_similarity(
        spectra, max_shift=shift_channels, mask=mask
    )
    cosine = cosine_similarity(spectra if mask is None else spectra[:, ~mask])
    cut = cut_dendrogram(similarity, n_clusters, distance_threshold, method)
    params = {
        "kind": "spectra",
        "similarity": (
            "cosine"
            if shift_channels == 0
            else f"cross-correlation over shifts of up to {shift_channels} "
            f"channels ({shift_channels * abs(axis.scale):g} {axis.units})"
        ),
        "rotation": "skipped (spectra: no rotation, no beam centre)",
        **_cut_params(cut, n_clusters, distance_threshold, method),
        "max_shift": float(max_shift),
        "max_shift_channels": shift_channels,
        "shift": shift.tolist(),
        "center_xy": None,
        **_source_params(signal, mask, k),
    }
    return _store(signal, cut.clustering, similarity, cosine, np.zeros((k, k)), params)


def cluster_results(signal, *, check_current=True) -> ComponentClusters:
    """The stored clustering of ``signal`` as a :class:`ComponentClusters`.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    check_current : bool, default True
        Raise if the factors changed since the clustering (a new
        decomposition ran).

    Raises
    ------
    RuntimeError
        No clustering stored, or it is stale.
    """
    return ComponentClusters(
        **stored_clustering(signal.learning_results, check_current=check_current)
    )


def merged_arrays(signal, weights=None):
    """Merged patterns and maps as arrays (:func:`merge_components` result).

    Returns
    -------
    merged : MergedComponents
        ``patterns`` ``(c, rows, cols)``, ``maps`` ``(c, *nav_shape)`` with NaN at
        positions the decomposition left out, ``members``, ``reference``,
        ``angles``, ``weights``.
    """
    spectra = _is_spectra(signal)
    if not spectra:
        _check_2d(signal)
    result = cluster_results(signal)
    maps, missing = _component_maps(signal)
    if spectra:  # no rotation: (k, 1, n) "images" merged with zero angles
        patterns, mask = _component_spectra(signal)
        n = patterns.shape[1]
        merged = merge_components(
            patterns[:, None, :],
            maps,
            result.labels,
            np.zeros_like(result.rotation),
            center_rc=(0.0, (n - 1) / 2),
            weights=weights,
        )
        merged = merged._replace(patterns=merged.patterns[:, 0, :])
    else:
        patterns, mask = _component_patterns(signal)
        merged = merge_components(
            patterns,
            maps,
            result.labels,
            result.rotation,
            center_rc=tuple(result.params["center_xy"][::-1]),  # core's (row, col)
            weights=weights,
        )
    merged_maps = merged.maps
    if missing.any():
        merged_maps = merged_maps.copy()
        merged_maps[:, missing] = np.nan
    merged_patterns = merged.patterns
    if mask is not None:
        merged_patterns = merged_patterns.copy()
        merged_patterns[:, mask] = np.nan
    return merged._replace(patterns=merged_patterns, maps=merged_maps)


def get_cluster_components(signal, weights=None):
    """Merged diffractions and summed maps of the component clusters.

    Each cluster's members are rotated onto its reference member (the one
    with the largest map, by the stored ``cnmf_cluster_rotation``) and
    averaged with their map norms as weights; their maps are summed
    (:func:`~hyperspy_cnmf.core.clustering.merge_components`). Also available
    as ``s.get_cluster_components()``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A signal on which :func:`cluster_components` has run.
    weights : {"l2", "sum"} or array_like, optional
        Component weights, see
        :func:`~hyperspy_cnmf.core.clustering.merge_components`; default the
        L2 norm of each map.

    Returns
    -------
    diffractions : BaseSignal
        Same class and signal axes (calibration, beam centre) as ``signal``
        (e.g. a pyxem ``ElectronDiffraction2D``), with one navigation
        position per cluster (axis ``"Cluster index"``). Pixels of the
        signal mask are NaN. Not lazy.
    maps : BaseSignal
        One summed map per cluster with ``signal``'s navigation axes as its
        signal axes (a ``Signal2D`` for a 2D scan, ``Signal1D`` for a line
        scan), navigated by ``"Cluster index"``. Positions the decomposition
        left out are NaN.

    Raises
    ------
    RuntimeError
        No (or a stale) clustering: run :func:`cluster_components` first.
    """
    merged = merged_arrays(signal, weights=weights)
    return _diffraction_signal(signal, merged.patterns), _map_signal(
        signal, merged.maps
    )


def _index_axis(n):
    return {"size": int(n), "navigate": True, "name": "Cluster index", "units": None}


def _diffraction_signal(signal, patterns):
    import hyperspy.api as hs

    axes = [
        _index_axis(patterns.shape[0])
    ] + signal.axes_manager._get_signal_axes_dicts()
    cls = hs.signals.Signal2D if patterns.ndim == 3 else hs.signals.Signal1D
    out = cls(patterns.astype(np.float64), axes=axes)
    signal_type = signal.metadata.get_item("Signal.signal_type", "")
    if signal_type:
        out.set_signal_type(signal_type)
    if type(out) is not type(signal) and not getattr(signal, "_lazy", False):
        try:  # e.g. a subclass without its own signal_type
            out = type(signal)(out.data, axes=axes)
        except Exception:  # noqa: BLE001 - keep the generic signal
            pass
    instrument = signal.metadata.get_item("Acquisition_instrument", None)
    if instrument is not None:
        out.metadata.set_item("Acquisition_instrument", instrument.deepcopy())
    title = signal.metadata.get_item("General.title", "")
    out.metadata.General.title = _title("Merged cluster diffractions", title)
    return out


def _title(what, title) -> str:
    """``what of title``, or ``what`` alone for an untitled signal."""
    title = str(title or "").strip()
    return f"{what} of {title}" if title else what


def _map_signal(signal, maps):
    import hyperspy.api as hs

    nav_axes = signal.axes_manager._get_navigation_axes_dicts()
    for axis in nav_axes:
        axis["navigate"] = False
    axes = [_index_axis(maps.shape[0])] + nav_axes
    cls = hs.signals.Signal2D if len(nav_axes) == 2 else hs.signals.Signal1D
    out = cls(maps, axes=axes)
    title = signal.metadata.get_item("General.title", "")
    out.metadata.General.title = _title("Summed cluster maps", title)
    return out


# --------------------------------------------------------------------------
# Signal methods
# --------------------------------------------------------------------------
