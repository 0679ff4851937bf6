"""Scores of a decomposition against a known truth (numpy/scipy only).

All functions take plain arrays: diffraction components ``(k, rows, cols)``
(or already flattened ``(k, n_pixels)``) and maps ``(k, nav_rows, nav_cols)``.
They are meant for the simulated data of :mod:`hyperspy_cnmf.data` but work
with any truth.

* :func:`match_components` -- Hungarian matching of recovered to true
  components on the cosine similarity of their patterns;
* :func:`map_cosine` -- cosine similarity of each true map to its matched map;
* :func:`map_pearson` -- the centred (Pearson) correlation of the same pairs,
  which sees a bright or dark patch that the cosine of two mostly positive
  maps hides;
* :func:`clustered_map_pearson` -- the same after a clustering: each true
  map against the merged map of its match's cluster members at the same
  rotation (a grain split over two components of one pattern is joined);
* :func:`model_count_ratio` -- the model's total counts over the data's (a
  bias here is a bias in phase fractions read from the loadings);
* :func:`dark_spot_score` -- depth of "dark spots" punched into an amorphous
  pattern at the other phases' Bragg spots (paper Figs. 1c, 4a, 6a);
* :func:`high_frequency_power_fraction` -- share of a map's Fourier power
  beyond a resolution cutoff (paper Figs. 1 and 5);
* :func:`score_decomposition` -- all of the above in one dict, plus the
  best pattern cosine of every true component and its minimum over the
  crystalline ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .core.polar import radial_profile
from .core.similarity import cosine_similarity

__all__ = [
    "Matching",
    "clustered_map_pearson",
    "cosine_similarity_matrix",
    "dark_spot_score",
    "high_frequency_power_fraction",
    "map_cosine",
    "map_pearson",
    "match_components",
    "model_count_ratio",
    "resolution_cutoff",
    "score_decomposition",
]


def _flatten(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must be (n_components, ...), got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def cosine_similarity_matrix(a, b) -> np.ndarray:
    """Cosine similarity between every row of ``a`` and every row of ``b``.

    Parameters
    ----------
    a : array_like
        ``(k, ...)``: k vectors (trailing dimensions are flattened).
    b : array_like
        ``(m, ...)`` with the same number of elements per vector.

    Returns
    -------
    numpy.ndarray
        ``(k, m)``; a pair involving an all-zero vector scores 0. Non-finite
        values are treated as 0.
    """
    a = np.nan_to_num(_flatten(a, "a"), nan=0.0, posinf=0.0, neginf=0.0)
    b = np.nan_to_num(_flatten(b, "b"), nan=0.0, posinf=0.0, neginf=0.0)
    return cosine_similarity(a, b)


@dataclass(frozen=True)
class Matching:
    """Result of :func:`match_components`.

    Attributes
    ----------
    pairs : numpy.ndarray
        ``(n_matched, 2)`` int: ``(recovered_index, true_index)``, sorted by
        true index; ``n_matched = min(k, m)``.
    cosine : numpy.ndarray
        ``(n_matched,)`` pattern cosine similarity of each pair.
    similarity : numpy.ndarray
        ``(k, m)`` full cosine-similarity matrix.
    recovered_for_true : numpy.ndarray
        ``(m,)`` int: recovered index matched to each true component, -1 if
        none (more true than recovered components).
    unmatched_recovered : numpy.ndarray
        Recovered indices left without a partner (k > m).
    """

    pairs: np.ndarray
    cosine: np.ndarray
    similarity: np.ndarray
    recovered_for_true: np.ndarray
    unmatched_recovered: np.ndarray

    @property
    def true_cosine(self) -> np.ndarray:
        """``(m,)`` pattern cosine of each true component to its match (NaN if none)."""
        out = np.full(self.similarity.shape[1], np.nan)
        out[self.pairs[:, 1]] = self.cosine
        return out


def match_components(recovered, truth) -> Matching:
    """Match recovered to true components (Hungarian, on cosine similarity).

    Parameters
    ----------
    recovered : array_like
        ``(k, rows, cols)`` or ``(k, n_pixels)`` recovered patterns.
    truth : array_like
        ``(m, rows, cols)`` or ``(m, n_pixels)`` true patterns.

    Returns
    -------
    Matching
        The one-to-one assignment maximising the summed cosine similarity
        (``scipy.optimize.linear_sum_assignment``); with ``k != m`` the
        ``|k - m|`` surplus components stay unmatched.
    """
    sim = cosine_similarity_matrix(recovered, truth)
    rec_idx, true_idx = linear_sum_assignment(sim, maximize=True)
    order = np.argsort(true_idx)
    rec_idx, true_idx = rec_idx[order], true_idx[order]
    pairs = np.stack([rec_idx, true_idx], axis=1).astype(np.int64)
    recovered_for_true = np.full(sim.shape[1], -1, dtype=np.int64)
    recovered_for_true[true_idx] = rec_idx
    unmatched = np.setdiff1d(np.arange(sim.shape[0]), rec_idx)
    return Matching(
        pairs=pairs,
        cosine=sim[rec_idx, true_idx],
        similarity=sim,
        recovered_for_true=recovered_for_true,
        unmatched_recovered=unmatched,
    )


def _pairs(matching):
    if isinstance(matching, Matching):
        return matching.pairs
    pairs = np.asarray(matching, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(
            "matching must be a Matching or (n, 2) (recovered, true) pairs"
        )
    return pairs


def _matched_map_similarity(recovered_maps, true_maps, matching, centred):
    rec = _flatten(recovered_maps, "recovered_maps")
    true = _flatten(true_maps, "true_maps")
    pairs = _pairs(matching)
    out = np.full(true.shape[0], np.nan)
    if pairs.size:
        a, b = rec[pairs[:, 0]], true[pairs[:, 1]]
        if centred:
            a = a - a.mean(axis=1, keepdims=True)
            b = b - b.mean(axis=1, keepdims=True)
        out[pairs[:, 1]] = np.diag(cosine_similarity_matrix(a, b))
    return out


def map_cosine(recovered_maps, true_maps, matching) -> np.ndarray:
    """Cosine similarity of each true map to its matched recovered map.

    Parameters
    ----------
    recovered_maps : array_like
        ``(k, nav_rows, nav_cols)`` (or ``(k, n_nav)``).
    true_maps : array_like
        ``(m, nav_rows, nav_cols)`` (or ``(m, n_nav)``).
    matching : Matching or array_like
        From :func:`match_components`, or ``(n, 2)`` ``(recovered, true)``
        index pairs.

    Returns
    -------
    numpy.ndarray
        ``(m,)``; NaN for true components without a match. The cosine is of
        the raw (not mean-removed) maps, so it ignores their scale.
    """
    return _matched_map_similarity(recovered_maps, true_maps, matching, False)


def map_pearson(recovered_maps, true_maps, matching) -> np.ndarray:
    """Pearson correlation of each true map with its matched recovered map.

    The maps' means are removed before the cosine: a map that is nearly
    constant with a wrong patch (a bright spot in the amorphous map where a
    crystal sits) scores near 1 by :func:`map_cosine` but visibly lower
    here. Arguments and NaN convention as :func:`map_cosine`; a constant map
    scores 0.
    """
    return _matched_map_similarity(recovered_maps, true_maps, matching, True)


def _same_rotation(angles_deg, tolerance_deg):
    # zone-axis patterns are close to centrosymmetric (Friedel's law): a
    # turn of 180 degrees is the same orientation as far as a pattern shows
    angle = np.abs(np.asarray(angles_deg, dtype=np.float64)) % 180.0
    return np.minimum(angle, 180.0 - angle) <= tolerance_deg


def clustered_map_pearson(
    recovered_maps,
    weights,
    labels,
    rotation,
    true_maps,
    matching,
    same_rotation_deg=5.0,
) -> np.ndarray:
    """Pearson correlation of each true map with its match's merged cluster map.

    A component fitted once too often (``k`` above the true number) may split
    one grain into two components with the same pattern, each holding part
    of its map; a clustering of the patterns puts them back together. Here
    every true component is compared with the weighted sum of the maps of
    the components in its matched component's cluster *at the same
    rotation* (``rotation`` within ``same_rotation_deg``, modulo 180), so two
    rotations of one phase stay apart.

    Parameters
    ----------
    recovered_maps : array_like
        ``(k, ...)`` maps.
    weights : array_like
        ``(k,)`` weight of each map in a merged map (e.g. the counts of the
        component's pattern, so that the merged map is in counts).
    labels : array_like
        ``(k,)`` cluster of each component.
    rotation : array_like
        ``(k, k)`` degrees between every pair of components, as
        :func:`~hyperspy_cnmf.core.similarity.diffraction_similarity` gives
        it (``rotation[i, j]`` rotates ``j`` onto ``i``).
    true_maps : array_like
        ``(m, ...)`` true maps.
    matching : Matching
        From :func:`match_components`.
    same_rotation_deg : float
        Tolerance of "the same rotation".

    Returns
    -------
    numpy.ndarray
        ``(m,)``; NaN for a true component without a match.
    """
    maps = _flatten(recovered_maps, "recovered_maps")
    true = _flatten(true_maps, "true_maps")
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels)
    rotation = np.asarray(rotation, dtype=np.float64)
    merged = np.zeros_like(true)  # row t: the merged map of true t's match
    for t, match in enumerate(matching.recovered_for_true):
        if match >= 0:
            members = (labels == labels[match]) & _same_rotation(
                rotation[match], same_rotation_deg
            )
            merged[t] = weights[members] @ maps[members]
    return map_pearson(merged, true, matching.pairs[:, [1, 1]])


def model_count_ratio(factors, loadings, data_total) -> float:
    """Total counts of the model ``loadings @ factors`` over the data's.

    ``factors`` is ``(k, ...)`` and ``loadings`` ``(k, ...)`` (or
    ``(..., k)`` for HyperSpy's ``(n_nav, k)``); the model's total is
    ``sum_j (sum of map j) (sum of pattern j)``, computed without forming
    the model. 1 means the model holds as many counts as the data.
    """
    factors = _flatten(factors, "factors")
    loadings = np.asarray(loadings, dtype=np.float64)
    if loadings.shape[0] != factors.shape[0]:
        loadings = loadings.reshape(-1, factors.shape[0]).T
    loadings = loadings.reshape(factors.shape[0], -1)
    total = float(loadings.sum(axis=1) @ factors.sum(axis=1))
    return total / float(data_total)


def dark_spot_score(amorphous_pattern, spot_mask, center=None, mask=None) -> float:
    """How much darker a pattern is on Bragg-spot pixels than elsewhere at the same radius.

    Pixels are binned by integer radius (``round(hypot(row - r0, col - c0))``)
    about ``center`` (:func:`~hyperspy_cnmf.core.polar.radial_profile` with
    ``rounding="nearest"``). In each radial bin that holds both spot pixels and
    other pixels, the mean of the pattern on the spot pixels ``s_b`` and on
    the other pixels ``o_b`` are taken; the score is
    ``sum_b n_b s_b / sum_b n_b o_b`` with ``n_b`` the number of spot pixels in
    the bin (i.e. the ratio of the spot-pixel-weighted per-radius means).

    Parameters
    ----------
    amorphous_pattern : array_like
        ``(rows, cols)`` pattern (e.g. the recovered amorphous component).
    spot_mask : array_like of bool
        ``(rows, cols)``, True on the other phases' Bragg-spot pixels.
    center : (float, float), optional
        Beam centre ``(row, col)`` in pixels; default the middle
        ``((rows - 1) / 2, (cols - 1) / 2)``.
    mask : array_like of bool, optional
        True on excluded pixels (HyperSpy convention), left out of both means.

    Returns
    -------
    float
        1.0 means no dark spots, < 1 dark spots (0.5: the spot pixels carry
        half the intensity of their ring), > 1 bright spots (the pattern
        contains some of the crystalline spots). NaN if no radius holds both
        kinds of pixels or the non-spot mean is 0.
    """
    img = np.asarray(amorphous_pattern, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"amorphous_pattern must be 2D, got shape {img.shape}")
    spots = np.asarray(spot_mask, dtype=bool)
    if spots.shape != img.shape:
        raise ValueError(f"spot_mask shape {spots.shape} != pattern shape {img.shape}")
    keep = np.isfinite(img)
    if mask is not None:
        excluded = np.asarray(mask, dtype=bool)
        if excluded.shape != img.shape:
            raise ValueError(
                f"mask shape {excluded.shape} != pattern shape {img.shape}"
            )
        keep &= ~excluded
    spot_mean, spot_n = radial_profile(
        img, center, mask=~(keep & spots), rounding="nearest", return_counts=True
    )
    other_mean, other_n = radial_profile(
        img, center, mask=~(keep & ~spots), rounding="nearest", return_counts=True
    )
    use = (spot_n > 0) & (other_n > 0)
    if not use.any():
        return float("nan")
    numerator = (spot_n[use] * spot_mean[use]).sum()
    denominator = (spot_n[use] * other_mean[use]).sum()
    if not denominator > 0:
        return float("nan")
    return float(numerator / denominator)


def resolution_cutoff(probe_fwhm: float, scan_step: float = 1.0) -> float:
    """Spatial-frequency cutoff (cycles/pixel) from a Gaussian probe.

    The frequency at which the transfer function of a Gaussian probe of full
    width at half maximum ``probe_fwhm`` drops to one half:
    ``f = sqrt(ln 2 / 2) / (pi sigma)`` with ``sigma = FWHM / (2 sqrt(2 ln 2))``,
    i.e. ``f = 2 ln 2 / (pi FWHM) ~= 0.441 / FWHM``, converted to cycles per
    scan pixel (``probe_fwhm`` and ``scan_step`` in the same units) and
    capped at the Nyquist frequency 0.5. Example: the paper's 2 nm probe and
    1.5 nm step give 0.33 cycles/pixel.
    """
    if not (probe_fwhm > 0 and scan_step > 0):
        raise ValueError("probe_fwhm and scan_step must be positive")
    f = 2.0 * math.log(2.0) / (math.pi * probe_fwhm / scan_step)
    return float(min(f, 0.5))


def high_frequency_power_fraction(maps, cutoff: float = 0.25) -> np.ndarray:
    """Fraction of each map's Fourier power beyond a spatial-frequency cutoff.

    Each map has its mean removed; its 2D power spectrum ``|FFT|^2`` is
    indexed by the radial frequency ``sqrt(fy^2 + fx^2)`` in cycles per
    pixel (``numpy.fft.fftfreq`` along each axis, so the Nyquist frequency
    is 0.5 and the corners reach ``0.5 sqrt(2)``). The score is the power at
    frequencies strictly above ``cutoff`` over the total power.

    Parameters
    ----------
    maps : array_like
        ``(rows, cols)`` or ``(k, rows, cols)``.
    cutoff : float
        Cutoff in cycles/pixel; default 0.25 (half the Nyquist frequency).
        :func:`resolution_cutoff` derives one from a probe FWHM and scan step.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` fractions in [0, 1] (a scalar array for a single map); NaN
        for constant maps. White noise gives about ``1 - pi cutoff^2``
        (0.80 for 0.25), a map smooth on the scale of a few pixels nearly 0.
    """
    m = np.asarray(maps, dtype=np.float64)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"maps must be (rows, cols) or (k, rows, cols), got {m.shape}")
    m = np.nan_to_num(m) - np.nan_to_num(m).mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(m)) ** 2
    fy = np.fft.fftfreq(m.shape[1])
    fx = np.fft.fftfreq(m.shape[2])
    high = np.hypot(fy[:, None], fx[None, :]) > cutoff
    total = power.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, power[:, high].sum(axis=1) / total, np.nan)
    return frac[0] if single else frac


def _truth_get(truth, *names, default=None):
    for name in names:
        if isinstance(truth, Mapping):
            if name in truth:
                return truth[name]
        elif hasattr(truth, name):
            return getattr(truth, name)
    return default


def score_decomposition(
    factors,
    loadings,
    truth,
    *,
    amorphous_index: int | None = None,
    cutoff: float = 0.25,
    center=None,
    signal_mask=None,
) -> dict:
    """Score a decomposition against the simulation truth.

    Parameters
    ----------
    factors : array_like
        Recovered diffraction components ``(k, rows, cols)`` (or
        ``(k, n_pixels)``).
    loadings : array_like
        Recovered maps ``(k, nav_rows, nav_cols)`` (or ``(k, n_nav)``).
    truth : SimulatedData or Mapping
        Needs true patterns and maps (attributes ``patterns``/``maps`` of
        :class:`hyperspy_cnmf.data.SimulatedData`, or keys
        ``true_patterns``/``true_maps`` as in ``s.metadata.Simulation``, e.g.
        ``s.metadata.Simulation.as_dictionary()``) and optionally
        ``spot_masks``, ``center``, ``component_names``.
    amorphous_index : int, optional
        Index of the amorphous true component; default the one named
        ``'amorphous'``, else 0.
    cutoff : float
        For :func:`high_frequency_power_fraction` (cycles/pixel).
    center : (float, float), optional
        Beam centre (row, col); default the truth's, else the middle.
    signal_mask : array_like of bool, optional
        Excluded detector pixels (True), for :func:`dark_spot_score`.

    Returns
    -------
    dict
        ``matching`` (:class:`Matching`), ``component_names``,
        ``pattern_cosine``, ``map_cosine`` and ``map_pearson`` ``(m,)`` per
        true component (NaN where unmatched), ``map_cosine_mean``,
        ``map_pearson_min``, ``best_pattern_cosine``
        ``(m,)`` (for each true pattern, the highest cosine of any recovered
        factor to it, matched or not), ``crystal_pattern_cosine`` (the
        minimum of ``best_pattern_cosine`` over the true components other
        than the amorphous one: how well the worst-recovered crystalline
        pattern is found; NaN with a single true component),
        ``amorphous_match``
        (recovered index or -1), ``dark_spot_score`` of that recovered
        component on the union of the crystalline spot masks (NaN without
        masks or a match), ``hf_fraction`` ``(k,)`` per recovered map and
        ``hf_fraction_mean``.
    """
    true_patterns = _truth_get(truth, "true_patterns", "patterns")
    true_maps = _truth_get(truth, "true_maps", "maps")
    if true_patterns is None or true_maps is None:
        raise ValueError("truth needs true patterns and maps")
    true_patterns = np.asarray(true_patterns)
    true_maps = np.asarray(true_maps)
    names = _truth_get(truth, "component_names")
    names = [str(n) for n in names] if names is not None else None
    factors = np.asarray(factors)
    loadings = np.asarray(loadings)
    if factors.shape[0] != loadings.shape[0]:
        raise ValueError(
            f"{factors.shape[0]} factors but {loadings.shape[0]} loadings; "
            "both must be (k, ...)"
        )

    matching = match_components(factors, true_patterns)
    if amorphous_index is None:
        amorphous_index = (
            names.index("amorphous") if names and "amorphous" in names else 0
        )
    amorphous_match = int(matching.recovered_for_true[amorphous_index])
    best = matching.similarity.max(axis=0)
    crystals = np.delete(best, amorphous_index)
    crystal_cosine = float(crystals.min()) if crystals.size else float("nan")

    spot_masks = _truth_get(truth, "spot_masks")
    if center is None:
        center = _truth_get(truth, "center")
    score = float("nan")
    if spot_masks is not None and amorphous_match >= 0:
        union = np.asarray(spot_masks, dtype=bool)
        union = union.any(axis=0) if union.ndim == 3 else union
        pattern = factors[amorphous_match].reshape(union.shape)
        score = dark_spot_score(pattern, union, center=center, mask=signal_mask)

    maps2d = loadings
    if maps2d.ndim == 2:
        maps2d = maps2d.reshape((maps2d.shape[0],) + true_maps.shape[1:])
    hf = high_frequency_power_fraction(maps2d, cutoff)
    mc = map_cosine(loadings, true_maps, matching)
    mp = map_pearson(loadings, true_maps, matching)
    return {
        "matching": matching,
        "component_names": names,
        "pattern_cosine": matching.true_cosine,
        "map_cosine": mc,
        "map_pearson": mp,
        "map_pearson_min": float(np.nanmin(mp))
        if np.isfinite(mp).any()
        else float("nan"),
        "map_cosine_mean": float(np.nanmean(mc))
        if np.isfinite(mc).any()
        else float("nan"),
        "best_pattern_cosine": best,
        "crystal_pattern_cosine": crystal_cosine,
        "amorphous_match": amorphous_match,
        "dark_spot_score": score,
        "hf_fraction": hf,
        "hf_fraction_mean": float(np.nanmean(hf))
        if np.isfinite(hf).any()
        else float("nan"),
    }
