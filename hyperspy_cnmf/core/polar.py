"""Polar resampling of diffraction patterns about a beam centre.

The transform is a sparse matrix built once (bilinear interpolation weights)
and applied to a whole stack of patterns with one sparse product, so a
constraint or a similarity can use it every iteration for milliseconds.

Convention: a polar sample at radius ``r`` (pixels) and angle ``phi``
(radians) sits at ``row = c_row + r sin(phi)``, ``col = c_col + r cos(phi)``.
With rows pointing down, ``phi`` increases clockwise on screen. Rotating a
pattern by ``angle`` (see :func:`rotate_images`) shifts its polar image by
``+angle`` along ``phi``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .backend import NUMPY
from .geometry import check_center_rc

__all__ = [
    "PolarOperator",
    "direct_beam_radius",
    "inscribed_radius",
    "masked_disc_radius",
    "polar_operator",
    "radial_profile",
    "radius_map",
    "rotate_images",
]


def _bilinear_weights(rows, cols, shape, excluded):
    """Sparse rows of bilinear weights for points ``(rows, cols)``.

    Stencil pixels outside the image or excluded are dropped and the
    remaining weights renormalised; a point keeps a row only if at least
    half of its weight survives, otherwise it is marked invalid.
    """
    n_rows, n_cols = shape
    r0 = np.floor(rows).astype(np.int64)
    c0 = np.floor(cols).astype(np.int64)
    fr = rows - r0
    fc = cols - c0
    point = np.arange(rows.size)
    entries_p, entries_pix, entries_w = [], [], []
    for dr, dc, w in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < n_rows) & (cc >= 0) & (cc < n_cols) & (w > 0)
        pix = rr[inside] * n_cols + cc[inside]
        keep = ~excluded[pix]
        entries_p.append(point[inside][keep])
        entries_pix.append(pix[keep])
        entries_w.append(w[inside][keep])
    p = np.concatenate(entries_p)
    pix = np.concatenate(entries_pix)
    w = np.concatenate(entries_w)
    total = np.bincount(p, weights=w, minlength=rows.size)
    valid = total >= 0.5
    keep = valid[p]
    w = w[keep] / total[p[keep]]
    matrix = sp.csr_matrix(
        (w, (p[keep], pix[keep])), shape=(rows.size, n_rows * n_cols)
    )
    return matrix, valid


@dataclass(frozen=True, eq=False)
class PolarOperator:
    """Sparse polar resampling of ``(rows, cols)`` images about ``center_rc``.

    Build it with :func:`polar_operator`.

    Attributes
    ----------
    shape : (int, int)
        Image shape.
    center_rc : (float, float)
        Centre ``(row, col)`` in pixels.
    radii : ndarray, shape (n_radial,)
        Sample radii in pixels (step 1 px from 0).
    angles : ndarray, shape (n_azimuthal,)
        Sample angles in radians, ``2 pi k / n_azimuthal``.
    matrix : scipy.sparse.csr_matrix, shape (n_radial * n_azimuthal, n_pixels)
        Bilinear interpolation weights; rows of invalid samples are empty.
    valid : ndarray of bool, shape (n_radial, n_azimuthal)
        Samples inside the image and away from excluded pixels.
    radial_matrix : scipy.sparse.csr_matrix, shape (n_pixels, n_radial)
        Linear interpolation of a radial profile onto every kept pixel
        (rows of excluded pixels are empty).
    excluded : ndarray of bool, shape (n_pixels,)
        Pixels left out (the mask), flattened.
    """

    shape: tuple[int, int]
    center_rc: tuple[float, float]
    radii: np.ndarray
    angles: np.ndarray
    matrix: sp.csr_matrix = field(repr=False)
    valid: np.ndarray = field(repr=False)
    radial_matrix: sp.csr_matrix = field(repr=False)
    excluded: np.ndarray = field(repr=False)
    _device_cache: dict = field(default_factory=dict, repr=False)

    @property
    def polar_shape(self) -> tuple[int, int]:
        return (self.radii.size, self.angles.size)

    def _cached(self, key, backend, build):
        """``build()`` (scipy sparse matrices) moved to ``backend``, built once."""
        key = (*key, backend.name)
        if key not in self._device_cache:
            pieces = build()
            if backend.name != "numpy":
                pieces = tuple(backend.sparse.csr_matrix(p) for p in pieces)
            self._device_cache[key] = pieces
        return self._device_cache[key]

    def _matrix_for(self, name, backend, dtype=np.float64):
        """The sparse matrix ``name`` in ``dtype`` on ``backend`` (cached)."""
        dtype = np.dtype(dtype)
        (matrix,) = self._cached(
            (name, dtype.str), backend, lambda: (getattr(self, name).astype(dtype),)
        )
        return matrix

    def to_polar(self, images, backend=NUMPY):
        """Resample ``images`` (n, rows, cols) to ``(n, n_radial, n_azimuthal)``.

        Invalid samples are 0; use :attr:`valid` to ignore them.
        """
        n = images.shape[0]
        flat = images.reshape(n, -1)
        polar = self._matrix_for("matrix", backend, images.dtype) @ flat.T
        return polar.T.reshape((n, *self.polar_shape))

    def radial_statistics(self, backend=NUMPY, dtype=np.float64):
        """Sparse pieces for per-radius statistics over the valid samples.

        Returns ``(sampler, radial_sum, spread)``: ``sampler`` holds the rows
        of :attr:`matrix` of valid samples only (n_valid, n_pixels),
        ``radial_sum`` (n_radial, n_valid) sums samples per radius and
        ``spread`` (n_valid, n_radial), its transpose, copies a per-radius
        value to every sample of that radius (a sparse product: much faster
        than fancy indexing of a (n_valid, n) array). In ``dtype`` on
        ``backend``; built on first use and kept.
        """
        dtype = np.dtype(dtype)

        def build():
            flat_valid = np.flatnonzero(self.valid.ravel())
            radius_index = flat_valid // self.angles.size
            radial_sum = sp.csr_matrix(
                (
                    np.ones(flat_valid.size, dtype=dtype),
                    (radius_index, np.arange(flat_valid.size)),
                ),
                shape=(self.radii.size, flat_valid.size),
            )
            return (
                self.matrix[flat_valid].astype(dtype),
                radial_sum,
                radial_sum.T.tocsr(),
            )

        return self._cached(("radial_statistics", dtype.str), backend, build)

    def back_projection(self, backend=NUMPY, dtype=np.float64):
        """Sparse (n_pixels, n_valid) interpolation from valid samples to pixels.

        Each kept pixel takes the bilinear interpolation, in ``(r, phi)``,
        of the valid polar samples around its own radius and angle (the
        inverse polar transform, restricted to valid samples, weights
        renormalised; pixels with less than half their weight on valid
        samples, beyond the largest radius or excluded get an empty row).
        Columns follow :meth:`radial_statistics`. Built on first use and kept.
        """
        dtype = np.dtype(dtype)
        (matrix,) = self._cached(
            ("back_projection", dtype.str),
            backend,
            lambda: (_polar_to_pixels(self).astype(dtype),),
        )
        return matrix

    def radial_interpolation(self, backend=NUMPY, dtype=np.float64):
        """:attr:`radial_matrix` in ``dtype`` on ``backend`` (cached)."""
        return self._matrix_for("radial_matrix", backend, dtype)

    def profiles_to_pixels(self, profiles, backend=NUMPY):
        """Spread radial profiles (n_radial, n) over the pixels: (n_pixels, n)."""
        return self.radial_interpolation(backend, profiles.dtype) @ profiles


def polar_operator(
    shape,
    center_rc=None,
    *,
    n_azimuthal=None,
    r_max=None,
    mask=None,
) -> PolarOperator:
    """Build the polar resampling operator for ``shape`` images.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(rows, cols)``.
    center_rc : (float, float), optional
        Centre ``(row, col)`` in pixels; default the image middle.
    n_azimuthal : int, optional
        Number of angles. Default: enough that neighbouring samples on the
        outermost radius are at most one pixel apart (so every pixel is
        sampled), and at least 360.
    r_max : float, optional
        Largest radius in pixels. Default: distance to the farthest corner.
    mask : bool array, optional
        ``True`` marks excluded pixels (e.g. a masked direct beam).

    Returns
    -------
    PolarOperator
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2:
        raise ValueError(f"polar resampling needs 2D images, got shape {shape}")
    if center_rc is None:
        center_rc = _middle(shape)
    c_row, c_col = check_center_rc(center_rc, shape)
    excluded = (
        np.zeros(shape[0] * shape[1], dtype=bool)
        if mask is None
        else np.asarray(mask, dtype=bool).reshape(-1)
    )
    corners = np.array(
        [[0, 0], [0, shape[1] - 1], [shape[0] - 1, 0], [shape[0] - 1, shape[1] - 1]]
    )
    if r_max is None:
        r_max = float(np.max(np.hypot(corners[:, 0] - c_row, corners[:, 1] - c_col)))
    n_radial = int(np.floor(r_max)) + 1
    if n_azimuthal is None:
        n_azimuthal = max(360, int(np.ceil(2 * np.pi * r_max / 4)) * 4)
    radii = np.arange(n_radial, dtype=float)
    angles = 2 * np.pi * np.arange(n_azimuthal) / n_azimuthal
    rows = c_row + radii[:, None] * np.sin(angles)[None, :]
    cols = c_col + radii[:, None] * np.cos(angles)[None, :]
    matrix, valid = _bilinear_weights(rows.ravel(), cols.ravel(), shape, excluded)
    radial_matrix = _radial_interpolation(shape, (c_row, c_col), n_radial, excluded)
    return PolarOperator(
        shape=shape,
        center_rc=(c_row, c_col),
        radii=radii,
        angles=angles,
        matrix=matrix,
        valid=valid.reshape(n_radial, n_azimuthal),
        radial_matrix=radial_matrix,
        excluded=excluded,
    )


