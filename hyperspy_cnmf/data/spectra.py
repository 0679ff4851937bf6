"""Simulated EELS and EDS spectrum images with ground truth.

Small, fast stand-ins for the exspy signals the constrained NMF meets on
spectra, with the two features that make NMF of spectra ill-posed: a
continuum (power-law background, bremsstrahlung) shared by every phase,
and peaks of one phase where the others have none (where plain NMF puts
its "reverse peaks").

* :func:`simulate_spectrum_image_arrays` -- pure numpy (no HyperSpy
  import): a :class:`SimulatedSpectra` with the counts, the phase spectra
  and maps;
* :func:`simulated_spectrum_image` -- the same as a calibrated
  ``Signal1D`` whose ``metadata.Signal.signal_type`` is ``"EELS"`` or
  ``"EDS_TEM"`` (``s.set_signal_type(...)`` turns it into the exspy class
  where exspy is installed), the truth under ``s.metadata.Simulation``.

The EELS case follows issue 21's example: an oxide matrix with an O K edge,
a Mn oxide with Mn L2,3 white lines, an Fe grain with Fe L2,3 white lines,
each on the same power-law background. The EDS case: a Si oxide matrix, an
Fe-rich and a Cu-rich particle on a Kramers bremsstrahlung. Maps are smooth
and overlapping (the particles are discs with soft edges inside the matrix,
the fractions sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SimulatedSpectra",
    "simulate_spectrum_image_arrays",
    "simulated_spectrum_image",
]

# (name, [(centre, height relative to the continuum at the centre, sigma)],
#  [(edge onset, jump relative to the continuum, width)]) per phase.
_EELS_PHASES = (
    ("oxide matrix", [(537.0, 0.8, 3.0)], [(532.0, 0.6, 2.0)]),
    (
        "Mn oxide",
        [(537.0, 0.5, 3.0), (640.0, 3.0, 1.8), (651.0, 1.6, 1.8)],
        [(532.0, 0.35, 2.0), (640.0, 0.5, 2.0)],
    ),
    (
        "Fe grain",
        [(708.0, 3.0, 1.8), (721.0, 1.5, 1.8)],
        [(708.0, 0.5, 2.0)],
    ),
)
# (name, [(line energy keV, relative height)]) per phase.
_EDS_PHASES = (
    ("SiO2 matrix", [(1.740, 6.0), (0.525, 4.0)]),
    ("Fe particle", [(6.404, 10.0), (7.058, 1.5), (0.705, 2.0), (0.525, 1.0)]),
    ("Cu particle", [(8.048, 10.0), (8.905, 1.5), (0.930, 2.0)]),
)


@dataclass
class SimulatedSpectra:
    """A simulated spectrum image and its ground truth.

    Attributes
    ----------
    data : ndarray, shape ``(*navigation_shape, n_channels)``
        Counts (float64 holding integers) or the noiseless expectation.
    energy : ndarray, shape (n_channels,)
        Channel energies in ``units``.
    units : str
        ``"eV"`` (EELS) or ``"keV"`` (EDS).
    spectra : ndarray, shape (n_phases, n_channels)
        Phase spectra (expected counts per unit fraction), continuum
        included.
    maps : ndarray, shape ``(n_phases, *navigation_shape)``
        Phase fractions, summing to 1 at each position.
    names : tuple of str
    kind : str
        ``"EELS"`` or ``"EDS"``.
    """

    data: np.ndarray
    energy: np.ndarray
    units: str
    spectra: np.ndarray
    maps: np.ndarray
    names: tuple
    kind: str


def _gaussian(x, centre, sigma):
    return np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def _step(x, onset, width):
    """A smooth edge onset decaying as a power law above it."""
    rise = 0.5 + np.arctan((x - onset) / width) / np.pi
    return rise * np.clip(x / onset, 1.0, None) ** -1.5


def _disc_maps(navigation_shape, n_particles, rng):
    rows, cols = navigation_shape
    r, c = np.mgrid[0:rows, 0:cols]
    maps = []
    for i in range(n_particles):
        cr = rows * (0.3 + 0.4 * i / max(n_particles - 1, 1)) + rng.uniform(-1, 1)
        cc = cols * (0.3 + 0.4 * ((i + 1) % 2)) + rng.uniform(-1, 1)
        radius = 0.22 * min(rows, cols)
        d = np.hypot(r - cr, c - cc)
        maps.append(0.9 / (1 + np.exp((d - radius) / (0.08 * min(rows, cols)))))
    maps = np.array(maps)
    total = maps.sum(axis=0)
    over = np.maximum(total, 0.9) / 0.9  # particles overlap: share 0.9 at most
    maps /= over
    return np.concatenate([(1 - maps.sum(axis=0))[None], maps])


def simulate_spectrum_image_arrays(
    kind="EELS",
    navigation_shape=(24, 24),
    n_channels=None,
    counts=2000.0,
    noise=True,
    random_state=None,
) -> SimulatedSpectra:
    """A simulated EELS or EDS spectrum image as numpy arrays.

    Parameters
    ----------
    kind : {"EELS", "EDS"}
    navigation_shape : (int, int)
        Scan shape in array order.
    n_channels : int, optional
        Energy channels; default 600 (EELS, 450-750 eV at 0.5 eV) or 500
        (EDS, 0.2-10.2 keV at 20 eV). Fewer channels cover the same range
        more coarsely.
    counts : float, default 2000
        Mean total counts per spectrum.
    noise : bool, default True
        Poisson-sample the expected counts.
    random_state : int or Generator, optional

    Returns
    -------
    SimulatedSpectra
    """
    rng = np.random.default_rng(random_state)
    if kind == "EELS":
        n = 600 if n_channels is None else int(n_channels)
        energy = np.linspace(450.0, 750.0, n, endpoint=False)
        units = "eV"
        continuum = (energy / energy[0]) ** -3.0
        spectra = []
        for _, peaks, edges in _EELS_PHASES:
            spectrum = continuum.copy()
            for onset, jump, width in edges:
                base = (onset / energy[0]) ** -3.0
                spectrum += jump * base * _step(energy, onset, width)
            for centre, height, sigma in peaks:
                base = (centre / energy[0]) ** -3.0
                spectrum += height * base * _gaussian(energy, centre, sigma)
            spectra.append(spectrum)
        names = tuple(p[0] for p in _EELS_PHASES)
    elif kind == "EDS":
        n = 500 if n_channels is None else int(n_channels)
        energy = np.linspace(0.2, 10.2, n, endpoint=False)
        units = "keV"
        e0 = 20.0  # keV beam energy (Kramers' law), low-energy absorption
        continuum = (e0 - energy) / energy * (1 - np.exp(-((energy / 1.2) ** 3)))
        continuum /= continuum.max()
        spectra = []
        for _, lines in _EDS_PHASES:
            spectrum = 0.3 * continuum.copy()
            for centre, height in lines:
                fwhm = np.sqrt(0.130**2 + 2.5e-3 * 3.85e-3 * (centre - 5.9))
                sigma = max(fwhm, 0.05) / 2.3548
                spectrum += 0.1 * height * _gaussian(energy, centre, sigma)
            spectra.append(spectrum)
        names = tuple(p[0] for p in _EDS_PHASES)
    else:
        raise ValueError(f"kind={kind!r} must be 'EELS' or 'EDS'")
    spectra = np.array(spectra)
    spectra *= counts / spectra.sum(axis=1, keepdims=True)
    maps = _disc_maps(tuple(navigation_shape), len(spectra) - 1, rng)
    expected = np.tensordot(maps, spectra, axes=(0, 0))
    data = rng.poisson(expected).astype(np.float64) if noise else expected
    return SimulatedSpectra(data, energy, units, spectra, maps, names, kind)


def simulated_spectrum_image(kind="EELS", navigation_shape=(24, 24), **kwargs):
    """A simulated EELS or EDS spectrum image as a calibrated ``Signal1D``.

    Same parameters as :func:`simulate_spectrum_image_arrays`. The energy
    axis is calibrated (eV for EELS, keV for EDS), the scan axes in nm, and
    ``metadata.Signal.signal_type`` is ``"EELS"`` or ``"EDS_TEM"`` (exspy's
    names: with exspy installed, ``s.set_signal_type(s.metadata.Signal.
    signal_type)`` gives its ``EELSSpectrum`` / ``EDSTEMSpectrum``). The
    truth is under ``s.metadata.Simulation``: ``spectra``, ``maps``,
    ``names``.
    """
    import hyperspy.api as hs

    sim = simulate_spectrum_image_arrays(kind, navigation_shape, **kwargs)
    s = hs.signals.Signal1D(sim.data)
    energy_axis = s.axes_manager.signal_axes[0]
    energy_axis.name = "Energy loss" if kind == "EELS" else "Energy"
    energy_axis.units = sim.units
    energy_axis.offset = float(sim.energy[0])
    energy_axis.scale = float(sim.energy[1] - sim.energy[0])
    for axis, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=False):
        axis.name, axis.units, axis.scale = name, "nm", 1.0
    s.metadata.Signal.signal_type = "EELS" if kind == "EELS" else "EDS_TEM"
    s.metadata.General.title = f"Simulated {kind} spectrum image"
    s.metadata.set_item("Simulation.spectra", sim.spectra)
    s.metadata.set_item("Simulation.maps", sim.maps)
    s.metadata.set_item("Simulation.names", list(sim.names))
    return s
