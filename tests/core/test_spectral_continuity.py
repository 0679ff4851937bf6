"""SpectralContinuity on hand-made spectra: dips filled, peaks, edges and
backgrounds left alone, calibrated widths, masks."""

import numpy as np
import pytest

from hyperspy_cnmf.core.constraints import SpectralContinuity
from hyperspy_cnmf.core.geometry import AxisInfo, Geometry


def spectrum_context(n=400, scale=1.0, offset=0.0, units="eV", mask=None):
    axis = AxisInfo(size=n, scale=scale, offset=offset, units=units, name="Energy")
    geometry = Geometry((n,), (3, 3), signal_axes=(axis,), signal_mask=mask)
    return geometry.context("factors")


def gaussian(e, centre, sigma):
    return np.exp(-0.5 * ((e - centre) / sigma) ** 2)


@pytest.fixture
def eels():
    """A power-law background with an edge, white lines and a reverse peak."""
    e = 400.0 + 0.5 * np.arange(400)  # 400-600 eV, 0.5 eV per channel
    background = 1e9 * e**-3.0
    edge = 0.4 * background[120] * (e > 460) * (1 + 0 * e)
    lines = 1.5 * background[120] * gaussian(e, 465, 1.5)
    truth = background + edge + lines
    dip = 0.6 * background[300] * gaussian(e, 550, 2.0)
    return e, truth, truth - dip


def eels_context(mask=None):
    return spectrum_context(n=400, scale=0.5, offset=400.0, mask=mask)


def applied(x, times, constraint=None, context=None):
    """``x`` after ``times`` applications, as in the ALS iterations."""
    constraint = constraint or SpectralContinuity(width=30)
    context = context or eels_context()
    out = x[None]
    for _ in range(times):
        out = constraint(out, context)
    return out[0]


def test_background_edge_and_white_lines_are_left_alone(eels):
    _, truth, _ = eels
    np.testing.assert_array_equal(applied(truth, 3), truth)


def test_reverse_peak_is_filled_and_the_rest_kept(eels):
    e, truth, dipped = eels
    depth = (truth - dipped).max()
    once, out = applied(dipped, 1), applied(dipped, 5)
    at = np.abs(e - 550) < 5
    assert (truth - once)[at].max() < 0.1 * depth
    assert (truth - out)[at].max() < 0.05 * depth
    # away from it, background, edge and white lines are untouched
    far = np.abs(e - 550) > 12
    np.testing.assert_array_equal(out[far], dipped[far])
    assert (out >= dipped).all()


def test_noisy_reverse_peak_is_filled_within_a_few_deviations(eels):
    e, truth, dipped = eels
    noise = 0.01 * truth.mean()
    noisy = dipped + noise * np.random.default_rng(0).standard_normal(e.size)
    at = np.abs(e - 550) < 5
    assert (truth - noisy)[at].max() > 25 * noise
    out = applied(noisy, 5)
    assert (truth - out)[at].max() < 6 * noise  # from 30
    # elsewhere channels below the baseline move up, by about the noise
    far = np.abs(e - 550) > 12
    assert np.abs(out - noisy)[far].max() < 3.5 * noise
    assert np.abs(out - noisy)[far].mean() < 0.6 * noise  # ~ sigma / sqrt(2 pi)
    # with a tolerance of one deviation only a few channels move
    tolerant = applied(noisy, 5, SpectralContinuity(width=30, tolerance=1.0))
    assert (truth - tolerant)[at].max() < 8 * noise
    assert (tolerant != noisy)[far].mean() < 0.15


def test_width_in_calibrated_units():
    # 2 keV on an eV axis of 10 eV channels: a 200-channel window
    context = spectrum_context(n=1000, scale=10.0, units="eV")
    assert SpectralContinuity(width=2, units="keV").half_width(context) == 100
    assert SpectralContinuity(width=2000).half_width(context) == 100
    keV = spectrum_context(n=1000, scale=0.01, units="keV")
    assert SpectralContinuity(width=2).half_width(keV) == 100
    assert SpectralContinuity(width=2000, units="eV").half_width(keV) == 100
    assert SpectralContinuity().half_width(keV) == 50  # a tenth of the range
    with pytest.raises(ValueError, match="cannot convert 'keV' to the energy"):
        SpectralContinuity(width=2, units="keV").half_width(
            spectrum_context(units="px")
        )


def test_masked_channels_ignored_and_returned_as_they_are(eels):
    e, truth, dipped = eels
    mask = np.abs(e - 550) < 1  # the bottom of the dip is excluded
    x = dipped.copy()
    x[mask] = 0.0  # as the solver hands them in
    context = eels_context(mask=mask)
    out = applied(x, 5, context=context)
    np.testing.assert_array_equal(out[mask], 0.0)
    near = (np.abs(e - 550) < 5) & ~mask
    assert np.abs(out[near] - truth[near]).max() < 0.05 * (truth - dipped).max()


def test_float32_and_stack_shape(eels):
    _, truth, dipped = eels
    x = np.stack([dipped, truth, 2 * dipped]).astype(np.float32)
    out = SpectralContinuity(width=30)(x, eels_context())
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out[2], 2 * out[0], rtol=1e-5)
    np.testing.assert_allclose(out[1], truth, rtol=1e-5)  # nothing to fill


def test_needs_1d_spectra():
    context = Geometry((8, 8), (3, 3)).context("factors")
    with pytest.raises(ValueError, match="needs 1D spectra"):
        SpectralContinuity()(np.ones((1, 8, 8)), context)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width=0 must be a finite number > 0"),
        ({"width": float("nan")}, "width=nan"),
        ({"units": "nm"}, "units='nm' must be None"),
        ({"outlier_factor": 0}, "outlier_factor=0"),
        ({"tolerance": -1}, "tolerance=-1"),
        ({"n_pass": 0}, "n_pass=0"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpectralContinuity(**kwargs)


def test_repr():
    assert repr(SpectralContinuity(width=1.0, units="keV")) == (
        "SpectralContinuity(width=1.0, units='keV', outlier_factor=3.0, "
        "tolerance=0.0, n_pass=2)"
    )
