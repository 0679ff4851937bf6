"""Example data with ground truth.

* :func:`simulated_4dstem` -- the simulated 4D-STEM data set of Kimoto et al.
  (Sci. Rep. 2025, Fig. 10) as a calibrated pyxem ``ElectronDiffraction2D``
  with the truth in ``s.metadata.Simulation``;
* :func:`simulate_4dstem_arrays` -- the same as plain numpy arrays
  (:class:`SimulatedData`), without importing HyperSpy;
* :func:`realistic_4dstem` and :func:`simulate_realistic_arrays`
  (:class:`RealisticData`) -- realistic data: multislice (abTEM) CBED
  patterns of crystal grains of chosen fractions, one phase at two
  rotations and a minor grain, in a glass whose speckle differs at every
  position, at a chosen dose (counts per pattern outside the masked,
  off-centre direct beam), uint16 Poisson counts; ``**FAST`` is the small
  variant for tests.
* :func:`simulated_spectrum_image` -- a simulated EELS or EDS spectrum image
  (shared continuum, phase-specific peaks and edges) as a calibrated
  ``Signal1D`` with exspy's ``signal_type``, and
  :func:`simulate_spectrum_image_arrays`, the same as numpy arrays.
"""

from hyperspy_cnmf.data.realistic import (
    FAST,
    RealisticData,
    realistic_4dstem,
    simulate_realistic_arrays,
)
from hyperspy_cnmf.data.simulated import (
    SimulatedData,
    simulate_4dstem_arrays,
    simulated_4dstem,
)
from hyperspy_cnmf.data.spectra import (
    SimulatedSpectra,
    simulate_spectrum_image_arrays,
    simulated_spectrum_image,
)

__all__ = [
    "FAST",
    "RealisticData",
    "SimulatedData",
    "SimulatedSpectra",
    "realistic_4dstem",
    "simulate_4dstem_arrays",
    "simulate_realistic_arrays",
    "simulate_spectrum_image_arrays",
    "simulated_4dstem",
    "simulated_spectrum_image",
]
