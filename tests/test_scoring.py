"""Tests of hyperspy_cnmf.scoring on hand-made cases."""

import numpy as np
import pytest

from hyperspy_cnmf.scoring import (
    Matching,
    clustered_map_pearson,
    cosine_similarity_matrix,
    dark_spot_score,
    high_frequency_power_fraction,
    map_cosine,
    map_pearson,
    match_components,
    model_count_ratio,
    resolution_cutoff,
    score_decomposition,
)


def ring_image(shape=(64, 64), radius=18.0, width=3.0, center=None):
    center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2) if center is None else center
    r = np.hypot(*(np.mgrid[: shape[0], : shape[1]] - np.array(center)[:, None, None]))
    return np.exp(-0.5 * ((r - radius) / width) ** 2) + 0.05 * np.exp(-r / 10)


def spot_mask(shape=(64, 64), radius=18.0, n=6, center=None, size=2.0):
    center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2) if center is None else center
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for angle in np.linspace(0, 2 * np.pi, n, endpoint=False) + 0.3:
        r0 = center[0] + radius * np.sin(angle)
        c0 = center[1] + radius * np.cos(angle)
        mask |= np.hypot(rows - r0, cols - c0) <= size
    return mask


def test_dark_spot_score_ring_is_one():
    img, mask = ring_image(), spot_mask()
    assert dark_spot_score(img, mask) == pytest.approx(1.0, abs=0.02)


def test_dark_spot_score_halved_spots():
    img, mask = ring_image(), spot_mask()
    dark = img.copy()
    dark[mask] *= 0.5
    assert dark_spot_score(dark, mask) == pytest.approx(0.5, abs=0.02)
    bright = img.copy()
    bright[mask] *= 3
    assert dark_spot_score(bright, mask) == pytest.approx(3.0, rel=0.03)


def test_dark_spot_score_off_centre_and_mask():
    center = (24.0, 32.0)
    img = ring_image((60, 80), center=center)
    mask = spot_mask((60, 80), center=center)
    dark = img.copy()
    dark[mask] *= 0.5
    assert dark_spot_score(dark, mask, center=center) == pytest.approx(0.5, abs=0.02)
    # with the wrong (default) centre the radial bins no longer match
    assert abs(dark_spot_score(dark, mask) - 0.5) > 0.05
    # excluded pixels are ignored: hide half of the spots behind a mask and
    # make them bright -- the score must not change
    excluded = np.zeros_like(mask)
    excluded[:, :32] = True
    dark2 = dark.copy()
    dark2[excluded & mask] = 100.0
    s_masked = dark_spot_score(dark2, mask, center=center, mask=excluded)
    assert s_masked == pytest.approx(0.5, abs=0.03)
    assert dark_spot_score(dark2, mask, center=center) > 2


def test_dark_spot_score_degenerate():
    img = ring_image()
    assert np.isnan(dark_spot_score(img, np.zeros(img.shape, bool)))
    with pytest.raises(ValueError, match="shape"):
        dark_spot_score(img, np.zeros((3, 3), bool))


def test_match_components_recovers_permutation():
    rng = np.random.default_rng(0)
    truth = rng.random((5, 12, 10)) ** 4
    perm = np.array([3, 0, 4, 1, 2])
    recovered = truth[perm] * rng.uniform(0.5, 2, (5, 1, 1)) + 0.01 * rng.random(
        (5, 12, 10)
    )
    m = match_components(recovered, truth)
    assert isinstance(m, Matching)
    # recovered index perm^-1: recovered[i] is truth[perm[i]]
    np.testing.assert_array_equal(m.pairs[:, 1], np.arange(5))
    np.testing.assert_array_equal(perm[m.pairs[:, 0]], np.arange(5))
    np.testing.assert_array_equal(m.recovered_for_true, np.argsort(perm))
    assert np.all(m.cosine > 0.98)
    assert m.similarity.shape == (5, 5)
    assert m.unmatched_recovered.size == 0


def test_match_components_unequal_counts():
    rng = np.random.default_rng(1)
    truth = rng.random((3, 50)) ** 6
    extra = rng.random((2, 50))
    recovered = np.concatenate([extra[:1], truth[[2, 0, 1]], extra[1:]])  # k=5 > m=3
    m = match_components(recovered, truth)
    np.testing.assert_array_equal(m.recovered_for_true, [2, 3, 1])
    np.testing.assert_array_equal(m.unmatched_recovered, [0, 4])
    np.testing.assert_allclose(m.cosine, 1.0)
    # k < m: one true component stays unmatched
    m2 = match_components(truth[[1]], truth)
    np.testing.assert_array_equal(m2.recovered_for_true, [-1, 0, -1])
    tc = m2.true_cosine
    assert np.isnan(tc[0]) and tc[1] == pytest.approx(1.0) and np.isnan(tc[2])


