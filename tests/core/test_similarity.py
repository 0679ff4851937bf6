"""Tests of the cosine and rotation-invariant diffraction similarities."""

import numpy as np
import pytest

from hyperspy_cnmf.core.polar import rotate_images
from hyperspy_cnmf.core.similarity import (
    cosine_similarity,
    diffraction_similarity,
    polar_stack,
)

from .images import lattice_pattern

SHAPE = (128, 128)
CENTER = ((SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2)
N_AZ = 360
BIN = 360 / N_AZ


def angle_diff(a, b):
    """Signed difference of angles in degrees, in [-180, 180)."""
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


@pytest.fixture(scope="module")
def reference():
    return lattice_pattern()


@pytest.mark.parametrize("theta", [17.0, 45.0, 90.0, 133.3, -71.4])
def test_rotated_copy_is_similar_with_right_rotation(reference, theta):
    rotated = rotate_images(reference, theta, CENTER)
    sim, rot = diffraction_similarity(
        np.stack([reference, rotated]), center_rc=CENTER, n_azimuthal=N_AZ
    )
    assert sim[0, 1] >= 0.98
    # rotation[i, j] rotates j onto i: the copy must turn back by -theta
    assert abs(angle_diff(rot[0, 1], -theta)) <= BIN
    assert abs(angle_diff(rot[1, 0], theta)) <= BIN
    # and applying it really aligns the copy with the reference (sign check)
    aligned = rotate_images(rotated, rot[0, 1], CENTER)
    assert cosine_similarity(np.stack([reference, aligned]))[0, 1] > 0.95


@pytest.mark.parametrize("theta", [17.0, 45.0, 133.3])
def test_cosine_similarity_misses_rotated_copy(reference, theta):
    rotated = rotate_images(reference, theta, CENTER)
    assert cosine_similarity(np.stack([reference, rotated]))[0, 1] < 0.5


def test_subbin_refinement_is_finer_than_a_bin(reference):
    thetas = [12.3, 47.7, 101.4, 222.2]
    stack = np.stack([reference] + [rotate_images(reference, t) for t in thetas])
    _, rot = diffraction_similarity(stack, n_azimuthal=N_AZ)
    err = angle_diff(rot[0, 1:], -np.array(thetas))
    assert np.abs(err).max() < 0.5 * BIN
    _, rot_coarse = diffraction_similarity(stack, n_azimuthal=N_AZ, refine=False)
    assert np.allclose(rot_coarse[0, 1:] / BIN, np.round(rot_coarse[0, 1:] / BIN))


def test_different_lattices_score_clearly_lower(reference):
    # measured: ~0.3-0.45 for these lattices, >= 0.99 for rotated copies
    others = [
        lattice_pattern(a=18.0, seed=1),
        lattice_pattern(a=11.0, gamma_deg=60.0, seed=2),
        lattice_pattern(a=16.0, ratio=1.0, gamma_deg=90.0, seed=3),
    ]
    stack = np.stack([reference, *[rotate_images(o, 33.0) for o in others]])
    sim, _ = diffraction_similarity(stack, n_azimuthal=N_AZ)
    assert sim[0, 1:].max() < 0.6


def test_amorphous_rings_match_each_other_not_crystals(reference):
    rows, cols = np.indices(SHAPE, dtype=float)
    rho = np.hypot(rows - CENTER[0], cols - CENTER[1])
    ring = np.exp(-((rho - 40.0) ** 2) / 18.0)
    rng = np.random.default_rng(0)
    ring_noisy = ring + 0.02 * rng.random(SHAPE)
    sim, _ = diffraction_similarity(np.stack([ring, ring_noisy, reference]))
    assert sim[0, 1] > 0.95
    assert sim[0, 2] < 0.5
    # with the per-radius mean removed, an isotropic ring has nothing left
    sim_sub, _ = diffraction_similarity(
        np.stack([ring, reference, rotate_images(reference, 40.0)]),
        subtract_mean=True,
    )
    assert sim_sub[0, 1] < 0.2
    assert sim_sub[1, 2] > 0.98


def test_direct_beam_dominates_unless_r_min_excludes_it():
    beam = 3.0
    a = lattice_pattern(beam=beam)
    b = lattice_pattern(a=18.0, seed=1, beam=beam)
    sim_all, _ = diffraction_similarity(np.stack([a, b]))
    sim_cut, _ = diffraction_similarity(np.stack([a, b]), r_min=6)
    assert sim_all[0, 1] > 0.9
    assert sim_cut[0, 1] < 0.6


def test_matrix_properties():
    rng = np.random.default_rng(4)
    base = [lattice_pattern(seed=s, a=12.0 + 2 * s) for s in range(3)]
    stack = np.stack(
        [rotate_images(base[i % 3], rng.uniform(0, 360)) for i in range(7)]
        + [rng.random(SHAPE)]
    )
    sim, rot = diffraction_similarity(stack, n_azimuthal=N_AZ)
    np.testing.assert_array_equal(sim, sim.T)
    np.testing.assert_array_equal(np.diag(sim), 1.0)
    np.testing.assert_array_equal(np.diag(rot), 0.0)
    assert np.all(sim <= 1.0) and np.all(sim >= 0.0)
    np.testing.assert_allclose(angle_diff(rot, -rot.T), 0.0, atol=1e-9)
    assert np.all(rot > -180.0) and np.all(rot <= 180.0)
    cos = cosine_similarity(stack)
    np.testing.assert_allclose(cos, cos.T)
    np.testing.assert_array_equal(np.diag(cos), 1.0)


def test_self_similarity_is_exactly_one_with_mask(reference):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[60:68, 60:120] = True  # a beam-stop arm
    stack = np.stack([reference, 2.0 * reference, rotate_images(reference, 25.0)])
    sim, rot = diffraction_similarity(stack, mask=mask)
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert rot[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert sim[0, 2] > 0.8  # the arm hides different spots after rotation


def test_zero_pattern_scores_zero(reference):
    sim, rot = diffraction_similarity(np.stack([reference, np.zeros(SHAPE)]))
    assert sim[0, 1] == 0.0 and sim[1, 1] == 1.0
    cos = cosine_similarity(np.stack([reference, np.zeros(SHAPE)]))
    assert cos[0, 1] == 0.0


def test_cosine_similarity_values():
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    expected = np.array(
        [
            [1, 1 / np.sqrt(2), 0],
            [1 / np.sqrt(2), 1, 1 / np.sqrt(2)],
            [0, 1 / np.sqrt(2), 1],
        ]
    )
    np.testing.assert_allclose(cosine_similarity(x), expected)
    # any pattern shape is flattened
    np.testing.assert_allclose(cosine_similarity(x.reshape(3, 2, 1)), expected)


def test_k30_similarity_shapes():
    stack = np.random.default_rng(0).random((30, *SHAPE))
    sim, rot = diffraction_similarity(stack)
    assert sim.shape == rot.shape == (30, 30)
    assert np.all(sim <= 1 + 1e-12)


@pytest.mark.parametrize(
    ("patterns", "match"),
    [
        (np.full((3, 16, 16), np.nan), "NaN"),
        (np.ones((1, 16, 16)), "at least 2"),
        (np.ones((3, 256)), r"\(k, rows, cols\)"),
        (np.ones((3, 4, 16, 16)), r"\(k, rows, cols\)"),
        (np.ones(16), "stack"),
        (np.ones((2, 8, 8), dtype=complex), "modulus"),
    ],
)
def test_diffraction_similarity_bad_input(patterns, match):
    with pytest.raises(ValueError, match=match):
        diffraction_similarity(patterns)


def test_bad_options():
    stack = np.ones((2, 16, 16))
    with pytest.raises(ValueError, match="mask has shape"):
        diffraction_similarity(stack, mask=np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="no valid polar samples"):
        diffraction_similarity(stack, r_min=20)
    with pytest.raises(ValueError, match="n_azimuthal"):
        diffraction_similarity(stack, n_azimuthal=2)


@pytest.mark.parametrize(
    ("patterns", "match"),
    [(np.ones((1, 5)), "at least 2"), (np.array([[1.0, np.inf], [1, 1]]), "NaN")],
)
def test_cosine_similarity_bad_input(patterns, match):
    with pytest.raises(ValueError, match=match):
        cosine_similarity(patterns)


def test_cosine_similarity_between_two_sets():
    a = np.array([[1.0, 0, 0], [0, 0, 0], [1, 1, 0]])
    b = np.array([[2.0, 0, 0], [0, 3, 0]])
    expected = [[1, 0], [0, 0], [1 / np.sqrt(2), 1 / np.sqrt(2)]]
    np.testing.assert_allclose(cosine_similarity(a, b), expected)
    # one pattern is enough with a second set; the pair form agrees
    np.testing.assert_allclose(cosine_similarity(a[:1], a), cosine_similarity(a)[:1])
    with pytest.raises(ValueError, match="length"):
        cosine_similarity(a, np.ones((2, 4)))
    with pytest.raises(ValueError, match="other contain NaN"):
        cosine_similarity(a, np.full((2, 3), np.nan))


def _on_shared_background():
    """Two amorphous splits (noisy), a hexagonal crystal at two rotations
    and a square one, the crystals on a strong shared diffuse background."""
    from hyperspy_cnmf.data.simulated import amorphous_pattern, crystalline_pattern

    rng = np.random.default_rng(0)
    glass = amorphous_pattern((96, 96))
    amorphous = [glass * (1 + 0.05 * rng.standard_normal(glass.shape)) for _ in "ab"]
    crystals = [
        crystalline_pattern((96, 96), "hexagonal", 0.30, 10.0),
        crystalline_pattern((96, 96), "hexagonal", 0.30, 40.0),
        crystalline_pattern((96, 96), "square", 0.26, 0.0),
    ]
    crystals = [c[0] + 3.0 * glass for c in crystals]  # 3/4 of each is diffuse
    return np.stack(amorphous + crystals)


def test_crystalline_tells_spots_from_noise():
    from hyperspy_cnmf.core.similarity import _anisotropic_part, crystalline

    polar, valid = polar_stack(_on_shared_background(), r_min=4)
    np.testing.assert_array_equal(
        crystalline(_anisotropic_part(polar, valid)), [0, 0, 1, 1, 1]
    )


def test_auto_keeps_phases_on_a_shared_background_apart():
    patterns = _on_shared_background()
    plain, _ = diffraction_similarity(patterns, r_min=4)
    auto, rotation = diffraction_similarity(patterns, r_min=4, subtract_mean="auto")
    # amorphous pair and the rotated copies: alike either way
    assert plain[0, 1] > 0.95 and auto[0, 1] == plain[0, 1]
    assert auto[2, 3] > 0.9
    assert abs(abs(rotation[2, 3]) % 60 - 30) < 1.5  # 10 vs 40 degrees, 6-fold
    # different lattices: alike in the plain correlation, apart in their spots
    assert plain[2, 4] > 0.8 and auto[2, 4] < 0.5
    # crystal against amorphous: the plain similarity, untouched
    assert auto[0, 2] == plain[0, 2]
    with pytest.raises(ValueError, match="'auto'"):
        diffraction_similarity(patterns, subtract_mean="yes")
