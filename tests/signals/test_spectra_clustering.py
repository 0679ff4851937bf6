"""Clustering of spectral components: a 1D similarity, no rotation."""

import hyperspy.api as hs
import numpy as np
import pytest

import hyperspy_cnmf  # noqa: F401 - adds s.cluster_components
from hyperspy_cnmf.signals.clustering import (
    cluster_components,
    get_cluster_components,
)

from .synthetic import as_lazy

E = 500.0 + 0.5 * np.arange(200)  # eV


def peak(centre, sigma=2.0):
    return np.exp(-0.5 * ((E - centre) / sigma) ** 2)


def with_components(spectra, lazy=False):
    """A spectrum image whose learning_results hold the given factors."""
    rng = np.random.default_rng(0)
    k = len(spectra)
    loadings = rng.uniform(0.1, 1, size=(6 * 5, k))
    s = hs.signals.Signal1D((loadings @ np.array(spectra)).reshape(6, 5, -1))
    axis = s.axes_manager.signal_axes[0]
    axis.offset, axis.scale, axis.units = E[0], 0.5, "eV"
    s = as_lazy(s, lazy)
    s.learning_results.factors = np.array(spectra).T
    s.learning_results.loadings = loadings
    return s


def test_cluster_spectra_merges_shifted_copies(lazy):
    spectra = [peak(540) + 0.1, peak(541.5) + 0.1, peak(600) + 0.1]
    s = with_components(spectra, lazy)
    plain = cluster_components(s, n_clusters=2)
    assert plain.params["similarity"] == "cosine"
    assert plain.params["rotation"].startswith("skipped")
    np.testing.assert_array_equal(plain.rotation, 0.0)
    shifted = s.cluster_components(max_shift=2.0)  # eV
    assert shifted.params["max_shift_channels"] == 4
    assert shifted.params["similarity"].startswith("cross-correlation")
    assert shifted.params["shift"][0][1] == -3
    assert shifted.labels[0] == shifted.labels[1] != shifted.labels[2]
    spectra_out, maps = get_cluster_components(s)
    assert isinstance(spectra_out, hs.signals.Signal1D)
    assert spectra_out.data.shape == (2, 200)
    assert spectra_out.axes_manager.signal_axes[0].units == "eV"
    lr = s.learning_results
    np.testing.assert_allclose(
        maps.data[0], (lr.loadings[:, 0] + lr.loadings[:, 1]).reshape(6, 5)
    )


def test_radial_arguments_are_refused_on_spectra(lazy):
    s = with_components([peak(540), peak(600)], lazy)
    with pytest.raises(ValueError, match="only apply to diffraction patterns"):
        cluster_components(s, r_min=3)


def test_decomposed_spectrum_image_clusters(lazy):
    from hyperspy_cnmf.data import simulated_spectrum_image

    s = simulated_spectrum_image("EDS", (8, 8), n_channels=150, random_state=0)
    s = as_lazy(s, lazy)
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=4,
        n_init=2,
        max_iter=30,
        random_state=0,
        print_info=False,
        show_progressbar=False,
    )
    result = s.cluster_components()
    assert result.labels.shape == (4,)
    assert 1 <= result.n_clusters <= 4
    spectra_out, _ = s.get_cluster_components()
    assert spectra_out.data.shape == (result.n_clusters, 150)
