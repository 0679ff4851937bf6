"""Hand-off of merged diffractions to pyxem's orientation mapping.

pyxem's template matching (``get_azimuthal_integral2d`` then
``get_orientation`` against a diffsims bank) needs three pieces of
bookkeeping that are easy to get wrong by hand:

* **units**: diffsims simulates in 1/Å; merged diffractions keep the
  detector calibration of the scan, often in 1/nm
  (:func:`to_inverse_angstrom`);
* **the beam centre**: the polar transform is about the calibrated centre,
  so an uncalibrated signal is refused (:func:`orientation_ready`);
* **angles**: pyxem reports the rotation of its *template* with y pointing
  up (pyxem issue #925), while images are drawn with rows going down. The
  in-plane angle of a crystal, the direction of its reference spot measured
  from the x (column) axis, is ``-(mirror * theta_t + rotation)`` in image
  coordinates (clockwise on screen), where ``theta_t`` is the azimuth of
  the template's reference spot in pyxem's frame, taken modulo the
  template's rotational symmetry (:func:`match_orientations`).

Nothing here changes the signal it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import require_calibrated

__all__ = [
    "OrientationMatch",
    "match_orientations",
    "orientation_ready",
    "template_symmetry",
    "to_inverse_angstrom",
]

# Reciprocal length units -> factor to 1/Å.
_PER_ANGSTROM = {
    "1/Å": 1.0,
    "1/\u212b": 1.0,  # ANGSTROM SIGN
    "1/A": 1.0,
    "Å^-1": 1.0,
    "A^-1": 1.0,
    "1/nm": 0.1,
    "nm^-1": 0.1,
    "1/pm": 100.0,
    "1/m": 1e-10,
}
_HANDEDNESS = ("image", "pyxem")


def to_inverse_angstrom(signal):
    """A copy of ``signal`` with its signal axes in 1/Å, diffsims' unit.

    Scales and offsets are converted together, so the beam centre (in
    pixels, ``-offset / scale``) is unchanged.

    Raises
    ------
    ValueError
        When a signal axis is not in a reciprocal length unit (1/nm, 1/Å,
        nm^-1, ...), naming how to calibrate it.
    """
    out = signal.deepcopy()
    for axis in out.axes_manager.signal_axes:
        units = str(axis.units).strip()
        factor = _PER_ANGSTROM.get(units)
        if factor is None:
            raise ValueError(
                f"the signal axis {axis.name!r} is in {units!r}, not a reciprocal "
                "length: calibrate the detector first (pyxem: "
                "s.calibration.scale = <1/nm per pixel> and "
                "s.calibration.units = '1/nm'); known units: "
                + ", ".join(sorted(_PER_ANGSTROM))
            )
        axis.scale, axis.offset, axis.units = (
            axis.scale * factor,
            axis.offset * factor,
            "1/Å",
        )
    return out


def orientation_ready(
    diffractions, *, npt=64, npt_azim=360, radial_range=None, show_progressbar=False
):
    """Merged diffractions as pyxem's ``get_orientation`` takes them.

    The signal axes converted to 1/Å (:func:`to_inverse_angstrom`) and the
    patterns resampled on a polar grid about the calibrated beam centre
    (``get_azimuthal_integral2d(mean=True)``).

    Parameters
    ----------
    diffractions : pyxem.signals.Diffraction2D
        E.g. the first signal of ``s.get_cluster_components()``, which keeps
        the detector calibration and beam centre of ``s``.
    npt, npt_azim : int
        Radial and azimuthal bins (360: one degree per bin, the angular
        resolution of the match).
    radial_range : (float, float), optional
        In 1/Å.
    show_progressbar : bool, default False

    Returns
    -------
    pyxem.signals.PolarDiffraction2D
        ``polar.get_orientation(bank)`` is pyxem's template matching.

    Raises
    ------
    ValueError
        For an uncalibrated signal (no beam centre) or axes not in a
        reciprocal length unit.
    """
    require_calibrated(diffractions)
    patterns = to_inverse_angstrom(diffractions)
    patterns.data = np.nan_to_num(patterns.data)  # masked pixels of merges
    kwargs = {} if radial_range is None else {"radial_range": radial_range}
    return patterns.get_azimuthal_integral2d(
        npt=npt,
        npt_azim=npt_azim,
        mean=True,
        inplace=False,
        show_progressbar=show_progressbar,
        **kwargs,
    )


def template_symmetry(r, theta, intensity, *, tol_deg=0.5):
    """Reference-spot azimuth and rotational period of one template.

    Parameters
    ----------
    r, theta, intensity : array_like
        The template's spots in pyxem's polar frame (radius in 1/Å, azimuth
        in radians, y up), as ``bank.polar_flatten_simulations()`` gives
        them; zero intensities are padding.
    tol_deg : float
        Angular tolerance of the symmetry test, degrees.

    Returns
    -------
    azimuth_deg : float
        Azimuth (pyxem's frame, degrees) of the reference spot: the
        brightest of the innermost spots.
    period_deg : float
        Smallest rotation (360 / n for n in 6, 4, 3, 2, else 360) that maps
        the spots onto themselves.
    """
    r = np.asarray(r, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    keep = intensity > 0
    r, theta, intensity = r[keep], theta[keep], intensity[keep]
    if r.size == 0:
        raise ValueError("the template has no spots")
    inner = r <= r.min() * (1 + 1e-3)
    ref = np.flatnonzero(inner)[np.argmax(intensity[inner])]
    azimuth = float(np.rad2deg(theta[ref]))
    xy = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    tol = max(float(r.min()) * np.deg2rad(tol_deg), 1e-9)
    for n in (6, 4, 3, 2):
        a = 2 * np.pi / n
        rot = xy @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        d = np.linalg.norm(rot[:, None, :] - xy[None, :, :], axis=2)
        if (d.min(axis=1) <= tol).all():
            return azimuth, 360.0 / n
    return azimuth, 360.0


@dataclass(frozen=True)
class OrientationMatch:
    """What :func:`match_orientations` returns, one entry per pattern.

    Attributes
    ----------
    template : ndarray of int
        Index of the best template in the bank.
    correlation : ndarray
        pyxem's correlation score (a crystal scores well above an amorphous
        pattern).
    rotation : ndarray
        pyxem's in-plane rotation of the template, degrees, y up.
    mirror : ndarray
        pyxem's mirror factor (1 or -1).
    angle : ndarray
        In-plane angle of the crystal, degrees in ``[0, period)``: the
        direction of the template's reference spot (:func:`template_symmetry`)
        as matched, measured from the x (column) axis, clockwise on screen
        (rows down) for ``handedness="image"`` (the order of
        :func:`~hyperspy_cnmf.data.simulated_4dstem`'s ``rotations``),
        anticlockwise with y up for ``"pyxem"``.
    period : ndarray
        The template's rotational symmetry, degrees: ``angle`` is defined
        modulo it.
    handedness : str
    """

    template: np.ndarray
    correlation: np.ndarray
    rotation: np.ndarray
    mirror: np.ndarray
    angle: np.ndarray
    period: np.ndarray
    handedness: str


def match_orientations(
    diffractions, bank, *, handedness="image", npt=64, npt_azim=360, radial_range=None
):
    """Phase and in-plane angle of each pattern by pyxem's template matching.

    ``orientation_ready(diffractions).get_orientation(bank, n_best=1)``,
    with pyxem's template rotation turned into the crystal's in-plane angle
    (see the module notes).

    Parameters
    ----------
    diffractions : pyxem.signals.Diffraction2D
        Merged diffractions (``s.get_cluster_components()[0]``) or any
        calibrated stack of patterns.
    bank : diffsims.simulations.Simulation2D
        Templates, e.g. ``SimulationGenerator().calculate_diffraction2d(...)``.
    handedness : {"image", "pyxem"}, default "image"
        ``"image"``: angles from the x axis towards increasing row
        (clockwise on screen, as images are drawn and as the package's
        simulation takes ``rotations``); ``"pyxem"``: towards y up
        (anticlockwise), pyxem's frame.
    npt, npt_azim, radial_range
        See :func:`orientation_ready`.

    Returns
    -------
    OrientationMatch
    """
    if handedness not in _HANDEDNESS:
        raise ValueError(f"handedness={handedness!r} must be one of {_HANDEDNESS}")
    polar = orientation_ready(
        diffractions, npt=npt, npt_azim=npt_azim, radial_range=radial_range
    )
    found = np.asarray(
        polar.get_orientation(bank, n_best=1, show_progressbar=False).data
    ).reshape(-1, 4)
    template = found[:, 0].astype(np.int64)
    correlation, rotation, mirror = found[:, 1], found[:, 2], found[:, 3]
    r, theta, intensity = bank.polar_flatten_simulations()
    symmetry = [template_symmetry(r[i], theta[i], intensity[i]) for i in template]
    azimuth = np.array([a for a, _ in symmetry])
    period = np.array([p for _, p in symmetry])
    image_angle = -(mirror * azimuth + rotation)  # y down: the sign flips
    angle = image_angle if handedness == "image" else -image_angle
    return OrientationMatch(
        template=template,
        correlation=correlation,
        rotation=rotation,
        mirror=mirror,
        angle=np.mod(angle, period),
        period=period,
        handedness=handedness,
    )
