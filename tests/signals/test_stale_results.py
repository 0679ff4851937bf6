"""Results written by this package are recognised as a set: once another
decomposition has replaced the factors (patched or not, e.g. in a session
without hyperspy_cnmf imported), the ``cnmf_*`` and ``cnmf_cluster_*`` keys
are removed before any reuse, with a clear message (issue 19)."""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest

import hyperspy_cnmf
from hyperspy_cnmf.signals.results import FINGERPRINT, drop_stale, is_current

from .test_signal_decomposition import make_signal, run


def _unpatched_svd(s):
    """HyperSpy's own decomposition, as without hyperspy_cnmf imported."""
    from hyperspy._signals.lazy import LazySignal
    from hyperspy.learn._mva import MVA

    cls = LazySignal if s._lazy else MVA
    original = cls.__dict__["decomposition"]._hyperspy_cnmf_original
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original(s, algorithm="SVD", output_dimension=3, print_info=False)


def _fit_and_cluster(lazy):
    s = make_signal(lazy=lazy)
    run(s, center=(12.0, 7.0))  # (x, y): not the calibrated (11, 6)
    s.cluster_components()
    return s


def _keys(s, prefix="cnmf_"):
    return sorted(k for k in vars(s.learning_results) if k.startswith(prefix))


def test_fingerprint_is_stored_and_survives_save(tmp_path, lazy):
    s = make_signal(lazy=lazy)
    run(s)
    assert is_current(s.learning_results)
    assert len(getattr(s.learning_results, FINGERPRINT)) == 64
    s.save(tmp_path / "s.hspy")
    t = hs.load(tmp_path / "s.hspy")
    assert is_current(t.learning_results)
    assert drop_stale(t.learning_results) == []


def test_unpatched_decomposition_makes_the_set_stale(lazy, capsys):
    s = _fit_and_cluster(lazy)
    _unpatched_svd(s)
    lr = s.learning_results
    assert _keys(s)  # left behind by HyperSpy's own call
    assert not is_current(lr)
    # the summary no longer tells the constrained fit's story
    assert "Constrained NMF" not in str(lr.summary())
    # the stale clustering is refused, by name, and the whole set removed
    with pytest.raises(RuntimeError, match="earlier decomposition.*removed"):
        hyperspy_cnmf.plot_similarity_matrices(s)
    assert _keys(s) == []


def test_stale_fit_record_is_refused(lazy):
    s = make_signal(lazy=lazy)
    run(s)
    _unpatched_svd(s)
    with pytest.raises(ValueError, match="earlier decomposition.*removed"):
        hyperspy_cnmf.signals.results.fit_history(s.learning_results)
    assert _keys(s) == []


def test_cluster_components_ignores_a_stale_centre(lazy):
    s = _fit_and_cluster(lazy)
    assert s.learning_results.cnmf_cluster_params.count("[12.0, 7.0]") == 1  # x, y
    _unpatched_svd(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = s.cluster_components()
    np.testing.assert_allclose(result.params["center_xy"], [11.0, 6.0])  # calibrated
    assert not hasattr(s.learning_results, "cnmf_center_xy")
    assert result.params["decomposition_algorithm"] == "SVD"


def test_changed_factors_are_stale(lazy):
    s = make_signal(lazy=lazy)
    run(s)
    s.learning_results.factors = s.learning_results.factors * 2.0
    removed = drop_stale(s.learning_results)
    assert "cnmf_mse" in removed and FINGERPRINT in removed
    assert _keys(s) == []
