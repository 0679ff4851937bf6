"""loss="poisson" on signals: stored results, summary, refused combinations."""

import json

import numpy as np
import pytest

import hyperspy_cnmf  # noqa: F401  (enables the algorithm name)
from hyperspy_cnmf.signals.results import fit_summary

from .synthetic import FAST, as_lazy, make_signal


@pytest.fixture
def counts_signal(lazy):
    s = make_signal(lazy=False)
    s.data = np.random.default_rng(0).poisson(s.data * 3).astype(np.uint16)
    return as_lazy(s, lazy)


def test_poisson_loss_is_stored_and_summarised(counts_signal):
    before = counts_signal.data.copy()
    counts_signal.decomposition(
        algorithm="constrained_nmf", output_dimension=3, loss="poisson", **FAST
    )
    lr = counts_signal.learning_results
    assert json.loads(lr.cnmf_params)["loss"] == "poisson"
    deviance = lr.cnmf_poisson_deviance_history
    assert deviance.shape == lr.cnmf_mse_history.shape
    assert np.isfinite(deviance[-1]) and lr.cnmf_poisson_deviance > 0
    assert lr.cnmf_poisson_deviance == pytest.approx(np.nanmin(deviance))
    summary = fit_summary(lr)
    assert "loss=poisson" in summary and "Poisson deviance" in summary
    np.testing.assert_array_equal(np.asarray(counts_signal.data), before)


def test_loss_auto_is_poisson_on_counts_and_frobenius_on_floats(counts_signal):
    counts_signal.decomposition(algorithm="constrained_nmf", output_dimension=3, **FAST)
    assert json.loads(counts_signal.learning_results.cnmf_params)["loss"] == "poisson"
    floats = counts_signal.deepcopy()
    floats.data = floats.data.astype(np.float32)
    floats.decomposition(algorithm="constrained_nmf", output_dimension=3, **FAST)
    lr = floats.learning_results
    assert json.loads(lr.cnmf_params)["loss"] == "frobenius"
    assert not hasattr(lr, "cnmf_poisson_deviance")
    assert "loss=frobenius" in fit_summary(lr)


def test_poisson_loss_refuses_poissonian_normalisation(counts_signal):
    with pytest.raises(ValueError, match="loss='poisson' alone"):
        counts_signal.decomposition(
            algorithm="constrained_nmf",
            output_dimension=3,
            loss="poisson",
            normalize_poissonian_noise=True,
            **FAST,
        )
    assert counts_signal.learning_results.factors is None
