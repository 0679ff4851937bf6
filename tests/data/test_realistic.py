"""Tests of the realistic 4D-STEM simulation (hyperspy_cnmf.data.realistic)."""

import time

import numpy as np
import pytest

from hyperspy_cnmf.data.realistic import (
    DEFAULT_PHASES,
    FAST,
    glass_power_spectrum,
    grain_maps,
    library_pattern,
    load_library,
    realistic_4dstem,
    simulate_realistic_arrays,
)
from hyperspy_cnmf.scoring import cosine_similarity_matrix, score_decomposition


@pytest.fixture(scope="module")
def fast():
    return simulate_realistic_arrays(**FAST, random_state=1)


@pytest.fixture(scope="module")
def fast_exact():
    return simulate_realistic_arrays(
        **FAST, random_state=1, noise=False, keep_glass=True
    )


# --- library and pieces ------------------------------------------------------


def test_library_is_small_and_normalised():
    lib = load_library()
    assert lib["names"] == ("Si", "Au", "Mg")
    assert lib["patterns"].shape[0] == 3
    np.testing.assert_allclose(lib["patterns"].sum(axis=(1, 2)), 1, rtol=1e-6)
    from hyperspy_cnmf.data.realistic import LIBRARY_PATH

    assert LIBRARY_PATH.stat().st_size < 2_000_000
    # the direct beam is the brightest disk, at the centre
    p = lib["patterns"][0]
    mid = (p.shape[0] - 1) / 2
    r, c = np.unravel_index(np.argmax(p), p.shape)
    assert abs(r - mid) <= 6 and abs(c - mid) <= 6


def test_library_pattern_rotation_and_symmetry():
    au = library_pattern("Au", (64, 64), mrad_per_px=2.5)
    au90 = library_pattern("Au", (64, 64), rotation=90, mrad_per_px=2.5)
    au45 = library_pattern("Au", (64, 64), rotation=45, mrad_per_px=2.5)
    mask = np.hypot(*np.mgrid[-31.5:32.5, -31.5:32.5]) < 3  # away from the beam
    a, b, c = (np.where(mask, 0, x) for x in (au, au90, au45))
    cos = cosine_similarity_matrix(np.stack([a, b, c]), np.stack([a, b, c]))
    assert cos[0, 1] > 0.97  # [001] is four-fold
    assert cos[0, 2] < cos[0, 1] - 0.1  # 45 degrees is another pattern
    # pixel integration keeps the intensity that falls on the detector
    assert 0.9 < au.sum() <= 1.0
    with pytest.raises(ValueError, match="unknown phase 'Cu'"):
        library_pattern("Cu")


def test_glass_power_spectrum_has_a_first_ring():
    s = np.linspace(0.05, 3, 600)
    p = glass_power_spectrum(s) / (1 / (1 + (s / 0.5) ** 2)) ** 2
    q_peak = 2 * np.pi * s[np.argmax(p)]
    assert 2.3 < q_peak < 3.0  # S(q) of a dense glass, diameter 2.6 A


def test_grain_maps_fractions_exact_and_disjoint():
    maps, labels = grain_maps((30, 40), [0.3, 0.05, 0.1], rng=3)
    for i, f in enumerate([0.3, 0.05, 0.1]):
        assert (labels == 1 + i).sum() == round(f * 1200)
    assert maps.sum(axis=0).max() <= 1 + 1e-12
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 0.8, atol=0.05)
    with pytest.raises(ValueError, match="sum below 1"):
        grain_maps((10, 10), [0.6, 0.5])


# --- the array simulation ------------------------------------------------------


