"""Tests of rotate_images and its agreement with the polar operator."""

import numpy as np
import pytest

from hyperspy_cnmf.core.polar import (
    direct_beam_radius,
    inscribed_radius,
    masked_disc_radius,
    polar_operator,
    radial_profile,
    radius_map,
    rotate_images,
)

SHAPE = (96, 96)
CENTER = (47.5, 47.5)


def _spots(shape=SHAPE, center=CENTER, sigma=2.0, seed=0):
    """Smooth image of a few Gaussian spots at random radii and angles."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape, dtype=float)
    img = np.zeros(shape)
    for radius, phi, amp in zip(
        rng.uniform(8, 35, 6),
        rng.uniform(0, 2 * np.pi, 6),
        rng.uniform(0.3, 1, 6),
        strict=True,
    ):
        r0 = center[0] + radius * np.sin(phi)
        c0 = center[1] + radius * np.cos(phi)
        img += amp * np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * sigma**2))
    return img


def _interior(shape=SHAPE, center=CENTER, radius=40):
    rows, cols = np.indices(shape)
    return np.hypot(rows - center[0], cols - center[1]) < radius


@pytest.mark.parametrize("angle", [17.0, 45.0, 90.0, 133.3, -60.0])
def test_rotate_back_is_identity_in_interior(angle):
    # bilinear interpolation blurs a little on each pass: use broad spots
    img = _spots(sigma=3.0)
    back = rotate_images(rotate_images(img, angle, CENTER), -angle, CENTER)
    inside = _interior()
    diff = (back - img)[inside]
    assert np.abs(diff).max() < 0.07 * img.max()
    assert np.linalg.norm(diff) < 0.04 * np.linalg.norm(img[inside])


def test_rotate_zero_and_360_are_identity():
    img = _spots()
    np.testing.assert_allclose(rotate_images(img, 0.0, CENTER), img, atol=1e-12)
    np.testing.assert_allclose(
        rotate_images(img, 360.0, CENTER)[_interior()], img[_interior()], atol=1e-9
    )


@pytest.mark.parametrize("angle", [17.0, 45.0, 90.0, 133.3])
def test_rotation_shifts_polar_image_by_plus_angle(angle):
    """The convention shared with the similarity: +angle along phi."""
    n_az = 360
    # a single spot at phi = 30 deg, r = 25 px
    img = _spots(seed=0) * 0
    rows, cols = np.indices(SHAPE, dtype=float)
    phi0 = np.deg2rad(30.0)
    r0, c0 = CENTER[0] + 25 * np.sin(phi0), CENTER[1] + 25 * np.cos(phi0)
    img += np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / 2.0)
    op = polar_operator(SHAPE, CENTER, n_azimuthal=n_az, r_max=45)
    polar = op.to_polar(np.stack([img, rotate_images(img, angle, CENTER)]))
    peak0 = np.argmax(polar[0, 25])
    peak1 = np.argmax(polar[1, 25])
    shift = ((peak1 - peak0) * 360 / n_az) % 360
    assert abs(((shift - angle) + 180) % 360 - 180) <= 1.0


def test_rotate_about_off_centre_point():
    shape = (80, 100)
    center = (30.0, 60.0)
    img = np.zeros(shape)
    img[30, 70] = 1.0  # phi = 0, r = 10 about the centre
    out = rotate_images(img, 90.0, center)
    # +90 deg along phi: phi = 90 deg is row + r (down on screen)
    assert np.unravel_index(np.argmax(out), shape) == (40, 60)
    assert out.max() == pytest.approx(1.0)


def test_per_image_angles_and_stack_shape():
    img = _spots()
    stack = np.stack([img, img, img])
    angles = [0.0, 30.0, -45.0]
    out = rotate_images(stack, angles, CENTER)
    assert out.shape == stack.shape
    for i, a in enumerate(angles):
        np.testing.assert_allclose(out[i], rotate_images(img, a, CENTER))


def test_integer_images_are_rotated_as_float():
    img = (_spots() * 100).astype(np.int32)
    out = rotate_images(img, 10.0)
    assert out.dtype == np.float64


def test_rotate_bad_input():
    with pytest.raises(ValueError, match="one angle or one per image"):
        rotate_images(np.zeros((3, 10, 10)), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(rows, cols\)"):
        rotate_images(np.zeros(10), 1.0)


# -- radial geometry -------------------------------------------------------


def test_radius_map_and_inscribed_radius():
    r = radius_map((3, 4), center_rc=(1, 0))
    assert r[1, 0] == 0 and r[0, 0] == 1 and r[1, 3] == 3
    assert r[2, 3] == pytest.approx(np.sqrt(10))
    np.testing.assert_array_equal(radius_map((5, 5)), radius_map((5, 5), (2, 2)))
    assert inscribed_radius((10, 20)) == 4.5
    assert inscribed_radius((10, 20), (3, 12)) == 3


def test_radial_profile_hand_computed():
    image = np.arange(9.0).reshape(3, 3)
    # floor rounding about the middle: r = 0 | 1 (edges) | sqrt(2) (corners)
    profile, counts = radial_profile(image, return_counts=True)
    np.testing.assert_array_equal(counts, [1, 8])
    np.testing.assert_allclose(profile, [4.0, 4.0])
    # nearest rounding separates edges (r = 1) from corners (rint(1.41) = 1)
    profile = radial_profile(image, center_rc=(0, 0), rounding="nearest")
    # r: 0 | 1, 1 | 1.41 -> 1 | 2, 2 | 2.24 -> 2 (x2) | 2.83 -> 3
    np.testing.assert_allclose(profile, [0.0, (1 + 3 + 4) / 3, (2 + 6 + 5 + 7) / 4, 8])
    # a mask and a bin limit leave pixels out; empty bins are 0
    mask = np.zeros((3, 3), bool)
    mask[0, 1] = mask[1, 0] = mask[0, 0] = True
    profile, counts = radial_profile(
        image, (0, 0), mask=mask, n_bins=2, return_counts=True
    )
    np.testing.assert_array_equal(counts, [0, 1])
    np.testing.assert_allclose(profile, [0.0, 4.0])


def test_radial_profile_of_a_stack_and_a_ring():
    rows, cols = np.indices((41, 41))
    ring = np.exp(-((np.hypot(rows - 20, cols - 20) - 12) ** 2) / 2)
    stack = np.stack([ring, 2 * ring])
    profiles = radial_profile(stack)
    assert profiles.shape == (2, 29)
    np.testing.assert_allclose(profiles[1], 2 * profiles[0])
    assert np.argmax(profiles[0]) in (11, 12)
    with pytest.raises(ValueError, match="rounding"):
        radial_profile(ring, rounding="ceil")
    with pytest.raises(ValueError, match="mask shape"):
        radial_profile(ring, mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="stack"):
        radial_profile(np.ones(5))


def test_masked_disc_radius():
    r = radius_map((21, 21), (10, 10))
    assert masked_disc_radius(None, (10, 10)) == 0
    assert masked_disc_radius(r <= 3, (10, 10)) == pytest.approx(np.hypot(3, 1))
    # a mask that does not cover the centre is not a beam stop
    assert masked_disc_radius((r > 2) & (r <= 5), (10, 10)) == 0
    assert masked_disc_radius(np.ones((21, 21), bool), (10, 10)) == 0


def test_direct_beam_radius():
    r = radius_map((41, 41), (20, 20))
    lattice = _spots((41, 41), (20, 20), sigma=1.0)
    beam = 50 * np.exp(-(r**2) / (2 * 1.5**2))
    patterns = np.stack([lattice + beam, lattice.T + beam])
    radius = direct_beam_radius(patterns, (20, 20), 20)
    assert 2.0 < radius < 8.0  # about 2.5 x HWHM (1.18 sigma = 1.8 px)
    assert direct_beam_radius(np.stack([lattice, lattice.T]), (20, 20), 20) == 0
    assert direct_beam_radius(patterns, (20, 20), 2) == 0  # too few bins
