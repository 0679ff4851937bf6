"""Spectrum images (EELS, EDS): defaults by signal type, Poisson weighting,
masks and exspy-style preparations; every test also runs lazily."""

import json
import logging

import hyperspy.api as hs
import numpy as np
import pytest

import hyperspy_cnmf  # noqa: F401 - enables algorithm="constrained_nmf"
from hyperspy_cnmf.core import SpectralContinuity
from hyperspy_cnmf.data import simulated_spectrum_image
from hyperspy_cnmf.signals.decomposition import spectrum_kind

from .synthetic import FAST, as_lazy


def spectra(kind="EELS", lazy=False, shape=(8, 10), n_channels=150, **kwargs):
    s = simulated_spectrum_image(
        kind, shape, n_channels=n_channels, random_state=0, **kwargs
    )
    return as_lazy(s, lazy)


def run(s, k=3, **kwargs):
    options = {**FAST, **kwargs}
    s.decomposition(algorithm="constrained_nmf", output_dimension=k, **options)
    return s.learning_results


def params(s):
    return json.loads(s.learning_results.cnmf_params)


@pytest.mark.parametrize(
    ("signal_type", "expected"),
    [
        ("EELS", "SpectralContinuity(width=50.0, units='eV'"),
        ("EDS_TEM", "SpectralContinuity(width=1.0, units='keV'"),
        ("EDS_SEM", "SpectralContinuity(width=1.0, units='keV'"),
    ],
)
def test_exspy_signal_types_get_spectral_continuity(signal_type, expected, lazy):
    s = spectra("EELS" if signal_type == "EELS" else "EDS", lazy)
    s.metadata.Signal.signal_type = signal_type
    run(s)
    p = params(s)
    assert len(p["factor_constraints"]) == 1
    assert p["factor_constraints"][0].startswith(expected)
    assert p["loading_constraints"][0].startswith("GaussianSmoothing(")
    assert np.size(s.learning_results.cnmf_center_xy) == 0  # no beam centre
    assert p["pure_phases"] is True  # the host floors taken out of the maps
    floors = s.learning_results.cnmf_map_floors
    assert floors.shape == (3, 3) and (floors >= 0).all()
    assert (np.diag(floors) == 0).all()


def test_pure_phases_false_keeps_the_floors(lazy):
    s = spectra(lazy=lazy)
    run(s, pure_phases=False)
    assert params(s)["pure_phases"] is False
    assert not hasattr(s.learning_results, "cnmf_map_floors")


def test_plain_signal1d_gets_smoothing_only_and_says_so(lazy, caplog):
    s = spectra()
    s.metadata.Signal.signal_type = ""  # before as_lazy picks exspy's class
    s = as_lazy(s, lazy)
    with caplog.at_level(logging.INFO, logger="hyperspy_cnmf"):
        run(s)
    assert params(s)["factor_constraints"] == []
    assert params(s)["loading_constraints"][0].startswith("GaussianSmoothing(")
    assert params(s)["pure_phases"] is False
    assert not hasattr(s.learning_results, "cnmf_map_floors")
    assert "map smoothing only" in caplog.text


def test_explicit_constraints_win_over_the_defaults(lazy):
    s = spectra(lazy=lazy)
    run(s, factor_constraints=[])
    assert params(s)["factor_constraints"] == []
    s = spectra(lazy=lazy)
    s.metadata.Signal.signal_type = ""
    run(s, factor_constraints=[SpectralContinuity(width=20, units="eV")])
    assert params(s)["factor_constraints"][0].startswith("SpectralContinuity(width=20")


def test_uncalibrated_energy_axis_falls_back_to_a_tenth_of_the_range(lazy, caplog):
    s = spectra(lazy=lazy)
    s.axes_manager.signal_axes[0].units = "<undefined>"
    with caplog.at_level(logging.INFO, logger="hyperspy_cnmf"):
        run(s)
    assert params(s)["factor_constraints"][0].startswith(
        "SpectralContinuity(width=None"
    )
    assert "a tenth of its range" in caplog.text


def test_spectrum_kind_by_type_or_class_name():
    s = hs.signals.Signal1D(np.ones((2, 5)))
    assert spectrum_kind(s) is None
    s.metadata.Signal.signal_type = "eels"
    assert spectrum_kind(s) == "EELS"

    class EDSTEMSpectrum(hs.signals.Signal1D):  # exspy's name, no signal_type
        pass

    assert spectrum_kind(EDSTEMSpectrum(np.ones((2, 5)))) == "EDS"
    assert spectrum_kind(hs.signals.Signal2D(np.ones((2, 5, 5)))) is None


def truth_cosines(s):
    """Best-matched spectrum and map cosines to the simulation's truth."""
    from scipy.optimize import linear_sum_assignment

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    sim = s.metadata.Simulation
    factors = np.nan_to_num(s.learning_results.factors.T)
    loadings = np.nan_to_num(s.learning_results.loadings.T)
    spec = unit(sim.spectra) @ unit(factors).T
    maps = unit(sim.maps.reshape(len(sim.maps), -1)) @ unit(loadings).T
    rows, cols = linear_sum_assignment(-spec)
    return spec[rows, cols], maps[rows, cols]


def test_spectral_continuity_improves_the_eels_factors():
    """On the simulated EELS image the default beats nonnegativity only."""
    kwargs = {"n_init": 4, "max_iter": 200, "random_state": 0}
    s = spectra(shape=(16, 16), n_channels=300)
    run(s, **kwargs)
    with_spec, with_maps = truth_cosines(s)
    run(s, factor_constraints=[], **kwargs)
    without_spec, without_maps = truth_cosines(s)
    assert with_spec.min() > without_spec.min() + 0.03
    assert with_maps.min() > without_maps.min()