def test_shapes_dtypes_and_truth(fast):
    k = 5
    assert fast.data.shape == (24, 24, 64, 64)
    assert fast.data.dtype == np.uint16
    assert fast.patterns.shape == fast.masked_patterns.shape == (k, 64, 64)
    assert fast.maps.shape == (k, 24, 24)
    assert fast.mask.shape == (64, 64) and fast.mask.dtype == bool
    assert fast.component_names == (
        "amorphous",
        "Si[110]",
        "Au[001]@10deg",
        "Au[001]@40deg",
        "Mg[0001]",
    )
    np.testing.assert_array_equal(fast.component_phase, [0, 1, 2, 2, 3])
    assert fast.phase_groups == ((0,), (1,), (2, 3), (4,))
    np.testing.assert_allclose(fast.patterns.sum(axis=(1, 2)), 1, rtol=1e-5)
    np.testing.assert_allclose(fast.masked_patterns.sum(axis=(1, 2)), 1, rtol=1e-5)
    assert np.all(fast.masked_patterns[:, fast.mask] == 0)
    np.testing.assert_allclose(fast.maps.sum(axis=0), 1, atol=1e-6)
    assert (fast.maps >= 0).all()
    # area fractions as asked, exact to a pixel; the minor grain is 4 %
    np.testing.assert_allclose(
        fast.fractions[1:], [0.30, 0.10, 0.10, 0.04], atol=1 / 576
    )
    assert fast.fractions.sum() == pytest.approx(1)
    assert fast.mean_fractions[4] == pytest.approx(0.04 * 0.8, abs=0.005)


@pytest.mark.parametrize("dose", [3000, 300, 100])
def test_dose_is_the_mean_count_outside_the_direct_beam(dose):
    sim = simulate_realistic_arrays(**FAST, dose=dose, random_state=2)
    counts = sim.data[..., ~sim.mask].sum(axis=-1, dtype=np.int64)
    assert counts.mean() == pytest.approx(dose, rel=0.02)
    # the same number of electrons at every position: crystals scatter more
    # or less than the glass, so the counts outside the beam differ by area
    assert sim.electrons_per_position > dose


def test_glass_is_not_low_rank(fast_exact):
    sim = fast_exact
    glass_only = sim.maps[0].ravel() > 0.99
    assert glass_only.sum() > 30
    x = sim.data.reshape(576, -1)[glass_only][:, ~sim.mask.ravel()]
    x = x - x.mean(axis=0)
    s = np.linalg.svd(x, compute_uv=False)
    energy = np.cumsum(s**2) / np.sum(s**2)
    # speckle: the variance of the glass-only patterns spreads over many
    # components (one mean pattern, as in a mixture model, would leave none)
    assert energy[0] < 0.3
    assert energy[4] < 0.65
    assert energy[9] < 0.8
    # and the variance is large: the speckle contrast is ~1 / sqrt(2)
    g = sim.glass[glass_only][:, ~sim.mask]
    contrast = np.median(g.std(axis=0) / g.mean(axis=0))
    assert 0.4 < contrast < 1.0


def test_noise_free_data_is_the_mixture(fast_exact):
    sim = fast_exact
    n_nav = 576
    n0 = sim.electrons_per_position
    k = sim.n_components
    crystals = (sim.maps[1:].reshape(k - 1, n_nav).T * sim.detector_fraction[1:]) @ (
        sim.patterns[1:].reshape(k - 1, -1)
    )
    glass = sim.maps[0].reshape(n_nav, 1) * sim.glass.reshape(n_nav, -1)
    expected = n0 * (crystals + glass)
    np.testing.assert_allclose(
        sim.data.reshape(n_nav, -1), expected, rtol=1e-4, atol=1e-4 * n0 / 4096
    )
    # the glass truth is its map-weighted mean speckle pattern ...
    weighted = np.tensordot(sim.maps[0].ravel(), sim.glass, axes=1)
    np.testing.assert_allclose(
        weighted / weighted.sum(), sim.patterns[0], rtol=1e-4, atol=1e-9
    )
    # ... so the data minus maps @ patterns is the glass's speckle,
    # m0(x) (g_x - g), which sums to zero over the scan
    residual = sim.data - sim.low_rank_expectation()
    assert np.abs(residual).max() > 0.1 * sim.data.max()  # large per position
    total = np.abs(residual.sum(axis=(0, 1))).max()
    assert total < 1e-4 * sim.data.sum(axis=(0, 1)).max()
    # the crystal patterns carry their own disks: each differs from the glass
    cos = cosine_similarity_matrix(sim.masked_patterns, sim.masked_patterns)
    assert cos[0, 1:].max() < 0.9
    assert cos[2, 3] < 0.9  # two rotations of one phase are two patterns


def test_reproducible_with_random_state(fast):
    again = simulate_realistic_arrays(**FAST, random_state=1)
    np.testing.assert_array_equal(again.data, fast.data)
    np.testing.assert_array_equal(again.maps, fast.maps)
    other = simulate_realistic_arrays(**FAST, random_state=2)
    assert not np.array_equal(other.labels, fast.labels)
    # the layout and the glass do not depend on the dose
    low = simulate_realistic_arrays(**FAST, random_state=1, dose=100)
    np.testing.assert_array_equal(low.labels, fast.labels)
    np.testing.assert_allclose(low.patterns, fast.patterns)


