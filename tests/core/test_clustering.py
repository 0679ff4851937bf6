"""Tests of hierarchical clustering and rotation-corrected merging."""

import numpy as np
import pytest

from hyperspy_cnmf.core.clustering import (
    AUTO_THRESHOLD_RANGE,
    DEFAULT_DISTANCE_THRESHOLD,
    auto_cut_height,
    check_cut,
    cluster_patterns,
    cut_dendrogram,
    cut_height,
    merge_components,
    radial_range,
    similarity_to_distance,
)
from hyperspy_cnmf.core.geometry import center_inside, check_center_rc
from hyperspy_cnmf.core.polar import rotate_images
from hyperspy_cnmf.core.similarity import cosine_similarity, diffraction_similarity

from .images import lattice_pattern

SHAPE = (128, 128)
CENTER = ((SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2)
R_MIN = 6  # leave the direct beam out of the similarity


def amorphous_pattern():
    rows, cols = np.indices(SHAPE, dtype=float)
    rho = np.hypot(rows - CENTER[0], cols - CENTER[1])
    return 0.5 * np.exp(-((rho - 40.0) ** 2) / 18.0) + 3.0 * np.exp(-(rho**2) / 8.0)


@pytest.fixture(scope="module")
def components():
    """3 lattices x 3 randomly rotated Poisson-noisy copies + 1 amorphous, shuffled."""
    rng = np.random.default_rng(1)
    bases = [
        lattice_pattern(14.0, seed=0, beam=3.0),
        lattice_pattern(18.0, ratio=1.0, gamma_deg=90.0, seed=1, beam=3.0),
        lattice_pattern(11.0, gamma_deg=60.0, seed=2, beam=3.0),
        amorphous_pattern(),
    ]
    group, angle = [], []
    for g in range(3):
        group += [g] * 3
        angle += list(rng.uniform(0, 360, 3))
    group.append(3)
    angle.append(0.0)
    order = rng.permutation(len(group))
    group, angle = np.array(group)[order], np.array(angle)[order]
    clean = np.stack(
        [rotate_images(bases[g], t, CENTER) for g, t in zip(group, angle, strict=True)]
    )
    noisy = rng.poisson(clean * 20) / 20
    maps = rng.random((len(group), 6, 7))
    similarity, rotation = diffraction_similarity(noisy, center_rc=CENTER, r_min=R_MIN)
    return {
        "bases": bases,
        "group": group,
        "angle": angle,
        "clean": clean,
        "noisy": noisy,
        "maps": maps,
        "similarity": similarity,
        "rotation": rotation,
    }


def same_partition(labels, truth):
    """True if two labelings define the same clusters (up to renaming)."""
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


def test_similarity_gap_of_the_synthetic_components(components):
    """Measured margin behind the default threshold (0.7 similarity)."""
    sim, group = components["similarity"], components["group"]
    same = group[:, None] == group[None, :]
    off = ~np.eye(len(group), dtype=bool)
    assert sim[same & off].min() > 0.85
    assert sim[~same].max() < 0.5
    assert 1 - sim[same & off].min() < DEFAULT_DISTANCE_THRESHOLD < 1 - sim[~same].max()


@pytest.mark.parametrize(
    "kwargs",
    [{"n_clusters": 4}, {"distance_threshold": 0.3}, {}, {"distance_threshold": 0.45}],
)
@pytest.mark.parametrize("method", ["average", "complete", "single"])
def test_four_clusters_with_right_members(components, kwargs, method):
    result = cluster_patterns(components["similarity"], method=method, **kwargs)
    labels = result.labels
    assert labels.max() == 3
    assert same_partition(labels, components["group"])
    assert labels[0] == 0
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(4)]
    assert first == sorted(first)  # numbered by first appearance
    assert result.linkage.shape == (len(labels) - 1, 4)


def test_cosine_similarity_cannot_cluster_rotated_copies(components):
    """As in the paper (Fig. 9a): rotated copies look unrelated to eq. 9."""
    cos = cosine_similarity(components["noisy"])
    labels = cluster_patterns(cos, n_clusters=4).labels
    assert not same_partition(labels, components["group"])


