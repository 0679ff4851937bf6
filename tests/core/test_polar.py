"""Tests of rotate_images and its agreement with the polar operator."""

import numpy as np
import pytest

from hyperspy_cnmf.core.polar import polar_operator, rotate_images

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
