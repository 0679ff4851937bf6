"""Constraints on hand-made images: what they must change and must not touch."""

import warnings

import numpy as np
import pytest

from hyperspy_cnmf.core import constraints as constraints_module
from hyperspy_cnmf.core import kernels
from hyperspy_cnmf.core.constraints import (
    Constraint,
    GaussianSmoothing,
    NonNegativity,
    RadialContinuity,
)
from hyperspy_cnmf.core.geometry import AxisInfo, ConstraintContext, Geometry

from .images import ring, spots


def factor_context(shape, center=None, mask=None):
    """Context of ``shape`` patterns about ``center`` given as ``(x, y)``."""
    return Geometry(shape, (3, 3), center=center, signal_mask=mask).context("factors")


def map_context(shape, axes=None, mask=None):
    return Geometry((4, 4), shape, navigation_axes=axes, navigation_mask=mask).context(
        "loadings"
    )


class TestRadialContinuity:
    def test_dark_spot_in_ring_is_filled(self, ring_image):
        punched = ring_image.copy()
        hole = spots(ring_image.shape, [(15.5 - 9, 15.5)], sigma=1.0) > 0.3
        punched[hole] *= 0.2
        constraint, context = RadialContinuity(), factor_context(ring_image.shape)
        deficit = np.abs(punched[hole] - ring_image[hole]).max()
        assert deficit > 0.5 * ring_image.max()
        once = constraint(punched[None], context)[0]
        assert np.abs(once[hole] - ring_image[hole]).max() < 0.5 * deficit
        # Applied as in the ALS iterations, the ring comes back whole...
        out = punched[None]
        for _ in range(5):
            out = constraint(out, context)
        assert np.abs(out[0][hole] - ring_image[hole]).max() < 0.05 * ring_image.max()
        # ...and its neighbours are not pushed above the ring.
        assert (out[0] - ring_image)[~hole].max() < 0.02 * ring_image.max()

    def test_bragg_spot_on_ring_is_untouched(self, ring_image):
        spot = spots(ring_image.shape, [(15.5, 15.5 + 9)], sigma=1.0)
        pattern = ring_image + 5 * spot
        out = RadialContinuity()(pattern[None], factor_context(pattern.shape))[0]
        on_spot = spot > 0.1
        np.testing.assert_array_equal(out[on_spot], pattern[on_spot])
        # Nothing is ever lowered.
        assert (out >= pattern).all()

    def test_outlier_exclusion_matters(self, ring_image):
        """Without excluding the bright spots, the baseline would be biased up."""
        angles = np.deg2rad([0, 120, 240])
        spot_positions = [(15.5 + 9 * np.sin(a), 15.5 + 9 * np.cos(a)) for a in angles]
        pattern = ring_image + 10 * spots(ring_image.shape, spot_positions, sigma=0.7)
        context = factor_context(pattern.shape)
        with_exclusion = RadialContinuity(outlier_factor=2.0)(pattern[None], context)[0]
        without = RadialContinuity(outlier_factor=1e9)(pattern[None], context)[0]
        background = (ring_image > 0.5) & (
            spots(ring_image.shape, spot_positions) < 1e-3
        )
        assert np.abs(with_exclusion[background] - pattern[background]).max() < 0.15
        assert (without[background] - pattern[background]).max() > 0.3

    def test_idempotent(self, ring_image):
        pattern = ring_image * (
            1 + 0.5 * np.random.default_rng(0).uniform(size=ring_image.shape)
        )
        constraint, context = RadialContinuity(), factor_context(pattern.shape)
        once = constraint(pattern[None], context)
        np.testing.assert_allclose(
            constraint(once, context), once, atol=0.05 * once.max()
        )

    def test_masked_pixels_are_ignored(self, ring_image):
        mask = np.zeros(ring_image.shape, bool)
        mask[12:20, 12:20] = True  # a masked direct beam
        pattern = ring_image.copy()
        pattern[mask] = 0  # excluded pixels arrive as zeros
        out = RadialContinuity()(
            pattern[None], factor_context(pattern.shape, mask=mask)
        )[0]
        assert (out[mask] == 0).all()
        np.testing.assert_allclose(out[~mask], pattern[~mask], atol=0.1)

    def test_off_centre_beam_uses_the_context_centre(self):
        shape, center_xy = (24, 30), (20.0, 8.0)  # (x, y) = (col, row)
        pattern = ring(shape, 5.0, 1.2, center_xy[::-1])  # ring() takes (row, col)
        punched = pattern.copy()
        punched[8, 25] = 0.0  # on the ring, 5 px right of the centre
        context = factor_context(shape, center=center_xy)
        assert context.center_xy == (20.0, 8.0) and context.center_rc == (8.0, 20.0)
        out = RadialContinuity()(punched[None], context)[0]
        assert out[8, 25] > 0.8 * pattern[8, 25]
        wrong = RadialContinuity(center=(15.0, 12.0))(
            punched[None], factor_context(shape)
        )[0]
        assert wrong[8, 25] < 0.5 * pattern[8, 25]

    @pytest.mark.parametrize("kind", [tuple, list, np.asarray])
    def test_centre_given_as_x_y_in_any_sequence(self, kind):
        # pyxem's s.calibration.center is a list (x, y): it must work as is
        shape, center_xy = (24, 30), (20.0, 8.0)
        pattern = ring(shape, 5.0, 1.2, center_xy[::-1])
        punched = pattern.copy()
        punched[8, 25] = 0.0
        constraint = RadialContinuity(center=kind(center_xy))
        out = constraint(punched[None], factor_context(shape))[0]  # middle centre
        assert out[8, 25] > 0.8 * pattern[8, 25]
        assert constraint == RadialContinuity(center=center_xy)
        assert hash(constraint) is not None

    def test_context_has_no_ambiguous_center(self):
        context = factor_context((8, 10))
        with pytest.raises(AttributeError, match=r"center_rc.*center_xy"):
            context.center  # noqa: B018

    def test_needs_2d_patterns(self):
        context = Geometry((50,), (4,)).context("factors")
        with pytest.raises(ValueError, match="needs 2D diffraction patterns"):
            RadialContinuity()(np.ones((2, 50)), context)

    def test_bad_outlier_factor(self, ring_image):
        with pytest.raises(ValueError, match="outlier_factor"):
            RadialContinuity(outlier_factor=0.5)(
                ring_image[None], factor_context(ring_image.shape)
            )

    def test_operator_built_once_per_context(self, ring_image):
        context = factor_context(ring_image.shape)
        RadialContinuity()(ring_image[None], context)
        RadialContinuity()(ring_image[None], context.at_iteration(5))
        assert len(context.cache) == 1

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("masked", [False, True])
    @pytest.mark.parametrize("r_min", [0.0, 4.5])
    @pytest.mark.parametrize("layout", ["stack", "columns"])
    def test_numba_kernels_give_the_sparse_route(
        self, dtype, masked, r_min, layout, monkeypatch
    ):
        # off-centre rings with holes and spots, 7 patterns
        shape, center_xy = (30, 34), (18.5, 13.0)
        rng = np.random.default_rng(3)
        patterns = np.stack(
            [
                ring(shape, 4 + i, 1.5, center_xy[::-1]) * rng.uniform(0.3, 1.0, shape)
                + 4 * spots(shape, [(5 + 2 * i, 25.0)], 0.8)
                for i in range(7)
            ]
        )
        mask = np.zeros(shape, bool)
        if masked:
            mask[10:16, 15:22] = True
            patterns[:, mask] = 0
        if layout == "columns":  # the solver's: a transposed (pixels, n) array
            patterns = np.ascontiguousarray(patterns.reshape(7, -1).T).T
            patterns = patterns.reshape(7, *shape)
        patterns = patterns.astype(dtype)
        context = factor_context(shape, center=center_xy, mask=mask)
        constraint = RadialContinuity(r_min=r_min)
        calls = []
        deficits = kernels.radial_deficits
        monkeypatch.setattr(
            constraints_module,
            "radial_deficits",
            lambda *a: calls.append(1) or deficits(*a),
        )
        fused = constraint(patterns, context)
        assert calls, "the kernel route was not taken"
        monkeypatch.setattr(kernels, "_compiled_radial", lambda: None)
        sparse = constraint(patterns, context)
        assert len(calls) == 1
        assert fused.dtype == sparse.dtype == dtype
        assert fused.shape == patterns.shape
        assert (fused > patterns).any()  # something was raised
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(fused, sparse, rtol=rtol, atol=rtol * sparse.max())


