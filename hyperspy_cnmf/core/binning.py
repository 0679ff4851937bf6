"""Coarse-to-fine fits of low-dose scans: patterns from the binned scan.

At a hundred counts per pattern a weak phase is below the noise of each
pattern, and a fit on the full-resolution scan may not find it at all: the
squared error of a fit with it and without it differ by less than the
noise. Summing ``b x b`` neighbouring positions multiplies the counts per
pattern by ``b^2``; the maps lose nothing they had, since the probe and the
map constraint already limit their resolution and grains span many
positions. So a low-dose fit runs in two steps:

1. the restarts (sketch, halving) on the scan binned ``b x b``, where the
   phases stand out of the noise: the patterns;
2. the exact phase on the full-resolution data, started from those patterns
   and the coarse maps spread back over the positions they came from
   (``n_exact_iter`` Frobenius or Poisson iterations).

``scan_binning="auto"`` (:func:`auto_scan_binning`) bins the counts of a
2D scan (:func:`is_counts`: integers, and spectra held as whole-number
floats) when a pattern holds fewer than :data:`TARGET_COUNTS` counts on
average, just enough to reach it. Measured on the realistic simulation
(``benchmarks/bench_minor_phases.py``): at 100 counts per pattern the two
rotations of a 10 % phase, lost without binning (map cosine 0.02), are
found with ``b = 2`` (0.99 with ``loss="poisson"``).

The binned data are held in memory (``1 / b^2`` of the positions, in the
counts' own integer type while the sums fit), built in one pass over any
data object.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse

from .backend import get_backend
from .data import SketchedData, _squared_sum
from .geometry import AxisInfo, Geometry

__all__ = [
    "MAX_SCAN_BINNING",
    "TARGET_COUNTS",
    "ScanBinning",
    "SignalBinning",
    "auto_scan_binning",
    "auto_signal_binning",
    "bin_signal",
    "bin_scan",
    "counts_per_position",
    "is_counts",
]

#: Counts per binned pattern that ``scan_binning="auto"`` aims for.
TARGET_COUNTS = 400.0
#: Largest binning ``"auto"`` chooses.
MAX_SCAN_BINNING = 4
#: Smallest binned scan side ``"auto"`` accepts: the maps of the coarse fit
#: must still show the grains.
MIN_BINNED_SIDE = 12


def auto_scan_binning(counts_per_position: float, navigation_shape) -> int:
    """The binning ``b`` of a 2D scan for ``scan_binning="auto"``.

    The smallest ``b`` with ``b^2 counts_per_position >= TARGET_COUNTS``, at
    most :data:`MAX_SCAN_BINNING` and keeping at least
    :data:`MIN_BINNED_SIDE` binned positions along each scan axis; 1 for
    line scans and well-exposed data.
    """
    if len(navigation_shape) != 2 or counts_per_position >= TARGET_COUNTS:
        return 1
    wanted = math.ceil(math.sqrt(TARGET_COUNTS / max(counts_per_position, 1e-12)))
    largest = min(navigation_shape) // MIN_BINNED_SIDE
    return max(1, min(wanted, MAX_SCAN_BINNING, largest))


def is_counts(data, whole_floats=False) -> bool:
    """Whether a data object holds unscaled counts: an integer type, or with
    ``whole_floats`` also floats that are all finite, nonnegative whole
    numbers (espm writes its EDS counts as float64), from the checks' pass.
    float32 entries from 2^23 up (float16 from 2048) are all whole: data
    that lie wholly that high pass as counts."""
    dtype = _stored_dtype(data)
    scaled = (
        getattr(data, "row_scale", None) is not None
        or getattr(data, "col_scale", None) is not None
    )
    if dtype is None or scaled:
        return False
    if dtype.kind in "ui":
        return True
    if not (whole_floats and dtype.kind == "f"):
        return False
    stats = data.stats()  # the checks' pass: no pass of its own
    return stats.finite and stats.whole and stats.minimum >= 0


def _stored_dtype(data):
    """The dtype ``data`` are stored in (a data object's ``dtype`` is the
    working float type); None for a sketch, which stores no data."""
    raw = getattr(data, "X", getattr(data, "M", None))
    return None if raw is None else np.dtype(raw.dtype)


def counts_per_position(data, whole_floats=False) -> float | None:
    """Mean counts per kept pattern of count data (:func:`is_counts`, which
    ``whole_floats`` is passed to), from the row sums of the checks' pass;
    None for other float data (their units are unknown) and scaled data."""
    if not is_counts(data, whole_floats):
        return None
    return float(np.sum(data.stats().row_sums, dtype=np.float64)) / data.shape[0]


@dataclasses.dataclass(frozen=True)
class ScanBinning:
    """A scan binned ``factor x factor``: the coarse data and the way back.

    Attributes
    ----------
    factor : int
    data : ndarray (n_cells, n_sig)
        Sums of the kept positions of each kept cell, kept columns only: in
        the counts' integer type while the sums fit in it (float32 for
        float data).
    geometry : Geometry
        The coarse scan: ``navigation_shape // factor`` (the remainder rows
        and columns of the scan are left out of the coarse fit), axes
        ``factor`` times coarser, cells without a kept position masked.
    cell_of_row : ndarray of int (n_kept,)
        The coarse row of each kept fine position (the nearest cell for the
        remainder rows and columns; -1 where that cell is masked).
    members : ndarray (n_cells,)
        Kept positions summed in each coarse row.
    """

    factor: int
    data: np.ndarray
    geometry: Geometry
    cell_of_row: np.ndarray
    members: np.ndarray

    def spread(self, coarse_loadings):
        """Fine maps from coarse ones: each position takes its cell's map
        divided by the cell's number of positions (the coarse data are
        sums), so that the model's counts are kept."""
        per_position = coarse_loadings / self.members[:, None].astype(
            coarse_loadings.dtype
        )
        fine = per_position[np.maximum(self.cell_of_row, 0)]
        fine[self.cell_of_row < 0] = 0
        return fine