def test_merge_matches_clean_pattern_better_than_any_member(components):
    sim, rot = components["similarity"], components["rotation"]
    labels = cluster_patterns(sim, n_clusters=4).labels
    merged = merge_components(
        components["noisy"], components["maps"], labels, rot, CENTER
    )
    group, clean, noisy = components["group"], components["clean"], components["noisy"]
    assert merged.patterns.shape == (4, *SHAPE)
    for c, members in enumerate(merged.members):
        ref = merged.reference[c]
        assert ref in members
        # the reference has the largest map L2 norm in its cluster
        norms = np.linalg.norm(
            components["maps"][members].reshape(len(members), -1), axis=1
        )
        assert ref == members[np.argmax(norms)]
        np.testing.assert_allclose(
            merged.maps[c], components["maps"][members].sum(axis=0)
        )
        if group[ref] == 3:  # amorphous: a single member, copied as is
            assert members.size == 1
            np.testing.assert_allclose(merged.patterns[c], noisy[ref])
            continue
        score = cosine_similarity(np.stack([clean[ref], merged.patterns[c]]))[0, 1]
        single = [
            cosine_similarity(np.stack([clean[m], noisy[m]]))[0, 1] for m in members
        ]
        assert score > max(single)
        assert score > 0.98
        # the applied angles are the measured rotations onto the reference
        np.testing.assert_allclose(merged.angles[members], rot[ref, members])
        assert merged.angles[ref] == 0.0
        # ... and they undo the true relative rotation (within a degree)
        err = (
            merged.angles[members]
            + components["angle"][members]
            - components["angle"][ref]
            + 180
        ) % 360 - 180
        assert np.abs(err).max() < 1.0


def test_merge_weights_options(components):
    noisy, maps, rot = components["noisy"], components["maps"], components["rotation"]
    labels = cluster_patterns(components["similarity"], n_clusters=4).labels
    by_sum = merge_components(noisy, maps, labels, rot, CENTER, weights="sum")
    np.testing.assert_allclose(by_sum.weights, maps.reshape(len(maps), -1).sum(axis=1))
    # explicit weights: a single nonzero weight per cluster copies that member
    weights = np.zeros(len(labels))
    for c in range(4):
        weights[np.flatnonzero(labels == c)[0]] = 1.0
    picked = merge_components(noisy, maps, labels, rot, CENTER, weights=weights)
    for c in range(4):
        np.testing.assert_allclose(
            picked.patterns[c], noisy[np.flatnonzero(labels == c)[0]]
        )
    # all-zero weights in a cluster: a plain average, no division by zero
    zero = merge_components(
        noisy, maps, labels, rot, CENTER, weights=np.zeros(len(labels))
    )
    assert np.isfinite(zero.patterns).all()


def test_merge_identical_unrotated_copies_is_exact():
    pattern = lattice_pattern(14.0, beam=3.0)
    patterns = np.stack([pattern, pattern, 2 * pattern])
    maps = np.ones((3, 4))
    merged = merge_components(patterns, maps, [0, 0, 0], np.zeros((3, 3)))
    np.testing.assert_allclose(merged.patterns[0], patterns.mean(axis=0))
    np.testing.assert_allclose(merged.maps[0], 3 * np.ones(4))


def test_similarity_to_distance():
    sim = np.array([[1.0, 0.9, -0.5], [0.7, 1.0, 0.2], [-0.5, 0.2, 0.99]])
    dist = similarity_to_distance(sim)
    np.testing.assert_allclose(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    assert dist[0, 1] == pytest.approx(0.2)
    assert dist[0, 2] == pytest.approx(1.5)


def test_cluster_small_handmade_matrix():
    sim = np.array(
        [
            [1.0, 0.1, 0.95, 0.1],
            [0.1, 1.0, 0.1, 0.9],
            [0.95, 0.1, 1.0, 0.1],
            [0.1, 0.9, 0.1, 1.0],
        ]
    )
    np.testing.assert_array_equal(cluster_patterns(sim).labels, [0, 1, 0, 1])
    np.testing.assert_array_equal(
        cluster_patterns(sim, distance_threshold=0.07).labels, [0, 1, 0, 2]
    )
    np.testing.assert_array_equal(cluster_patterns(sim, n_clusters=1).labels, [0] * 4)
    np.testing.assert_array_equal(
        cluster_patterns(sim, n_clusters=4).labels, [0, 1, 2, 3]
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 2, "distance_threshold": 0.3}, "not both"),
        ({"n_clusters": 0}, "between 1 and"),
        ({"n_clusters": 9}, "between 1 and"),
        ({"n_clusters": 2.5}, "between 1 and"),
        ({"distance_threshold": -1}, "nonnegative"),
        ({"method": "median-ish"}, "unknown linkage method"),
    ],
)
def test_cluster_bad_options(kwargs, match):
    sim = np.eye(3)
    with pytest.raises(ValueError, match=match):
        cluster_patterns(sim, **kwargs)


