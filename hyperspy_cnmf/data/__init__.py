"""Example data with ground truth.

* :func:`simulated_4dstem` -- the simulated 4D-STEM data set of Kimoto et al.
  (Sci. Rep. 2025, Fig. 10) as a calibrated pyxem ``ElectronDiffraction2D``
  with the truth in ``s.metadata.Simulation``;
* :func:`simulate_4dstem_arrays` -- the same as plain numpy arrays
  (:class:`SimulatedData`), without importing HyperSpy.
"""

from hyperspy_cnmf.data.simulated import (
    SimulatedData,
    simulate_4dstem_arrays,
    simulated_4dstem,
)

__all__ = ["SimulatedData", "simulate_4dstem_arrays", "simulated_4dstem"]
