"""Similarity of factorized diffraction patterns (Kimoto et al. 2025, eqs. 9-11).

Two measures between ``k`` patterns:

* :func:`cosine_similarity` (eq. 9): the normalised inner product of the
  flattened patterns. It does not recognise a rotated copy of a pattern.
* :func:`diffraction_similarity` (eqs. 10-11): the peak of the cross-correlation
  of the polar-transformed ``(r, phi)`` patterns along ``phi`` only (zero radial
  shift), and the azimuthal shift at that peak, i.e. the rotation between the
  patterns. All pairs come from one FFT of the polar stack.

For spectra (EELS, EDS components) :func:`spectral_similarity` is the 1D
counterpart: the plain cosine, or the peak of the normalised
cross-correlation over small energy shifts (a drift of the energy scale),
with the shift at the peak.

Both are plain NumPy/SciPy; nothing here imports HyperSpy.
"""

from __future__ import annotations

import numpy as np

from .polar import inscribed_radius, polar_operator

__all__ = [
    "cosine_similarity",
    "crystalline",
    "diffraction_similarity",
    "polar_stack",
    "spectral_similarity",
]


def _check_patterns(patterns, *, need_2d, at_least=2, name="patterns"):
    """Validate a ``(k, ...)`` stack of patterns; return it as a float array."""
    patterns = np.asarray(patterns)
    if patterns.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} have dtype {patterns.dtype}; pass real intensities "
            "(complex data: take the modulus first)"
        )
    patterns = patterns.astype(np.float64, copy=False)
    if patterns.ndim < 2:
        raise ValueError(
            f"{name} must be a stack (k, ...) of at least {at_least} pattern"
            f"{'s' if at_least > 1 else ''}, got shape {patterns.shape}; stack "
            "them along the first axis"
        )
    if need_2d and patterns.ndim != 3:
        raise ValueError(
            f"diffraction similarity needs 2D patterns stacked as (k, rows, "
            f"cols), got shape {patterns.shape}; reshape each component to its "
            "(rows, cols) diffraction pattern (HyperSpy: s.fold() or "
            "components.data)"
        )
    if patterns.shape[0] < at_least:
        raise ValueError(
            f"need at least {at_least} {name} to compare, got "
            f"{patterns.shape[0]}; factorize with more components or skip the "
            "similarity step"
        )
    if not np.isfinite(patterns).all():
        raise ValueError(
            f"{name} contain NaN or infinite values; replace them (e.g. "
            "np.nan_to_num) or exclude those pixels with mask="
        )
    return patterns


def _unit_rows(vectors):
    """Rows of ``(k, n)`` vectors divided by their L2 norms (null rows: 0)."""
    norms = np.linalg.norm(vectors, axis=1)
    return vectors / np.where(norms > 0, norms, 1.0)[:, None]


def cosine_similarity(patterns, other=None):
    """Cosine similarity between every pair of patterns (eq. 9).

    ``S_ij = <w_i, w_j> / (|w_i| |w_j|)`` of the flattened patterns.

    Parameters
    ----------
    patterns : array_like, shape (k, ...)
        ``k`` patterns of any shape; each is flattened.
    other : array_like, shape (m, ...), optional
        Compare ``patterns`` with these (same number of values per pattern)
        instead of with themselves.

    Returns
    -------
    ndarray, shape (k, k) or (k, m)
        Values in ``[-1, 1]``. A pair involving an all-zero pattern scores 0.
        Without ``other`` the matrix is symmetric with a diagonal of exactly
        1.

    Raises
    ------
    ValueError
        NaN/inf values, patterns of different lengths, or (without
        ``other``) fewer than 2 patterns.
    """
    if other is None:
        patterns = _check_patterns(patterns, need_2d=False)
        unit = _unit_rows(patterns.reshape(patterns.shape[0], -1))
        gram = unit @ unit.T
        np.fill_diagonal(gram, 1.0)
    else:
        a = _check_patterns(patterns, need_2d=False, at_least=1)
        b = _check_patterns(other, need_2d=False, at_least=1, name="other")
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        if a.shape[1] != b.shape[1]:
            raise ValueError(
                f"the patterns differ in length: {a.shape[1]} and {b.shape[1]} values"
            )
        gram = _unit_rows(a) @ _unit_rows(b).T
    return np.clip(gram, -1.0, 1.0, out=gram)


