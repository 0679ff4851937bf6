"""The same defaults on exspy's own classes (skipped without exspy, which
is not a test dependency: the signal-type tests in test_spectra.py set
``metadata.Signal.signal_type`` on plain signals instead)."""

import numpy as np
import pytest

exspy = pytest.importorskip("exspy")

import hyperspy_cnmf  # noqa: E402, F401
from hyperspy_cnmf.data import simulated_spectrum_image  # noqa: E402

from .synthetic import as_lazy  # noqa: E402

FAST = {
    "n_init": 2,
    "max_iter": 30,
    "random_state": 0,
    "print_info": False,
    "show_progressbar": False,
}


def test_edstem_decomposition_passes_poisson_and_vacuum_mask(lazy):
    s = simulated_spectrum_image("EDS", (10, 12), n_channels=150, random_state=0)
    s.set_signal_type("EDS_TEM")
    s.data[:2] = 0  # two rows of vacuum
    s = as_lazy(s, lazy)
    assert type(s).__name__.endswith("EDSTEMSpectrum")
    s.decomposition(algorithm="constrained_nmf", output_dimension=3, **FAST)
    lr = s.learning_results
    assert lr.poissonian_noise_normalized is True  # EDSTEM's default
    assert int(np.asarray(lr.navigation_mask).sum()) == 24  # vacuum_mask()
    assert "SpectralContinuity(width=1.0" in str(lr.cnmf_factor_constraints)


def test_eels_mnfe_after_remove_background(lazy):
    s = exspy.data.EELS_MnFe(navigation_shape=(20,), random_state=0)
    s.remove_background(signal_range=(410.0, 600.0), fast=True)
    s.data = s.data.clip(0)
    s = as_lazy(s, lazy)
    s.decomposition(algorithm="constrained_nmf", output_dimension=2, **FAST)
    lr = s.learning_results
    assert "SpectralContinuity(width=50.0" in str(lr.cnmf_factor_constraints)
    assert lr.factors.shape == (1600, 2)
