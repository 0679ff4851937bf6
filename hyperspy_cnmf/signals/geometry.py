"""From a HyperSpy/pyxem signal to the core's :class:`~hyperspy_cnmf.core.Geometry`.

HyperSpy lists axes in *natural* order, ``(x, y)``; numpy arrays and the core
use *array* order, ``(rows, cols) = (y, x)``. Everything returned here is in
array order:

* ``signal_axes`` / ``navigation_axes``: :class:`~hyperspy_cnmf.core.AxisInfo`
  per array axis (``axes_manager.signal_axes[::-1]``);
* :func:`beam_center`: the beam centre ``(row, col)`` in detector pixels,
  read from the signal axes' calibration as pyxem defines it:
  ``centre_px = -offset / scale``
  (``pyxem.utils.calibration.Calibration.center``); the :class:`Geometry`
  built here holds it in pyxem's ``(x, y)`` order (``geometry.center``,
  ``geometry.center_rc`` in array order);
* masks, ``True`` = excluded, of shape ``signal_shape`` /
  ``navigation_shape`` in array order.

What users pass follows HyperSpy and pyxem instead: ``center=(x, y)``
(pyxem's ``s.calibration.center`` order, :func:`center_from_xy`) and masks
read exactly as HyperSpy's decomposition reads them (:func:`_mask_array`).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.backend import to_host
from ..core.geometry import (
    AxisInfo,
    Geometry,
    center_inside,
    center_rc_from_xy,
    check_center_rc,
)
from ..core.validation import user_stacklevel

__all__ = [
    "SUPPORTED",
    "array_shapes",
    "axis_info",
    "beam_center",
    "center_from_xy",
    "signal_center_rc",
    "check_signal",
    "is_uncalibrated",
    "require_calibrated",
    "navigation_mask_array",
    "pyxem_mask",
    "signal_geometry",
    "signal_mask_array",
]

SUPPORTED = (
    "a signal with 1 or 2 navigation axes and 1 or 2 signal axes, e.g. a "
    "pyxem Diffraction2D / ElectronDiffraction2D or a Signal2D with a 1D or "
    "2D scan, or a Signal1D spectrum image"
)

# A calibrated centre closer than this fraction of the detector size to an
# edge is suspicious (an uncalibrated pyxem signal has its centre at (0, 0)).
_EDGE_FRACTION = 0.1


def check_signal(signal) -> None:
    """Raise a ValueError naming what is supported if ``signal`` is not."""
    am = signal.axes_manager
    nav, sig = am.navigation_dimension, am.signal_dimension
    if not (1 <= nav <= 2 and 1 <= sig <= 2):
        raise ValueError(
            f"constrained_nmf needs {SUPPORTED}; this {type(signal).__name__} "
            f"has {nav} navigation and {sig} signal axes "
            f"(axes_manager: {am.navigation_shape} | {am.signal_shape})"
        )
    if am.navigation_size < 2:
        raise ValueError(
            "constrained_nmf needs at least 2 navigation positions; this "
            f"signal has navigation shape {am.navigation_shape}"
        )
    if getattr(am, "ragged", False):
        raise ValueError("constrained_nmf does not support ragged signals")


def array_shapes(signal) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(navigation_shape, signal_shape)`` in array order."""
    am = signal.axes_manager
    return tuple(am.navigation_shape[::-1]), tuple(am.signal_shape[::-1])


def axis_info(axis) -> AxisInfo:
    """An :class:`AxisInfo` from a HyperSpy axis (uniform axes only)."""
    if not getattr(axis, "is_uniform", True):
        raise ValueError(
            f"axis {axis.name!r} is non-uniform (e.g. a curved Ewald sphere "
            "calibration); constrained_nmf needs uniform axes: calibrate with a "
            "reciprocal pixel size (pyxem: s.calibration.scale = ...) or "
            "convert the axis (axis.convert_to_uniform_axis())"
        )
    units = axis.units
    if units is None or (
        isinstance(units, str) and units.strip() in ("", "<undefined>")
    ):
        units = "px"
    name = axis.name if isinstance(axis.name, str) else ""
    return AxisInfo(
        size=int(axis.size),
        scale=float(axis.scale),
        offset=float(axis.offset),
        units=str(units),
        name=name,
    )