def _start_dtype(data):
    """The counts' own integer type (a uint16 scan binned 2 x 2 then takes a
    quarter of its memory); float32 for float data."""
    dtype = _stored_dtype(data)
    if dtype is None or dtype.kind not in "ui":
        return np.dtype(np.float32)
    return dtype.newbyteorder("=")


def _accumulate(binned, touched, sums):
    """Add ``sums`` to the rows ``touched`` of ``binned``, widening an
    integer type when the sums no longer fit in it."""
    total = binned[touched] + sums
    dtype = binned.dtype
    while dtype.kind in "ui" and total.max() > np.iinfo(dtype).max:
        dtype = np.dtype(np.uint32 if dtype.itemsize < 4 else np.uint64)
    if dtype != binned.dtype:
        binned = binned.astype(dtype)
    binned[touched] = total.astype(dtype)
    return binned


def _coarse_axes(axes, factor, shape):
    return tuple(
        AxisInfo(
            size=n,
            scale=a.scale * factor,
            offset=a.offset + a.scale * (factor - 1) / 2,
            units=a.units,
            name=a.name,
        )
        for a, n in zip(axes, shape, strict=True)
    )


def _cells(geometry, factor):
    """Coarse cell of every kept fine position (C order), clipped to the
    coarse grid, and whether it lies inside the cropped grid."""
    rows, cols = geometry.navigation_shape
    keep = np.ones(rows * cols, bool)
    if geometry.navigation_mask is not None:
        keep = ~geometry.navigation_mask.ravel()
    positions = np.flatnonzero(keep)
    r, c = np.divmod(positions, cols)
    coarse = (rows // factor, cols // factor)
    cr, cc = r // factor, c // factor
    inside = (cr < coarse[0]) & (cc < coarse[1])
    cell = np.minimum(cr, coarse[0] - 1) * coarse[1] + np.minimum(cc, coarse[1] - 1)
    return cell, inside, coarse


def bin_scan(data, geometry: Geometry, factor: int) -> ScanBinning:
    """Bin the scan of ``data`` ``factor x factor`` in one pass.

    Parameters
    ----------
    data : data object
        The kept positions and pixels (:mod:`~hyperspy_cnmf.core.data`),
        unscaled; read through its ``row_blocks()``.
    geometry : Geometry
        With a 2D ``navigation_shape`` of at least ``factor`` along each
        axis.
    factor : int

    Returns
    -------
    ScanBinning
    """
    nav = geometry.navigation_shape
    if len(nav) != 2 or min(nav) < factor:
        raise ValueError(
            f"scan_binning={factor} needs a 2D scan of at least {factor} "
            f"positions along each axis, not {nav}"
        )
    cell, inside, coarse = _cells(geometry, factor)
    n_cells = coarse[0] * coarse[1]
    members = np.bincount(cell[inside], minlength=n_cells).astype(np.float64)
    binned = np.zeros((n_cells, data.shape[1]), dtype=_start_dtype(data))
    for rows, block in data.row_blocks():
        block = np.asarray(block.get() if hasattr(block, "get") else block)
        used = inside[rows]
        if not used.any():
            continue
        touched, local = np.unique(cell[rows][used], return_inverse=True)
        summing = scipy.sparse.csr_matrix(
            (np.ones(local.size), (local, np.arange(local.size))),
            shape=(touched.size, local.size),
        )
        sums = summing @ block[used].astype(np.float64)
        binned = _accumulate(binned, touched, sums)
    kept_cells = members > 0
    cell_index = np.full(n_cells, -1)
    cell_index[kept_cells] = np.arange(int(kept_cells.sum()))
    coarse_geometry = dataclasses.replace(
        geometry,
        navigation_shape=coarse,
        navigation_axes=_coarse_axes(geometry.navigation_axes, factor, coarse),
        navigation_mask=None if kept_cells.all() else ~kept_cells.reshape(coarse),
    )
    return ScanBinning(
        factor=factor,
        data=binned[kept_cells],
        geometry=coarse_geometry,
        cell_of_row=cell_index[cell],
        members=members[kept_cells],
    )


#: Smallest binned pattern side ``signal_binning="auto"`` accepts: rings
#: and Bragg spots of a 128 x 128 detector binned 2 x 2 are still resolved.
MIN_BINNED_SIGNAL_SIDE = 64
#: Largest binning ``signal_binning="auto"`` chooses.
MAX_SIGNAL_BINNING = 2


def auto_signal_binning(geometry, compression, factor_constraints) -> int:
    """The detector binning of the restarts for ``signal_binning="auto"``.

    The restarts only choose the maps the exact phase starts from: on a
    sketch of 2D patterns whose constraints take the pixel grid from the
    geometry (the paper's ``RadialContinuity()``: centre and mask binned
    alike) they run on patterns binned ``b x b``, the largest ``b`` up to
    :data:`MAX_SIGNAL_BINNING` that keeps :data:`MIN_BINNED_SIGNAL_SIDE`
    pixels a side; 1 otherwise (spectra, exact restarts, constraints that
    read pixel positions of their own).
    """
    if (
        compression is None
        or geometry is None
        or len(geometry.signal_shape) != 2
        or not all(getattr(c, "follows_binning", False) for c in factor_constraints)
    ):
        return 1
    largest = min(geometry.signal_shape) // MIN_BINNED_SIGNAL_SIDE
    return max(1, min(MAX_SIGNAL_BINNING, largest))


@dataclasses.dataclass(frozen=True)
class SignalBinning:
    """Patterns binned ``factor x factor``, and the way back.

    Attributes
    ----------
    factor : int
    geometry : Geometry
        The binned detector: ``signal_shape // factor`` (the remainder rows
        and columns join the last bin), the beam centre and axes in binned
        pixels, bins whose pixels are all excluded masked.
    pooling : scipy.sparse.csr_matrix (n_sig, n_bins)
        The mean of each bin's kept pixels: ``X @ pooling`` are the binned
        patterns, on the intensity scale of the pixels.
    members : ndarray of int (n_sig,)
        The kept bin of each kept pixel.
    """

    factor: int
    geometry: Geometry
    pooling: scipy.sparse.csr_matrix
    members: np.ndarray

    def spread(self, factors, loadings):
        """Full-resolution patterns from binned ones (each pixel takes its
        bin's value, the bins being means), columns scaled to unit norm as
        the fit keeps them, and the maps scaled to keep the model."""
        xp = get_backend(factors).xp
        fine = factors[xp.asarray(self.members)]
        norms = xp.sqrt((fine * fine).sum(axis=0))
        norms = xp.where(norms > 0, norms, 1).astype(fine.dtype)
        return fine / norms, loadings * norms

    def of_sketch(self, sketched):
        """The sketch ``P Z`` of the binned patterns: ``P (Z pooling)``.

        Its ``squared_norm`` estimates that of the binned data, so that the
        restarts' errors and their relative tolerances keep the noise floor
        as on the unbinned sketch: the sketch's own part exactly, plus the
        part it leaves out as white noise, whose energy the mean of ``b^2``
        pixels over ``1 / b^2`` as many pixels divides by ``b^4``.
        """
        backend = sketched.backend
        xp = backend.xp
        pooling_t = backend.sparse.csr_matrix(self.pooling.T.astype(sketched.dtype))
        Z = xp.ascontiguousarray((pooling_t @ sketched.Z.T).T, dtype=sketched.dtype)
        left_out = max(sketched.squared_norm - _squared_sum(sketched.Z, xp), 0.0)
        squared_norm = _squared_sum(Z, xp) + left_out / self.factor**4
        return SketchedData(sketched.P, Z, squared_norm, backend)


def bin_signal(geometry: Geometry, factor: int) -> SignalBinning:
    """Bin the 2D patterns of ``geometry`` ``factor x factor``."""
    sig = geometry.signal_shape
    if len(sig) != 2 or min(sig) < 2 * factor:
        raise ValueError(
            f"signal_binning={factor} needs 2D patterns of at least "
            f"{2 * factor} pixels along each axis, not {sig}"
        )
    coarse = (sig[0] // factor, sig[1] // factor)
    rows, cols = np.indices(sig)
    bins = (
        np.minimum(rows // factor, coarse[0] - 1) * coarse[1]
        + np.minimum(cols // factor, coarse[1] - 1)
    ).ravel()
    kept = (
        np.ones(bins.size, bool)
        if geometry.signal_mask is None
        else ~geometry.signal_mask.ravel()
    )
    bins = bins[kept]
    sizes = np.bincount(bins, minlength=coarse[0] * coarse[1])
    kept_bins = sizes > 0
    index = np.cumsum(kept_bins) - 1
    members = index[bins]
    pooling = scipy.sparse.csr_matrix(
        (1.0 / sizes[bins], (np.arange(bins.size), members)),
        shape=(bins.size, int(kept_bins.sum())),
    )
    center_xy = tuple((c + 0.5) / factor - 0.5 for c in geometry.center)
    binned = dataclasses.replace(
        geometry,
        signal_shape=coarse,
        signal_axes=_coarse_axes(geometry.signal_axes, factor, coarse),
        center=center_xy,
        signal_mask=None if kept_bins.all() else ~kept_bins.reshape(coarse),
    )
    return SignalBinning(factor, binned, pooling, members)
