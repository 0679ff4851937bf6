"""Real detector files (rosettasciio test data, see ../shared/data/real/SOURCES.md).

The files live beside the repository in ``../shared``; a fresh clone without
that folder skips these tests.
"""

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")
import hyperspy_cnmf  # noqa: E402,F401

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
pytestmark = pytest.mark.skipif(
    not REAL.is_dir(),
    reason=f"real detector files not found at {REAL} (they ship beside the repository, not in it)",
)


def load(relative, lazy=False):
    """The file's scan: from a list (app5 files), the first signal with a
    navigation axis."""
    s = hs.load(REAL / relative, lazy=lazy)
    if not isinstance(s, list):
        return s
    return next(x for x in s if x.axes_manager.navigation_dimension > 0)


def quick(s, k=2, **kwargs):
    kwargs.setdefault("n_init", 2)
    kwargs.setdefault("max_iter", 20)
    kwargs.setdefault("random_state", 0)
    s.decomposition(
        algorithm="constrained_nmf", output_dimension=k, print_info=False, **kwargs
    )
    return s.learning_results


def test_nanomegas_blockfile_spot_patterns(lazy):
    s = load("nanomegas_blockfile/test1.blo", lazy=lazy)
    before = np.asarray(s.data).copy()
    s.calibration.center = None
    # A 2x3 scan is narrower than the 3x3 map kernel: maps unconstrained here.
    lr = quick(s, loading_constraints=[])
    assert lr.decomposition_algorithm == "constrained_nmf"
    assert lr.factors.shape == (144 * 144, 2) and lr.loadings.shape == (6, 2)
    assert (lr.factors >= 0).all() and (lr.loadings >= 0).all()
    assert s.data.dtype == np.uint8  # the user's integer data are not converted
    np.testing.assert_array_equal(np.asarray(s.data), before)
    model = s.get_decomposition_model()
    residual = np.abs(np.asarray(model.data, float) - before).mean()
    assert residual < 0.5 * before.mean()


def test_uncalibrated_centre_is_refused_with_the_fix(lazy):
    s = load("nanomegas_blockfile/test1.blo", lazy=lazy)
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None"):
        quick(s, max_iter=2, loading_constraints=[])


def test_default_map_kernel_on_a_tiny_scan_smooths_the_long_axes_only(lazy):
    s = load("nanomegas_blockfile/test1.blo", lazy=lazy)
    s.calibration.center = None
    with pytest.warns(UserWarning, match="not smoothed along axis"):
        quick(s, max_iter=2)
    assert s.learning_results.decomposition_algorithm == "constrained_nmf"


def test_merlin_12bit_line_scan_decomposes_and_clusters():
    s = load("merlin_testpattern_12bit/Single_9_Frame_CounterDepth_12_Rows_256.mib")
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None"):
        quick(s, n_init=1)  # uncalibrated
    s.calibration.center = None
    quick(s, n_init=1)
    result = s.cluster_components()
    assert result.params["r_max"] > 0


def test_merlin_non_square_detector_with_masked_direct_beam():
    s = load("merlin_4x2_diffraction/002_4x2_6bit_roi128.mib")
    assert s.data.shape[-2:] == (128, 256)  # rows, cols: a non-square detector
    mean = np.asarray(s.data, float).mean(axis=(0, 1))
    beam = mean > np.percentile(mean, 99.5)  # the saturated, off-centre beam
    s.calibration.center = None
    # HyperSpy reads a numpy signal mask in its (x, y) signal_shape: give an
    # array-order mask as a signal, as HyperSpy's own decompositions need.
    lr = quick(
        s, signal_mask=hs.signals.Signal2D(beam), loading_constraints=[]
    )  # 2-row scan: no 3x3 kernel
    assert np.isnan(lr.factors[beam.ravel()]).all()
    assert np.isfinite(lr.factors[~beam.ravel()]).all()


def test_merlin_dark_frames_with_one_hot_pixel(lazy):
    """Almost all-zero data: the empty pixels are named, the fit still works."""
    s = load(
        "merlin_4x2_hotpixel_dark/002_merlin_test_roi_sig256x128_nav4x2_hot_pixel_52x_39y.mib",
        lazy=lazy,
    )
    s.calibration.center = None
    # all-zero pixels are a logged note, not a warning
    lr = quick(s, k=1, factor_constraints=[], loading_constraints=[])
    counts = np.asarray(s.data).sum(axis=(0, 1))
    hot = np.unravel_index(np.nanargmax(lr.factors[:, 0]), counts.shape)
    assert hot == np.unravel_index(counts.argmax(), counts.shape) == (88, 52)


def test_merlin_12bit_big_endian_line_scan():
    s = load("merlin_testpattern_12bit/Single_9_Frame_CounterDepth_12_Rows_256.mib")
    assert s.data.dtype == np.dtype(">u2") and s.axes_manager.navigation_dimension == 1
    metadata = copy.deepcopy(s.metadata.as_dictionary())
    s.calibration.center = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zero pixels outside the pattern
        lr = quick(s, k=2)
    assert lr.loadings.shape == (9, 2)
    assert s.data.dtype == np.dtype(">u2")
    assert s.metadata.as_dictionary().keys() == metadata.keys()


def _every_real_file():
    if not REAL.is_dir():
        return []
    suffixes = {".blo", ".mib", ".app5"}
    return sorted(
        str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.suffix in suffixes
    )


@pytest.mark.parametrize("relative", _every_real_file())
def test_every_real_file_load_decompose_cluster_with_the_defaults(relative, lazy):
    """Each file as a user meets it: load, decompose, cluster, defaults only.

    A centre that the file's calibration puts off the pattern is refused with
    the fix in the message; the test applies that fix, as the user would.
    """
    s = load(relative, lazy=lazy)
    before = np.asarray(s.data).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uncalibrated centres, small scans
        try:
            lr = quick(s)
        except ValueError as error:
            assert "s.calibration.center = None" in str(error)
            s.calibration.center = None
            lr = quick(s)
        clusters = s.cluster_components()
    k = lr.factors.shape[1]
    assert k == 2 and np.nanmin(lr.factors) >= 0 and np.nanmin(lr.loadings) >= 0
    assert clusters.labels.shape == (k,)
    np.testing.assert_array_equal(np.asarray(s.data), before)
