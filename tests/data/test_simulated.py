"""Tests of the simulated 4D-STEM data (hyperspy_cnmf.data)."""

import numpy as np
import pytest

from hyperspy_cnmf.data.simulated import (
    amorphous_pattern,
    bragg_spot_positions,
    crystalline_pattern,
    phase_maps,
    poisson_sample,
    simulate_4dstem_arrays,
)
from hyperspy_cnmf.scoring import dark_spot_score

SMALL = {"navigation_shape": (18, 15), "signal_shape": (48, 40), "area_size": 3}


@pytest.fixture(scope="module")
def small():
    return simulate_4dstem_arrays(**SMALL, seed=1)


# --- numpy core --------------------------------------------------------------


def test_shapes_dtype_truth(small):
    assert small.data.shape == (18, 15, 48, 40)
    assert small.data.dtype == np.float32
    assert small.patterns.shape == (4, 48, 40)
    assert small.maps.shape == (4, 18, 15)
    assert small.spot_masks.shape == (3, 48, 40) and small.spot_masks.dtype == bool
    assert small.component_names == ("amorphous", "crystal_1", "crystal_2", "crystal_3")
    np.testing.assert_array_equal(small.component_phase, [0, 1, 2, 3])
    assert np.isnan(small.component_rotation[0])
    np.testing.assert_allclose(small.component_rotation[1:], [10, 25, 40])
    np.testing.assert_allclose(small.patterns.sum(axis=(1, 2)), 1, rtol=1e-5)
    assert (small.patterns >= 0).all() and (small.maps >= 0).all()
    assert small.center == (23.5, 19.5)
    # counts: nonnegative integers
    assert (small.data >= 0).all()
    np.testing.assert_array_equal(small.data, np.round(small.data))


def test_fractions_sum_to_one_and_levels(small):
    np.testing.assert_allclose(small.maps.sum(axis=0), 1, atol=1e-6)
    sim = simulate_4dstem_arrays(dose=None)  # default 36x36 layout, noise free: fast
    assert sim.data.shape == (36, 36, 128, 128)
    np.testing.assert_allclose(sim.maps.sum(axis=0), 1, atol=1e-6)
    # phase p in grid row p; columns: 9 %, 3 %, 1 % (areas i..ix row-major)
    for p in range(3):
        for j, level in enumerate([0.09, 0.03, 0.01]):
            r, c = sim.area_centers[p, j]
            np.testing.assert_allclose(sim.maps[1 + p, r, c], level, rtol=1e-5)
            others = [q for q in range(3) if q != p]
            assert np.all(sim.maps[1 + np.array(others), r, c] < 1e-6)
            np.testing.assert_allclose(sim.maps[0, r, c], 1 - level, rtol=1e-5)
            assert sim.area_labels[r, c] == 1 + 3 * p + j
    # areas about 6x6 (labels: >= half the centre value)
    counts = np.bincount(sim.area_labels.ravel(), minlength=10)[1:]
    assert np.all((counts >= 25) & (counts <= 49)), counts
    # graded interface: values strictly between 0 and the plateau at the edge
    r, c = sim.area_centers[0, 0]
    profile = sim.maps[1, r, :]
    edge = profile[(profile > 0.001 * 0.09) & (profile < 0.9 * 0.09)]
    assert edge.size >= 4
    # far from the areas: pure amorphous
    assert sim.maps[0, 0, 0] > 0.9999 and sim.maps[0, 12, 12] > 0.9999


def test_noise_free_equals_maps_at_patterns():
    sim = simulate_4dstem_arrays(**SMALL, dose=None)
    expected = np.einsum("kyx,krc->yxrc", sim.maps, sim.patterns)
    np.testing.assert_allclose(sim.data, expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(sim.data.sum(axis=(2, 3)), 1, rtol=1e-5)
    np.testing.assert_allclose(sim.expected(), sim.data, rtol=1e-6)
    scaled = simulate_4dstem_arrays(**SMALL, dose=500.0, noise=False)
    np.testing.assert_allclose(scaled.data, 500 * expected, rtol=1e-4)


def test_poisson_mean_is_dose(small):
    totals = small.data.sum(axis=(2, 3)).astype(np.float64)
    n = totals.size  # 270 patterns, each sum ~ Poisson(1e4): sd 100
    assert abs(totals.mean() - 1e4) < 5 * 100 / np.sqrt(n)
    assert 80 < totals.std() < 120
    # pixelwise: mean over positions of counts / expected close to 1
    lam = small.expected()
    assert abs(small.data.sum() / lam.sum() - 1) < 1e-3
    # variance equals mean (Poisson) on the brighter pixels
    resid = (small.data - lam)[lam > 2]
    ratio = (resid**2).mean() / lam[lam > 2].mean()
    assert 0.9 < ratio < 1.1


@pytest.mark.parametrize("lam", [0.05, 0.8, 4.0, 17.0, 60.0])
def test_poisson_sampler_moments(lam):
    counts = poisson_sample(np.full((200, 1), lam), np.ones((1, 500)), seed=3)
    assert counts.dtype == np.float32
    n = counts.size
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / n)
    assert abs(counts.var() / lam - 1) < 0.05
    if lam < 1:
        # P(0) = exp(-lam)
        assert abs((counts == 0).mean() - np.exp(-lam)) < 5 * np.sqrt(0.25 / n)


