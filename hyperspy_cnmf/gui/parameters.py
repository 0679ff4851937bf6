"""A traits parameter object for the constrained NMF of a signal.

:class:`ConstrainedNMFParameters` holds every choice a user makes before a
constrained NMF (number of components, the paper's two constraints and the
solver settings) as `traits <https://docs.enthought.com/traits/>`_, so that
the same object can be edited in code, in an ipywidgets form or in a traitsui
dialog::

    >>> params = ConstrainedNMFParameters(s)       # doctest: +SKIP
    >>> params.output_dimension = 4                # doctest: +SKIP
    >>> params.gui(toolkit="ipywidgets")           # doctest: +SKIP

``gui()`` is added by :func:`hyperspy.ui_registry.add_gui_method` under the
toolkey ``hyperspy_cnmf.ConstrainedNMF`` declared in the package's
``hyperspy_extension.yaml``; the widgets call :meth:`run`.
"""

from __future__ import annotations

import inspect
import math

import traits.api as t
from hyperspy.ui_registry import add_gui_method

from ..core.constraints import GaussianSmoothing, RadialContinuity
from ..signals.decomposition import decomposition, estimator_parameters
from ..signals.geometry import beam_center

__all__ = ["ConstrainedNMFParameters", "SMOOTHING_OPTIONS", "calibrated_center"]

#: Map smoothing choices: value -> label shown in the forms.
SMOOTHING_OPTIONS = {
    "paper": "3x3 Gaussian (paper)",
    "probe_fwhm": "Gaussian from probe FWHM",
    "none": "None",
}


# Defaults come from where each setting is declared: the estimator and the
# constraint classes.
_DEFAULTS = estimator_parameters()
_OUTLIER_FACTOR = (
    inspect.signature(RadialContinuity).parameters["outlier_factor"].default
)


def _is_undefined(value) -> bool:
    return value is t.Undefined or value in (None, "", "<undefined>")


def calibrated_center(signal) -> tuple[float, float] | None:
    """The beam centre ``(row, col)`` in pixels read from the signal axes,
    or None when the signal has no two uniform signal axes (pyxem's
    convention ``centre_px = -offset / scale``, in array order)."""
    return beam_center(signal, strict=False)


def _navigation_units(signal) -> str:
    for axis in signal.axes_manager.navigation_axes:
        if not _is_undefined(axis.units):
            return str(axis.units)
    return ""