def test_fast_variant_builds_in_under_a_second():
    simulate_realistic_arrays(**FAST, random_state=5)  # library loaded once
    start = time.process_time()
    simulate_realistic_arrays(**FAST, random_state=6, n_threads=1)
    assert time.process_time() - start < 1.0


def test_mask_covers_the_off_centre_direct_beam(fast):
    rows, cols = fast.signal_shape
    r0, c0 = fast.center
    assert (r0, c0) != ((rows - 1) / 2, (cols - 1) / 2)
    assert abs(r0 - (rows - 1) / 2) > 1 and abs(c0 - (cols - 1) / 2) > 1
    radius = fast.semiangle / fast.mrad_per_px
    rr, cc = np.mgrid[0:rows, 0:cols]
    dist = np.hypot(rr - r0, cc - c0)
    assert fast.mask[dist <= radius + 0.5].all()  # the whole disk
    assert not fast.mask[dist > radius + 2.5].any()  # and not much more
    # the brightest pixel of the summed data is in the mask
    total = fast.data.sum(axis=(0, 1), dtype=np.int64)
    assert fast.mask[np.unravel_index(np.argmax(total), total.shape)]
    # every pattern has a large share of its intensity in the mask
    inside = fast.patterns[:, fast.mask].sum(axis=1)
    assert np.all(inside > 0.3)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="dose must be positive"):
        simulate_realistic_arrays(**FAST, dose=0)
    with pytest.raises(ValueError, match="one area fraction per rotation"):
        simulate_realistic_arrays(**FAST, phases=[("Si", (0, 10), (0.1,))])
    with pytest.raises(ValueError, match="do not fit"):
        simulate_realistic_arrays(**FAST, phases=[("Si", (0, 10, 20), (0.3,) * 3)])
    with pytest.raises(ValueError, match="65535"):
        simulate_realistic_arrays(**FAST, dose=5e7)


def test_custom_phases_and_minor_fraction():
    sim = simulate_realistic_arrays(
        **FAST,
        phases=[("Au", (0.0,), (0.2,)), ("Mg", (5.0,), (0.02,))],
        random_state=4,
    )
    assert sim.component_names == ("amorphous", "Au[001]", "Mg[0001]")
    assert (sim.labels == 2).sum() == round(0.02 * 576)
    assert DEFAULT_PHASES[-1][2] == (0.04,)


# --- the pyxem signal ----------------------------------------------------------


def test_signal_calibration_and_truth(lazy):
    s = realistic_4dstem(**FAST, random_state=1, lazy=lazy)
    sim = simulate_realistic_arrays(**FAST, random_state=1)
    assert type(s).__name__ == ("Lazy" if lazy else "") + "ElectronDiffraction2D"
    assert s.data.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(s.data), sim.data)
    # pyxem's centre is (x, y) = (col, row), off the middle as documented
    np.testing.assert_allclose(s.calibration.center, [sim.center[1], sim.center[0]])
    np.testing.assert_allclose(s.calibration.center, [29.2, 33.15])
    np.testing.assert_array_equal(s.calibration.mask, sim.mask)
    sig = s.axes_manager.signal_axes
    assert [a.units for a in sig] == ["1/nm", "1/nm"]
    assert sig[0].scale == pytest.approx(2.5e-3 / 0.025079 * 10, rel=1e-4)
    nav = s.axes_manager.navigation_axes
    assert [a.units for a in nav] == ["nm", "nm"] and nav[0].scale == 0.5
    truth = s.metadata.Simulation.as_dictionary()
    assert truth["phase_groups"] == [[0], [1], [2, 3], [4]]
    assert truth["dose"] == 3000.0
    np.testing.assert_array_equal(truth["true_patterns"], sim.masked_patterns)
    # the truth scores as perfect
    score = score_decomposition(truth["true_patterns"], truth["true_maps"], truth)
    np.testing.assert_allclose(score["pattern_cosine"], 1, atol=1e-6)
    np.testing.assert_allclose(score["map_pearson"], 1, atol=1e-6)
    assert score["amorphous_match"] == 0