def test_cosine_matrix_zero_vector():
    sim = cosine_similarity_matrix(np.zeros((1, 4)), np.ones((2, 4)))
    np.testing.assert_array_equal(sim, 0)
    with pytest.raises(ValueError, match="length"):
        cosine_similarity_matrix(np.ones((1, 4)), np.ones((1, 5)))


def test_map_cosine_identical_and_unmatched():
    rng = np.random.default_rng(2)
    maps = rng.random((3, 8, 9))
    m = match_components(maps, maps)
    np.testing.assert_allclose(map_cosine(maps, maps, m), 1.0)
    np.testing.assert_allclose(map_cosine(maps * 7.0, maps, m.pairs), 1.0)
    # pairs given by hand: recovered 0 <-> true 2 only
    out = map_cosine(maps, maps, [[0, 2]])
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] < 0.95


def test_map_pearson_sees_a_patch_the_cosine_hides():
    true = np.ones((1, 20, 20))
    true[0, :10] = 1.2  # a mild gradient so the truth is not constant
    patched = true.copy()
    patched[0, 12:16, 12:16] += 1.5  # a bright spot where a crystal sits
    m = match_components(true, true)
    assert map_cosine(patched, true, m)[0] > 0.95
    assert map_pearson(patched, true, m)[0] < 0.6
    np.testing.assert_allclose(map_pearson(3 * true + 2, true, m), 1.0)
    assert map_pearson(np.ones_like(true), true, m)[0] == 0


def test_clustered_map_pearson_joins_a_split_grain_and_keeps_rotations_apart():
    rng = np.random.default_rng(4)
    grain, other = np.zeros((2, 12, 12)), np.zeros((12, 12))
    grain[0, 2:8, 2:10] = 1.0  # one grain, and a phase at another rotation
    grain[1, 8:11, 1:6] = 1.0
    other[:, :] = 1.0 - grain.sum(axis=0)
    true_maps = np.stack([grain[0], grain[1], other]) + 0.01 * rng.random((3, 12, 12))
    left, right = true_maps[0].copy(), true_maps[0].copy()
    left[:, 6:], right[:, :6] = 0.0, 0.0  # the grain split in two components
    recovered = np.stack([left, right, true_maps[1], true_maps[2]])
    patterns = np.eye(4)[[0, 0, 1, 2]] + 0.1  # 0 and 1: one pattern
    matching = match_components(patterns, np.eye(4)[:3] + 0.1)
    assert matching.recovered_for_true[0] in (0, 1)
    rotation = np.zeros((4, 4))
    rotation[:2, 2], rotation[2, :2] = 30.0, -30.0  # 2: the phase turned
    rotation[0, 1], rotation[1, 0] = 180.0, -180.0  # Friedel: the same
    labels = [0, 0, 0, 1]  # the clustering joined the phase's rotations
    got = clustered_map_pearson(
        recovered, np.ones(4), labels, rotation, true_maps, matching
    )
    np.testing.assert_allclose(got, 1.0, atol=1e-9)
    alone = map_pearson(recovered, true_maps, matching)
    assert alone[0] < 0.8 and alone[1] > 0.999  # a half grain is not the grain
    # without the rotation test the turned phase would be added to the grain
    mixed = clustered_map_pearson(
        recovered, np.ones(4), labels, np.zeros((4, 4)), true_maps, matching
    )
    assert mixed[0] < 0.9 and mixed[1] < 0.9


def test_model_count_ratio_without_forming_the_model():
    rng = np.random.default_rng(5)
    factors, loadings = rng.random((3, 6, 7)), rng.random((3, 4, 5))
    model = np.einsum("kn,kp->np", loadings.reshape(3, -1), factors.reshape(3, -1))
    assert model_count_ratio(factors, loadings, model.sum()) == pytest.approx(1)
    hyperspy_loadings = loadings.reshape(3, -1).T  # (n_nav, k)
    ratio = model_count_ratio(factors, hyperspy_loadings, 0.5 * model.sum())
    assert ratio == pytest.approx(2)


def test_hf_fraction_noise_vs_smooth():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((64, 64))
    y, x = np.mgrid[:64, :64]
    blob = np.exp(-((y - 30) ** 2 + (x - 34) ** 2) / (2 * 5.0**2))
    hf = high_frequency_power_fraction(np.stack([noise, blob]), cutoff=0.25)
    assert hf.shape == (2,)
    assert hf[0] == pytest.approx(1 - np.pi * 0.25**2, abs=0.05)
    assert hf[1] < 1e-4
    assert hf[0] > 1000 * hf[1]
    # single map -> scalar; constant map -> nan
    assert np.ndim(high_frequency_power_fraction(blob)) == 0
    assert np.isnan(high_frequency_power_fraction(np.ones((5, 5))))
    # cutoff at/after the corner frequency: nothing beyond
    assert high_frequency_power_fraction(noise, cutoff=0.75) == 0