def test_sampler_independent_of_threads():
    w = np.random.default_rng(0).random((70, 3))
    c = np.random.default_rng(1).random((3, 50))
    a = poisson_sample(w, c, 3.0, seed=5, n_threads=1, chunk=8)
    b = poisson_sample(w, c, 3.0, seed=5, n_threads=2, chunk=8)
    np.testing.assert_array_equal(a, b)


def test_seeds_reproducible_and_different(small):
    again = simulate_4dstem_arrays(**SMALL, seed=1)
    np.testing.assert_array_equal(small.data, again.data)
    other = simulate_4dstem_arrays(**SMALL, seed=2)
    assert not np.array_equal(small.data, other.data)
    np.testing.assert_array_equal(small.patterns, other.patterns)
    gen = simulate_4dstem_arrays(**SMALL, seed=np.random.default_rng(1))
    assert gen.data.shape == small.data.shape


def test_non_square_shapes():
    sim = simulate_4dstem_arrays((20, 31), (50, 64), area_size=(4, 5), seed=0)
    assert sim.data.shape == (20, 31, 50, 64)
    assert sim.center == (24.5, 31.5)
    np.testing.assert_allclose(sim.maps.sum(0), 1, atol=1e-6)
    r, c = sim.area_centers[2, 0]
    np.testing.assert_allclose(sim.maps[3, r, c], 0.09, rtol=1e-5)
    # patterns stay centred: the amorphous pattern is symmetric about the centre
    amo = sim.patterns[0]
    np.testing.assert_allclose(amo, amo[::-1, ::-1], rtol=1e-4, atol=1e-12)


def test_direct_beam_option():
    off = simulate_4dstem_arrays(**SMALL, dose=None)
    on = simulate_4dstem_arrays(
        **SMALL, dose=None, direct_beam=True, direct_beam_fraction=0.3
    )
    assert off.direct_beam is None and off.direct_beam_fraction == 0
    assert on.direct_beam.shape == (48, 40)
    assert on.patterns.shape[0] == 4  # not a component
    np.testing.assert_allclose(
        on.data, 0.7 * off.data + 0.3 * on.direct_beam, rtol=1e-5, atol=1e-9
    )
    # bright at the centre, in every pattern
    centre = on.data[..., 23:25, 19:21].sum(axis=(2, 3))
    assert np.all(centre > 0.05)
    assert np.all(off.data[..., 23:25, 19:21].sum(axis=(2, 3)) < 0.02)
    noisy = simulate_4dstem_arrays(**SMALL, direct_beam=True)
    assert abs(noisy.data.sum(axis=(2, 3)).mean() - 1e4) < 50


def test_amorphous_pattern_rotationally_symmetric_and_decaying():
    p = amorphous_pattern((129, 129))
    np.testing.assert_allclose(p, p.T, rtol=1e-12)
    np.testing.assert_allclose(p, p[::-1], rtol=1e-12)
    r = np.hypot(*(np.mgrid[:129, :129] - 64.0))
    R = 64.5
    # three rings: local maxima along a radius, decreasing in height
    profile = p[64, 64:]
    peaks = [
        i
        for i in range(1, 63)
        if profile[i] > profile[i - 1] and profile[i] > profile[i + 1]
    ]
    assert len(peaks) == 3
    np.testing.assert_allclose(np.array(peaks) / R, [0.30, 0.52, 0.75], atol=0.03)
    assert profile[peaks[0]] > profile[peaks[1]] > profile[peaks[2]]
    assert p[r > 60].mean() < 0.1 * p[np.abs(r - peaks[0]) < 1].mean()