def high_frequency_power(images, cutoff=0.25):
    spectrum = (
        np.abs(np.fft.fft2(images - images.mean(axis=(-2, -1), keepdims=True))) ** 2
    )
    fy = np.fft.fftfreq(images.shape[-2])[:, None]
    fx = np.fft.fftfreq(images.shape[-1])[None, :]
    return spectrum[..., np.hypot(fy, fx) > cutoff].sum() / spectrum.sum()


class TestGaussianSmoothing:
    def test_removes_high_frequency_noise_power(self):
        rng = np.random.default_rng(0)
        rows, cols = np.indices((24, 20))
        smooth = np.exp(-0.5 * ((rows - 12) ** 2 + (cols - 9) ** 2) / 4**2)
        noisy = smooth + 0.3 * rng.standard_normal(smooth.shape)
        out = GaussianSmoothing()(noisy[None], map_context(noisy.shape))[0]
        assert high_frequency_power(out) < 0.5 * high_frequency_power(noisy)
        # The smooth part survives: still close to the truth.
        assert np.abs(out - smooth).mean() < np.abs(noisy - smooth).mean()

    def test_default_is_the_3x3_binomial_kernel(self):
        image = np.zeros((7, 7))
        image[3, 3] = 16.0
        out = GaussianSmoothing()(image[None], map_context(image.shape))[0]
        expected = np.outer([1, 2, 1], [1, 2, 1])
        np.testing.assert_allclose(out[2:5, 2:5], expected)
        assert out.sum() == pytest.approx(16.0)

    def test_preserves_constant_maps_at_edges(self):
        image = np.full((5, 6), 3.0)
        out = GaussianSmoothing(sigma=1.0)(image[None], map_context(image.shape))[0]
        np.testing.assert_allclose(out, 3.0)

    @pytest.mark.parametrize(
        ("units", "step", "expected_size"),
        [("nm", 1.5, 3), ("nm", 0.25, 15), ("Å", 15.0, 3)],
    )
    def test_kernel_from_probe_fwhm_and_scan_step(self, units, step, expected_size):
        axes = (AxisInfo(30, step, 0, units), AxisInfo(30, step, 0, units))
        context = map_context((30, 30), axes=axes)
        constraint = GaussianSmoothing(probe_fwhm=2.0, probe_units="nm")
        sigma_px = 2.0 / 2.3548 / (step * (0.1 if units == "Å" else 1.0))
        assert constraint.sigmas(context)[0] == pytest.approx(sigma_px, rel=1e-3)
        assert constraint.kernels(context)[0].size == expected_size

    def test_unknown_units(self):
        axes = (AxisInfo(10, 1.0, 0, "furlong"), AxisInfo(10, 1.0, 0, "furlong"))
        with pytest.raises(ValueError, match="cannot convert"):
            GaussianSmoothing(probe_fwhm=2.0, probe_units="nm").kernels(
                map_context((10, 10), axes)
            )

    def test_axis_shorter_than_kernel_is_not_smoothed_with_one_warning(self):
        image = np.zeros((2, 7))
        image[0, 3] = 4.0
        constraint = GaussianSmoothing()
        context = map_context(image.shape)
        with pytest.warns(UserWarning, match=r"not smoothed along axis 0 \(2 px"):
            out = constraint(image[None], context)[0]
        np.testing.assert_allclose(out[0, 2:5], [1.0, 2.0, 1.0])
        np.testing.assert_allclose(out[1], 0.0)  # no smoothing across rows
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            constraint(image[None], context)  # cached: warned once per fit

    def test_map_shorter_than_kernel_on_every_axis_is_left_as_is(self):
        image = np.arange(4.0).reshape(1, 2, 2)
        with pytest.warns(UserWarning, match="not smoothed"):
            out = GaussianSmoothing(sigma=3.0)(image, map_context((2, 2)))
        np.testing.assert_allclose(out, image)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"size": 4}, "positive odd integer"),
            ({"size": 0}, "positive odd integer"),
            ({"size": -3}, "positive odd integer"),
            ({"size": 2.5}, "positive odd integer"),
            ({"sigma": float("nan")}, "sigma=nan must be a finite number"),
            ({"sigma": -1.0}, "sigma=-1.0"),
            ({"probe_fwhm": 0.0}, "probe_fwhm=0.0 must be a finite number > 0"),
            ({"probe_fwhm": -2.0}, "probe_fwhm=-2.0"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            GaussianSmoothing(**kwargs)

    def test_masked_positions_do_not_darken_neighbours(self):
        mask = np.zeros((6, 6), bool)
        mask[:, 0] = True
        image = np.where(mask, 0.0, 2.0)
        out = GaussianSmoothing()(image[None], map_context(image.shape, mask=mask))[0]
        np.testing.assert_allclose(out[~mask], 2.0)
        assert (out[mask] == 0).all()

    def test_1d_navigation(self):
        line = np.zeros((1, 9))
        line[0, 4] = 4.0
        out = GaussianSmoothing()(line, map_context((9,)))
        np.testing.assert_allclose(out[0, 3:6], [1.0, 2.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_azimuthal": 0}, "n_azimuthal=0 must be an integer >= 4"),
        ({"n_azimuthal": 2.5}, "n_azimuthal=2.5"),
        ({"outlier_factor": 1.0}, "outlier_factor=1.0 must be a number > 1"),
        ({"outlier_factor": float("nan")}, "outlier_factor=nan"),
        ({"r_min": -1}, "r_min=-1"),
        ({"center": 8}, r"center=8 must be the beam centre \(x, y\) = \(col, row\)"),
        ({"center": (7, 7, 99)}, r"center=\(7, 7, 99\)"),
    ],
)
def test_radial_continuity_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RadialContinuity(**kwargs)


def test_nonnegativity_projects_and_keeps_input():
    images = np.array([[[-1.0, 2.0], [0.5, -0.1]]])
    before = images.copy()
    out = NonNegativity()(images, map_context((2, 2)))
    np.testing.assert_array_equal(out, [[[0, 2.0], [0.5, 0]]])
    np.testing.assert_array_equal(images, before)


def test_constraint_repr_and_equality():
    assert repr(RadialContinuity(outlier_factor=3.0)) == (
        "RadialContinuity(outlier_factor=3.0, center=None, n_azimuthal=360, r_min=0.0)"
    )
    assert GaussianSmoothing(sigma=1.0) == GaussianSmoothing(sigma=1.0)
    assert GaussianSmoothing(sigma=1.0) != GaussianSmoothing(sigma=2.0)


def test_user_constraint_gets_calibrated_axes():
    seen = {}

    class Record(Constraint):
        def __call__(self, images, context):
            seen["axes"] = context.axes
            seen["center"] = context.center_rc
            return images

    axes = (AxisInfo(8, 0.1, -0.4, "1/nm"), AxisInfo(10, 0.1, -0.5, "1/nm"))
    context = ConstraintContext("factors", (8, 10), axes, center_xy=(5.0, 4.0))
    Record()(np.zeros((1, 8, 10)), context)
    assert seen["axes"][1].offset == -0.5 and seen["center"] == (4.0, 5.0)