def beam_center(signal, *, strict=True) -> tuple[float, float] | None:
    """Calibrated beam centre ``(row, col)`` in detector pixels.

    The one reader of the beam centre. pyxem stores the centre in the signal
    axes: the pixel whose calibrated value is zero, ``-offset / scale`` per
    axis (``pyxem.utils.calibration.Calibration.center``, which lists it in
    HyperSpy's ``(x, y)`` order; this function returns array order).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    strict : bool, default True
        Raise a ValueError for a signal without two uniform signal axes;
        with ``False`` return None instead.

    Returns
    -------
    (float, float) or None
    """
    axes = signal.axes_manager.signal_axes[::-1]
    try:
        if len(axes) != 2:
            raise ValueError(
                "a beam centre needs 2 signal axes (diffraction patterns); this "
                f"{type(signal).__name__} has {len(axes)}"
            )
        row_axis, col_axis = (axis_info(a) for a in axes)
        if row_axis.scale == 0 or col_axis.scale == 0:
            raise ValueError("a signal axis has scale 0; calibrate it first")
    except ValueError:
        if strict:
            raise
        return None
    return (-row_axis.offset / row_axis.scale, -col_axis.offset / col_axis.scale)


def center_from_xy(center) -> tuple[float, float]:
    """A user's ``center=(x, y)`` as the core's ``(row, col)``.

    The adapter's public ``center=`` arguments use pyxem's convention,
    ``s.calibration.center``: ``(x, y) = (col, row)`` in detector pixels
    (``axes_manager.signal_axes`` order). The core works in array order.

    Raises
    ------
    ValueError
        Unless ``center`` is two finite numbers.
    """
    return center_rc_from_xy(center)


def is_uncalibrated(signal) -> bool:
    """True when a diffraction signal has no beam centre: both signal axes
    have offset 0 (HyperSpy's default), so pyxem's ``s.calibration.center``
    is the corner pixel (0, 0)."""
    axes = signal.axes_manager.signal_axes
    return len(axes) == 2 and all(float(a.offset) == 0.0 for a in axes)


def require_calibrated(signal) -> None:
    """Refuse a signal without a beam centre (:func:`is_uncalibrated`).

    Raises
    ------
    ValueError
        Naming the two fixes: calibrate the signal or pass ``center=(x, y)``.
    """
    if is_uncalibrated(signal):
        x_size, y_size = signal.axes_manager.signal_shape
        raise ValueError(
            "the signal has no beam centre: its signal axes offsets are all "
            "zero, so the centre would be the corner pixel (x, y) = (0, 0). "
            "Set it first: s.calibration.center = None puts it at the middle "
            f"({(x_size - 1) / 2:g}, {(y_size - 1) / 2:g}), "
            "s.calibration.center = (x, y) at a pixel you found (pyxem; on a "
            "HyperSpy Signal2D set each signal axis offset to -centre * "
            "scale), or pass center=(x, y) in detector pixels"
        )


_CENTER_SOURCES = {
    True: "the center= you passed",
    False: "the signal's calibrated centre (-offset / scale of its signal axes)",
}


def signal_center_rc(signal, center=None, *, check_beam_center=True):
    """The beam centre ``(row, col)`` px, the core's order, of a 2D signal.

    ``center`` is the user's ``(x, y)`` (:func:`center_from_xy`); None: the
    calibrated centre (:func:`beam_center`). Validated by the core's one
    check (:func:`~hyperspy_cnmf.core.geometry.check_center_rc`).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    center : (float, float), optional
    check_beam_center : bool, default True
        Refuse an uncalibrated signal (:func:`require_calibrated`) unless
        ``center`` is given, and warn when the centre is near an edge
        (:func:`check_center`).

    Raises
    ------
    ValueError
        A bad ``center``, an uncalibrated signal, or a centre outside the
        pattern.
    """
    _, sig_shape = array_shapes(signal)
    given = center is not None
    if check_beam_center and not given:
        require_calibrated(signal)
    center_rc = check_center_rc(
        center_from_xy(center) if given else beam_center(signal),
        sig_shape,
        _CENTER_SOURCES[given],
    )
    if check_beam_center:
        check_center(center_rc, sig_shape)
    return center_rc