def _polar_to_pixels(op):
    """Bilinear weights from the valid polar samples of ``op`` to its pixels."""
    n_radial, n_azimuthal = op.polar_shape
    rows, cols = np.indices(op.shape)
    d_row = (rows - op.center_rc[0]).ravel()
    d_col = (cols - op.center_rc[1]).ravel()
    rho = np.hypot(d_row, d_col)
    angle = np.mod(np.arctan2(d_row, d_col), 2 * np.pi) * n_azimuthal / (2 * np.pi)
    r0 = np.floor(rho).astype(np.int64)
    a0 = np.floor(angle).astype(np.int64)
    fr, fa = rho - r0, angle - a0
    # Position of each polar sample among the valid ones (-1: invalid).
    position = np.full(n_radial * n_azimuthal, -1, dtype=np.int64)
    valid_flat = np.flatnonzero(op.valid.ravel())
    position[valid_flat] = np.arange(valid_flat.size)
    pixel = np.arange(rho.size)
    entries_pix, entries_col, entries_w = [], [], []
    for dr, da, w in (
        (0, 0, (1 - fr) * (1 - fa)),
        (1, 0, fr * (1 - fa)),
        (0, 1, (1 - fr) * fa),
        (1, 1, fr * fa),
    ):
        r = r0 + dr
        a = np.mod(a0 + da, n_azimuthal)
        inside = (r < n_radial) & (w > 0) & ~op.excluded
        col = np.full(rho.size, -1, dtype=np.int64)
        col[inside] = position[r[inside] * n_azimuthal + a[inside]]
        use = col >= 0
        entries_pix.append(pixel[use])
        entries_col.append(col[use])
        entries_w.append(w[use])
    p = np.concatenate(entries_pix)
    c = np.concatenate(entries_col)
    w = np.concatenate(entries_w)
    total = np.bincount(p, weights=w, minlength=rho.size)
    keep = total[p] >= 0.5
    w = w[keep] / total[p[keep]]
    return sp.csr_matrix((w, (p[keep], c[keep])), shape=(rho.size, valid_flat.size))


