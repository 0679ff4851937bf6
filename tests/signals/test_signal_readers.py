"""The single readers of pyxem's mask and of the calibrated beam centre."""

import warnings

import numpy as np
import pytest

from hyperspy_cnmf.signals.geometry import beam_center, pyxem_mask

from .synthetic import CENTER, SIG_SHAPE, make_signal


def _mask():
    mask = np.zeros(SIG_SHAPE, bool)
    mask[2, 3] = mask[10, 17] = True  # non-square: catches a transposition
    return mask


def test_pyxem_mask_absent(lazy):
    s = make_signal(lazy=lazy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pyxem_mask(s) is None


@pytest.mark.parametrize("kind", ["bool", "int", "signal", "dask"])
def test_pyxem_mask_forms(lazy, kind):
    s = make_signal(lazy=lazy)
    mask = _mask()
    if kind == "int":
        value = mask.astype(np.uint8)
    elif kind == "signal":
        value = s._get_signal_signal(mask)
    elif kind == "dask":
        import dask.array as da

        value = da.from_array(mask, chunks=4)
    else:
        value = mask
    s.calibration.mask = value
    out = pyxem_mask(s)
    assert isinstance(out, np.ndarray) and out.dtype == bool
    np.testing.assert_array_equal(out, mask)


@pytest.mark.parametrize("value", [np.zeros(SIG_SHAPE[::-1], bool), "beam stop"])
def test_pyxem_mask_unusable_is_ignored_with_a_warning(lazy, value):
    s = make_signal(lazy=lazy)
    s.calibration.mask = value
    with pytest.warns(UserWarning, match="ignoring metadata.General.mask"):
        assert pyxem_mask(s) is None


def test_beam_center_array_order_and_non_strict(lazy):
    s = make_signal(lazy=lazy)
    assert beam_center(s) == pytest.approx(CENTER)
    assert beam_center(s, strict=False) == pytest.approx(CENTER)
    spectrum = s.inav[0, 0].isig[:, 0]  # one signal axis
    assert spectrum.axes_manager.signal_dimension == 1
    assert beam_center(spectrum, strict=False) is None
    with pytest.raises(ValueError, match="2 signal axes"):
        beam_center(spectrum)
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    assert beam_center(s, strict=False) is None
    with pytest.raises(ValueError, match="non-uniform"):
        beam_center(s)
