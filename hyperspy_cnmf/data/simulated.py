"""Simulated 4D-STEM data with ground truth (Kimoto et al., Sci. Rep. 2025).

The paper's simulated experiment ("Methods: Simulated 4D-STEM data", Fig. 10):
one amorphous diffraction (concentric diffuse rings) and three crystalline
diffractions (Bragg spot lattices), mixed in real space as nine ~6x6 pixel
crystalline areas in an amorphous matrix with graded interfaces, crystallinity
9 %, 3 % and 1 %, each pattern normalised to ``N = 1e4`` electrons and
Poisson-sampled.

Two entry points:

* :func:`simulate_4dstem_arrays` -- pure numpy/scipy (no HyperSpy import);
  returns a :class:`SimulatedData` with the data and the ground truth.
* :func:`simulated_4dstem` -- wraps it in a calibrated pyxem
  ``ElectronDiffraction2D`` with the truth under ``s.metadata.Simulation``.

Conventions (as in :mod:`hyperspy_cnmf.core.geometry`): images are
``(rows, cols)``; a centre is ``(row, col)`` in pixels; the beam centre is
the pattern middle ``((rows - 1) / 2, (cols - 1) / 2)``. Radii and lattice
spacings of the diffraction patterns are given in units of the detector
half-width ``R = min(rows, cols) / 2`` so that the defaults scale with the
detector size; spot and ring widths too, except ``spot_sigma`` (pixels).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf

from ..core.polar import radius_map

__all__ = [
    "SimulatedData",
    "amorphous_pattern",
    "bragg_spot_positions",
    "crystalline_pattern",
    "direct_beam_pattern",
    "lattice_vectors",
    "phase_maps",
    "poisson_sample",
    "simulate_4dstem_arrays",
    "simulated_4dstem",
]

#: Default amorphous rings: (radius, sigma, amplitude), radius and sigma in
#: units of the detector half-width R.
DEFAULT_RINGS = ((0.30, 0.045, 1.0), (0.52, 0.06, 0.55), (0.75, 0.08, 0.35))

#: Default crystalline phases: (lattice kind, spacing(s) in units of R).
#: The hexagonal phase has spots at 0.30 R, 0.52 R (= sqrt(3) * 0.30 R) and
#: 0.79 R, i.e. on the three amorphous rings; the square phase has its
#: (2, 0) spots on the second ring and (3, 0)/(1, 3)-type spots near the third.
DEFAULT_LATTICES = (
    ("hexagonal", 0.30),
    ("square", 0.26),
    ("rectangular", (0.21, 0.33)),
)

#: Default in-plane rotations of the three crystalline phases (degrees).
DEFAULT_ROTATIONS = (10.0, 25.0, 40.0)

#: Default crystallinities of the areas of each phase (paper Fig. 10a).
DEFAULT_CRYSTALLINITY = (0.09, 0.03, 0.01)


# --------------------------------------------------------------------------
# Diffraction patterns
# --------------------------------------------------------------------------


def _half_width(shape) -> float:
    return min(int(shape[0]), int(shape[1])) / 2.0


def _default_center(shape) -> tuple[float, float]:
    return ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)


def _normalise(pattern):
    total = pattern.sum()
    if not total > 0:
        raise ValueError("pattern has no intensity")
    return pattern / total


def amorphous_pattern(
    shape=(128, 128),
    *,
    center=None,
    rings=DEFAULT_RINGS,
    envelope_decay=0.6,
    background=0.25,
    background_decay=0.2,
) -> np.ndarray:
    """Rotationally symmetric amorphous diffraction, normalised to unit sum.

    ``I(r) = exp(-r / (envelope_decay R)) * sum_i a_i exp(-(r - r_i)^2 / (2 s_i^2))
    + background * exp(-r / (background_decay R))``.

    Parameters
    ----------
    shape : (int, int)
        Detector shape ``(rows, cols)``.
    center : (float, float), optional
        Beam centre ``(row, col)`` in pixels; default the middle.
    rings : sequence of (radius, sigma, amplitude)
        Broad Gaussian rings; radius and sigma in units of ``R = min(shape) / 2``.
    envelope_decay : float
        Decay length (units of R) of the exponential envelope multiplying the
        rings (the atomic scattering factor falls with scattering angle).
    background, background_decay : float
        Amplitude (relative to the ring amplitudes) and decay length (units of
        R) of a monotonic diffuse background.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape`` summing to 1.
    """
    center = _default_center(shape) if center is None else center
    R = _half_width(shape)
    r = radius_map(shape, center) / R
    ring_sum = np.zeros(shape, dtype=np.float64)
    for radius, sigma, amplitude in rings:
        ring_sum += amplitude * np.exp(-0.5 * ((r - radius) / sigma) ** 2)
    pattern = ring_sum * np.exp(-r / envelope_decay)
    if background:
        pattern += background * np.exp(-r / background_decay)
    return _normalise(pattern)


def lattice_vectors(kind: str, spacing, rotation: float = 0.0) -> np.ndarray:
    """Two reciprocal-lattice basis vectors as ``(row, col)`` rows of a 2x2 array.

    Parameters
    ----------
    kind : {'hexagonal', 'square', 'rectangular', 'oblique'}
        Lattice type.
    spacing : float or (float, float) or (float, float, float)
        Length of the basis vectors: one value for hexagonal/square, ``(a, b)``
        for rectangular, ``(a, b, gamma_degrees)`` for oblique.
    rotation : float
        In-plane rotation in degrees (counter-clockwise in ``(x=col, y=row)``).
    """
    kind = kind.lower()
    sp = np.atleast_1d(np.asarray(spacing, dtype=np.float64))
    if kind == "hexagonal":
        a, b, gamma = sp[0], sp[0], 60.0
    elif kind == "square":
        a, b, gamma = sp[0], sp[0], 90.0
    elif kind == "rectangular":
        if sp.size != 2:
            raise ValueError("a rectangular lattice needs spacing=(a, b)")
        a, b, gamma = sp[0], sp[1], 90.0
    elif kind == "oblique":
        if sp.size != 3:
            raise ValueError("an oblique lattice needs spacing=(a, b, gamma_degrees)")
        a, b, gamma = sp
    else:
        raise ValueError(
            f"unknown lattice kind {kind!r}; use 'hexagonal', 'square', "
            "'rectangular' or 'oblique'"
        )
    if not (a > 0 and b > 0):
        raise ValueError(f"lattice spacings must be positive, got {spacing!r}")
    theta = math.radians(rotation)
    angles = np.array([theta, theta + math.radians(gamma)])
    lengths = np.array([a, b])
    # (row, col) = (y, x) = length * (sin, cos)
    return np.stack([lengths * np.sin(angles), lengths * np.cos(angles)], axis=1)


def bragg_spot_positions(kind: str, spacing, rotation: float, max_radius: float):
    """Bragg spot offsets ``(row, col)`` from the centre, origin excluded.

    All lattice points ``h a1 + k a2`` with ``0 < |g| <= max_radius`` (same
    units as ``spacing``), sorted by radius.
    """
    basis = lattice_vectors(kind, spacing, rotation)
    # Smallest basis-vector height bounds the index range needed.
    area = abs(np.linalg.det(basis))
    n_max = int(np.ceil(max_radius * max(np.linalg.norm(basis, axis=1)) / area)) + 1
    h, k = np.meshgrid(np.arange(-n_max, n_max + 1), np.arange(-n_max, n_max + 1))
    hk = np.stack([h.ravel(), k.ravel()], axis=1).astype(np.float64)
    g = hk @ basis
    r = np.hypot(g[:, 0], g[:, 1])
    keep = (r > 1e-9) & (r <= max_radius)
    g, r = g[keep], r[keep]
    order = np.lexsort((np.arctan2(g[:, 0], g[:, 1]), np.round(r, 9)))
    return g[order]


def crystalline_pattern(
    shape=(128, 128),
    kind: str = "hexagonal",
    spacing=0.30,
    rotation: float = 0.0,
    *,
    center=None,
    spot_sigma: float = 1.0,
    spot_decay: float = 0.5,
    max_radius: float = 0.92,
    background: float = 0.2,
    background_decay: float = 0.25,
    mask_radius: float | None = None,
):
    """A crystalline diffraction: Gaussian Bragg spots on a weak diffuse background.

    Parameters
    ----------
    shape : (int, int)
        Detector shape ``(rows, cols)``.
    kind, spacing, rotation
        Lattice, see :func:`lattice_vectors`; ``spacing`` in units of
        ``R = min(shape) / 2``, ``rotation`` in degrees.
    center : (float, float), optional
        Beam centre ``(row, col)`` in pixels; default the middle.
    spot_sigma : float
        Standard deviation of the 2D Gaussian spots, pixels.
    spot_decay : float
        Spot intensities fall as ``exp(-|g| / (spot_decay R))``.
    max_radius : float
        Spots beyond ``max_radius R`` are left out.
    background : float
        Fraction of the pattern's total intensity in the diffuse background
        ``exp(-r / (background_decay R))``.
    mask_radius : float, optional
        Radius (pixels) of each spot in the returned mask; default
        ``2 * spot_sigma`` (at least 1.5 pixels).

    Returns
    -------
    pattern : numpy.ndarray
        float64, unit sum.
    spot_mask : numpy.ndarray
        bool, True on the pixels within ``mask_radius`` of a spot centre.
    spots : numpy.ndarray
        ``(n_spots, 2)`` spot centres ``(row, col)`` in pixels.
    """
    if not 0 <= background < 1:
        raise ValueError("background must be a fraction in [0, 1)")
    center = _default_center(shape) if center is None else center
    R = _half_width(shape)
    g = bragg_spot_positions(kind, spacing, rotation, max_radius) * R
    if g.shape[0] == 0:
        raise ValueError(
            f"no Bragg spot of the {kind} lattice with spacing {spacing!r} lies "
            f"within max_radius={max_radius} R"
        )
    spots = g + np.asarray(center, dtype=np.float64)
    rows = np.arange(shape[0], dtype=np.float64)
    cols = np.arange(shape[1], dtype=np.float64)
    # separable Gaussians: (n_spots, rows) and (n_spots, cols)
    gr = np.exp(-0.5 * ((rows[None, :] - spots[:, :1]) / spot_sigma) ** 2)
    gc = np.exp(-0.5 * ((cols[None, :] - spots[:, 1:]) / spot_sigma) ** 2)
    weights = np.exp(-np.hypot(g[:, 0], g[:, 1]) / (spot_decay * R))
    spot_image = np.einsum("s,sr,sc->rc", weights, gr, gc)
    spot_image /= spot_image.sum()
    pattern = (1.0 - background) * spot_image
    if background:
        diffuse = np.exp(-radius_map(shape, center) / (background_decay * R))
        pattern += background * diffuse / diffuse.sum()
    mask_radius = max(2.0 * spot_sigma, 1.5) if mask_radius is None else mask_radius
    dr = rows[None, :, None] - spots[:, 0, None, None]
    dc = cols[None, None, :] - spots[:, 1, None, None]
    spot_mask = ((dr**2 + dc**2) <= mask_radius**2).any(axis=0)
    return _normalise(pattern), spot_mask, spots


def direct_beam_pattern(shape=(128, 128), *, center=None, sigma: float = 1.5):
    """A bright small Gaussian disc at the beam centre, unit sum."""
    center = _default_center(shape) if center is None else center
    r = radius_map(shape, center)
    return _normalise(np.exp(-0.5 * (r / sigma) ** 2))


# --------------------------------------------------------------------------
# Real-space maps
# --------------------------------------------------------------------------


def _box_profile(n, center, width, sigma):
    """A box of ``width`` pixels about ``center``, blurred by a Gaussian ``sigma``."""
    x = np.arange(n, dtype=np.float64)
    lo, hi = center - width / 2.0, center + width / 2.0
    if sigma <= 0:
        return ((x >= lo) & (x <= hi)).astype(np.float64)
    s = math.sqrt(2.0) * sigma
    return 0.5 * (erf((x - lo) / s) - erf((x - hi) / s))


def phase_maps(
    nav_shape=(36, 36),
    *,
    n_regions: int = 3,
    crystallinity=DEFAULT_CRYSTALLINITY,
    area_size=6,
    interface_sigma: float = 1.0,
):
    """Crystalline-fraction maps of ``n_regions`` x ``len(crystallinity)`` areas.

    The areas sit on a regular grid: region ``i`` (one crystalline phase at
    one rotation) occupies grid row ``i``, and the area in grid column ``j``
    has crystalline fraction ``crystallinity[j]`` at its centre. Each area is
    a box of ``area_size`` pixels blurred by a Gaussian of ``interface_sigma``
    pixels (graded interface), rescaled so that the pixel nearest the area
    centre carries exactly ``crystallinity[j]``.

    Returns
    -------
    maps : numpy.ndarray
        ``(n_regions, nav_rows, nav_cols)`` float64 crystalline fractions.
    labels : numpy.ndarray
        ``(nav_rows, nav_cols)`` int: 0 in the matrix, ``1 + i * n_cols + j``
        (row-major area number, i.e. the paper's (i)..(ix)) where the area's
        profile is at least half its centre value.
    centers : numpy.ndarray
        ``(n_regions, n_cols, 2)`` int pixel ``(row, col)`` of each area centre.
    """
    nav_rows, nav_cols = (int(n) for n in nav_shape)
    size = np.broadcast_to(np.asarray(area_size, dtype=np.float64), (2,))
    levels = np.asarray(crystallinity, dtype=np.float64)
    n_cols = levels.size
    if np.any(levels < 0) or np.any(levels > 1):
        raise ValueError("crystallinity values must lie in [0, 1]")
    maps = np.zeros((n_regions, nav_rows, nav_cols))
    labels = np.zeros((nav_rows, nav_cols), dtype=np.int64)
    centers = np.zeros((n_regions, n_cols, 2), dtype=np.int64)
    for i in range(n_regions):
        cr = (i + 0.5) * nav_rows / n_regions - 0.5
        pr = _box_profile(nav_rows, cr, size[0], interface_sigma)
        ir = min(max(int(math.floor(cr + 0.5)), 0), nav_rows - 1)
        for j in range(n_cols):
            cc = (j + 0.5) * nav_cols / n_cols - 0.5
            pc = _box_profile(nav_cols, cc, size[1], interface_sigma)
            ic = min(max(int(math.floor(cc + 0.5)), 0), nav_cols - 1)
            profile = pr[:, None] * pc[None, :]
            peak = profile[ir, ic]
            if not peak > 0:
                raise ValueError("areas are too small for the navigation shape")
            profile = profile / peak
            maps[i] += levels[j] * profile
            labels[profile >= 0.5] = 1 + i * n_cols + j
            centers[i, j] = (ir, ic)
    total = maps.sum(axis=0)
    if total.max() > 1 + 1e-9:
        raise ValueError(
            "crystalline areas overlap so much that their fractions exceed 1; "
            "use smaller areas, a larger navigation shape or lower crystallinity"
        )
    return maps, labels, centers


# --------------------------------------------------------------------------
# Poisson sampling
# --------------------------------------------------------------------------


def _poisson_arrivals_inplace(rng, buf):
    """Replace the means in ``buf`` (float32, 1D) by Poisson counts, in place.

    Counts the arrivals of a unit-rate Poisson process in ``[0, mean]``
    (sums of standard exponentials): exact in distribution up to float32
    rounding, and fast for the small means of a diffraction pattern (work
    proportional to the number of pixels plus the number of electrons).
    """
    t = rng.standard_exponential(buf.shape, dtype=np.float32)
    hit = t < buf
    idx = np.flatnonzero(hit)
    lam_a = buf[idx]
    t_a = t[idx]
    buf[...] = hit
    big = lam_a > 50.0  # many arrivals: rng.poisson is faster there
    if big.any():
        buf[idx[big]] = 1.0 + rng.poisson(lam_a[big] - t_a[big])
        keep = ~big
        idx, lam_a, t_a = idx[keep], lam_a[keep], t_a[keep]
    while idx.size:
        t_a += rng.standard_exponential(idx.size, dtype=np.float32)
        keep = t_a < lam_a
        idx, lam_a, t_a = idx[keep], lam_a[keep], t_a[keep]
        buf[idx] += 1.0


def _as_generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def poisson_sample(
    weights, components, scale: float = 1.0, *, seed=None, chunk: int = 32, n_threads=2
):
    """Poisson counts with mean ``scale * weights @ components``, float32.

    The mean is formed by one matrix product and sampled in place, in
    chunks of ``chunk`` rows, each with its own child generator spawned from
    ``seed`` -- so the result depends only on ``seed`` and ``chunk``, not on
    ``n_threads``.

    Parameters
    ----------
    weights : array_like
        ``(n, k)`` nonnegative.
    components : array_like
        ``(k, m)`` nonnegative.
    scale : float
        Multiplies the mean (e.g. the dose).
    seed : int, numpy.random.Generator or None
        Seed of ``np.random.default_rng`` (or a generator to spawn from).
    chunk : int
        Rows per chunk.
    n_threads : int
        Threads used (numpy releases the GIL in the sampling).

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` float32 counts.
    """
    w = np.asarray(weights, dtype=np.float32) * np.float32(scale)
    c = np.asarray(components, dtype=np.float32)
    if np.any(w < 0) or np.any(c < 0):
        raise ValueError("Poisson means must be nonnegative")
    out = w @ c  # the mean, one matrix product; sampled in place below
    n = out.shape[0]
    starts = list(range(0, n, chunk))
    gens = _as_generator(seed).spawn(len(starts))

    def work(i):
        s = starts[i]
        _poisson_arrivals_inplace(gens[i], out[s : s + chunk].reshape(-1))

    if n_threads and n_threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=int(n_threads)) as pool:
            list(pool.map(work, range(len(starts))))
    else:
        for i in range(len(starts)):
            work(i)
    return out


# --------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------


class ScanArrays:
    """Shapes of a simulated scan's ``data`` (n_rows, n_cols, rows, cols)
    and number of ``patterns``."""

    @property
    def navigation_shape(self) -> tuple[int, int]:
        return tuple(self.data.shape[:2])

    @property
    def signal_shape(self) -> tuple[int, int]:
        return tuple(self.data.shape[2:])

    @property
    def n_components(self) -> int:
        return self.patterns.shape[0]


@dataclass(frozen=True)
class SimulatedData(ScanArrays):
    """Simulated 4D-STEM data and its ground truth (plain numpy arrays).

    Attributes
    ----------
    data : numpy.ndarray
        ``(nav_rows, nav_cols, rows, cols)`` float32: electron counts, or the
        noise-free expectation (unit-sum patterns when ``dose is None``).
    patterns : numpy.ndarray
        ``(n_components, rows, cols)`` float32 true diffractions, unit sum
        each; component 0 is the amorphous one.
    maps : numpy.ndarray
        ``(n_components, nav_rows, nav_cols)`` float32 true fractions; they
        sum to 1 at every position.
    spot_masks : numpy.ndarray
        ``(n_components - 1, rows, cols)`` bool Bragg-spot pixels of each
        crystalline component.
    component_names : tuple of str
        ``'amorphous'``, then ``'crystal_<p>'`` (``'crystal_<p>@<angle>deg'``
        when a phase occurs at several rotations).
    component_phase : numpy.ndarray
        int per component: 0 for amorphous, ``p`` (1-based) for crystal phase p.
    component_rotation : numpy.ndarray
        In-plane rotation (degrees) per component, NaN for the amorphous one.
    area_labels : numpy.ndarray
        ``(nav_rows, nav_cols)`` int, 0 in the matrix, 1.. for the areas.
    area_centers : numpy.ndarray
        ``(n_components - 1, n_levels, 2)`` pixel centre of each area.
    crystallinity : numpy.ndarray
        Crystalline fraction at the centre of the areas of each grid column.
    center : tuple of float
        Beam centre ``(row, col)`` in pixels.
    direct_beam : numpy.ndarray or None
        Unit-sum direct-beam pattern if it was added (not a component).
    direct_beam_fraction : float
        Fraction of every pattern's intensity in the direct beam.
    dose : float or None
        Electrons per pattern (None: noise-free unit-sum data).
    seed : int or None
        The seed used.
    parameters : dict
        All keyword arguments of :func:`simulate_4dstem_arrays`.
    """

    data: np.ndarray
    patterns: np.ndarray
    maps: np.ndarray
    spot_masks: np.ndarray
    component_names: tuple[str, ...]
    component_phase: np.ndarray
    component_rotation: np.ndarray
    area_labels: np.ndarray
    area_centers: np.ndarray
    crystallinity: np.ndarray
    center: tuple[float, float]
    direct_beam: np.ndarray | None
    direct_beam_fraction: float
    dose: float | None
    seed: Any
    parameters: dict = field(default_factory=dict)

    @property
    def amorphous_spot_mask(self) -> np.ndarray:
        """Union of all crystalline spot masks (where dark spots would show)."""
        return self.spot_masks.any(axis=0)

    def expected(self) -> np.ndarray:
        """Noise-free mean of ``data`` (same scale), float32."""
        n_nav = self.maps.shape[1] * self.maps.shape[2]
        mean = self.maps.reshape(self.n_components, n_nav).T @ self.patterns.reshape(
            self.n_components, -1
        )
        if self.direct_beam is not None:
            f = np.float32(self.direct_beam_fraction)
            mean = (1 - f) * mean + f * self.direct_beam.reshape(1, -1)
        if self.dose is not None:
            mean = mean * np.float32(self.dose)
        return mean.reshape(self.data.shape).astype(np.float32)


def _parse_rotations(rotations, n_phases):
    if len(rotations) != n_phases:
        raise ValueError(
            f"rotations has {len(rotations)} entries but there are {n_phases} "
            "crystalline phases (lattices)"
        )
    parsed = []
    for entry in rotations:
        angles = [float(a) for a in np.atleast_1d(np.asarray(entry, dtype=np.float64))]
        if not angles:
            raise ValueError("every crystalline phase needs at least one rotation")
        parsed.append(angles)
    return parsed


def simulate_4dstem_arrays(
    navigation_shape=(36, 36),
    signal_shape=(128, 128),
    *,
    dose: float | None = 1e4,
    noise: bool = True,
    seed=0,
    lattices=DEFAULT_LATTICES,
    rotations=DEFAULT_ROTATIONS,
    crystallinity=DEFAULT_CRYSTALLINITY,
    area_size=6,
    interface_sigma: float = 1.0,
    rings=DEFAULT_RINGS,
    amorphous_envelope_decay: float = 0.6,
    amorphous_background: float = 0.25,
    spot_sigma: float = 1.0,
    spot_decay: float = 0.5,
    spot_max_radius: float = 0.92,
    spot_mask_radius: float | None = None,
    crystal_background: float = 0.2,
    direct_beam: bool = False,
    direct_beam_fraction: float = 0.2,
    direct_beam_sigma: float = 1.5,
    n_threads: int = 2,
) -> SimulatedData:
    """Simulate the paper's 4D-STEM data set as numpy arrays (no HyperSpy).

    The pattern at each probe position is
    ``sum_c maps[c, y, x] * patterns[c]`` (plus, if ``direct_beam``, a fixed
    fraction ``direct_beam_fraction`` of the intensity in a Gaussian disc at
    the centre: ``(1 - f) * mixture + f * beam``), a unit-sum pattern that is
    scaled to ``dose`` electrons and Poisson-sampled.

    Parameters
    ----------
    navigation_shape : (int, int)
        Scan shape ``(nav_rows, nav_cols)``; default the paper's 36 x 36.
    signal_shape : (int, int)
        Detector shape ``(rows, cols)``; default 128 x 128.
    dose : float or None
        Mean electrons per pattern (paper: ``N = 1e4``). ``None`` returns the
        noise-free mixture of unit-sum patterns (``maps @ patterns``).
    noise : bool
        If False (with a dose) return the noise-free expectation in counts.
    seed : int, numpy.random.Generator or None
        Seed of ``np.random.default_rng`` for the Poisson noise (the patterns
        and maps are deterministic).
    lattices : sequence of (kind, spacing)
        One entry per crystalline phase, see :func:`lattice_vectors`;
        spacings in units of ``R = min(signal_shape) / 2``. The default
        hexagonal phase has spots on all three amorphous rings.
    rotations : sequence
        In-plane rotation (degrees) of each phase: a number, or a sequence of
        numbers to place the phase at several rotations, e.g.
        ``[10, [30, 75], 40]``. Every (phase, rotation) pair is a separate
        true component with its own row of areas.
    crystallinity : sequence of float
        Crystalline fraction at the centre of the areas in each column of the
        area grid (paper: 9 %, 3 %, 1 %).
    area_size : int or (int, int)
        Area size in pixels (paper: about 6 x 6).
    interface_sigma : float
        Gaussian blur (pixels) of the area edges (graded interfaces).
    rings, amorphous_envelope_decay, amorphous_background
        Amorphous pattern, see :func:`amorphous_pattern`.
    spot_sigma, spot_decay, spot_max_radius, spot_mask_radius, crystal_background
        Crystalline patterns, see :func:`crystalline_pattern`.
    direct_beam : bool
        Add a direct beam to every pattern (it is not a component).
    direct_beam_fraction, direct_beam_sigma : float
        Its share of each pattern's intensity and its width (pixels).
    n_threads : int
        Threads for the Poisson sampling (results do not depend on it).

    Returns
    -------
    SimulatedData
    """
    parameters = {k: v for k, v in locals().items() if k != "seed"}
    nav_shape = tuple(int(n) for n in navigation_shape)
    sig_shape = tuple(int(n) for n in signal_shape)
    if len(nav_shape) != 2 or len(sig_shape) != 2 or min(nav_shape + sig_shape) < 1:
        raise ValueError("navigation_shape and signal_shape must be two positive ints")
    if dose is not None and not dose > 0:
        raise ValueError("dose must be positive or None")
    if direct_beam and not 0 <= direct_beam_fraction < 1:
        raise ValueError("direct_beam_fraction must lie in [0, 1)")
    center = _default_center(sig_shape)
    angles = _parse_rotations(rotations, len(lattices))

    # -- diffractions ------------------------------------------------------
    patterns = [
        amorphous_pattern(
            sig_shape,
            center=center,
            rings=rings,
            envelope_decay=amorphous_envelope_decay,
            background=amorphous_background,
        )
    ]
    spot_masks, names, phase_of, rotation_of = [], ["amorphous"], [0], [np.nan]
    for p, ((kind, spacing), phase_angles) in enumerate(
        zip(lattices, angles, strict=True), 1
    ):
        for angle in phase_angles:
            pattern, mask, _ = crystalline_pattern(
                sig_shape,
                kind,
                spacing,
                angle,
                center=center,
                spot_sigma=spot_sigma,
                spot_decay=spot_decay,
                max_radius=spot_max_radius,
                background=crystal_background,
                mask_radius=spot_mask_radius,
            )
            patterns.append(pattern)
            spot_masks.append(mask)
            phase_of.append(p)
            rotation_of.append(angle)
            names.append(
                f"crystal_{p}"
                if len(phase_angles) == 1
                else f"crystal_{p}@{angle:g}deg"
            )
    patterns = np.stack(patterns).astype(np.float32)
    patterns /= patterns.sum(axis=(1, 2), keepdims=True)
    n_comp = patterns.shape[0]

    # -- maps --------------------------------------------------------------
    crystal_maps, labels, centers = phase_maps(
        nav_shape,
        n_regions=n_comp - 1,
        crystallinity=crystallinity,
        area_size=area_size,
        interface_sigma=interface_sigma,
    )
    maps = np.concatenate([1.0 - crystal_maps.sum(axis=0, keepdims=True), crystal_maps])
    maps = maps.astype(np.float32)

    # -- data ----------------------------------------------------------------
    n_nav = nav_shape[0] * nav_shape[1]
    weights = maps.reshape(n_comp, n_nav).T
    components = patterns.reshape(n_comp, -1)
    beam = None
    if direct_beam:
        beam = direct_beam_pattern(sig_shape, center=center, sigma=direct_beam_sigma)
        beam = beam.astype(np.float32)
        f = np.float32(direct_beam_fraction)
        weights = np.concatenate(
            [(1 - f) * weights, np.full((n_nav, 1), f, np.float32)], axis=1
        )
        components = np.concatenate([components, beam.reshape(1, -1)])
    if dose is not None and noise:
        data = poisson_sample(weights, components, dose, seed=seed, n_threads=n_threads)
    else:
        data = weights @ components
        if dose is not None:
            data *= np.float32(dose)
    data = data.reshape(nav_shape + sig_shape)

    return SimulatedData(
        data=data,
        patterns=patterns,
        maps=maps,
        spot_masks=np.stack(spot_masks),
        component_names=tuple(names),
        component_phase=np.asarray(phase_of, dtype=np.int64),
        component_rotation=np.asarray(rotation_of, dtype=np.float64),
        area_labels=labels,
        area_centers=centers,
        crystallinity=np.asarray(crystallinity, dtype=np.float64),
        center=center,
        direct_beam=beam,
        direct_beam_fraction=float(direct_beam_fraction) if direct_beam else 0.0,
        dose=None if dose is None else float(dose),
        seed=seed,
        parameters=parameters,
    )


# --------------------------------------------------------------------------
# HyperSpy / pyxem wrapper
# --------------------------------------------------------------------------


def calibrated_diffraction(data, scan, reciprocal):
    """A pyxem ``ElectronDiffraction2D`` of ``data`` with its axes named and
    calibrated: ``scan`` and ``reciprocal`` are ``(scale, units)`` of the
    navigation (x, y) and signal (kx, ky) axes."""
    from pyxem.signals import ElectronDiffraction2D

    s = ElectronDiffraction2D(data)
    nav_x, nav_y = s.axes_manager.navigation_axes
    for ax, name in ((nav_x, "x"), (nav_y, "y")):
        ax.name, ax.units, ax.scale, ax.offset = name, scan[1], float(scan[0]), 0.0
    for ax, name in zip(s.axes_manager.signal_axes, ("kx", "ky"), strict=True):
        ax.name, ax.units, ax.scale = name, reciprocal[1], float(reciprocal[0])
    return s


def simulated_4dstem(
    navigation_shape=(36, 36),
    signal_shape=(128, 128),
    *,
    lazy: bool = False,
    scan_step: float = 1.5,
    scan_units: str = "nm",
    reciprocal_scale: float = 0.2,
    reciprocal_units: str = "1/nm",
    **kwargs,
):
    """The paper's simulated 4D-STEM data as a calibrated pyxem signal.

    Builds the arrays with :func:`simulate_4dstem_arrays` (all its keyword
    arguments are accepted: ``dose``, ``seed``, ``lattices``, ``rotations``,
    ``crystallinity``, ``area_size``, ``direct_beam``, ...) and wraps them in
    a ``pyxem.signals.ElectronDiffraction2D``.

    Parameters
    ----------
    navigation_shape, signal_shape : (int, int)
        ``(rows, cols)`` of the scan and of the detector.
    lazy : bool
        Return the lazy signal (``s.as_lazy()``), same values.
    scan_step, scan_units : float, str
        Navigation calibration (axes ``'x'``, ``'y'``); default 1.5 nm as in
        the paper's experiment.
    reciprocal_scale, reciprocal_units : float, str
        Detector calibration (axes ``'kx'``, ``'ky'``); the default 0.2 1/nm
        per pixel puts the first amorphous ring (0.30 R = 19.2 px on a 128
        pixel detector) at 3.84 1/nm, i.e. d = 2.6 A.
    **kwargs
        Passed to :func:`simulate_4dstem_arrays`.

    Returns
    -------
    pyxem.signals.ElectronDiffraction2D
        float32 data: electron counts (Poisson-sampled, ``dose`` electrons
        per pattern on average), or the noise-free expectation. The beam
        centre is the pattern middle (``s.calibration.center`` reports
        ``[(cols - 1) / 2, (rows - 1) / 2]``). The ground truth is in
        ``s.metadata.Simulation``: ``true_patterns`` (n_components, rows,
        cols) unit sum each, ``true_maps`` (n_components, nav_rows,
        nav_cols), ``component_names``, ``component_phase``,
        ``component_rotation``, ``spot_masks`` (n_components - 1, rows, cols),
        ``amorphous_spot_mask``, ``area_labels``, ``area_centers``,
        ``crystallinity``, ``center`` (row, col), ``rotations``, ``lattices``,
        ``dose``, ``seed``, ``direct_beam``, ``direct_beam_fraction``,
        and ``direct_beam_pattern`` (if on).
    """

    sim = simulate_4dstem_arrays(navigation_shape, signal_shape, **kwargs)
    s = calibrated_diffraction(
        sim.data, (scan_step, scan_units), (reciprocal_scale, reciprocal_units)
    )
    s.calibration.center = None  # offset = -scale * (size - 1) / 2: the middle
    s.metadata.General.title = "Simulated 4D-STEM (Kimoto et al. 2025)"
    s.metadata.Signal.quantity = "Electrons (counts)" if sim.dose else "Intensity"
    params = sim.parameters
    truth = {
        "true_patterns": sim.patterns,
        "true_maps": sim.maps,
        "component_names": list(sim.component_names),
        "component_phase": sim.component_phase,
        "component_rotation": sim.component_rotation,
        "spot_masks": sim.spot_masks,
        "amorphous_spot_mask": sim.amorphous_spot_mask,
        "area_labels": sim.area_labels,
        "area_centers": sim.area_centers,
        "crystallinity": sim.crystallinity,
        "center": list(sim.center),
        "rotations": [
            np.atleast_1d(np.asarray(r, float)).tolist() for r in params["rotations"]
        ],
        "lattices": [
            [str(k), np.atleast_1d(np.asarray(sp, float)).tolist()]
            for k, sp in params["lattices"]
        ],
        "dose": sim.dose,
        "noise": bool(params["noise"]),
        "seed": sim.seed
        if sim.seed is None or isinstance(sim.seed, int)
        else repr(sim.seed),
        "direct_beam": sim.direct_beam is not None,
        "direct_beam_fraction": sim.direct_beam_fraction,
        "area_size": list(
            np.broadcast_to(np.asarray(params["area_size"]), (2,)).tolist()
        ),
        "interface_sigma": float(params["interface_sigma"]),
    }
    if sim.direct_beam is not None:
        truth["direct_beam_pattern"] = sim.direct_beam
    s.metadata.set_item("Simulation", truth)
    return s.as_lazy() if lazy else s