def _radial_interpolation(shape, center_rc, n_radial, excluded):
    """Sparse (n_pixels, n_radial) linear interpolation in the radius."""
    rho = radius_map(shape, center_rc).ravel()
    pixel = np.arange(rho.size)
    inside = (rho <= n_radial - 1) & ~excluded
    lo = np.floor(rho).astype(np.int64)
    frac = rho - lo
    hi = np.minimum(lo + 1, n_radial - 1)
    p = np.concatenate([pixel[inside], pixel[inside]])
    r = np.concatenate([lo[inside], hi[inside]])
    w = np.concatenate([1 - frac[inside], frac[inside]])
    return sp.csr_matrix((w, (p, r)), shape=(rho.size, n_radial))


def _image_stack(images, what, dtype=None):
    """``images`` as an ``(n, rows, cols)`` array, and whether it was one image."""
    images = np.asarray(images, dtype=dtype)
    single = images.ndim == 2
    if single:
        images = images[None]
    if images.ndim != 3:
        raise ValueError(
            f"{what} needs one image (rows, cols) or a stack (n, rows, cols), "
            f"got shape {images.shape}"
        )
    return images, single


def rotate_images(images, angle_deg, center_rc=None, *, order=1, cval=0.0):
    """Rotate patterns about the beam centre, consistently with the polar grid.

    Rotating by ``angle_deg`` shifts the polar image (see
    :meth:`PolarOperator.to_polar`) by ``+angle_deg`` along ``phi``: the
    feature at angle ``phi`` moves to ``phi + angle_deg``. With rows pointing
    down this is a clockwise rotation on screen. This is the convention of the
    ``rotation_deg`` returned by
    :func:`hyperspy_cnmf.core.similarity.diffraction_similarity`, so a pattern
    rotated by that angle matches its partner.

    Parameters
    ----------
    images : array_like, shape (rows, cols) or (n, rows, cols)
        Pattern(s) to rotate.
    angle_deg : float or array_like, shape (n,)
        Rotation angle(s) in degrees; one per image or one for all.
    center_rc : (float, float), optional
        Centre ``(row, col)`` in pixels; default the image middle (as in
        :func:`polar_operator`).
    order : int, optional
        Spline order of :func:`scipy.ndimage.affine_transform` (1: bilinear).
    cval : float, optional
        Value of pixels that come from outside the image.

    Returns
    -------
    ndarray
        Rotated images, same shape as ``images`` (floating point).
    """
    from scipy import ndimage

    images, single = _image_stack(images, "rotate_images")
    if images.dtype.kind != "f":
        images = images.astype(np.float64)
    n = images.shape[0]
    angles = np.asarray(angle_deg, dtype=float).ravel()
    if angles.size not in (1, n):
        raise ValueError(
            f"got {angles.size} angles for {n} images; give one angle or one per image"
        )
    angles = np.broadcast_to(angles, (n,))
    if center_rc is None:
        center_rc = _middle(images.shape[1:])
    c = np.array([float(center_rc[0]), float(center_rc[1])])
    out = np.empty_like(images)
    for i, angle in enumerate(np.deg2rad(angles)):
        cos, sin = np.cos(angle), np.sin(angle)
        # output (row, col) samples the input at the polar angle phi - angle
        matrix = np.array([[cos, -sin], [sin, cos]])
        ndimage.affine_transform(
            images[i],
            matrix,
            offset=c - matrix @ c,
            output=out[i],
            order=order,
            mode="constant",
            cval=cval,
        )
    return out[0] if single else out


