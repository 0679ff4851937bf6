"""Bad input to s.decomposition(algorithm="constrained_nmf"): a clear error
naming the fix, and the signal (data, metadata, previous results) unchanged."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_cnmf.core import GaussianSmoothing, RadialContinuity

from .synthetic import NAV_SHAPE, SIG_SHAPE
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
    return s.as_lazy() if lazy else s


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
            "normalize_poissonian_noise needs nonnegative",
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


def test_same_mask_as_signal_is_accepted():
    s = make_signal()
    nav = np.zeros(NAV_SHAPE, bool)
    nav[0, 0] = True
    run(s, k=2, max_iter=3, navigation_mask=hs.signals.BaseSignal(nav).T)
    assert np.isnan(s.learning_results.loadings[0]).all()