@pytest.mark.parametrize(
    ("sim", "match"),
    [
        (np.ones((2, 3)), "square"),
        (np.ones((1, 1)), "at least 2"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
    ],
)
def test_cluster_bad_similarity(sim, match):
    with pytest.raises(ValueError, match=match):
        cluster_patterns(sim)


def test_merge_bad_input():
    patterns = np.ones((3, 8, 8))
    maps = np.ones((3, 5))
    rot = np.zeros((3, 3))
    with pytest.raises(ValueError, match="inconsistent"):
        merge_components(patterns, maps[:2], [0, 0, 1], rot)
    with pytest.raises(ValueError, match="without gaps"):
        merge_components(patterns, maps, [0, 0, 2], rot)
    with pytest.raises(ValueError, match="nonnegative integers"):
        merge_components(patterns, maps, [0.0, 0.5, 1.0], rot)
    with pytest.raises(ValueError, match=r"\(k, rows, cols\)"):
        merge_components(np.ones((3, 64)), maps, [0, 0, 1], rot)
    with pytest.raises(ValueError, match="weights must be"):
        merge_components(patterns, maps, [0, 0, 1], rot, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="weights must be"):
        merge_components(patterns, maps, [0, 0, 1], rot, weights="max")
    bad = patterns.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        merge_components(bad, maps, [0, 0, 1], rot)


def _linkage(heights):
    """A chain linkage whose merges happen at ``heights`` (sorted)."""
    k = len(heights) + 1
    rows, current = [], 0
    for i, h in enumerate(heights):
        rows.append([current, i + 1, h, i + 2])
        current = k + i
    return np.array(rows, dtype=float)


def test_auto_cut_height_in_largest_gap():
    linkage = _linkage([0.01, 0.08, 0.1, 0.25, 0.6])
    # points 0.05 | 0.08 0.1 0.25 | 0.3: widest gap 0.1 -> 0.25
    assert auto_cut_height(linkage) == pytest.approx(0.175)
    assert auto_cut_height(linkage, 0.0, 0.7) == pytest.approx(0.425)  # 0.25-0.6
    # no merge inside the range: the middle of the range
    assert auto_cut_height(_linkage([0.01, 0.9])) == pytest.approx(
        np.mean(AUTO_THRESHOLD_RANGE)
    )
    with pytest.raises(ValueError, match="low < high"):
        auto_cut_height(linkage, 0.3, 0.1)
    with pytest.raises(ValueError, match="linkage matrix"):
        auto_cut_height(np.ones((3, 3)))


def test_cut_height_leaves_the_requested_clusters():
    from scipy.cluster import hierarchy

    heights = [0.1, 0.2, 0.4, 0.8]
    linkage = _linkage(heights)
    assert cut_height(linkage, 5) == pytest.approx(0.05)
    assert cut_height(linkage, 3) == pytest.approx(0.3)
    assert cut_height(linkage, 1) == pytest.approx(0.85)
    for n in range(1, 6):
        labels = hierarchy.fcluster(linkage, cut_height(linkage, n), "distance")
        assert labels.max() == n
    with pytest.raises(ValueError, match="n_clusters"):
        cut_height(linkage, 6)


# --------------------------------------------------------------------------
# The dendrogram cut and the radii policy (moved here from the adapter)
# --------------------------------------------------------------------------


def _similarity():
    """Components 0 and 1 alike (0.97), 2 apart from both (0.4 / 0.5)."""
    return np.array([[1.0, 0.97, 0.4], [0.97, 1.0, 0.5], [0.4, 0.5, 1.0]])


def test_cut_dendrogram_auto_fixed_and_by_count():
    sim = _similarity()
    auto = cut_dendrogram(sim)
    assert auto.auto and check_cut() and check_cut(None, "auto")
    probe = cluster_patterns(sim, n_clusters=3)
    assert auto.cut_height == auto_cut_height(probe.linkage, *AUTO_THRESHOLD_RANGE)
    np.testing.assert_array_equal(auto.clustering.labels, [0, 0, 1])
    fixed = cut_dendrogram(sim, distance_threshold=0.2)
    assert not fixed.auto and fixed.cut_height == 0.2
    counted = cut_dendrogram(sim, n_clusters=3)
    assert counted.cut_height == cut_height(counted.clustering.linkage, 3)
    np.testing.assert_array_equal(counted.clustering.labels, [0, 1, 2])
    with pytest.raises(ValueError, match="not both"):
        cut_dendrogram(sim, n_clusters=2, distance_threshold=0.3)
    with pytest.raises(ValueError, match="a number or 'auto', got 'big'"):
        check_cut(None, "big")


def _disc(radius, shape=(33, 33), center=(16.0, 16.0)):
    rows, cols = np.indices(shape)
    return np.hypot(rows - center[0], cols - center[1]) <= radius


def test_radial_range_policy():
    rows, cols = np.indices((33, 33))
    rho = np.hypot(rows - 16.0, cols - 16.0)
    rings = np.stack([np.exp(-0.5 * (rho - r) ** 2) for r in (8.0, 12.0)])
    beam = rings + 50 * np.exp(-0.5 * (rho / 1.2) ** 2)
    center = (16.0, 16.0)
    # r_max: the inscribed circle; r_min from the masked disc, the bright
    # shared beam, or nothing
    masked = radial_range(rings, center, mask=_disc(3.0))
    assert masked.r_max == 16.0 and masked.r_min_source == "signal mask"
    assert masked.r_min == pytest.approx(np.sqrt(10.0))  # nearest unmasked pixel
    found = radial_range(beam, center)
    assert found.r_min_source == "direct beam" and 2 < found.r_min < 16.0 / 3 + 1e-9
    assert radial_range(rings, center) == (0.0, 16.0, "none")
    # given radii, in units of `scale` pixels
    assert radial_range(rings, center, r_min=1.0, r_max=4.0, scale=0.5) == (
        2.0,
        8.0,
        "argument",
    )
    with pytest.raises(ValueError, match=r"must lie in \[0, r_max"):
        radial_range(rings, center, r_min=20)
    with pytest.raises(ValueError, match="None or 'auto'"):
        radial_range(rings, center, r_min="beam")


def test_radial_range_for_a_centre_on_the_edge_warns_and_uses_the_corner():
    patterns = np.ones((2, 9, 11))
    with pytest.warns(UserWarning, match="edge of the pattern") as record:
        radii = radial_range(patterns, (0.0, 5.0))
    assert radii.r_max == pytest.approx(np.hypot(8, 5))
    assert record[0].filename == __file__  # stacklevel=1: the caller's line


@pytest.mark.parametrize(
    ("center_rc", "inside"),
    [
        ((-0.5, -0.5), True),
        ((15.5, 19.5), True),
        ((7.0, 3.0), True),
        ((-0.51, 3.0), False),
        ((3.0, 19.6), False),
        ((np.nan, 3.0), False),
    ],
)
def test_one_centre_bound(center_rc, inside):
    """A centre lies on the pattern within half a pixel of its outer pixels;
    every layer checks it with check_center_rc."""
    assert center_inside(center_rc, (16, 20)) is inside
    if inside:
        assert check_center_rc(center_rc, (16, 20)) == tuple(map(float, center_rc))
    else:
        with pytest.raises(ValueError, match=r"outside the 20x16 \(x, y\) pattern"):
            check_center_rc(center_rc, (16, 20), "the center= you passed")


def test_checked_centre_has_no_negative_zero():
    row, col = check_center_rc((-0.0, -0.0), (4, 4))
    assert str(row) == "0.0" and str(col) == "0.0"