def polar_stack(
    patterns, center_rc=None, mask=None, n_azimuthal=360, r_min=0, r_max=None
):
    """Polar images of a pattern stack on the grid used for the similarity.

    Parameters
    ----------
    patterns : ndarray, shape (k, rows, cols)
    center_rc, mask, n_azimuthal, r_min, r_max
        As in :func:`diffraction_similarity`.

    Returns
    -------
    polar : ndarray, shape (k, n_radial, n_azimuthal)
        Radii ``r_min <= r <= r_max`` only; invalid samples are 0.
    valid : ndarray of bool, shape (n_radial, n_azimuthal)
    """
    shape = patterns.shape[1:]
    if r_max is None:
        r_max = inscribed_radius(shape, center_rc)
    if mask is not None and np.shape(mask) != shape:
        raise ValueError(
            f"mask has shape {np.shape(mask)} but the patterns are {shape}; "
            "pass one (rows, cols) boolean mask, True = excluded"
        )
    if int(n_azimuthal) < 4:
        raise ValueError(f"n_azimuthal must be at least 4, got {n_azimuthal}")
    op = polar_operator(
        shape, center_rc, n_azimuthal=int(n_azimuthal), r_max=r_max, mask=mask
    )
    keep = op.radii >= r_min
    if not keep.any() or not op.valid[keep].any():
        raise ValueError(
            f"no valid polar samples between r_min={r_min} and r_max={r_max} "
            "pixels; lower r_min, raise r_max or check the centre and mask"
        )
    polar = op.to_polar(patterns)[:, keep]
    valid = op.valid[keep]
    return polar * valid, valid


def diffraction_similarity(
    patterns,
    center_rc=None,
    mask=None,
    n_azimuthal=360,
    r_min=0,
    r_max=None,
    *,
    subtract_mean=False,
    refine=True,
):
    """Rotation-invariant diffraction similarity and rotation (eqs. 10-11).

    Each pattern is resampled once onto a polar grid ``(r, phi)`` (bilinear,
    about ``center_rc``). For each pair ``(i, j)`` the cross-correlation along
    ``phi`` at zero radial shift,

    ``c_ij(s) = sum_{r, phi} P_i(r, phi) P_j(r, phi - s) / (|P_i| |P_j|)``,

    is computed for every azimuthal shift ``s`` with FFTs along ``phi`` (rfft,
    multiply by the conjugate, sum over radii, irfft). The similarity is its
    maximum and the rotation its argmax. Norms are L2 norms over the valid
    polar samples, so a pattern with itself scores exactly 1 and, by
    Cauchy-Schwarz, no pair scores above 1.

    Parameters
    ----------
    patterns : array_like, shape (k, rows, cols)
        ``k >= 2`` diffraction patterns (e.g. NMF components).
    center_rc : (float, float), optional
        Beam centre ``(row, col)`` in pixels; default the image middle.
    mask : bool array, shape (rows, cols), optional
        ``True`` marks excluded pixels (beam stop, dead pixels); polar samples
        touching them contribute zero.
    n_azimuthal : int, optional
        Number of azimuthal bins; the rotation resolution is
        ``360 / n_azimuthal`` degrees before refinement.
    r_min, r_max : float, optional
        Radial range in pixels. ``r_min`` > 0 drops the direct beam, which
        otherwise dominates and makes every pair look alike. ``r_max``
        defaults to the largest circle that fits inside the image, so that
        every radius is sampled over all angles and a rotated copy is compared
        over the same support.
    subtract_mean : bool or "auto", optional
        Subtract each radius's azimuthal mean before correlating, i.e. compare
        only the anisotropic (Bragg-spot) part. Default ``False``: the paper's
        plain cross-correlation of the polar patterns. ``"auto"``: the plain
        similarity, except for a pair of crystalline patterns (each with its
        anisotropic power concentrated in a few azimuthal harmonics,
        :func:`crystalline`), which scores the lower of the plain and the
        anisotropic similarity, with the rotation of the anisotropic one.
        Crystals on a strong shared diffuse background (thermal diffuse
        scattering, glass) look alike in the plain correlation (two
        different multislice phases 0.91, issue 17) and not in their spots
        (0.41), while rotated copies keep both high (0.95-0.99). With the plain version
        two ring-only (amorphous) components with the same radius score close
        to 1, which is what the clustering needs; with ``subtract_mean=True``
        an isotropic pattern has no anisotropic part and scores 0 with
        everything. Lattices with different spacings have spots at different
        radii and score low either way.
    refine : bool, optional
        Refine the rotation below one bin with a parabola through the peak
        and its two neighbours. The similarity is always the sampled peak.

    Returns
    -------
    similarity : ndarray, shape (k, k)
        Symmetric, diagonal exactly 1, values in [0, 1] (in [-1, 1] with
        ``subtract_mean``). An all-zero pattern scores 0 with the others.
    rotation_deg : ndarray, shape (k, k)
        ``rotation_deg[i, j]`` is the angle in degrees, in ``(-180, 180]``, by
        which pattern ``j`` must be rotated (:func:`~hyperspy_cnmf.core.polar.
        rotate_images`, same sign convention) to best match pattern ``i``.
        ``rotation_deg[j, i] = -rotation_deg[i, j]`` (mod 360); the diagonal
        is 0. If ``j`` is ``i`` rotated by ``theta``, ``rotation_deg[i, j]`` is
        ``-theta``. Patterns with rotational symmetry have several equal
        maxima; the angle is then defined modulo the symmetry.

    Raises
    ------
    ValueError
        Fewer than 2 patterns, patterns that are not 2D, NaN/inf values, a
        mask of the wrong shape or an empty radial range.

    Notes
    -----
    Like the direct beam, a flat background common to all components adds
    the same isotropic term to every pair and raises all similarities;
    subtract it, or use ``subtract_mean=True``, if it is strong.

    Cost: one polar resampling (sparse product) and
    ``O(k^2 n_r n_az)`` for the spectra products plus ``O(k^2 n_az log n_az)``
    for the inverse FFTs; ``k = 30`` patterns of 128 x 128 take a few tens of
    milliseconds.
    """
    patterns = _check_patterns(patterns, need_2d=True)
    polar, valid = polar_stack(
        patterns,
        center_rc=center_rc,
        mask=mask,
        n_azimuthal=n_azimuthal,
        r_min=r_min,
        r_max=r_max,
    )
    anisotropic = _anisotropic_part(polar, valid)
    if isinstance(subtract_mean, str):
        if subtract_mean != "auto":
            raise ValueError(
                f"subtract_mean must be True, False or 'auto', got {subtract_mean!r}"
            )
        return _crystal_aware(polar, anisotropic, refine=refine)
    corr = _azimuthal_correlation(anisotropic if subtract_mean else polar)
    return _peaks(corr, refine=refine)


