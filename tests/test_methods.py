"""What importing the package adds to signals, and what happens when
HyperSpy moves what it wraps."""

import numpy as np
import pytest

from hyperspy_cnmf import ConstrainedNMF, methods
from hyperspy_cnmf.signals import dispatch

from .signals.synthetic import as_lazy

hs = pytest.importorskip("hyperspy.api")


@pytest.fixture
def hs_signal():
    rng = np.random.default_rng(0)
    s = hs.signals.Signal2D(rng.random((6, 5, 12, 12)))
    for axis in s.axes_manager.signal_axes:  # beam centre at the middle
        axis.offset = -5.5 * axis.scale
    return s


def test_moved_decomposition_is_a_clear_error_naming_version_and_fallback(
    monkeypatch,
):
    from hyperspy._signals.lazy import LazySignal

    monkeypatch.delattr(LazySignal, "decomposition")
    with pytest.raises(dispatch.DispatchError) as error:
        dispatch.install()
    message = str(error.value)
    assert "HyperSpy 2." in message
    assert "LazySignal.decomposition" in message
    assert "algorithm=hyperspy_cnmf.ConstrainedNMF" in message


def test_a_moved_method_warns_at_install_and_the_package_still_works(
    monkeypatch, hs_signal
):
    def moved():
        raise dispatch.DispatchError("HyperSpy 9.9 moved it; use ...")

    monkeypatch.setattr(dispatch, "install", moved)
    with pytest.warns(RuntimeWarning, match="HyperSpy 9.9 moved it"):
        methods.install()
    assert methods.is_installed()  # the rest is still in place


def test_estimator_route_needs_no_patching(hs_signal, lazy):
    """``algorithm=ConstrainedNMF(...)``: HyperSpy's own estimator support."""
    s = as_lazy(hs_signal, lazy)
    before = np.array(s.data).copy()
    s.decomposition(
        algorithm=ConstrainedNMF(3, n_init=2, max_iter=20, random_state=0),
        output_dimension=3,
        print_info=False,
    )
    lr = s.learning_results
    assert lr.factors.shape == (144, 3) and lr.loadings.shape == (30, 3)
    assert np.nanmin(lr.factors) >= 0 and np.nanmin(lr.loadings) >= 0
    np.testing.assert_array_equal(s.data, before)


def test_algorithm_name_is_installed_on_both_signal_classes(hs_signal, lazy):
    s = as_lazy(hs_signal, lazy)
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=2,
        n_init=1,
        max_iter=5,
        print_info=False,
    )
    assert s.learning_results.decomposition_algorithm == "constrained_nmf"


def test_learning_results_summary_tells_the_constrained_fit(hs_signal, lazy):
    s = as_lazy(hs_signal, lazy)
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=2,
        n_init=2,
        max_iter=5,
        center=(5.5, 5.5),
        print_info=False,
    )
    text = str(s.learning_results)
    assert text == s.learning_results.summary()
    assert "Constrained NMF" in text
    assert "factor_constraints=[RadialContinuity(" in text
    assert "beam centre (x, y)=(5.5, 5.5) px" in text
    assert "n_init=2" in text and "mse=" in text
    s.decomposition(algorithm="SVD", output_dimension=2, print_info=False)
    assert "Constrained NMF" not in str(s.learning_results)
