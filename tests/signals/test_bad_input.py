"""Bad input to s.decomposition(algorithm="constrained_nmf"): a clear error
naming the fix, and the signal (data, metadata, previous results) unchanged."""

import json

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_cnmf.core import GaussianSmoothing, RadialContinuity

from .synthetic import NAV_SHAPE, SIG_SHAPE, as_lazy
from .test_signal_decomposition import assert_unchanged, make_signal, run, snapshot


class ZeroAll:
    """A constraint that zeroes everything."""

    def __call__(self, images, context):
        return images * 0


CASES = {
    "no_output_dimension": ({"k": None}, ValueError, "output_dimension must be given"),
    "too_many_components": ({"k": 31}, ValueError, "choose at most 29 components"),
    "centre": ({"centre": "navigation"}, ValueError, "centre='navigation'"),
    "reproject": ({"reproject": "maps"}, ValueError, "reproject"),
    "signal_mask_all": (
        {"signal_mask": np.ones(SIG_SHAPE[::-1], bool)},
        ValueError,
        "hides every",
    ),
    "navigation_mask_all": (
        {"navigation_mask": np.ones(NAV_SHAPE[::-1], bool)},
        ValueError,
        "hides every",
    ),
    "navigation_mask_array_order": (
        {"navigation_mask": np.zeros(NAV_SHAPE, bool)},
        ValueError,
        r"mask\.T",
    ),
    "constraints_name": (
        {"factor_constraints": "paper"},
        ValueError,
        "'factor_constraints' param",
    ),
    "unknown_argument": (
        {"n_iter": 5},
        TypeError,
        "unknown argument.*n_iter.*max_iter",
    ),
    "solver": ({"solver": "hals"}, ValueError, "solver"),
    "center_scalar": ({"center": 8}, ValueError, r"\(x, y\) = \(col, row\)"),
    "center_3": ({"center": (7, 7, 99)}, ValueError, r"\(x, y\) = \(col, row\)"),
    "center_outside": ({"center": (300, 4)}, ValueError, "s.calibration.center = None"),
    "output_dimension_bool": ({"k": True}, ValueError, "positive integer"),
    "output_dimension_float": ({"k": 2.5}, ValueError, "positive integer"),
    "float_mask_half": (
        {"navigation_mask": np.full(NAV_SHAPE[::-1], 0.5)},
        ValueError,
        "other than 0 and 1",
    ),
    "array_order_nav_mask": (
        {"navigation_mask": np.zeros(NAV_SHAPE, bool)},
        ValueError,
        r"mask\.T",
    ),
    "array_order_sig_mask": (
        {"signal_mask": np.zeros(SIG_SHAPE, bool)},
        ValueError,
        r"Signal2D\(mask\)",
    ),
    # issue 19: booleans are not numbers, strings not booleans
    "n_init_bool": ({"n_init": True}, ValueError, "n_init=True is a bool"),
    "max_iter_bool": ({"max_iter": True}, ValueError, "max_iter=True is a bool"),
    "tol_bool": ({"tol": True}, ValueError, "tol=True is a bool"),
    "progressbar_string": (
        {"show_progressbar": "no"},
        ValueError,
        "show_progressbar='no' must be True, False or None",
    ),
    "stream_string": ({"stream": "yes"}, ValueError, "stream='yes' must be"),
    "constraint_class": (
        {"factor_constraints": [RadialContinuity]},
        TypeError,
        r"the class RadialContinuity, not a constraint.*RadialContinuity\(\)",
    ),
    "constraint_class_alone": (
        {"loading_constraints": GaussianSmoothing},
        TypeError,
        r"the class GaussianSmoothing.*GaussianSmoothing\(\)",
    ),
    "probe_in_wrong_units": (
        {"loading_constraints": [GaussianSmoothing(probe_fwhm=2.0, probe_units="m")]},
        ValueError,
        "100 times the scan.*probe_units",
    ),
    "all_dead": (
        {"factor_constraints": [ZeroAll()], "loading_constraints": []},
        ValueError,
        "every component came out zero",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_arguments(case, lazy):
    kwargs, error, match = CASES[case]
    s = make_signal(lazy=lazy)
    run(s, k=2, max_iter=3)  # previous results that must survive
    before = snapshot(s)
    kwargs = dict(kwargs)
    k = kwargs.pop("k", 2)
    with pytest.raises(error, match=match):
        run(s, k=k, **kwargs)
    assert_unchanged(s, before)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GaussianSmoothing(size=4), "positive odd integer"),
        (lambda: GaussianSmoothing(size=0), "positive odd integer"),
        (lambda: GaussianSmoothing(sigma=float("nan")), "finite number"),
        (lambda: GaussianSmoothing(probe_fwhm=0), "> 0"),
        (lambda: RadialContinuity(n_azimuthal=0), "n_azimuthal=0"),
    ],
)
def test_bad_constraint_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _modified(lazy, change):
    s = make_signal()
    change(s)
    return as_lazy(s, lazy)


def _unfold(s):
    s.unfold()


def _complex(s):
    s.data = s.data.astype(np.complex128)


def _big(s):
    s.data = (s.data * 1e19).astype(np.float32)


def _tiny(s):
    s.data = (s.data * 1e-30).astype(np.float32)


