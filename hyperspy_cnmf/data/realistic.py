"""Realistic 4D-STEM data with ground truth: dynamical crystals in a glass.

Built the way an experiment looks, for the phases that are hard to find: a
minor grain of a few per cent, low doses, a phase at two rotations.

* Crystals: convergent-beam (CBED) patterns computed once by multislice
  with abTEM (``tools/make_realistic_library.py``; 200 kV, convergence
  semi-angle 3.5 mrad, Lobato potentials, 2 A slices, 6 frozen-phonon
  configurations): Si [110] 20 nm, Au [001] 10 nm and hcp Mg [0001] 20 nm.
  They hold dynamical disk intensities (not kinematic), thermal diffuse
  scattering (TDS) between the disks and Kikuchi-like bands, and high-angle
  intensity out to the detector's corners (113 mrad): mostly TDS, since the
  high-order Laue zone (HOLZ) reflections, which the 3D multislice includes
  (first rings expected at 98-111 mrad), are weak at these thicknesses and
  form no distinct ring. The library (``realistic_library.npz``, 0.7 MB) is
  package data: abTEM is not needed at run time. In-plane rotations rotate
  a library pattern about the optical axis by linear interpolation
  (:func:`scipy.ndimage.map_coordinates`), integrated over each detector
  pixel.
* Glass: at every probe position its own speckle pattern,
  ``|FT(P(r - r_p) exp(i phi(r)))|^2``, the phase-object exit wave of a
  probe ``P`` (the same 3.5 mrad aperture) through one random amorphous
  phase ``phi`` that spans the whole scan (so neighbouring positions, closer
  than the probe size, share part of their speckle), averaged over
  ``glass_looks`` independent layers (partial coherence and thickness lower
  the speckle contrast to ``1 / sqrt(glass_looks)``). ``phi`` is a Gaussian
  random field whose power spectrum is ``f(s)^2 S(s)``: a screened-Coulomb
  electron scattering factor with a Debye-Waller factor, times the
  Percus-Yevick hard-sphere structure factor of a dense metallic glass
  (first ring near ``q = 2.7 / A``, 10.8 mrad). So the glass part of the
  data is *not* low rank; its truth is its map-weighted mean pattern.
* Layout: grains of chosen area fractions (largest first, each an ellipse
  of random orientation and aspect ratio grown in the free space farthest
  from the others, cut by the scan edge like a real field of view) in a
  glass matrix. A grain fills ``grain_fill`` of the thickness in its core
  (the rest is glass, above or below it) and has a graded edge (Gaussian,
  ``edge_sigma`` scan pixels). Fractions sum to 1 at every position.
* Detector: every position receives the same number of electrons ``N0``;
  ``N0`` is set so that the mean count per pattern *outside the masked
  direct beam* is ``dose``. The beam centre is off the detector middle
  (``center_offset``); the direct-beam disk is masked (``mask``, True =
  excluded, HyperSpy's convention). Counts are Poisson, uint16.

The pattern at scan position ``x`` (electrons per incident electron) is
``D_x = m_0(x) g_x + sum_c m_c(x) P_c`` with ``g_x`` the glass speckle there,
``P_c`` the crystal patterns and ``m`` the fractions; the data are
``Poisson(N0 D_x)``. The truth reports unit-sum patterns (the glass one is
``sum_x m_0(x) g_x / sum_x m_0(x)``), the fractions as maps and, for each
component, the share of its electrons that land on the detector
(``detector_fraction``), so that ``N0 * (maps * detector_fraction) @
patterns`` is the data's expectation up to the glass speckle, whose
map-weighted mean is zero.

What the model leaves out (it is the linear mixing model that NMF assumes,
with realistic patterns): multiple scattering *between* a grain and the
glass above or below it (the two patterns add incoherently); thickness and
bending variations inside a grain (one pattern per grain); small mistilts;
descan (the beam centre is fixed); probe aberrations, partial spatial
coherence beyond the ``glass_looks`` average, and energy spread; inelastic
(plasmon) scattering and its diffuse background; detector point-spread
function, gain variations, dead pixels and read noise (counts are ideal
Poisson); the glass's scattering beyond the detector edge (the FFT grid
ends there; its power spectrum is tapered to zero at the edge).

Two entry points, as in :mod:`hyperspy_cnmf.data.simulated`:

* :func:`simulate_realistic_arrays` -- numpy/scipy only (no HyperSpy
  import), a :class:`RealisticData`;
* :func:`realistic_4dstem` -- a calibrated pyxem ``ElectronDiffraction2D``
  with the beam centre and the direct-beam mask in ``s.calibration`` and
  the truth under ``s.metadata.Simulation`` (keys as in
  :func:`~hyperspy_cnmf.data.simulated.simulated_4dstem`, so
  :func:`hyperspy_cnmf.scoring.score_decomposition` works on it).

Sizes: the defaults (48 x 48 scan, 128 x 128 detector, 1.25 mrad per
pixel) are the benchmark size, about 2.5 s of CPU to build; ``**FAST``
(24 x 24, 64 x 64 over the same angles) builds in about 0.25 s for tests.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import fft as sp_fft
from scipy.ndimage import distance_transform_edt, gaussian_filter, map_coordinates

from .simulated import ScanArrays, _poisson_arrivals_inplace, calibrated_diffraction

__all__ = [
    "DEFAULT_PHASES",
    "FAST",
    "RealisticData",
    "glass_power_spectrum",
    "grain_maps",
    "library_pattern",
    "load_library",
    "realistic_4dstem",
    "simulate_realistic_arrays",
]

#: The multislice library shipped with the package.
LIBRARY_PATH = Path(__file__).with_name("realistic_library.npz")

#: Default grains: (library phase, in-plane rotations in degrees, area
#: fraction of the scan of each rotation's grain). A 30 % Si [110] grain,
#: Au [001] at two rotations 30 degrees apart (10 % each) and a 4 % minor
#: grain of hcp Mg [0001] (a weak scatterer).
DEFAULT_PHASES = (
    ("Si", (0.0,), (0.30,)),
    ("Au", (10.0, 40.0), (0.10, 0.10)),
    ("Mg", (20.0,), (0.04,)),
)

#: The fast variant for tests: ``simulate_realistic_arrays(**FAST)``.
FAST = {"navigation_shape": (24, 24), "signal_shape": (64, 64)}

_WAVELENGTH_200KV = 0.025079  # A, relativistic electron wavelength at 200 kV


# --------------------------------------------------------------------------
# The multislice library
# --------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _load_library(path: str):
    with np.load(path) as f:
        patterns = f["patterns"].astype(np.float64) * f["scale"][:, None, None]
        lib = {
            "patterns": patterns / patterns.sum(axis=(1, 2), keepdims=True),
            "names": tuple(str(n) for n in f["names"]),
            "zone_axes": tuple(str(z) for z in f["zone_axes"]),
            "thickness": tuple(float(t) for t in f["thickness"]),
            "mrad_per_px": float(f["mrad_per_px"]),
            "semiangle": float(f["semiangle"]),
            "energy": float(f["energy"]),
        }
    lib["patterns"].setflags(write=False)
    return lib


def load_library(path=None) -> dict:
    """The multislice CBED library as a dict (read-only arrays, cached).

    Keys: ``patterns`` ``(n_phases, n, n)`` float64, unit sum each, centred
    at ``((n - 1) / 2, (n - 1) / 2)``; ``names`` (``'Si'``, ``'Au'``,
    ``'Mg'``); ``zone_axes``; ``thickness`` (A); ``mrad_per_px``;
    ``semiangle`` (mrad); ``energy`` (eV).
    """
    return _load_library(str(LIBRARY_PATH if path is None else path))


def _phase_index(lib, name):
    if name not in lib["names"]:
        raise ValueError(
            f"unknown phase {name!r}; the library holds {list(lib['names'])}"
        )
    return lib["names"].index(name)


def library_pattern(
    name: str,
    signal_shape=(128, 128),
    *,
    rotation: float = 0.0,
    center=None,
    mrad_per_px: float = 1.25,
    library=None,
) -> np.ndarray:
    """A library CBED pattern on a detector: rotated, shifted, pixel-integrated.

    Parameters
    ----------
    name : str
        Library phase (``'Si'``, ``'Au'`` or ``'Mg'``).
    signal_shape : (int, int)
        Detector ``(rows, cols)``.
    rotation : float
        In-plane rotation in degrees, counter-clockwise in ``(x=col, y=row)``
        (as :func:`~hyperspy_cnmf.data.simulated.lattice_vectors`), about
        the beam centre.
    center : (float, float), optional
        Beam centre ``(row, col)`` in pixels; default the middle.
    mrad_per_px : float
        Detector pixel size (mrad).
    library : dict, optional
        From :func:`load_library`; default the packaged one.

    Returns
    -------
    numpy.ndarray
        float64 ``signal_shape``: the share of the incident electrons in
        each pixel (the sum is below 1 by what falls off the detector).
    """
    lib = load_library() if library is None else library
    lib_pattern = lib["patterns"][_phase_index(lib, name)]
    rows, cols = (int(n) for n in signal_shape)
    if center is None:
        center = ((rows - 1) / 2.0, (cols - 1) / 2.0)
    lib_scale = lib["mrad_per_px"]
    ss = max(1, math.ceil(mrad_per_px / lib_scale - 1e-9))
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    # supersampled angles (mrad) of the detector pixels, relative to the beam
    y = ((np.arange(rows)[:, None] + sub) - center[0]).reshape(-1) * mrad_per_px
    x = ((np.arange(cols)[:, None] + sub) - center[1]).reshape(-1) * mrad_per_px
    yy, xx = np.meshgrid(y, x, indexing="ij")
    theta = math.radians(rotation)
    c, s = math.cos(theta), math.sin(theta)
    # the pattern rotated by +theta: sample the library at R(-theta) v
    x_lib = c * xx + s * yy
    y_lib = -s * xx + c * yy
    mid = (lib_pattern.shape[0] - 1) / 2.0
    coords = [y_lib / lib_scale + mid, x_lib / lib_scale + mid]
    density = map_coordinates(lib_pattern, coords, order=1, mode="constant")
    density = np.clip(density, 0.0, None).reshape(rows, ss, cols, ss)
    # mean density (per library pixel) times the detector pixel area
    return density.mean(axis=(1, 3)) * (mrad_per_px / lib_scale) ** 2


# --------------------------------------------------------------------------
# The glass
# --------------------------------------------------------------------------


def _percus_yevick(q_sigma, packing):
    """Percus-Yevick hard-sphere structure factor S(q) at ``x = q * diameter``."""
    eta = packing
    a = (1 + 2 * eta) ** 2 / (1 - eta) ** 4
    b = -6 * eta * (1 + eta / 2) ** 2 / (1 - eta) ** 4
    g = eta * a / 2
    x = np.maximum(np.asarray(q_sigma, dtype=np.float64), 1e-3)
    sx, cx = np.sin(x), np.cos(x)
    nc = (
        -24
        * eta
        / x**6
        * (
            a * x**3 * (sx - x * cx)
            + b * x**2 * (2 * x * sx - (x**2 - 2) * cx - 2)
            + g * ((4 * x**3 - 24 * x) * sx - (x**4 - 12 * x**2 + 24) * cx + 24)
        )
    )
    return 1.0 / (1.0 - nc)


def glass_power_spectrum(
    s, *, diameter=2.6, packing=0.5, screening=0.5, debye_waller=0.5
) -> np.ndarray:
    """Power spectrum ``f(s)^2 S(s)`` of the glass's random phase.

    Parameters
    ----------
    s : array_like
        Scattering vector magnitude ``s = theta / lambda`` (1/A; ``q = 2 pi s``).
    diameter : float
        Hard-sphere diameter (A) of the Percus-Yevick structure factor; the
        first peak of ``S`` is at ``q ~ 7 / diameter``.
    packing : float
        Packing fraction (0.5: a dense liquid or metallic glass).
    screening : float
        ``s0`` (1/A) of the screened-Coulomb scattering factor
        ``f(s) = 1 / (1 + (s / s0)^2)``.
    debye_waller : float
        ``B`` (A^2) of the Debye-Waller factor ``exp(-B s^2 / 2)`` on ``f``.
    """
    s = np.asarray(s, dtype=np.float64)
    f = np.exp(-0.5 * debye_waller * s**2) / (1.0 + (s / screening) ** 2)
    return f**2 * _percus_yevick(2 * np.pi * s * diameter, packing)


def _aperture(k, k_alpha, dk):
    """Probe-forming aperture: a disk of radius ``k_alpha``, 1-px soft edge."""
    return np.clip((k_alpha - k) / dk + 0.5, 0.0, 1.0)


def _glass_patterns(
    nav_shape,
    sig_shape,
    center,
    *,
    mrad_per_px,
    semiangle,
    scan_step,
    phase_rms,
    looks,
    spectrum_kwargs,
    rng,
):
    """Speckle pattern at every scan position, ``(n_nav, rows, cols)`` float32.

    Each pattern sums to 1 over the square FFT grid that holds the detector
    (the electrons that leave the detector are lost, as in the crystals).
    """
    rows, cols = sig_shape
    m = max(rows, cols) + (max(rows, cols) % 2)
    wavelength = _WAVELENGTH_200KV
    dk = mrad_per_px * 1e-3 / wavelength  # 1/A per detector pixel
    dx = 1.0 / (m * dk)  # A per real-space sample
    step_px = max(1, int(round(scan_step / dx)))
    ny = (nav_shape[0] - 1) * step_px + m
    nx = (nav_shape[1] - 1) * step_px + m
    # the probe, shifted in k by the beam centre's offset from the FFT centre
    kk = sp_fft.fftfreq(m, d=dx)
    k = np.hypot(kk[:, None], kk[None, :])
    aperture = _aperture(k, semiangle * 1e-3 / wavelength, dk)
    probe = sp_fft.fftshift(sp_fft.ifft2(aperture))  # centred in the window
    probe /= np.sqrt((np.abs(probe) ** 2).sum())
    # crop of the fftshifted m x m pattern that is the detector; the zero
    # frequency sits at m // 2 and is moved to the beam centre by a phase ramp
    top = (m - rows) // 2
    left = (m - cols) // 2
    r0 = center[0] + top - m // 2
    c0 = center[1] + left - m // 2
    ramp_r = np.exp(2j * np.pi * r0 * np.arange(m) / m)
    ramp_c = np.exp(2j * np.pi * c0 * np.arange(m) / m)
    probe = (probe * ramp_r[:, None] * ramp_c[None, :]).astype(np.complex64)
    # power spectrum of the random phase, tapered to zero at the grid edge
    fy = sp_fft.fftfreq(ny, d=dx)
    fx = sp_fft.rfftfreq(nx, d=dx)
    s = np.hypot(fy[:, None], fx[None, :])
    s_edge = 0.5 / dx
    taper = np.clip((0.95 * s_edge - s) / (0.1 * s_edge), 0.0, 1.0)
    amplitude = np.sqrt(glass_power_spectrum(s, **spectrum_kwargs)) * taper
    amplitude[0, 0] = 0.0
    out = np.zeros((nav_shape[0] * nav_shape[1], rows, cols), dtype=np.float32)
    for _ in range(int(looks)):
        noise = rng.standard_normal((2,) + s.shape, dtype=np.float32)
        spectrum = amplitude * (noise[0] + 1j * noise[1])
        phi = sp_fft.irfft2(spectrum, s=(ny, nx)).astype(np.float32)
        phi *= np.float32(phase_rms / phi.std())
        trans = np.exp(1j * phi).astype(np.complex64)
        del phi
        for iy in range(nav_shape[0]):
            y0 = iy * step_px
            strip = trans[y0 : y0 + m]
            windows = np.lib.stride_tricks.sliding_window_view(strip, m, axis=1)
            windows = windows[:, ::step_px][:, : nav_shape[1]]
            waves = np.moveaxis(windows, 1, 0) * probe
            pattern = np.abs(sp_fft.fft2(waves, axes=(1, 2))) ** 2
            pattern = np.fft.fftshift(pattern, axes=(1, 2))
            block = slice(iy * nav_shape[1], (iy + 1) * nav_shape[1])
            out[block] += pattern[:, top : top + rows, left : left + cols]
    out /= np.float32(looks * m * m)  # Parseval: sum |FFT|^2 = m^2 sum |wave|^2
    return out


# --------------------------------------------------------------------------
# The layout
# --------------------------------------------------------------------------


def grain_maps(
    nav_shape,
    fractions,
    *,
    grain_fill: float = 0.8,
    edge_sigma: float = 1.0,
    gap: int = 2,
    rng=None,
):
    """Crystal fraction maps of grains with given area fractions of the scan.

    Grains are placed largest first. Each is centred at a random pixel among
    the free ones farthest from the other grains and the scan edge (within
    0.7 of the largest such distance), and made of the ``round(f * n_nav)``
    free pixels nearest its centre in the metric of an ellipse of random
    orientation and aspect ratio 1-1.6 -- so the area fraction is exact and
    a grain may be cut by the edge or by its neighbours. ``gap`` pixels
    separate grains. The binary grain is blurred by a Gaussian of
    ``edge_sigma`` pixels (graded edge) and scaled by ``grain_fill``.

    Returns
    -------
    maps : numpy.ndarray
        ``(n_grains, nav_rows, nav_cols)`` float64, in the order of
        ``fractions``.
    labels : numpy.ndarray
        ``(nav_rows, nav_cols)`` int: 0 in the glass, ``1 + i`` in grain i.
    """
    rng = np.random.default_rng(rng)
    rows, cols = (int(n) for n in nav_shape)
    n_nav = rows * cols
    fractions = np.asarray(fractions, dtype=np.float64)
    if np.any(fractions <= 0) or fractions.sum() >= 1:
        raise ValueError(
            f"grain fractions must be positive and sum below 1, got {fractions}"
        )
    if not 0 < grain_fill <= 1:
        raise ValueError("grain_fill must lie in (0, 1]")
    labels = np.zeros((rows, cols), dtype=np.int64)
    blocked = np.zeros((rows, cols), dtype=bool)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    for i in np.argsort(-fractions, kind="stable"):
        n_pix = max(1, int(round(fractions[i] * n_nav)))
        free = ~blocked
        if free.sum() < n_pix:
            raise ValueError(
                "the grains do not fit in the scan: lower their fractions or "
                "use a larger navigation_shape"
            )
        dist = distance_transform_edt(np.pad(free, 1))[1:-1, 1:-1]
        cand = np.flatnonzero(dist >= 0.7 * dist.max())
        cy, cx = divmod(int(rng.choice(cand)), cols)
        angle = rng.uniform(0, np.pi)
        aspect = rng.uniform(1.0, 1.6)
        u = (yy - cy) * math.cos(angle) + (xx - cx) * math.sin(angle)
        v = -(yy - cy) * math.sin(angle) + (xx - cx) * math.cos(angle)
        rho = np.hypot(u / aspect, v)
        rho[~free] = np.inf
        chosen = np.argsort(rho, axis=None, kind="stable")[:n_pix]
        grain = np.zeros(n_nav, dtype=bool)
        grain[chosen] = True
        grain = grain.reshape(rows, cols)
        labels[grain] = 1 + i
        near = distance_transform_edt(~grain) <= gap
        blocked |= near
    maps = np.stack(
        [
            gaussian_filter((labels == 1 + i).astype(np.float64), edge_sigma)
            if edge_sigma > 0
            else (labels == 1 + i).astype(np.float64)
            for i in range(fractions.size)
        ]
    )
    maps *= grain_fill
    total = maps.sum(axis=0)
    over = total > 1
    if over.any():
        maps[:, over] /= total[over]
    return maps, labels


# --------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RealisticData(ScanArrays):
    """Realistic 4D-STEM data and its ground truth (plain numpy arrays).

    Attributes
    ----------
    data : numpy.ndarray
        ``(nav_rows, nav_cols, rows, cols)``: uint16 Poisson counts, or
        (``noise=False``) the float32 expectation in electrons.
    patterns : numpy.ndarray
        ``(n_components, rows, cols)`` float32 noise-free mean patterns, unit
        sum over the whole detector (direct beam included); component 0 is
        the glass (its map-weighted mean speckle pattern).
    masked_patterns : numpy.ndarray
        The same, zero in ``mask`` and unit sum outside it: what a fit that
        excludes the masked pixels can recover (the truth to score against).
    maps : numpy.ndarray
        ``(n_components, nav_rows, nav_cols)`` float32 fractions of the
        thickness; they sum to 1 at every position.
    detector_fraction : numpy.ndarray
        ``(n_components,)`` share of a component's electrons that land on
        the detector (the glass's: mean over positions).
    mask : numpy.ndarray
        ``(rows, cols)`` bool, True on the masked direct-beam disk.
    component_names : tuple of str
        ``'amorphous'`` (the glass), then ``'<phase><zone>'`` or
        ``'<phase><zone>@<angle>deg'`` when a phase has several rotations.
    component_phase : numpy.ndarray
        int per component: 0 for the glass, ``p`` (1-based) for phase p;
        components with the same value are one phase (rotations of it).
    component_rotation : numpy.ndarray
        In-plane rotation (degrees) per component, NaN for the glass.
    phase_groups : tuple of tuple of int
        Component indices grouped by phase (the clustering target).
    fractions : numpy.ndarray
        ``(n_components,)`` area fraction of the scan of each grain (the
        glass: the area outside all grains).
    mean_fractions : numpy.ndarray
        ``(n_components,)`` mean of each map: the share of the scanned
        volume.
    labels : numpy.ndarray
        ``(nav_rows, nav_cols)`` int: 0 in the glass, the component index in
        its grain.
    center : tuple of float
        Beam centre ``(row, col)`` in pixels.
    electrons_per_position : float
        ``N0``: electrons incident at every position.
    dose : float
        Requested mean counts per pattern outside ``mask``.
    mrad_per_px, semiangle, scan_step : float
        Detector pixel (mrad), convergence semi-angle (mrad), scan step (A).
    glass : numpy.ndarray or None
        ``(n_nav, rows, cols)`` float32 glass pattern at every position
        (share of the incident electrons) if ``keep_glass=True``.
    random_state : Any
        The seed used.
    parameters : dict
        All keyword arguments of :func:`simulate_realistic_arrays`.
    """

    data: np.ndarray
    patterns: np.ndarray
    masked_patterns: np.ndarray
    maps: np.ndarray
    detector_fraction: np.ndarray
    mask: np.ndarray
    component_names: tuple[str, ...]
    component_phase: np.ndarray
    component_rotation: np.ndarray
    phase_groups: tuple[tuple[int, ...], ...]
    fractions: np.ndarray
    mean_fractions: np.ndarray
    labels: np.ndarray
    center: tuple[float, float]
    electrons_per_position: float
    dose: float
    mrad_per_px: float
    semiangle: float
    scan_step: float
    glass: np.ndarray | None
    random_state: Any
    parameters: dict = field(default_factory=dict)

    def low_rank_expectation(self) -> np.ndarray:
        """``N0 * (maps * detector_fraction) @ patterns``, float32, data-shaped.

        The expectation of the data with the glass's speckle replaced by its
        mean pattern: what a k-component factorization can hold.
        """
        k = self.n_components
        w = self.maps.reshape(k, -1).T * self.detector_fraction[None, :]
        mean = (w * np.float32(self.electrons_per_position)) @ self.patterns.reshape(
            k, -1
        )
        return mean.reshape(self.data.shape).astype(np.float32)


def _parse_phases(phases, lib):
    parsed = []
    for entry in phases:
        try:
            name, rotations, fractions = entry
        except (TypeError, ValueError):
            raise ValueError(
                "each phase is (library name, rotations, fractions), e.g. "
                f"('Si', (0.0,), (0.3,)); got {entry!r}"
            ) from None
        _phase_index(lib, name)
        rotations = [float(a) for a in np.atleast_1d(rotations)]
        fractions = [float(f) for f in np.atleast_1d(fractions)]
        if len(rotations) != len(fractions) or not rotations:
            raise ValueError(
                f"phase {name!r}: give one area fraction per rotation, got "
                f"{len(rotations)} rotations and {len(fractions)} fractions"
            )
        parsed.append((str(name), rotations, fractions))
    if not parsed:
        raise ValueError("give at least one crystal phase")
    return parsed


def _sample_counts(mean, rng, n_threads):
    """Poisson counts of ``mean`` (float32, (n, m)) in place, by rows of 64."""
    n = mean.shape[0]
    starts = list(range(0, n, 64))
    gens = rng.spawn(len(starts))

    def work(i):
        _poisson_arrivals_inplace(gens[i], mean[starts[i] : starts[i] + 64].reshape(-1))

    if n_threads and n_threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=int(n_threads)) as pool:
            list(pool.map(work, range(len(starts))))
    else:
        for i in range(len(starts)):
            work(i)
    return mean


def simulate_realistic_arrays(
    navigation_shape=(48, 48),
    signal_shape=(128, 128),
    *,
    dose: float = 3000.0,
    noise: bool = True,
    random_state=0,
    phases=DEFAULT_PHASES,
    grain_fill: float = 0.8,
    edge_sigma: float = 1.0,
    mrad_per_px: float | None = None,
    detector_half_angle: float = 80.0,
    center_offset=(3.3, -4.6),
    mask_margin: float = 1.5,
    scan_step: float = 5.0,
    glass_phase_rms: float = 0.7,
    glass_looks: int = 2,
    glass_diameter: float = 2.6,
    glass_packing: float = 0.5,
    keep_glass: bool = False,
    n_threads: int = 2,
) -> RealisticData:
    """Simulate realistic 4D-STEM data as numpy arrays (no HyperSpy).

    See the module docstring for the physics and what it leaves out.

    Parameters
    ----------
    navigation_shape : (int, int)
        Scan ``(rows, cols)``; default 48 x 48 (``**FAST``: 24 x 24).
    signal_shape : (int, int)
        Detector ``(rows, cols)``; default 128 x 128 (``**FAST``: 64 x 64).
    dose : float
        Mean counts per pattern outside the masked direct beam (e.g. 3000,
        300, 100); every position gets the same incident electrons.
    noise : bool
        False: return the float32 expectation instead of uint16 counts.
    random_state : int, numpy.random.Generator or None
        Seeds the layout, the glass and the noise (independent streams, so
        the same seed at another dose gives the same sample).
    phases : sequence of (name, rotations, fractions)
        Crystal grains: a library phase (``'Si'``, ``'Au'``, ``'Mg'``), its
        in-plane rotations (degrees) and the area fraction of the scan of
        each rotation's grain. Default :data:`DEFAULT_PHASES`: Si 30 %, Au at
        10 and 40 degrees (10 % each), Mg 4 % (the minor grain).
    grain_fill : float
        Crystal share of the thickness in a grain's core (the rest is glass).
    edge_sigma : float
        Gaussian width (scan pixels) of the grains' graded edges.
    mrad_per_px : float, optional
        Detector pixel; default ``2 * detector_half_angle / min(signal_shape)``
        (1.25 mrad at 128 pixels).
    detector_half_angle : float
        Half-width of the detector (mrad) when ``mrad_per_px`` is not given.
    center_offset : (float, float)
        Beam centre minus the detector middle ``((rows - 1) / 2, (cols - 1)
        / 2)``, in units of a 128-pixel detector's pixels (scaled with the
        detector, so the centre sits at the same angle): ``(3.3, -4.6)``.
    mask_margin : float
        The mask is the disk of radius ``semiangle / mrad_per_px +
        mask_margin`` pixels about the beam centre.
    scan_step : float
        Scan step (A); the probe's first Airy zero has a radius of 4.4 A, so
        neighbouring glass patterns share part of their speckle.
    glass_phase_rms : float
        RMS phase (rad) of each glass layer: about ``1 - exp(-rms^2)`` of
        the electrons are scattered.
    glass_looks : int
        Independent glass layers averaged per pattern (speckle contrast
        ``1 / sqrt(glass_looks)``).
    glass_diameter, glass_packing : float
        Hard-sphere diameter (A) and packing of the glass's structure factor
        (:func:`glass_power_spectrum`).
    keep_glass : bool
        Keep every position's glass pattern in ``RealisticData.glass``.
    n_threads : int
        Threads for the Poisson sampling (results do not depend on it).

    Returns
    -------
    RealisticData
    """
    parameters = {k: v for k, v in locals().items() if k != "random_state"}
    nav_shape = tuple(int(n) for n in navigation_shape)
    sig_shape = tuple(int(n) for n in signal_shape)
    if len(nav_shape) != 2 or len(sig_shape) != 2 or min(nav_shape + sig_shape) < 4:
        raise ValueError(
            "navigation_shape and signal_shape must be two ints of at least 4"
        )
    if not dose > 0:
        raise ValueError(f"dose must be positive (counts per pattern), got {dose!r}")
    if glass_looks < 1:
        raise ValueError("glass_looks must be at least 1")
    lib = load_library()
    spec = _parse_phases(phases, lib)
    if mrad_per_px is None:
        mrad_per_px = 2.0 * detector_half_angle / min(sig_shape)
    mrad_per_px = float(mrad_per_px)
    semiangle = lib["semiangle"]
    scale = min(sig_shape) / 128.0
    center = (
        (sig_shape[0] - 1) / 2.0 + center_offset[0] * scale,
        (sig_shape[1] - 1) / 2.0 + center_offset[1] * scale,
    )
    rng_layout, rng_glass, rng_noise = np.random.default_rng(random_state).spawn(3)

    # -- crystal patterns -----------------------------------------------------
    names, phase_of, rotation_of, crystal, grain_fractions = (
        ["amorphous"],
        [0],
        [np.nan],
        [],
        [],
    )
    for p, (name, rotations, fractions) in enumerate(spec, 1):
        zone = lib["zone_axes"][_phase_index(lib, name)]
        for angle, frac in zip(rotations, fractions, strict=True):
            crystal.append(
                library_pattern(
                    name,
                    sig_shape,
                    rotation=angle,
                    center=center,
                    mrad_per_px=mrad_per_px,
                    library=lib,
                )
            )
            names.append(
                f"{name}{zone}" if len(rotations) == 1 else f"{name}{zone}@{angle:g}deg"
            )
            phase_of.append(p)
            rotation_of.append(angle)
            grain_fractions.append(frac)
    crystal = np.stack(crystal).astype(np.float32)
    n_comp = 1 + crystal.shape[0]

    # -- maps -------------------------------------------------------------------
    grains, grain_labels = grain_maps(
        nav_shape,
        grain_fractions,
        grain_fill=grain_fill,
        edge_sigma=edge_sigma,
        rng=rng_layout,
    )
    maps = np.concatenate([1.0 - grains.sum(axis=0, keepdims=True), grains])
    maps = maps.astype(np.float32)
    n_nav = nav_shape[0] * nav_shape[1]

    # -- glass ------------------------------------------------------------------
    glass = _glass_patterns(
        nav_shape,
        sig_shape,
        center,
        mrad_per_px=mrad_per_px,
        semiangle=semiangle,
        scan_step=scan_step,
        phase_rms=glass_phase_rms,
        looks=glass_looks,
        spectrum_kwargs={"diameter": glass_diameter, "packing": glass_packing},
        rng=rng_glass,
    )

    # -- expectation (electrons per incident electron), then counts -------------
    m0 = maps[0].reshape(n_nav)
    glass_total = float(m0.sum())
    glass_pattern = np.tensordot(m0, glass, axes=1) / glass_total
    mean = glass.copy() if keep_glass else glass
    mean *= m0[:, None, None]
    mean = mean.reshape(n_nav, -1)
    mean += maps[1:].reshape(n_comp - 1, n_nav).T @ crystal.reshape(n_comp - 1, -1)

    rr = np.arange(sig_shape[0])[:, None] - center[0]
    cc = np.arange(sig_shape[1])[None, :] - center[1]
    mask = np.hypot(rr, cc) <= semiangle / mrad_per_px + mask_margin
    outside = mean[:, ~mask.ravel()].sum(axis=1).mean()
    n0 = float(dose) / float(outside)
    mean *= np.float32(n0)
    if noise:
        mean = _sample_counts(mean, rng_noise, n_threads)
        if mean.max() > np.iinfo(np.uint16).max:
            raise ValueError(
                f"dose={dose} gives more than 65535 counts in a pixel; lower it "
                "or use noise=False"
            )
        data = mean.astype(np.uint16)
    else:
        data = mean
    data = data.reshape(nav_shape + sig_shape)

    all_patterns = np.concatenate([glass_pattern[None].astype(np.float32), crystal])
    totals = all_patterns.sum(axis=(1, 2))
    patterns = all_patterns / totals[:, None, None]
    masked = np.where(mask[None], np.float32(0), patterns)
    masked /= masked.sum(axis=(1, 2), keepdims=True)
    labels = grain_labels
    area = np.array(
        [np.mean(labels == 0)] + [np.mean(labels == c) for c in range(1, n_comp)]
    )
    groups = tuple(
        tuple(int(i) for i in np.flatnonzero(np.asarray(phase_of) == p))
        for p in range(len(spec) + 1)
    )
    return RealisticData(
        data=data,
        patterns=patterns.astype(np.float32),
        masked_patterns=masked.astype(np.float32),
        maps=maps,
        detector_fraction=totals.astype(np.float64),
        mask=mask,
        component_names=tuple(names),
        component_phase=np.asarray(phase_of, dtype=np.int64),
        component_rotation=np.asarray(rotation_of, dtype=np.float64),
        phase_groups=groups,
        fractions=area,
        mean_fractions=maps.reshape(n_comp, -1).mean(axis=1).astype(np.float64),
        labels=labels,
        center=center,
        electrons_per_position=n0,
        dose=float(dose),
        mrad_per_px=mrad_per_px,
        semiangle=semiangle,
        scan_step=float(scan_step),
        glass=glass if keep_glass else None,
        random_state=random_state,
        parameters=parameters,
    )


# --------------------------------------------------------------------------
# HyperSpy / pyxem wrapper
# --------------------------------------------------------------------------


def realistic_4dstem(
    navigation_shape=(48, 48),
    signal_shape=(128, 128),
    *,
    lazy: bool = False,
    **kwargs,
):
    """Realistic 4D-STEM data as a calibrated pyxem ``ElectronDiffraction2D``.

    Builds the arrays with :func:`simulate_realistic_arrays` (all its keyword
    arguments are accepted: ``dose``, ``random_state``, ``phases``, ...).

    Parameters
    ----------
    navigation_shape, signal_shape : (int, int)
        ``(rows, cols)`` of the scan and of the detector (``**FAST`` for the
        24 x 24 x 64 x 64 test variant).
    lazy : bool
        Return the lazy signal (``s.as_lazy()``), same values.
    **kwargs
        Passed to :func:`simulate_realistic_arrays`.

    Returns
    -------
    pyxem.signals.ElectronDiffraction2D
        uint16 counts (float32 with ``noise=False``). Navigation axes ``x``,
        ``y`` in nm (the scan step); signal axes ``kx``, ``ky`` in 1/nm
        (``mrad_per_px / lambda``, 0.498 1/nm per pixel at 128 pixels). The
        beam centre is off the middle: ``s.calibration.center`` is ``[col,
        row]`` of :attr:`RealisticData.center`; ``s.calibration.mask`` is
        the direct-beam mask (True = excluded), which the constrained NMF
        and ``cluster_components`` use by default. The truth is in
        ``s.metadata.Simulation``: ``true_patterns`` (the
        ``masked_patterns``: zero in the mask, unit sum outside, what a
        masked fit can recover), ``true_patterns_full`` (unit sum over the
        detector), ``true_maps`` (fractions), ``component_names``,
        ``component_phase``, ``component_rotation``, ``phase_groups``
        (lists of component indices, one per phase: the clustering target),
        ``fractions`` (area), ``mean_fractions``, ``detector_fraction``,
        ``labels``, ``mask``, ``center`` (row, col), ``dose``,
        ``electrons_per_position``, ``mrad_per_px``, ``semiangle``,
        ``scan_step`` (A), ``random_state``, ``noise`` and ``phases``.
        ``s.metadata.Acquisition_instrument.TEM`` holds the beam energy
        (kV) and convergence angle (mrad).
    """

    sim = simulate_realistic_arrays(navigation_shape, signal_shape, **kwargs)
    k_scale = sim.mrad_per_px * 1e-3 / _WAVELENGTH_200KV * 10.0  # 1/nm per px
    s = calibrated_diffraction(
        sim.data, (sim.scan_step / 10.0, "nm"), (k_scale, "1/nm")
    )
    s.calibration.center = [float(sim.center[1]), float(sim.center[0])]
    s.calibration.mask = sim.mask.copy()
    s.metadata.General.title = "Realistic 4D-STEM (multislice crystals in a glass)"
    s.metadata.Signal.quantity = (
        "Electrons (counts)" if sim.parameters["noise"] else "Electrons (expected)"
    )
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 200.0)
    s.metadata.set_item("Acquisition_instrument.TEM.convergence_angle", sim.semiangle)
    seed = sim.random_state
    truth = {
        "true_patterns": sim.masked_patterns,
        "true_patterns_full": sim.patterns,
        "true_maps": sim.maps,
        "component_names": list(sim.component_names),
        "component_phase": sim.component_phase,
        "component_rotation": sim.component_rotation,
        "phase_groups": [list(g) for g in sim.phase_groups],
        "fractions": sim.fractions,
        "mean_fractions": sim.mean_fractions,
        "detector_fraction": sim.detector_fraction,
        "labels": sim.labels,
        "mask": sim.mask,
        "center": list(sim.center),
        "dose": sim.dose,
        "electrons_per_position": sim.electrons_per_position,
        "mrad_per_px": sim.mrad_per_px,
        "semiangle": sim.semiangle,
        "scan_step": sim.scan_step,
        "noise": bool(sim.parameters["noise"]),
        "random_state": seed if seed is None or isinstance(seed, int) else repr(seed),
        "phases": [
            [
                str(n),
                [float(a) for a in np.atleast_1d(r)],
                [float(f) for f in np.atleast_1d(fr)],
            ]
            for n, r, fr in sim.parameters["phases"]
        ],
    }
    s.metadata.set_item("Simulation", truth)
    return s.as_lazy() if lazy else s