def check_center(center, signal_shape) -> None:
    """Warn when the centre ``(row, col)`` sits at pixel (0, 0) or near an
    edge (a sign of an uncalibrated signal); a centre outside the pattern is
    :func:`~hyperspy_cnmf.core.geometry.check_center_rc`'s to refuse.
    """
    rows, cols = signal_shape
    r, c = center
    if not center_inside(center, signal_shape):
        return
    near = (
        min(r, rows - 1 - r) < _EDGE_FRACTION * rows
        or min(c, cols - 1 - c) < _EDGE_FRACTION * cols
    )
    if near:
        warnings.warn(
            f"the calibrated beam centre (x, y) = ({c + 0.0:.3g}, {r + 0.0:.3g}) px is "
            f"at or near the edge of the {rows}x{cols} pattern; the signal is "
            "probably uncalibrated. The radial constraint works about this "
            "centre: set it first (pyxem: s.calibration.center = None for the "
            "middle, or s.calibration.center = (x, y); HyperSpy: set the signal "
            "axes offsets to -centre * scale), or pass center=(x, y)",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def _mask_values(values, what):
    """A mask's values as bool: bool arrays, or numbers that are all 0 or 1."""
    values = to_host(values)
    if values.dtype.kind == "b":
        return values
    if values.dtype.kind not in "iuf":
        raise TypeError(
            f"the {what} mask must be a boolean array (True = excluded), got "
            f"dtype {values.dtype}"
        )
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"the {what} mask holds values other than 0 and 1 (e.g. "
            f"{values[~np.isin(values, (0, 1))].flat[0]!r}); a mask is boolean, "
            "True = excluded: threshold it first, e.g. mask > 0.5"
        )
    return values.astype(bool)


def _mask_array(mask, shape, natural_shape, what):
    """``mask`` as a bool array of ``shape`` (array order), read as HyperSpy does.

    HyperSpy 2.5 (``hyperspy/learn/_mva.py`` ``decomposition`` and
    ``hyperspy/_signals/lazy.py``): a BaseSignal mask is used through its
    ``data`` (array order); a numpy/dask *navigation* mask is given in
    HyperSpy's ``(x, y)`` order (``axes_manager.navigation_shape``) and
    transposed; a numpy/dask *signal* mask has ``axes_manager.signal_shape``
    and is flattened as it is (for non-square patterns prefer a signal
    mask, e.g. ``hs.signals.Signal2D(mask_in_array_order)``).
    """
    if mask is None:
        return None
    shape, natural_shape = tuple(shape), tuple(natural_shape)
    if hasattr(mask, "axes_manager"):  # a BaseSignal: its data is in array order
        values = _mask_values(mask.data, what)
        if values.shape != shape:
            raise ValueError(
                f"the {what} mask signal has data shape {values.shape} "
                f"(axes_manager {mask.axes_manager.navigation_shape} | "
                f"{mask.axes_manager.signal_shape}) but the {what} shape is "
                f"{natural_shape} in HyperSpy's (x, y) order"
            )
    else:
        if not hasattr(mask, "shape"):  # lists, tuples
            mask = np.asarray(mask)
        if tuple(mask.shape) != natural_shape:
            hint = ""
            if tuple(mask.shape) == shape:
                hint = (
                    f"; this is array order {shape}: HyperSpy reads array "
                    f"{what} masks in its (x, y) order"
                    + (
                        ", so pass mask.T"
                        if what == "navigation"
                        else f", so wrap it in a signal: hs.signals."
                        f"{'Signal2D' if len(shape) == 2 else 'Signal1D'}(mask)"
                    )
                )
            raise ValueError(
                f"the {what} mask has shape {tuple(mask.shape)} but the {what} "
                f"shape is {natural_shape} in HyperSpy's (x, y) order "
                f"(axes_manager.{what}_shape){hint}"
            )
        if what == "navigation" and hasattr(mask, "T"):
            mask = mask.T  # HyperSpy: _to_flat_bool(navigation_mask.T)
        values = _mask_values(mask, what).reshape(shape)
    if values.all():
        raise ValueError(
            f"the {what} mask hides every {'pixel' if what == 'signal' else 'position'}; "
            "True marks excluded ones, so invert it (~mask) if you marked the ones "
            "to keep"
        )
    return values


