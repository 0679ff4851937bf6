"""spectral_similarity: the 1D similarity used to cluster spectral components."""

import numpy as np
import pytest

from hyperspy_cnmf.core.similarity import spectral_similarity

E = 500.0 + 0.5 * np.arange(200)  # eV


def peak(centre, sigma=2.0):
    return np.exp(-0.5 * ((E - centre) / sigma) ** 2)


def test_spectral_similarity_cosine_and_shifts():
    spectra = np.stack([peak(540) + 0.1, peak(541.5) + 0.1, peak(580) + 0.1])
    sim, shift = spectral_similarity(spectra)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    np.testing.assert_allclose(sim, sim.T)
    assert (shift == 0).all()
    cos01 = sim[0, 1]
    sim, shift = spectral_similarity(spectra, max_shift=5)
    assert sim[0, 1] > 0.995 > cos01 + 0.05
    assert shift[0, 1] == -3 and shift[1, 0] == 3  # 1.5 eV = 3 channels
    assert sim[0, 2] < 0.9 and (sim <= 1).all()


def test_spectral_similarity_bad_input():
    with pytest.raises(ValueError, match="1D spectra stacked"):
        spectral_similarity(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="max_shift=-1"):
        spectral_similarity(np.ones((2, 5)), max_shift=-1)
    with pytest.raises(ValueError, match="mask has shape"):
        spectral_similarity(np.ones((2, 5)), mask=np.zeros(4, bool))