def test_lattices_and_rotation():
    g = bragg_spot_positions("hexagonal", 1.0, 0.0, 1.01)
    np.testing.assert_allclose(np.hypot(*g.T), 1.0)
    assert len(g) == 6
    g = bragg_spot_positions("square", 1.0, 30.0, 1.5)
    assert len(g) == 8  # 4 at 1, 4 at sqrt(2)
    angles = np.degrees(np.arctan2(g[:4, 0], g[:4, 1])) % 90
    np.testing.assert_allclose(angles, 30.0, atol=1e-9)
    g = bragg_spot_positions("rectangular", (1.0, 2.0), 0.0, 2.01)
    np.testing.assert_allclose(sorted(np.hypot(*g.T))[:2], [1, 1])
    with pytest.raises(ValueError, match="unknown lattice"):
        bragg_spot_positions("cubic", 1.0, 0, 1)


def test_crystal_spots_on_amorphous_rings():
    """Phase 1's spots sit where the amorphous rings are bright: dark spots can show."""
    sim = simulate_4dstem_arrays(dose=None)
    amo = sim.patterns[0].astype(np.float64)
    r = np.hypot(*(np.mgrid[:128, :128] - 63.5))
    radial = np.array([amo[np.rint(r) == k].mean() for k in range(1, 64)])
    ring_peaks = [
        k + 1
        for k in range(1, 62)
        if radial[k] > radial[k - 1] and radial[k] > radial[k + 1]
    ]
    assert len(ring_peaks) == 3
    _, _, spots = crystalline_pattern((128, 128), "hexagonal", 0.30, 10.0)
    spot_r = np.hypot(*(spots - 63.5).T)
    for peak in ring_peaks[:2]:
        assert np.any(np.abs(spot_r - peak) <= 2), (peak, np.unique(np.round(spot_r)))
    # amorphous intensity on phase-1 spots is well above its average in the annulus
    on_spots = amo[sim.spot_masks[0]].mean()
    annulus = amo[(r > 10) & (r < 60)].mean()
    assert on_spots > 1.3 * annulus
    # a mixture pattern subtracting some crystal pattern from the amorphous one
    # (what plain NMF does) gives dark spots; the true one does not
    assert dark_spot_score(amo, sim.amorphous_spot_mask) == pytest.approx(1, abs=0.03)
    punched = np.clip(amo - 0.02 * sim.patterns[1], 0, None)
    assert dark_spot_score(punched, sim.spot_masks[0]) < 0.9


def test_spot_masks_cover_spots(small):
    for k in range(3):
        pat = small.patterns[1 + k]
        mask = small.spot_masks[k]
        # most of the spot intensity (1 - background) lies in the mask
        assert pat[mask].sum() > 0.6
        assert mask.mean() < 0.3