def _negative(s):
    s.data[0, 0, 0, 0] = -1.0


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (_unfold, {}, ValueError, r"s\.fold\(\)"),
        (_complex, {}, TypeError, r"abs\(s\)"),
        (_big, {}, ValueError, "overflow.*rescale"),
        (_tiny, {}, ValueError, "underflow.*rescale"),
        (
            _negative,
            {"normalize_poissonian_noise": True},
            ValueError,
            "Negative values",
        ),
    ],
    ids=["unfolded", "complex", "float32-1e19", "float32-1e-30", "poisson-negative"],
)
def test_bad_data(change, kwargs, error, match, lazy):
    if change is _unfold and lazy:
        pytest.skip("unfolding is a non-lazy operation here")
    s = _modified(lazy, change)
    before = snapshot(s)
    with pytest.raises(error, match=match):
        run(s, k=2, **kwargs)
    assert_unchanged(s, before)


def test_same_mask_as_signal_is_accepted(lazy):
    s = make_signal(lazy=lazy)
    nav = np.zeros(NAV_SHAPE, bool)
    nav[0, 0] = True
    run(s, k=2, max_iter=3, navigation_mask=hs.signals.BaseSignal(nav).T)
    assert np.isnan(s.learning_results.loadings[0]).all()


# -- issue 19: inputs that crashed inside or were silently accepted ----------


def test_stream_on_in_memory_signal_is_refused():
    s = make_signal()
    before = snapshot(s)
    with pytest.raises(ValueError, match=r"in memory.*s\.as_lazy\(\)"):
        run(s, k=2, stream=True)
    assert_unchanged(s, before)


def test_big_endian_data_fit_like_native(lazy):
    """Detector files are often big-endian (>f4): fitted in native order,
    the same factors, the signal's data untouched."""
    native = make_signal(lazy=lazy, dtype=np.float32)
    swapped = make_signal(dtype=np.dtype(">f4"))
    swapped = as_lazy(swapped, lazy)
    before = np.array(swapped.data).copy()
    for s in (native, swapped):
        run(s, k=2, max_iter=5)
    assert swapped.data.dtype == np.dtype(">f4")
    np.testing.assert_array_equal(np.array(swapped.data), before)
    np.testing.assert_allclose(
        swapped.learning_results.factors, native.learning_results.factors, atol=1e-6
    )


@pytest.mark.parametrize(
    "seed", [0, np.random.default_rng(0), np.random.RandomState(0)]
)
def test_random_state_kinds_are_recorded_without_address(seed, lazy):
    s = make_signal(lazy=lazy)
    run(s, k=2, max_iter=3, random_state=seed)
    params = s.learning_results.cnmf_params
    assert " at 0x" not in params
    recorded = json.loads(params)["random_state"]
    assert recorded in (0, "Generator(PCG64)", "RandomState(MT19937)")


@pytest.mark.parametrize("damage", ['{"foo": 1}', '{"foo": ', "[1, 2]", b"\xff"])
def test_summary_survives_unknown_or_damaged_params(damage, lazy):
    s = make_signal(lazy=lazy)
    run(s, k=2, max_iter=3)
    s.learning_results.cnmf_params = damage
    text = str(s.learning_results.summary())
    assert "Constrained NMF" in text
    assert "iterations: 3 exact" in text


def test_interrupt_in_elbow_estimate_leaves_previous_results(monkeypatch, lazy):
    """HyperSpy's elbow estimate runs before the results are stored."""
    s = make_signal(lazy=lazy)
    run(s, k=3, max_iter=3)
    before = snapshot(s)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(s), "estimate_elbow_position", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(s, k=3, max_iter=4)
    assert_unchanged(s, before)
    monkeypatch.undo()
    run(s, k=3, max_iter=4)
    assert s.learning_results.number_significant_components is not None


def _masked_signal(scattered=False):
    s = make_signal()
    hidden = np.zeros(s.data.shape, bool)
    hidden[0, 1] = True  # one whole pattern (row 0, col 1 of the scan)
    hidden[:, :, 3, 4] = True  # one whole detector pixel
    if scattered:
        hidden[2, 2, 5, 5] = True
    s.data = np.ma.masked_array(s.data, mask=hidden)
    return s


def test_numpy_masked_array_becomes_masks():
    """(In-memory only: HyperSpy's lazy signals hold dask arrays.)"""
    s = _masked_signal()
    before = (s.data.data.copy(), s.data.mask.copy())
    run(s, k=2, max_iter=3)
    lr = s.learning_results
    assert isinstance(s.data, np.ma.MaskedArray)
    np.testing.assert_array_equal(s.data.data, before[0])
    np.testing.assert_array_equal(s.data.mask, before[1])
    nav_nan = np.isnan(lr.loadings).all(axis=1).reshape(NAV_SHAPE)
    sig_nan = np.isnan(lr.factors).all(axis=1).reshape(SIG_SHAPE)
    assert np.flatnonzero(nav_nan).tolist() == [1]
    assert np.flatnonzero(sig_nan).tolist() == [3 * SIG_SHAPE[1] + 4]
    assert np.isfinite(lr.loadings[~nav_nan.ravel()]).all()


def test_numpy_masked_array_with_scattered_entries_is_refused():
    s = _masked_signal(scattered=True)
    before = snapshot(s)
    with pytest.raises(ValueError, match=r"1 masked entries.*s\.data\.filled\(0\)"):
        run(s, k=2)
    assert_unchanged(s, before)