#: Share of a pattern's anisotropic power (azimuthal harmonics m >= 3) in
#: its strongest harmonic from which :func:`crystalline` calls it a crystal.
#: Measured: amorphous components 0.03-0.05 (noise spreads over all
#: harmonics), crystals 0.14-0.3 on the kinematic simulation and 0.45-0.78
#: on the multislice one (spots of an n-fold zone axis put their power at
#: m = n, 2n, ...). Harmonics 1 and 2 are left out: an off-centre or
#: elliptical ring puts power there without any spot.
CRYSTAL_HARMONIC_SHARE = 0.1


def _anisotropic_part(polar, valid):
    counts = valid.sum(axis=1)
    means = polar.sum(axis=2) / np.maximum(counts, 1)
    return (polar - means[:, :, None]) * valid


def crystalline(anisotropic, threshold=CRYSTAL_HARMONIC_SHARE):
    """Which polar patterns' anisotropic parts look like Bragg spots.

    Parameters
    ----------
    anisotropic : ndarray, shape (k, n_r, n_az)
        Polar patterns minus each radius's azimuthal mean.
    threshold : float
        :data:`CRYSTAL_HARMONIC_SHARE`.

    Returns
    -------
    ndarray of bool, shape (k,)
        True where the strongest azimuthal harmonic (``m >= 3``) holds at
        least ``threshold`` of the power of those harmonics.
    """
    power = (np.abs(np.fft.rfft(anisotropic, axis=2)) ** 2).sum(axis=1)[:, 3:]
    total = power.sum(axis=1)
    share = power.max(axis=1, initial=0.0) / np.where(total > 0, total, 1.0)
    return (total > 0) & (share >= threshold)


def _crystal_aware(polar, anisotropic, *, refine):
    """``subtract_mean="auto"`` of :func:`diffraction_similarity`."""
    plain, plain_rotation = _peaks(_azimuthal_correlation(polar), refine=refine)
    spots, spot_rotation = _peaks(_azimuthal_correlation(anisotropic), refine=refine)
    crystal = crystalline(anisotropic)
    both = crystal[:, None] & crystal[None, :]
    similarity = np.where(both, np.minimum(plain, spots), plain)
    rotation = np.where(both, spot_rotation, plain_rotation)
    return similarity, rotation


def _azimuthal_correlation(polar):
    """Normalised correlation ``c[i, j, s]`` of ``(k, n_r, n_az)`` polar images.

    ``c[i, j, s] = sum P_i(r, phi) P_j(r, phi - s) / (|P_i| |P_j|)``.
    """
    k, _, n_az = polar.shape
    unit = _unit_rows(polar.reshape(k, -1)).reshape(polar.shape)
    spectra = np.fft.rfft(unit, axis=2)  # (k, n_r, n_f)
    spectra = np.ascontiguousarray(spectra.transpose(2, 0, 1))  # (n_f, k, n_r)
    # cross-spectra summed over radii: one (k, n_r) @ (n_r, k) per frequency
    cross = spectra @ spectra.conj().transpose(0, 2, 1)  # (n_f, k, k)
    corr = np.fft.irfft(cross, n=n_az, axis=0)  # (n_az, k, k)
    return corr.transpose(1, 2, 0)