# --------------------------------------------------------------------------
# Radial geometry about the centre
# --------------------------------------------------------------------------


def _middle(shape):
    return ((shape[0] - 1) / 2, (shape[1] - 1) / 2)


def radius_map(shape, center_rc=None):
    """Distance of every pixel from the centre.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(rows, cols)``.
    center_rc : (float, float), optional
        Centre ``(row, col)`` in pixels; default the image middle
        ``((rows - 1) / 2, (cols - 1) / 2)``.

    Returns
    -------
    ndarray, shape (rows, cols)
        ``r = sqrt((row - c_row)^2 + (col - c_col)^2)`` in pixels.
    """
    if center_rc is None:
        center_rc = _middle(shape)
    rows = np.arange(shape[0], dtype=np.float64) - float(center_rc[0])
    cols = np.arange(shape[1], dtype=np.float64) - float(center_rc[1])
    return np.hypot(rows[:, None], cols[None, :])


def inscribed_radius(shape, center_rc=None) -> float:
    """Radius of the largest circle about ``center_rc`` inside the image.

    Every radius up to this one is sampled over all angles, so a rotated
    copy of a pattern is compared over the same support.

    Parameters
    ----------
    shape : (int, int)
    center_rc : (float, float), optional
        ``(row, col)``; default the image middle.

    Returns
    -------
    float
        ``min(c_row, c_col, rows - 1 - c_row, cols - 1 - c_col)`` pixels.
    """
    if center_rc is None:
        center_rc = _middle(shape)
    c_row, c_col = float(center_rc[0]), float(center_rc[1])
    return float(min(c_row, c_col, shape[0] - 1 - c_row, shape[1] - 1 - c_col))


_ROUNDING = {"floor": np.floor, "nearest": np.rint}


