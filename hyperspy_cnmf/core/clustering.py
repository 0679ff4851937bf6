"""Hierarchical clustering and rotation-corrected merging of components.

Array-level core of the component clustering of Kimoto et al. 2025 (Fig. 9):
the diffraction similarity (:func:`~hyperspy_cnmf.core.similarity.
diffraction_similarity`) becomes the distance ``1 - similarity`` for SciPy's
hierarchical :func:`~scipy.cluster.hierarchy.linkage`, and the components of
each cluster are merged into one: the rotation-corrected, map-weighted average
diffraction pattern and the summed map.

Nothing here imports HyperSpy.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from .polar import (
    direct_beam_radius,
    inscribed_radius,
    masked_disc_radius,
    rotate_images,
)

__all__ = [
    "AUTO_THRESHOLD_RANGE",
    "DEFAULT_DISTANCE_THRESHOLD",
    "Clustering",
    "DendrogramCut",
    "MergedComponents",
    "RadialRange",
    "auto_cut_height",
    "check_cut",
    "cluster_patterns",
    "cut_dendrogram",
    "radial_range",
    "cut_height",
    "merge_components",
    "similarity_to_distance",
]

#: Default cut of the dendrogram, in units of ``1 - similarity``: components
#: whose (average-linkage) diffraction similarity is at least 0.7 are merged.
#: Rotated copies of one pattern score above 0.95 (interpolation and noise
#: cost a few per cent); lattices with different spacings, and crystalline vs
#: amorphous patterns, score below about 0.5 once the direct beam is left out
#: (``r_min``), so 0.3 sits in the gap with margin on both sides.
DEFAULT_DISTANCE_THRESHOLD = 0.3

#: Range of the automatic dendrogram cut (:func:`auto_cut_height`), in units
#: of ``1 - similarity``: components joined below 0.05 (similarity >= 0.95,
#: e.g. rotated copies of one pattern) are always merged, those joined above
#: 0.3 (similarity < 0.7, :data:`DEFAULT_DISTANCE_THRESHOLD`) never are.
AUTO_THRESHOLD_RANGE = (0.05, DEFAULT_DISTANCE_THRESHOLD)

_METHODS = ("single", "complete", "average", "weighted", "centroid", "median", "ward")


class Clustering(NamedTuple):
    """Result of :func:`cluster_patterns`.

    Attributes
    ----------
    linkage : ndarray, shape (k - 1, 4)
        SciPy linkage matrix (for :func:`scipy.cluster.hierarchy.dendrogram`).
    labels : ndarray of int, shape (k,)
        Cluster of each pattern, 0-based, numbered in order of first
        appearance (pattern 0 is in cluster 0; NMF components sorted by
        intensity therefore give the strongest cluster label 0).
    distance : ndarray, shape (k, k)
        The distance matrix that was clustered.
    """

    linkage: np.ndarray
    labels: np.ndarray
    distance: np.ndarray


class MergedComponents(NamedTuple):
    """Result of :func:`merge_components`.

    Attributes
    ----------
    patterns : ndarray, shape (c, rows, cols)
        Rotation-corrected weighted average diffraction of each cluster.
    maps : ndarray, shape (c, ...)
        Summed maps of each cluster.
    members : list of ndarray of int
        Component indices of each cluster.
    reference : ndarray of int, shape (c,)
        The member each cluster was aligned to (largest weight).
    angles : ndarray, shape (k,)
        Angle in degrees by which each component was rotated (0 for the
        references), i.e. ``rotation_deg[reference, member]``.
    weights : ndarray, shape (k,)
        Weight of each component in its cluster's average.
    """

    patterns: np.ndarray
    maps: np.ndarray
    members: list
    reference: np.ndarray
    angles: np.ndarray
    weights: np.ndarray


def _check_square(matrix, name):
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"{name} must be a square (k, k) matrix, got shape {matrix.shape}; "
            "compute it with diffraction_similarity or cosine_similarity"
        )
    if matrix.shape[0] < 2:
        raise ValueError(
            f"need at least 2 components to cluster, got {matrix.shape[0]}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(
            f"{name} contains NaN or infinite values; check the patterns "
            "(all-zero or NaN components) before computing the similarity"
        )
    return matrix


def similarity_to_distance(similarity):
    """Distance matrix ``1 - similarity`` for clustering.

    The matrix is symmetrised (mean with its transpose), clipped to
    ``[0, 2]`` and given a zero diagonal.

    Parameters
    ----------
    similarity : array_like, shape (k, k)

    Returns
    -------
    ndarray, shape (k, k)
    """
    similarity = _check_square(similarity, "similarity")
    distance = 1.0 - 0.5 * (similarity + similarity.T)
    np.clip(distance, 0.0, 2.0, out=distance)
    np.fill_diagonal(distance, 0.0)
    return distance


def _first_appearance(labels):
    """Relabel to 0, 1, ... in order of first appearance."""
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping[label] for label in labels], dtype=int)


def cluster_patterns(
    similarity, n_clusters=None, distance_threshold=None, method="average"
):
    """Hierarchical clustering of components from their similarity matrix.

    Parameters
    ----------
    similarity : array_like, shape (k, k)
        Pairwise similarity, 1 = identical (e.g. from
        :func:`~hyperspy_cnmf.core.similarity.diffraction_similarity`).
    n_clusters : int, optional
        Cut the dendrogram into at most this many clusters (``fcluster``
        criterion ``"maxclust"``). Exclusive with ``distance_threshold``.
    distance_threshold : float, optional
        Cut the dendrogram at this distance ``1 - similarity`` (criterion
        ``"distance"``: members of a cluster are joined at a cophenetic
        distance <= the threshold). Default, when neither is given,
        :data:`DEFAULT_DISTANCE_THRESHOLD` (0.3, i.e. similarity >= 0.7).
    method : str, optional
        Linkage method of :func:`scipy.cluster.hierarchy.linkage`. ``"average"``
        (UPGMA), ``"single"``, ``"complete"`` and ``"weighted"`` are meaningful
        for a similarity-based distance; ``"ward"``, ``"centroid"`` and
        ``"median"`` assume Euclidean distances and are allowed but not
        recommended.

    Returns
    -------
    Clustering
        ``(linkage, labels, distance)``; labels are 0-based in order of first
        appearance.

    Raises
    ------
    ValueError
        Bad similarity matrix, both or invalid ``n_clusters`` /
        ``distance_threshold``, or an unknown method.
    """
    distance = similarity_to_distance(similarity)
    k = distance.shape[0]
    if n_clusters is not None and distance_threshold is not None:
        raise ValueError("give either n_clusters or distance_threshold, not both")
    if method not in _METHODS:
        raise ValueError(f"unknown linkage method {method!r}; use one of {_METHODS}")
    linkage = hierarchy.linkage(squareform(distance, checks=False), method=method)
    if n_clusters is not None:
        if int(n_clusters) != n_clusters or not 1 <= n_clusters <= k:
            raise ValueError(
                f"n_clusters must be an integer between 1 and the number of "
                f"components ({k}), got {n_clusters}"
            )
        raw = hierarchy.fcluster(linkage, int(n_clusters), criterion="maxclust")
    else:
        if distance_threshold is None:
            distance_threshold = DEFAULT_DISTANCE_THRESHOLD
        if not np.isfinite(distance_threshold) or distance_threshold < 0:
            raise ValueError(
                "distance_threshold must be a nonnegative distance "
                f"(1 - similarity), got {distance_threshold}"
            )
        raw = hierarchy.fcluster(
            linkage, float(distance_threshold), criterion="distance"
        )
    return Clustering(linkage, _first_appearance(raw), distance)


class DendrogramCut(NamedTuple):
    """Result of :func:`cut_dendrogram`.

    Attributes
    ----------
    clustering : Clustering
    cut_height : float
        The height of the cut, ``1 - similarity``.
    auto : bool
        Whether the cut was chosen by :func:`auto_cut_height`.
    """

    clustering: Clustering
    cut_height: float
    auto: bool


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def check_cut(n_clusters=None, distance_threshold=None) -> bool:
    """Refuse both ``n_clusters`` and ``distance_threshold``, or a string
    threshold other than ``"auto"``; return whether the cut is automatic
    (``"auto"``, or neither given)."""
    if n_clusters is not None and distance_threshold is not None:
        raise ValueError("give either n_clusters or distance_threshold, not both")
    auto = n_clusters is None and (
        distance_threshold is None or _is_auto(distance_threshold)
    )
    if isinstance(distance_threshold, str) and not auto:
        raise ValueError(
            f"distance_threshold must be a number or 'auto', got {distance_threshold!r}"
        )
    return auto


def cut_dendrogram(
    similarity, n_clusters=None, distance_threshold=None, method="average"
) -> DendrogramCut:
    """:func:`cluster_patterns`, with the automatic cut and its height.

    ``distance_threshold="auto"`` (also when neither ``n_clusters`` nor
    ``distance_threshold`` is given): the cut of :func:`auto_cut_height` in
    :data:`AUTO_THRESHOLD_RANGE` on the full dendrogram. With
    ``n_clusters``, the height that leaves that many clusters
    (:func:`cut_height`).

    Raises
    ------
    ValueError
        Both ``n_clusters`` and ``distance_threshold``, a string other than
        ``"auto"``, or what :func:`cluster_patterns` refuses.
    """
    auto = check_cut(n_clusters, distance_threshold)
    if auto:
        k = np.asarray(similarity).shape[0]
        probe = cluster_patterns(similarity, n_clusters=k, method=method)
        distance_threshold = auto_cut_height(probe.linkage, *AUTO_THRESHOLD_RANGE)
    clustering = cluster_patterns(
        similarity,
        n_clusters=n_clusters,
        distance_threshold=distance_threshold,
        method=method,
    )
    if n_clusters is not None:
        cut = cut_height(clustering.linkage, int(clustering.labels.max()) + 1)
    else:
        cut = float(distance_threshold)
    return DendrogramCut(clustering, cut, auto)


class RadialRange(NamedTuple):
    """Result of :func:`radial_range`: radii in pixels and where ``r_min``
    came from (``"signal mask"``, ``"direct beam"``, ``"none"`` or
    ``"argument"``)."""

    r_min: float
    r_max: float
    r_min_source: str


def _edge_r_max(shape, center_rc, stacklevel) -> float:
    """The farthest corner, with a warning, for a centre on the edge."""
    rows, cols = shape
    r_max = max(
        math.hypot(r - center_rc[0], c - center_rc[1])
        for r in (0, rows - 1)
        for c in (0, cols - 1)
    )
    warnings.warn(
        f"the beam centre (x, y) = ({center_rc[1]:.4g}, {center_rc[0]:.4g}) px "
        "is at the edge of the pattern, so no full circle about it fits "
        "inside; the components are compared over partial circles up "
        f"to r_max = {r_max:.4g} px (the farthest corner). Calibrate "
        "the centre (pyxem: s.calibration.center = None for the middle) "
        "and re-run the decomposition, or pass center=(x, y)",
        UserWarning,
        stacklevel=stacklevel + 2,
    )
    return r_max


def radial_range(
    patterns, center_rc, *, mask=None, r_min=None, r_max=None, scale=1.0, stacklevel=1
) -> RadialRange:
    """The radial range of the comparison: the ``"auto"`` radii policy.

    ``r_max=None``: the largest circle about the centre inside the pattern
    (:func:`~hyperspy_cnmf.core.polar.inscribed_radius`); for a centre on
    the edge (less than 2 px), the farthest corner, with a warning.
    ``r_min=None`` or ``"auto"``: the radius of the masked direct-beam disc
    if ``mask`` covers the centre
    (:func:`~hyperspy_cnmf.core.polar.masked_disc_radius`), else that of a
    bright direct beam the patterns share
    (:func:`~hyperspy_cnmf.core.polar.direct_beam_radius`), else 0.

    Parameters
    ----------
    patterns : ndarray, shape (k, rows, cols)
    center_rc : (float, float)
        Beam centre ``(row, col)`` in pixels.
    mask : bool array, shape (rows, cols), optional
        ``True`` = excluded.
    r_min, r_max : float, "auto" or None
        Given radii, in units of ``scale`` pixels.
    scale : float, default 1
        Size of one pixel in the units of ``r_min`` / ``r_max``.
    stacklevel : int, default 1
        Of the edge warning, counted from the caller.

    Returns
    -------
    RadialRange
    """
    shape = np.asarray(patterns).shape[1:]
    if r_max is None:
        r_max_px = inscribed_radius(shape, center_rc)
        if r_max_px < 2:  # a centre on the edge: no full circle fits inside
            r_max_px = _edge_r_max(shape, center_rc, stacklevel)
    else:
        r_max_px = float(r_max) / scale
    if not r_max_px > 0:
        raise ValueError(
            f"r_max = {r_max_px:.3g} px; the beam centre {center_rc} is on the "
            "pattern edge or r_max is not positive: calibrate the centre"
        )
    if r_min is None or _is_auto(r_min):
        disc = masked_disc_radius(mask, center_rc)
        if disc > 0:
            return RadialRange(disc, r_max_px, "signal mask")
        beam = direct_beam_radius(patterns, center_rc, r_max_px)
        if beam > 0:
            return RadialRange(beam, r_max_px, "direct beam")
        return RadialRange(0.0, r_max_px, "none")
    if isinstance(r_min, str):
        raise ValueError(f"r_min must be a number, None or 'auto', got {r_min!r}")
    r_min_px = float(r_min) / scale
    if not 0 <= r_min_px < r_max_px:
        raise ValueError(
            f"r_min = {r_min_px:.3g} px must lie in [0, r_max = {r_max_px:.3g} px)"
        )
    return RadialRange(r_min_px, r_max_px, "argument")


def _merge_heights(linkage):
    linkage = np.asarray(linkage, dtype=float)
    if linkage.ndim != 2 or linkage.shape[1] != 4:
        raise ValueError(
            f"linkage must be a SciPy linkage matrix (k - 1, 4), got shape "
            f"{linkage.shape}"
        )
    return linkage[:, 2]


def auto_cut_height(linkage, low=None, high=None) -> float:
    """Dendrogram cut in the largest gap between merges inside ``[low, high]``.

    With the merge heights ``h`` of ``linkage`` that lie strictly between
    ``low`` and ``high``, and the points ``low < h_1 < ... < h_m < high``,
    the cut is the middle of the widest interval between consecutive points.
    Clusters joined below ``low`` are therefore always merged and those
    joined above ``high`` never are; in between, the cut falls where the
    dendrogram has its clearest break.

    Parameters
    ----------
    linkage : ndarray, shape (k - 1, 4)
        SciPy linkage matrix (:attr:`Clustering.linkage`).
    low, high : float, optional
        Range of the cut in units of ``1 - similarity``; default
        :data:`AUTO_THRESHOLD_RANGE` ``(0.05, 0.3)``.

    Returns
    -------
    float
        The cut height, for ``cluster_patterns(distance_threshold=...)``.
    """
    default_low, default_high = AUTO_THRESHOLD_RANGE
    low = default_low if low is None else float(low)
    high = default_high if high is None else float(high)
    if not 0 <= low < high:
        raise ValueError(f"need 0 <= low < high, got low={low}, high={high}")
    heights = np.sort(_merge_heights(linkage))
    points = np.concatenate(
        ([low], heights[(heights > low) & (heights < high)], [high])
    )
    i = int(np.argmax(np.diff(points)))
    return float(0.5 * (points[i] + points[i + 1]))


def cut_height(linkage, n_clusters) -> float:
    """A dendrogram height that leaves ``n_clusters`` clusters.

    The middle between the merge that leaves ``n_clusters`` clusters and
    the next one (SciPy sorts the merges by height); 0.1 above the last
    merge for one cluster, and half the first merge height for ``k``
    clusters.

    Parameters
    ----------
    linkage : ndarray, shape (k - 1, 4)
        SciPy linkage matrix with merges in increasing height.
    n_clusters : int
        Between 1 and ``k``.

    Returns
    -------
    float
    """
    heights = _merge_heights(linkage)
    k = heights.size + 1
    if int(n_clusters) != n_clusters or not 1 <= n_clusters <= k:
        raise ValueError(f"n_clusters must be an integer in [1, {k}], got {n_clusters}")
    n_clusters = int(n_clusters)
    below = heights[k - 1 - n_clusters] if n_clusters < k else 0.0
    above = heights[k - n_clusters] if n_clusters > 1 else below + 0.1
    return float(0.5 * (below + above))


def _component_weights(maps, weights, k):
    """Per-component weights: map L2 norms, map sums, or given values."""
    if weights is None or (isinstance(weights, str) and weights == "l2"):
        return np.linalg.norm(maps.reshape(k, -1), axis=1)
    if isinstance(weights, str):
        if weights == "sum":
            return np.abs(maps.reshape(k, -1).sum(axis=1))
        raise ValueError(f"weights must be 'l2', 'sum' or an array, got {weights!r}")
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (k,) or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(
            f"weights must be {k} finite nonnegative numbers, one per component, "
            f"got shape {weights.shape}"
        )
    return weights


def merge_components(
    patterns, maps, labels, rotation_deg, center_rc=None, weights=None
):
    """Merge the components of each cluster into one.

    For each cluster, the reference is the member with the largest weight.
    Every other member ``m`` is rotated by ``rotation_deg[reference, m]``
    (:func:`~hyperspy_cnmf.core.polar.rotate_images`) onto the reference, and
    the merged pattern is the weighted average of the aligned members. Pixels
    that a rotation brings in from outside the image do not count: each pixel
    is averaged over the members that cover it. The merged map is the sum of
    the members' maps.

    Parameters
    ----------
    patterns : array_like, shape (k, rows, cols)
        Component diffraction patterns.
    maps : array_like, shape (k, ...)
        Component maps (any navigation shape).
    labels : array_like of int, shape (k,)
        Cluster labels, 0-based (:func:`cluster_patterns`); the output has
        one component per label value ``0 ... max(labels)``.
    rotation_deg : array_like, shape (k, k)
        Rotations from :func:`~hyperspy_cnmf.core.similarity.
        diffraction_similarity`: ``rotation_deg[i, j]`` rotates ``j`` onto
        ``i``.
    center_rc : (float, float), optional
        Beam centre ``(row, col)``; default the image middle. Use the centre
        the rotations were measured about.
    weights : {"l2", "sum"} or array_like, shape (k,), optional
        Weight of each component: the L2 norm of its map (default, ``"l2"``),
        the sum of its map (``"sum"``), or given values. A cluster whose
        weights are all 0 is averaged uniformly.

    Returns
    -------
    MergedComponents
        ``(patterns, maps, members, reference, angles, weights)``.

    Raises
    ------
    ValueError
        Inconsistent shapes, NaN values, bad labels or weights.
    """
    patterns = np.asarray(patterns, dtype=float)
    maps = np.asarray(maps, dtype=float)
    labels = np.asarray(labels)
    rotation_deg = np.asarray(rotation_deg, dtype=float)
    if patterns.ndim != 3:
        raise ValueError(
            f"patterns must be a (k, rows, cols) stack, got shape {patterns.shape}"
        )
    k = patterns.shape[0]
    if maps.shape[0] != k or labels.shape != (k,) or rotation_deg.shape != (k, k):
        raise ValueError(
            f"inconsistent inputs: {k} patterns, {maps.shape[0]} maps, labels "
            f"of shape {labels.shape} and rotation_deg of shape "
            f"{rotation_deg.shape}; expected (k,) labels and (k, k) rotations"
        )
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError("labels must be nonnegative integers (0-based clusters)")
    for name, array in (
        ("patterns", patterns),
        ("maps", maps),
        ("rotation_deg", rotation_deg),
    ):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    weights = _component_weights(maps, weights, k)

    n_clusters = int(labels.max()) + 1
    members = [np.flatnonzero(labels == c) for c in range(n_clusters)]
    if any(m.size == 0 for m in members):
        empty = [c for c, m in enumerate(members) if m.size == 0]
        raise ValueError(
            f"clusters {empty} have no members; number the labels 0, 1, ... "
            "without gaps (as cluster_patterns does)"
        )
    reference = np.array([m[np.argmax(weights[m])] for m in members])
    angles = rotation_deg[reference[labels], np.arange(k)]
    angles[reference] = 0.0

    aligned = rotate_images(patterns, angles, center_rc)
    coverage = rotate_images(np.ones_like(patterns), angles, center_rc)
    merged = np.empty((n_clusters, *patterns.shape[1:]))
    for c, m in enumerate(members):
        w = weights[m] if weights[m].sum() > 0 else np.ones(m.size)
        num = np.tensordot(w, aligned[m], axes=1)
        den = np.tensordot(w, coverage[m], axes=1)
        merged[c] = np.where(den > 1e-6 * w.sum(), num / np.maximum(den, 1e-300), 0.0)
    merged_maps = np.stack([maps[m].sum(axis=0) for m in members])
    return MergedComponents(merged, merged_maps, members, reference, angles, weights)