def test_extra_rotations():
    sim = simulate_4dstem_arrays(
        (36, 36), (64, 64), rotations=[10, [30, 75], 40], dose=None
    )
    assert sim.component_names == (
        "amorphous",
        "crystal_1",
        "crystal_2@30deg",
        "crystal_2@75deg",
        "crystal_3",
    )
    np.testing.assert_array_equal(sim.component_phase, [0, 1, 2, 2, 3])
    np.testing.assert_allclose(sim.component_rotation[1:], [10, 30, 75, 40])
    assert sim.patterns.shape == (5, 64, 64) and sim.maps.shape == (5, 36, 36)
    assert sim.spot_masks.shape == (4, 64, 64)
    np.testing.assert_allclose(sim.maps.sum(0), 1, atol=1e-6)
    # the two rotations of phase 2 are the same pattern rotated by 45 degrees
    # (square lattice: 45 = 75 - 30 mod 90): same radial profile, different image
    a, b = sim.patterns[2], sim.patterns[3]
    assert not np.allclose(a, b, atol=1e-5)
    r = np.hypot(*(np.mgrid[:64, :64] - 31.5))
    shells = np.minimum((r // 4).astype(int), 8)
    ra = np.bincount(shells.ravel(), a.ravel())
    rb = np.bincount(shells.ravel(), b.ravel())
    np.testing.assert_allclose(ra, rb, rtol=0.15, atol=2e-3)
    # each (phase, rotation) has its own row of areas with the 9/3/1 % levels
    for k in range(4):
        levels = [sim.maps[1 + k][tuple(sim.area_centers[k, j])] for j in range(3)]
        np.testing.assert_allclose(levels, [0.09, 0.03, 0.01], rtol=1e-5)


def test_phase_maps_overlap_rejected():
    with pytest.raises(ValueError, match="overlap"):
        phase_maps(
            (6, 6), crystallinity=(0.9, 0.9, 0.9), area_size=6, interface_sigma=2
        )


def test_bad_arguments():
    with pytest.raises(ValueError, match="rotations"):
        simulate_4dstem_arrays(**SMALL, rotations=(0, 10))
    with pytest.raises(ValueError, match="dose"):
        simulate_4dstem_arrays(**SMALL, dose=0)


def test_default_size_end_to_end():
    sim = simulate_4dstem_arrays()
    assert sim.data.shape == (36, 36, 128, 128)
    assert abs(sim.data.sum(axis=(2, 3)).mean() - 1e4) < 15
    # the 1 % areas are hidden by noise in one pattern but the 9 % spots show:
    # summed over a 9 % area, phase-1 spot pixels carry more than in the matrix
    mask = sim.spot_masks[0]
    area = sim.data[sim.area_labels == 1][:, mask].mean()
    matrix = sim.data[sim.area_labels == 0][:, mask].mean()
    assert area > 1.2 * matrix


# --- HyperSpy / pyxem wrapper ---------------------------------------------------


@pytest.fixture(scope="module")
def simulated():
    pytest.importorskip("pyxem")
    from hyperspy_cnmf.data import simulated_4dstem

    return simulated_4dstem((10, 12), (40, 48), area_size=3, seed=4)


def test_signal_type_and_calibration(simulated):
    from pyxem.signals import ElectronDiffraction2D

    s = simulated
    assert isinstance(s, ElectronDiffraction2D)
    assert not s._lazy
    assert s.data.shape == (10, 12, 40, 48) and s.data.dtype == np.float32
    nav = s.axes_manager.navigation_axes
    assert [a.name for a in nav] == ["x", "y"]
    assert [a.size for a in nav] == [12, 10]
    assert all(a.units == "nm" and a.scale == pytest.approx(1.5) for a in nav)
    sig = s.axes_manager.signal_axes
    assert [a.size for a in sig] == [48, 40]
    assert all(a.units == "1/nm" and a.scale > 0 for a in sig)
    # pyxem's centre is [x, y] = [(cols - 1) / 2, (rows - 1) / 2]
    np.testing.assert_allclose(s.calibration.center, [23.5, 19.5])
    np.testing.assert_allclose(s.metadata.Simulation.center, [19.5, 23.5])


def test_signal_metadata_truth(simulated):
    truth = simulated.metadata.Simulation
    assert truth.true_patterns.shape == (4, 40, 48)
    assert truth.true_maps.shape == (4, 10, 12)
    assert truth.spot_masks.shape == (3, 40, 48)
    assert list(truth.component_names) == [
        "amorphous",
        "crystal_1",
        "crystal_2",
        "crystal_3",
    ]
    assert truth.dose == 1e4 and truth.seed == 4
    assert truth.rotations == [[10.0], [25.0], [40.0]]
    assert truth.direct_beam is False
    np.testing.assert_allclose(truth.true_maps.sum(0), 1, atol=1e-6)
    sim = simulate_4dstem_arrays((10, 12), (40, 48), area_size=3, seed=4)
    np.testing.assert_array_equal(simulated.data, sim.data)
    d = truth.as_dictionary()
    assert "true_patterns" in d and "spot_masks" in d


def test_signal_lazy_equals_eager(simulated):
    from hyperspy_cnmf.data import simulated_4dstem

    lazy = simulated_4dstem((10, 12), (40, 48), area_size=3, seed=4, lazy=True)
    assert lazy._lazy
    np.testing.assert_array_equal(lazy.data.compute(), simulated.data)
    np.testing.assert_allclose(lazy.calibration.center, simulated.calibration.center)


def test_signal_noise_free_and_beam():
    pytest.importorskip("pyxem")
    from hyperspy_cnmf.data import simulated_4dstem

    s = simulated_4dstem((6, 5), (32, 30), area_size=2, dose=None, direct_beam=True)
    truth = s.metadata.Simulation
    assert truth.dose is None and truth.direct_beam
    assert truth.direct_beam_pattern.shape == (32, 30)
    np.testing.assert_allclose(s.data.sum(axis=(2, 3)), 1, rtol=1e-5)