def radial_profile(
    images,
    center_rc=None,
    *,
    mask=None,
    n_bins=None,
    rounding="floor",
    return_counts=False,
):
    """Azimuthal mean of images in rings of one pixel width.

    Pixel ``(row, col)`` falls in bin ``b = floor(r)`` (``rounding="floor"``,
    ``b <= r < b + 1``) or ``b = rint(r)`` (``"nearest"``,
    ``b - 1/2 <= r < b + 1/2``), ``r`` its distance from the centre
    (:func:`radius_map`). The profile of bin ``b`` is

    ``p_b = sum_{pixels in b, not masked} x / n_b``,

    ``n_b`` the number of unmasked pixels in the bin (``p_b = 0`` where
    ``n_b = 0``).

    Parameters
    ----------
    images : array_like, shape (rows, cols) or (n, rows, cols)
    center_rc : (float, float), optional
        Centre ``(row, col)`` in pixels; default the image middle.
    mask : bool array, shape (rows, cols), optional
        ``True`` marks excluded pixels.
    n_bins : int, optional
        Number of bins (radii ``0 ... n_bins - 1``); pixels beyond are left
        out. Default: up to the farthest pixel.
    rounding : {"floor", "nearest"}, default "floor"
    return_counts : bool, default False
        Also return ``n_b``.

    Returns
    -------
    profile : ndarray, shape (n_bins,) or (n, n_bins)
    counts : ndarray of int, shape (n_bins,)
        Only with ``return_counts=True``.
    """
    images, single = _image_stack(images, "radial_profile", np.float64)
    if rounding not in _ROUNDING:
        raise ValueError(f"rounding must be 'floor' or 'nearest', got {rounding!r}")
    shape = images.shape[1:]
    bins = _ROUNDING[rounding](radius_map(shape, center_rc)).astype(np.int64)
    if n_bins is None:
        n_bins = int(bins.max()) + 1
    keep = bins < n_bins
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f"mask shape {mask.shape} != image shape {shape}")
        keep &= ~mask
    index = bins[keep]
    counts = np.bincount(index, minlength=n_bins)
    sums = np.stack([np.bincount(index, image[keep], n_bins) for image in images])
    profile = sums / np.maximum(counts, 1)
    if single:
        profile = profile[0]
    return (profile, counts) if return_counts else profile


def masked_disc_radius(mask, center_rc) -> float:
    """Radius of the largest disc about ``center_rc`` that ``mask`` covers.

    Parameters
    ----------
    mask : bool array, shape (rows, cols) or None
        ``True`` marks excluded pixels (e.g. a masked direct beam).
    center_rc : (float, float)
        ``(row, col)`` in pixels.

    Returns
    -------
    float
        The distance from the centre to the nearest unmasked pixel when every
        pixel within 1 px of the centre is masked, else 0 (also for no mask).
    """
    if mask is None:
        return 0.0
    mask = np.asarray(mask, dtype=bool)
    radius = radius_map(mask.shape, center_rc)
    if not mask[radius <= 1.0].all() or mask.all():
        return 0.0
    return float(radius[~mask].min())


def direct_beam_radius(patterns, center_rc, r_max) -> float:
    """Radius of a bright direct beam that the patterns share.

    The patterns are normalised to unit L1 norm and their absolute values
    summed; in the radial profile (:func:`radial_profile`, bins of 1 px up to
    ``r_max``) of that sum, a central peak (in bin 0 or 1) standing at least
    3 times above the median level ``m`` is a direct beam. Its half-width at
    half-maximum ``h`` is the first radius where the profile drops below
    ``m + (peak - m) / 2``; the beam radius is ``2.5 h`` (about 3 sigma of
    a Gaussian), at most ``r_max / 3``.

    Parameters
    ----------
    patterns : array_like, shape (k, rows, cols)
    center_rc : (float, float)
        ``(row, col)`` in pixels.
    r_max : float
        Largest radius considered, pixels.

    Returns
    -------
    float
        The radius in pixels, 0 when no such peak is found.
    """
    patterns = np.asarray(patterns, dtype=np.float64)
    norms = np.maximum(np.abs(patterns).sum(axis=(1, 2)), 1e-300)
    total = np.abs(patterns / norms[:, None, None]).sum(axis=0)
    farthest = np.floor(radius_map(total.shape, center_rc).max())
    n_bins = int(min(r_max, farthest)) + 1
    profile = radial_profile(total, center_rc, n_bins=n_bins)
    base = float(np.median(profile))
    peak = float(profile[:2].max())
    if n_bins < 4 or peak <= 3 * max(base, 1e-300) or profile.argmax() > 1:
        return 0.0
    below = np.flatnonzero(profile - base < 0.5 * (peak - base))
    if below.size == 0:
        return 0.0
    return float(min(2.5 * below[0], r_max / 3))