@add_gui_method(toolkey="hyperspy_cnmf.ConstrainedNMF")
class ConstrainedNMFParameters(t.HasTraits):
    r"""Parameters of a constrained NMF of ``signal``, editable in a GUI.

    The defaults reproduce Kimoto et al. (Sci. Rep. 2025): radial
    continuity on the diffraction factors (outliers above twice the
    per-radius mean) about the calibrated beam centre, and the 3x3 Gaussian
    on the maps. Call :meth:`gui` for a form, or set the traits and call
    :meth:`run`.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The signal to decompose, typically a pyxem ``Diffraction2D``
        (4D-STEM). It is decomposed in place: the results go to
        ``signal.learning_results``.
    **traits
        Initial values of any of the traits below.

    Attributes
    ----------
    output_dimension : int
        Number of components ``k`` (>= 1).
    radial_continuity : bool
        Apply :class:`~hyperspy_cnmf.core.constraints.RadialContinuity` to
        the diffraction factors.
    outlier_factor : float
        Samples brighter than ``outlier_factor`` times the per-radius mean
        are excluded from the radial baseline (> 1; the paper uses 2).
    center_row, center_col : float
        Beam centre in detector pixels. Defaults to the signal's calibrated
        centre, ``-offset / scale`` on each signal axis (pyxem's convention).
        While it equals the calibrated centre, ``center=None`` is passed and
        the fit reads the centre from the signal.
    smoothing : {"paper", "probe_fwhm", "none"}
        Map smoothing: the paper's 3x3 Gaussian kernel ``[1, 2, 1] / 4``, a
        Gaussian whose FWHM is the probe size, or none.
    probe_fwhm : float
        Probe full width at half maximum, in ``probe_units`` (used when
        ``smoothing == "probe_fwhm"``); ``sigma = FWHM / (2 sqrt(2 ln 2))``.
    probe_units : str
        Units of ``probe_fwhm`` (nm, Å, pm, ...). Defaults to the units of
        the navigation axes; empty means the navigation axes' units.
    n_init : int
        Number of random restarts; the best fit is kept.
    max_iter : int
        Maximum number of iterations per restart.
    tol : float
        Stop when the relative change of factors and maps falls below
        ``tol``; 0 (default) runs ``max_iter`` iterations, the paper's
        protocol.
    random_state : int or None
        Seed of the random initialisations; None for a fresh seed each run.
    signal : hyperspy.signal.BaseSignal
        The signal passed in (not a trait).

    See Also
    --------
    hyperspy_cnmf.gui.constrained_nmf_gui : build and show the form in one call.

    Examples
    --------
    >>> import numpy as np
    >>> import pyxem as pxm
    >>> from hyperspy_cnmf.gui import ConstrainedNMFParameters
    >>> s = pxm.signals.Diffraction2D(np.random.rand(4, 5, 16, 16))
    >>> s.calibration.center = None  # beam centre at the middle
    >>> params = ConstrainedNMFParameters(s, output_dimension=2)
    >>> (params.center_row, params.center_col)
    (7.5, 7.5)
    >>> params.factor_constraints()
    [RadialContinuity(outlier_factor=2.0, center=None, n_azimuthal=360, r_min=0.0)]
    >>> params.center_row = 8.0
    >>> params.kwargs()["center"]  # (x, y), as s.calibration.center
    (7.5, 8.0)
    >>> params.gui(toolkit="ipywidgets")  # doctest: +SKIP
    """

    output_dimension = t.Range(1, None, 2, desc="number of components k")
    radial_continuity = t.Bool(
        True, desc="radial continuity constraint on the diffraction factors"
    )
    outlier_factor = t.Range(
        1.0,
        None,
        _OUTLIER_FACTOR,
        exclude_low=True,
        desc="samples above this times the per-radius mean are Bragg spots",
    )
    center_row = t.Float(0.0, desc="beam centre row (detector pixels)")
    center_col = t.Float(0.0, desc="beam centre column (detector pixels)")
    smoothing = t.Enum(*SMOOTHING_OPTIONS, desc="Gaussian smoothing of the maps")
    probe_fwhm = t.Range(0.0, None, 1.0, exclude_low=True, desc="probe FWHM")
    probe_units = t.Str("", desc="units of the probe FWHM")
    n_init = t.Range(1, None, _DEFAULTS["n_init"], desc="number of random restarts")
    max_iter = t.Range(
        1, None, _DEFAULTS["max_iter"], desc="maximum iterations per restart"
    )
    tol = t.Range(
        0.0,
        None,
        float(_DEFAULTS["tol"]),
        desc="relative change to stop at (0: run max_iter)",
    )
    random_state = t.Union(
        None,
        t.Int,
        default_value=_DEFAULTS["random_state"],
        desc="seed (empty: random)",
    )

    def __init__(self, signal, **traits):
        super().__init__()
        self.signal = signal
        center = calibrated_center(signal)
        self._calibrated_center = center
        if center is None:
            # Radial continuity needs 2D patterns: off unless asked for.
            self.radial_continuity = False
            shape = signal.axes_manager.signal_shape[::-1]
            if len(shape) == 2:
                center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
            else:
                center = (0.0, 0.0)
        self.center_row, self.center_col = center
        self.probe_units = _navigation_units(signal)
        self.trait_set(**traits)

    def __repr__(self):
        names = (
            "output_dimension",
            "radial_continuity",
            "outlier_factor",
            "center_row",
            "center_col",
            "smoothing",
            "probe_fwhm",
            "probe_units",
            "n_init",
            "max_iter",
            "tol",
            "random_state",
        )
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({args})"

    # -- centre helpers -----------------------------------------------------

    @property
    def center(self) -> tuple[float, float]:
        """The beam centre ``(row, col)`` in pixels."""
        return (self.center_row, self.center_col)

    def reset_center(self):
        """Set the centre back to the signal's calibrated centre."""
        center = calibrated_center(self.signal)
        self._calibrated_center = center
        if center is not None:
            self.center_row, self.center_col = center

    def center_to_middle(self):
        """Put the centre at the middle of the detector, ``(size - 1) / 2``.

        Only the parameters change, not the signal's calibration.
        """
        shape = self.signal.axes_manager.signal_shape[::-1]
        if len(shape) == 2:
            self.center_row, self.center_col = ((n - 1) / 2 for n in shape)

    def _center_is_calibrated(self) -> bool:
        calibrated = self._calibrated_center
        return calibrated is not None and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            for a, b in zip(self.center, calibrated, strict=True)
        )

    # -- constraints and run -------------------------------------------------

    def factor_constraints(self) -> list:
        """The constraints on the diffraction factors these parameters select.

        Returns
        -------
        list
            ``[RadialContinuity(outlier_factor=...)]`` or ``[]``. The
            constraint reads the beam centre from the fit context, which
            :meth:`kwargs` sets through ``center``.
        """
        if not self.radial_continuity:
            return []
        return [RadialContinuity(outlier_factor=self.outlier_factor)]

    def loading_constraints(self) -> list:
        """The constraints on the maps these parameters select.

        Returns
        -------
        list
            ``[GaussianSmoothing()]`` (3x3 paper kernel),
            ``[GaussianSmoothing(probe_fwhm=..., probe_units=...)]`` or ``[]``.
            ``probe_units`` is None (the axes' own units) when empty or equal
            to the navigation units.
        """
        if self.smoothing == "none":
            return []
        if self.smoothing == "paper":
            return [GaussianSmoothing()]
        units = self.probe_units.strip() or None
        if units == _navigation_units(self.signal):
            units = None
        return [GaussianSmoothing(probe_fwhm=self.probe_fwhm, probe_units=units)]

    def kwargs(self) -> dict:
        """Keyword arguments for :func:`hyperspy_cnmf.decomposition`.

        Returns
        -------
        dict
            ``output_dimension``, ``factor_constraints``,
            ``loading_constraints``, ``center``, ``n_init``, ``max_iter``,
            ``tol`` and ``random_state``. ``center`` is None (the signal's
            calibrated centre, read at fit time) unless radial continuity is
            on and the centre was moved away from the calibrated one; it is
            then ``(x, y) = (center_col, center_row)``, pyxem's order.
        """
        center = None
        if self.radial_continuity and not self._center_is_calibrated():
            center = (self.center_col, self.center_row)  # pyxem's (x, y)
        return {
            "output_dimension": self.output_dimension,
            "factor_constraints": self.factor_constraints(),
            "loading_constraints": self.loading_constraints(),
            "center": center,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "random_state": self.random_state,
        }

    def run(self, **kwargs):
        """Run the constrained NMF of the signal with these parameters.

        Calls ``hyperspy_cnmf.decomposition(signal, **self.kwargs(), **kwargs)``
        (see :meth:`kwargs`);
        the results are stored in ``signal.learning_results``.

        Parameters
        ----------
        **kwargs
            Extra keyword arguments for :func:`hyperspy_cnmf.decomposition`
            (they override the parameters).

        Returns
        -------
        object
            Whatever :func:`hyperspy_cnmf.decomposition` returns.
        """
        return decomposition(self.signal, **{**self.kwargs(), **kwargs})

    #: Alias of :meth:`run`, as HyperSpy's tools name it.
    apply = run