def test_poisson_weighting_on_spectra(lazy):
    s = spectra("EDS", lazy)
    before = np.array(s.data).copy()
    run(s, normalize_poissonian_noise=True)
    lr = s.learning_results
    np.testing.assert_array_equal(np.array(s.data), before)
    assert lr.poissonian_noise_normalized is True
    assert np.all(lr.factors >= 0) and np.all(lr.loadings >= 0)
    model = lr.loadings @ lr.factors.T
    sim = s.metadata.Simulation
    expected = np.tensordot(sim.maps, sim.spectra, axes=(0, 0)).reshape(model.shape)
    # the model is close to the noiseless truth (the counts are ~30 % noise)
    assert np.linalg.norm(model - expected) / np.linalg.norm(expected) < 0.1


def test_excluded_energy_range_and_vacuum_mask(lazy):
    """A signal mask (an excluded energy range) and a navigation mask built
    from the data (as exspy's vacuum_mask) give NaN there, as in HyperSpy."""
    s = spectra("EDS", lazy)
    energy = s.axes_manager.signal_axes[0].axis
    sig_mask = (energy > 2.0) & (energy < 3.0)
    total = np.array(s.sum(-1).data)
    vacuum = total < np.percentile(total, 10)  # array order (rows, cols)
    run(
        s,
        signal_mask=sig_mask,
        navigation_mask=hs.signals.BaseSignal(vacuum).T,
    )
    lr = s.learning_results
    assert np.isnan(lr.factors[sig_mask]).all()
    assert np.isfinite(lr.factors[~sig_mask]).all()
    # exspy's EDSTEMSpectrum.decomposition (as_lazy picks it where exspy is
    # installed) turns the masked loadings' NaN into 0 after the fit
    exspy_eds_tem = "EDSTEMSpectrum" in type(s).__name__
    masked = lr.loadings[vacuum.ravel()]
    assert (masked == 0).all() if exspy_eds_tem else np.isnan(masked).all()


def test_exspy_style_preparations_before_the_call(lazy):
    """Cropping the energy range, rebinning and subtracting a background
    (clipped at 0) keep a signal the decomposition takes."""
    s = spectra("EELS", lazy, shape=(8, 8), n_channels=300)
    s.crop_signal(500.0, 740.0)
    s = s.rebin(scale=(2, 2, 2))
    s.data = s.data - s.isig[:10].mean(-1).data[..., None]
    s.data = s.data.clip(0) if not lazy else s.data.clip(0, None)
    run(s)
    assert s.learning_results.factors.shape == (120, 3)
    assert params(s)["factor_constraints"][0].startswith("SpectralContinuity(")


@pytest.mark.parametrize("weighted", [True, False])
def test_weighted_counts_get_advice(lazy, caplog, weighted):
    """exspy's EDSTEMSpectrum.decomposition passes
    normalize_poissonian_noise=True; on counts the Poisson likelihood is
    the better fit, and the user is told."""
    s = spectra("EDS")
    s.data = np.round(s.data).astype(np.int64)
    s = as_lazy(s, lazy)
    with caplog.at_level(logging.WARNING, logger="hyperspy_cnmf"):
        run(s, normalize_poissonian_noise=weighted)
    assert ("fits them by the Poisson likelihood" in caplog.text) == weighted
    caplog.clear()
    whole = as_lazy(spectra("EDS"), lazy)  # counts stored as float64, as espm's
    with caplog.at_level(logging.WARNING, logger="hyperspy_cnmf"):
        run(whole, normalize_poissonian_noise=True)
    assert "fits them by the Poisson likelihood" in caplog.text
    caplog.clear()
    scaled = spectra("EDS")
    scaled.data = scaled.data * 0.37  # e.g. gain-normalised: not counts
    with caplog.at_level(logging.WARNING, logger="hyperspy_cnmf"):
        run(as_lazy(scaled, lazy), normalize_poissonian_noise=True)
    assert "Poisson likelihood" not in caplog.text


@pytest.mark.parametrize("kind", ["EELS", "EDS"])
def test_whole_number_float_spectra_are_fitted_as_counts(kind, lazy, caplog):
    """espm writes its EDS counts as float64; they get the Poisson
    likelihood like integer counts, and the log says why."""
    s = spectra(kind, lazy)
    values = np.asarray(s.data)
    assert values.dtype == np.float64 and np.array_equal(values, np.rint(values))
    # our default, given: with exspy installed the lazy EDS signal is exspy's
    # class, whose decomposition passes normalize_poissonian_noise=True
    unweighted = {"normalize_poissonian_noise": False}
    with caplog.at_level(logging.INFO, logger="hyperspy_cnmf"):
        run(s, **unweighted)
    assert params(s)["loss"] == "poisson"
    assert "float spectra are all whole numbers" in caplog.text
    counts = spectra(kind)
    counts.data = counts.data.astype(np.int64)
    run(counts)
    # the same fit (the count kernels sum in another order)
    factors = np.asarray(counts.learning_results.factors)
    np.testing.assert_allclose(
        s.learning_results.factors, factors, atol=1e-4 * factors.max()
    )
    caplog.clear()
    scaled = spectra(kind)
    scaled.data = scaled.data * 0.37
    scaled = as_lazy(scaled, lazy)
    with caplog.at_level(logging.INFO, logger="hyperspy_cnmf"):
        run(scaled, **unweighted)
    assert params(scaled)["loss"] == "frobenius"
    assert "whole numbers" not in caplog.text
