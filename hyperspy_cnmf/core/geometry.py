"""Geometry of the unfolded data: shapes, calibrated axes, beam centre, masks.

Everything here is plain Python/numpy so that the core can be used on a bare
matrix. Conventions (used throughout the core):

* images are in array order ``(rows, cols)``;
* a beam centre is given and reported as ``(x, y) = (col, row)`` in pixels,
  floats allowed: the order of pyxem's ``s.calibration.center``, at every
  surface (:class:`Geometry`, ``RadialContinuity(center=...)``, the stored
  results). Array code reads it in array order as ``center_rc``
  (``(row, col)``); core functions on bare images (``polar_operator``,
  ``radius_map``, ``rotate_images``...) take it as ``center_rc``; whether a
  centre lies on the pattern is decided in one place, :func:`check_center_rc`
  (``-0.5 <= row <= rows - 0.5``, likewise for ``col``), which every layer
  calls;
* masks follow HyperSpy: ``True`` marks an *excluded* pixel or position;
* the data matrix ``X`` has one row per kept probe position (navigation,
  C order of ``navigation_shape`` with masked positions removed) and one
  column per kept detector pixel (C order of ``signal_shape``, masked pixels
  removed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import NUMPY, Backend

__all__ = [
    "AxisInfo",
    "Geometry",
    "ConstraintContext",
    "as_point",
    "center_inside",
    "center_rc_from_xy",
    "check_center_rc",
    "to_pixels",
]

# Length units that calibrations use, in metres. Reciprocal units are not
# needed: only the scan step (a length) is converted.
_LENGTH_UNITS = {
    "m": 1.0,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "μm": 1e-6,
    "nm": 1e-9,
    "A": 1e-10,
    "Å": 1e-10,  # U+00C5
    "\u212b": 1e-10,  # ANGSTROM SIGN
    "angstrom": 1e-10,
    "pm": 1e-12,
}


# The units to_pixels converts, as a message lists them: each length once,
# with its other spellings in brackets.
_KNOWN_UNITS = "m, mm, µm (um), nm, Å (A, angstrom), pm"


def as_point(value) -> tuple[float, float] | None:
    """``value`` as two finite floats, or None when it is not that (a centre
    given as one number, three numbers, a string or NaN). The caller names
    the expected order in its error."""
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if values.shape != (2,) or not np.isfinite(values).all():
        return None
    return (float(values[0]), float(values[1]))


def center_rc_from_xy(center, what="center") -> tuple[float, float] | None:
    """A centre given as ``(x, y) = (col, row)`` (pyxem's
    ``s.calibration.center`` order; a list, tuple or array) in array order
    ``(row, col)``; None stays None.

    Raises
    ------
    ValueError
        Unless ``center`` is None or two finite numbers.
    """
    if center is None:
        return None
    values = as_point(center)
    if values is None:
        raise ValueError(
            f"{what}={center!r} must be the beam centre (x, y) = (col, row) in "
            "detector pixels: two finite numbers, in the order of pyxem's "
            "s.calibration.center (e.g. center=s.calibration.center), or None "
            "for the calibrated centre"
        )
    return (values[1] + 0.0, values[0] + 0.0)  # + 0.0: no "-0"


def center_inside(center_rc, shape) -> bool:
    """Whether the point ``(row, col)`` lies on a ``(rows, cols)`` pattern:
    on its pixels' area, ``-0.5 <= row <= rows - 0.5`` and likewise for
    ``col`` (False for NaN). The one bound for a beam centre."""
    row, col = (float(v) for v in center_rc)
    rows, cols = shape
    return -0.5 <= row <= rows - 0.5 and -0.5 <= col <= cols - 0.5


def check_center_rc(center_rc, shape, source=None) -> tuple[float, float]:
    """The one validator of a beam centre: ``center_rc`` (array order
    ``(row, col)``) as two floats, if it lies on the ``(rows, cols)``
    pattern (:func:`center_inside`).

    Parameters
    ----------
    center_rc : (float, float)
    shape : (int, int)
    source : str, optional
        Where the centre came from, for the message (e.g. "the center= you
        passed").

    Raises
    ------
    ValueError
        A centre outside the pattern, the message in the user's ``(x, y)``
        order with the two fixes.
    """
    row, col = (float(v) + 0.0 for v in center_rc)  # + 0.0: no "-0"
    if center_inside((row, col), shape):
        return (row, col)
    rows, cols = shape
    where = f", {source}," if source else ""
    raise ValueError(
        f"the beam centre (x, y) = ({col:.4g}, {row:.4g}) px{where} lies "
        f"outside the {cols}x{rows} (x, y) pattern. Set it on the signal "
        "(pyxem: s.calibration.center = None for the middle of the pattern, or "
        "s.calibration.center = (x, y)) or pass center=(x, y) in pixels"
    )


def to_pixels(length: float, units: str | None, axis: AxisInfo) -> float:
    """Convert a physical ``length`` in ``units`` to pixels along ``axis``.

    ``units=None`` means the length is already in the axis' own units.
    """
    if units is None or units == axis.units:
        return float(length) / axis.scale
    try:
        factor = _LENGTH_UNITS[units] / _LENGTH_UNITS[axis.units]
    except KeyError:
        known = _KNOWN_UNITS
        raise ValueError(
            f"cannot convert {units!r} to the axis units {axis.units!r}; "
            f"give the length in the axis units or use one of: {known}"
        ) from None
    return float(length) * factor / axis.scale


@dataclass(frozen=True)
class AxisInfo:
    """One calibrated axis: ``value = offset + scale * index``."""

    size: int
    scale: float = 1.0
    offset: float = 0.0
    units: str = "px"
    name: str = ""

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(
                f"axis {self.name!r} has size {self.size}; it must be >= 1"
            )
        if not np.isfinite(self.scale) or self.scale == 0:
            raise ValueError(
                f"axis {self.name!r} has scale {self.scale}; it must be finite and non-zero"
            )


def _default_axes(shape: Sequence[int]) -> tuple[AxisInfo, ...]:
    return tuple(AxisInfo(size=int(n)) for n in shape)


def _check_mask(mask, shape, what):
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"{what} mask has shape {mask.shape} but the {what} shape is "
            f"{tuple(shape)} (array order: rows, cols)"
        )
    if mask.all():
        raise ValueError(
            f"the {what} mask hides every pixel; True marks excluded pixels, "
            "so invert it (~mask) if you marked the pixels to keep"
        )
    return mask


@dataclass(frozen=True)
class Geometry:
    """Shapes, axes, beam centre and masks of the unfolded data.

    Parameters
    ----------
    signal_shape : tuple of int
        Detector shape in array order ``(rows, cols)`` (or ``(n,)`` for 1D
        signals such as spectra).
    navigation_shape : tuple of int
        Scan shape in array order ``(rows, cols)`` (or ``(n,)``).
    signal_axes, navigation_axes : tuple of AxisInfo, optional
        Calibrated axes in array order; default: pixel units.
    center : (float, float), list or array, optional
        Beam centre ``(x, y) = (col, row)`` in pixels, the order of pyxem's
        ``s.calibration.center``. Default: the detector middle. Stored as
        given (two floats); :attr:`center_rc` is the same point in array
        order ``(row, col)``.
    signal_mask, navigation_mask : bool array, optional
        ``True`` marks excluded pixels/positions. The data matrix holds only
        the kept ones.
    """

    signal_shape: tuple[int, ...]
    navigation_shape: tuple[int, ...]
    signal_axes: tuple[AxisInfo, ...] | None = None
    navigation_axes: tuple[AxisInfo, ...] | None = None
    center: tuple[float, float] | None = None
    signal_mask: np.ndarray | None = field(default=None, repr=False)
    navigation_mask: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        sig = tuple(int(n) for n in self.signal_shape)
        nav = tuple(int(n) for n in self.navigation_shape)
        if not 1 <= len(sig) <= 2 or not 1 <= len(nav) <= 2:
            raise ValueError(
                f"signal shape {sig} and navigation shape {nav} must each have "
                "1 or 2 dimensions"
            )
        object.__setattr__(self, "signal_shape", sig)
        object.__setattr__(self, "navigation_shape", nav)
        for name, shape in (("signal_axes", sig), ("navigation_axes", nav)):
            axes = getattr(self, name)
            axes = _default_axes(shape) if axes is None else tuple(axes)
            if tuple(a.size for a in axes) != shape:
                raise ValueError(
                    f"{name} sizes {tuple(a.size for a in axes)} do not match "
                    f"the shape {shape}"
                )
            object.__setattr__(self, name, axes)
        object.__setattr__(
            self, "signal_mask", _check_mask(self.signal_mask, sig, "signal")
        )
        object.__setattr__(
            self,
            "navigation_mask",
            _check_mask(self.navigation_mask, nav, "navigation"),
        )
        if len(sig) == 2:
            center = self.center
            if center is None:
                center = ((sig[1] - 1) / 2, (sig[0] - 1) / 2)
            row, col = check_center_rc(center_rc_from_xy(center), sig)
            object.__setattr__(self, "center", (col, row))
        elif self.center is not None:
            raise ValueError(
                "center is only used for 2D signals (diffraction patterns); "
                f"this geometry has signal shape {sig}"
            )

    @property
    def center_rc(self) -> tuple[float, float] | None:
        """The beam centre in array order ``(row, col)`` (None for 1D signals)."""
        return None if self.center is None else (self.center[1], self.center[0])

    @property
    def n_signal(self) -> int:
        """Number of kept detector pixels (columns of X)."""
        n = int(np.prod(self.signal_shape))
        return n if self.signal_mask is None else n - int(self.signal_mask.sum())

    @property
    def n_navigation(self) -> int:
        """Number of kept probe positions (rows of X)."""
        n = int(np.prod(self.navigation_shape))
        if self.navigation_mask is None:
            return n
        return n - int(self.navigation_mask.sum())

    @classmethod
    def flat(cls, n_navigation: int, n_signal: int) -> Geometry:
        """Geometry of a bare matrix: 1D signal and 1D navigation."""
        return cls(signal_shape=(n_signal,), navigation_shape=(n_navigation,))

    def context(self, role: str, backend: Backend = NUMPY) -> ConstraintContext:
        """The context handed to constraints on ``"factors"`` or ``"loadings"``."""
        if role == "factors":
            return ConstraintContext(
                role=role,
                shape=self.signal_shape,
                axes=self.signal_axes,
                mask=self.signal_mask,
                center_xy=self.center,
                backend=backend,
            )
        if role == "loadings":
            return ConstraintContext(
                role=role,
                shape=self.navigation_shape,
                axes=self.navigation_axes,
                mask=self.navigation_mask,
                center_xy=None,
                backend=backend,
            )
        raise ValueError(f"role must be 'factors' or 'loadings', not {role!r}")


@dataclass(frozen=True)
class ConstraintContext:
    """What a constraint is told about the images it receives.

    A constraint is any callable ``constraint(images, context) -> images``
    where ``images`` has shape ``(n_images, *context.shape)``: diffraction
    patterns (``role == "factors"``) or maps (``role == "loadings"``),
    refolded, with excluded pixels set to zero.

    Attributes
    ----------
    role : {"factors", "loadings"}
    shape : tuple of int
        Image shape in array order.
    axes : tuple of AxisInfo
        Calibrated axes in array order (scale, offset, units).
    mask : bool array or None
        ``True`` marks excluded pixels; their values are ignored on return.
    center_xy : (float, float) or None
        Beam centre ``(x, y) = (col, row)`` in pixels (factors of 2D signals
        only), pyxem's order; :attr:`center_rc` gives it in array order
        ``(row, col)``, the order to index ``images`` with.
    iteration : int
        ALS iteration, from 0.
    backend : Backend
        Where ``images`` live, resolved once per fit: ``backend.xp`` (numpy
        or cupy), ``backend.ndimage``, ``backend.sparse``. Write a
        constraint against these and it runs on both.
    cache : dict
        Lives for one fit: constraints keep operators built once here
        (see :meth:`cached`).
    """

    role: str
    shape: tuple[int, ...]
    axes: tuple[AxisInfo, ...]
    mask: np.ndarray | None = None
    center_xy: tuple[float, float] | None = None
    iteration: int = 0
    backend: Backend = NUMPY
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def center_rc(self) -> tuple[float, float] | None:
        """The beam centre in array order ``(row, col)``, or None."""
        if self.center_xy is None:
            return None
        x, y = self.center_xy
        return (float(y), float(x))

    @property
    def center(self):
        raise AttributeError(
            "ConstraintContext has no attribute 'center': the beam centre is "
            "context.center_rc in array order (row, col) or context.center_xy "
            "in pyxem's (x, y) order"
        )

    @property
    def xp(self):
        """The array module of ``images``: ``backend.xp``."""
        return self.backend.xp

    def cached(self, key, factory: Callable[[], Any]):
        """Return ``cache[key]``, building it with ``factory()`` the first time."""
        if key not in self.cache:
            self.cache[key] = factory()
        return self.cache[key]

    def at_iteration(self, iteration: int) -> ConstraintContext:
        """The same context (sharing the cache) at another iteration."""
        return dataclasses.replace(self, iteration=iteration)