def pyxem_mask(signal) -> np.ndarray | None:
    """pyxem's calibration mask (``s.calibration.mask``), if usable.

    The one reader of ``metadata.General.mask``: a BaseSignal (its data) or
    an array of the signal shape in array order; ``True`` = excluded.

    Returns
    -------
    ndarray of bool, shape ``signal_shape`` (array order), or None
        None when there is no mask, or (with a UserWarning) when it is not a
        boolean array of the signal shape.
    """
    mask = signal.metadata.get_item("General.mask", None)
    if mask is None:
        return None
    _, sig_shape = array_shapes(signal)
    values = to_host(mask.data if hasattr(mask, "axes_manager") else mask)
    if values.dtype.kind not in "biuf" or values.shape != sig_shape:
        warnings.warn(
            "ignoring metadata.General.mask (pyxem's s.calibration.mask): it is "
            f"not a boolean array of the signal shape {sig_shape}",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return None
    return values.astype(bool)


def signal_mask_array(signal, mask) -> np.ndarray | None:
    """The signal mask as a bool array of shape ``signal_shape`` (array order).

    ``mask`` is None, a :class:`~hyperspy.signal.BaseSignal` (its ``data``,
    in array order) or a numpy/dask array of HyperSpy's
    ``axes_manager.signal_shape``, flattened as it is, exactly as
    HyperSpy's decomposition reads it (see :func:`_mask_array`).
    """
    nav, sig = array_shapes(signal)
    return _mask_array(mask, sig, signal.axes_manager.signal_shape, "signal")


def navigation_mask_array(signal, mask) -> np.ndarray | None:
    """The navigation mask as a bool array of ``navigation_shape`` (array order).

    ``mask`` is None, a :class:`~hyperspy.signal.BaseSignal` (its ``data``,
    in array order) or a numpy/dask array in HyperSpy's ``(x, y)`` order
    (``axes_manager.navigation_shape``), transposed exactly as HyperSpy's
    decomposition does (see :func:`_mask_array`).
    """
    nav, sig = array_shapes(signal)
    return _mask_array(mask, nav, signal.axes_manager.navigation_shape, "navigation")


def signal_geometry(
    signal,
    *,
    signal_mask=None,
    navigation_mask=None,
    center=None,
    check_beam_center=True,
    use_pyxem_mask=False,
) -> Geometry:
    """The core :class:`Geometry` of a HyperSpy/pyxem signal.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        1 or 2 navigation axes and 1 or 2 signal axes.
    signal_mask, navigation_mask : BaseSignal, array or None
        ``True`` = excluded, read exactly as HyperSpy reads them: a
        BaseSignal through its ``data``; a numpy/dask navigation mask in
        ``(x, y)`` order (transposed); a numpy/dask signal mask of
        ``axes_manager.signal_shape``, flattened as it is. See
        :func:`navigation_mask_array` and :func:`signal_mask_array`.
    center : (float, float), optional
        Beam centre ``(x, y) = (col, row)`` in pixels, pyxem's order (that of
        ``s.calibration.center``); default the calibrated one
        (:func:`beam_center`). Only for 2D signals. The returned
        :class:`Geometry` holds it in the same ``(x, y)`` order
        (``geometry.center``; ``geometry.center_rc`` is ``(row, col)``).
    check_beam_center : bool
        Refuse an uncalibrated signal (:func:`require_calibrated`) unless
        ``center`` is given, and warn when the centre is near an edge.
    use_pyxem_mask : bool, default False
        With ``signal_mask=None``, use pyxem's ``s.calibration.mask``
        (:func:`pyxem_mask`, array order) when one is set.

    Returns
    -------
    Geometry

    Raises
    ------
    ValueError
        For unsupported signals, bad masks or a centre outside the pattern.
    """
    check_signal(signal)
    nav_shape, sig_shape = array_shapes(signal)
    am = signal.axes_manager
    signal_axes = tuple(axis_info(a) for a in am.signal_axes[::-1])
    navigation_axes = tuple(axis_info(a) for a in am.navigation_axes[::-1])
    if len(sig_shape) == 2:
        center_rc = signal_center_rc(
            signal, center, check_beam_center=check_beam_center
        )
        center = (center_rc[1], center_rc[0])  # the Geometry takes (x, y)
    elif center is not None:
        raise ValueError("center is only used for 2D signals (diffraction patterns)")
    return Geometry(
        signal_shape=sig_shape,
        navigation_shape=nav_shape,
        signal_axes=signal_axes,
        navigation_axes=navigation_axes,
        center=center,
        signal_mask=(
            pyxem_mask(signal)
            if signal_mask is None and use_pyxem_mask
            else signal_mask_array(signal, signal_mask)
        ),
        navigation_mask=navigation_mask_array(signal, navigation_mask),
    )