def _peaks(corr, *, refine):
    """Peak value and signed peak shift (degrees) of ``corr[i, j, s]``."""
    k, _, n_az = corr.shape
    iu, ju = np.triu_indices(k, 1)
    pairs = corr[iu, ju]  # (n_pairs, n_az)
    idx = np.argmax(pairs, axis=1)
    rows = np.arange(idx.size)
    peak = pairs[rows, idx]
    shift = idx.astype(float)
    if refine:
        left = pairs[rows, (idx - 1) % n_az]
        right = pairs[rows, (idx + 1) % n_az]
        curvature = left - 2 * peak + right
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
        shift += np.clip(delta, -0.5, 0.5)
    angle = _wrap(shift * 360.0 / n_az)
    similarity = np.eye(k)
    similarity[iu, ju] = similarity[ju, iu] = np.clip(peak, -1.0, 1.0)
    rotation = np.zeros((k, k))
    rotation[iu, ju] = angle
    rotation[ju, iu] = _wrap(-angle)
    return similarity, rotation


def _wrap(angle):
    """Angles in degrees mapped to ``(-180, 180]``."""
    wrapped = np.mod(angle, 360.0)
    return np.where(wrapped > 180.0, wrapped - 360.0, wrapped)


def spectral_similarity(spectra, max_shift=0, mask=None):
    """Similarity of spectra: the cosine, or its peak over small energy shifts.

    ``c_ij(s) = sum_e S_i(e) S_j(e - s) / (|S_i| |S_j|)`` for integer channel
    shifts ``|s| <= max_shift`` (no wrap-around: channels shifted in from
    outside count as 0). The similarity is the maximum over ``s`` and the
    shift its argmax; with ``max_shift=0`` it is the plain cosine
    similarity (eq. 9). Norms are over all kept channels, so by
    Cauchy-Schwarz no pair scores above 1 and a spectrum with itself scores
    exactly 1.

    Parameters
    ----------
    spectra : array_like, shape (k, n_channels)
        ``k >= 2`` spectra (e.g. NMF components of an EELS/EDS image).
    max_shift : int, default 0
        Largest shift, in channels, tried in either direction.
    mask : bool array, shape (n_channels,), optional
        ``True`` marks excluded channels; they count as 0.

    Returns
    -------
    similarity : ndarray, shape (k, k)
        Symmetric, diagonal exactly 1, values in [-1, 1].
    shift : ndarray of int, shape (k, k)
        ``shift[i, j]``: channels by which spectrum ``j`` must be moved
        (towards higher channels for a positive value) to best match ``i``;
        ``shift[j, i] = -shift[i, j]``.

    Raises
    ------
    ValueError
        Fewer than 2 spectra, spectra that are not 1D, NaN/inf values, a
        mask of the wrong shape or a negative ``max_shift``.
    """
    spectra = _check_patterns(spectra, need_2d=False, name="spectra")
    if spectra.ndim != 2:
        raise ValueError(
            f"spectral similarity needs 1D spectra stacked as (k, n_channels), "
            f"got shape {spectra.shape}; for diffraction patterns use "
            "diffraction_similarity"
        )
    k, n = spectra.shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(
                f"mask has shape {mask.shape} but the spectra have {n} channels"
            )
        spectra = np.where(mask, 0.0, spectra)
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"max_shift={max_shift!r} must be an integer >= 0 (channels)")
    max_shift = min(int(max_shift), n - 1)
    unit = _unit_rows(spectra)
    best = np.full((k, k), -np.inf)
    shift = np.zeros((k, k), dtype=np.int64)
    # smallest |shift| first: among equal peaks the one closest to zero wins
    for s in sorted(range(-max_shift, max_shift + 1), key=lambda v: (abs(v), v)):
        # c[i, j] = sum_e u_i[e] u_j[e - s]
        if s >= 0:
            c = unit[:, s:] @ unit[:, : n - s].T
        else:
            c = unit[:, : n + s] @ unit[:, -s:].T
        better = c > best + 1e-12
        best = np.where(better, c, best)
        shift = np.where(better, s, shift)
    np.fill_diagonal(best, 1.0)
    np.fill_diagonal(shift, 0)
    best = np.clip(0.5 * (best + best.T), -1.0, 1.0)
    return best, shift