def test_resolution_cutoff():
    assert resolution_cutoff(2.0, 1.5) == pytest.approx(2 * np.log(2) / np.pi * 0.75)
    assert resolution_cutoff(0.1, 1.0) == 0.5
    with pytest.raises(ValueError):
        resolution_cutoff(0.0)


def _truth():
    from hyperspy_cnmf.data.simulated import simulate_4dstem_arrays

    return simulate_4dstem_arrays((12, 12), (40, 40), area_size=2, dose=None)


def test_score_decomposition_perfect_and_dark_spots():
    sim = _truth()
    perm = [2, 0, 3, 1]
    res = score_decomposition(sim.patterns[perm], sim.maps[perm], sim)
    np.testing.assert_allclose(res["pattern_cosine"], 1, atol=1e-6)
    np.testing.assert_allclose(res["map_cosine"], 1, atol=1e-6)
    assert res["map_cosine_mean"] == pytest.approx(1)
    assert res["amorphous_match"] == 1
    assert res["dark_spot_score"] == pytest.approx(1, abs=0.05)
    assert res["hf_fraction"].shape == (4,)
    assert res["component_names"][0] == "amorphous"
    # punch dark spots into the amorphous component: the score drops
    bad = sim.patterns.copy()
    bad[0][sim.spot_masks.any(0)] *= 0.6
    res2 = score_decomposition(bad, sim.maps, sim)
    assert res2["dark_spot_score"] == pytest.approx(0.6, abs=0.05)
    # noisy maps have a larger high-frequency fraction
    noisy = sim.maps + 0.05 * np.random.default_rng(0).random(sim.maps.shape)
    res3 = score_decomposition(sim.patterns, noisy, sim)
    assert res3["hf_fraction_mean"] > 5 * res["hf_fraction_mean"]


def test_score_decomposition_from_metadata_dict():
    sim = _truth()
    truth = {
        "true_patterns": sim.patterns,
        "true_maps": sim.maps,
        "spot_masks": sim.spot_masks,
        "component_names": list(sim.component_names),
        "center": list(sim.center),
    }
    # flattened (k, n) inputs work too
    res = score_decomposition(
        sim.patterns.reshape(4, -1), sim.maps.reshape(4, -1), truth
    )
    np.testing.assert_allclose(res["map_cosine"], 1, atol=1e-6)
    assert res["dark_spot_score"] == pytest.approx(1, abs=0.05)
    with pytest.raises(ValueError, match="factors"):
        score_decomposition(sim.patterns[:3], sim.maps, truth)


def _cos(a, b):
    a, b = a.ravel(), b.ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_crystal_pattern_cosine_is_the_worst_best_crystal_cosine():
    sim = _truth()
    perfect = score_decomposition(sim.patterns, sim.maps, sim)
    np.testing.assert_allclose(perfect["best_pattern_cosine"], 1, atol=1e-6)
    assert perfect["crystal_pattern_cosine"] == pytest.approx(1, abs=1e-6)
    # Crystal factors that carry amorphous rings (what primitive and
    # constrained NMF give) score lower; the amorphous one does not count.
    mixed = sim.patterns.copy()
    mixed[1:] += np.array([0.5, 1.0, 2.0])[:, None, None] * sim.patterns[0]
    mixed[0] *= 0.5
    res = score_decomposition(mixed, sim.maps, sim)
    expected = [_cos(mixed[i], sim.patterns[i]) for i in range(4)]
    np.testing.assert_allclose(res["best_pattern_cosine"], expected, rtol=1e-5)
    assert res["crystal_pattern_cosine"] == pytest.approx(min(expected[1:]), 1e-5)
    assert res["crystal_pattern_cosine"] == pytest.approx(expected[3], 1e-5)
    # "Best" is over every recovered factor, matched or not: a surplus factor
    # that is the true crystal_3 pattern lifts its score to 1.
    extra = np.concatenate([mixed, sim.patterns[3:]])
    maps = np.concatenate([sim.maps, sim.maps[3:]])
    res2 = score_decomposition(extra, maps, sim)
    assert res2["best_pattern_cosine"][3] == pytest.approx(1)
    assert res2["crystal_pattern_cosine"] == pytest.approx(min(expected[1:3]), 1e-5)
    # The amorphous component is named, or given.
    res3 = score_decomposition(mixed, sim.maps, sim, amorphous_index=3)
    assert res3["crystal_pattern_cosine"] == pytest.approx(min(expected[:3]), 1e-5)
