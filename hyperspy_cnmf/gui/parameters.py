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
import numbers
import warnings

import numpy as np
import traits.api as t
from hyperspy.ui_registry import add_gui_method

from ..core.constraints import GaussianSmoothing, RadialContinuity
from ..signals.decomposition import decomposition, estimator_parameters
from ..signals.geometry import beam_center, is_uncalibrated, pyxem_mask

__all__ = [
    "ConstrainedNMFParameters",
    "PURE_PHASES_OPTIONS",
    "SMOOTHING_OPTIONS",
    "calibrated_center",
    "parse_compression",
    "parse_seed",
]

#: Map smoothing choices: value -> label shown in the forms.
SMOOTHING_OPTIONS = {
    "paper": "3x3 Gaussian (paper)",
    "probe_fwhm": "Gaussian from probe FWHM",
    "none": "None",
}


# Defaults come from where each setting is declared: the estimator and the
# constraint classes.
_DEFAULTS = estimator_parameters()
#: The estimator's settings the form shows as one field each (its traits
#: carry the same names and the estimator's defaults) ...
EXPOSED = ("pure_phases", "compression", "n_init", "max_iter", "tol", "random_state")
#: ... those it builds from fields of its own (constraints) and those it
#: leaves at their defaults; tests/test_architecture.py checks that
#: every estimator parameter is in one of the two.
NOT_EXPOSED = (
    "factor_constraints",
    "loading_constraints",
    "solver",
    "loss",
    "prune_restarts",
    "n_exact_iter",
    "scan_binning",
    "signal_binning",
    "normalize_poissonian_noise",
    "n_iter_no_change",
)
_OUTLIER_FACTOR = (
    inspect.signature(RadialContinuity).parameters["outlier_factor"].default
)
#: Choices of ``pure_phases`` (the estimator's rule): value -> label.
PURE_PHASES_OPTIONS = {"auto": "auto (on for patterns)", True: "on", False: "off"}
_MAX_SEED = 2**32 - 1  # numpy's legacy seeds


def _is_undefined(value) -> bool:
    return value is t.Undefined or value in (None, "", "<undefined>")


def calibrated_center(signal) -> tuple[float, float] | None:
    """The beam centre ``(x, y)`` in pixels read from the signal axes (pyxem's
    ``s.calibration.center``: ``-offset / scale`` per axis), or None when the
    signal has no two uniform signal axes or is uncalibrated (both signal
    offsets zero: the corner pixel, not a centre)."""
    center = beam_center(signal, strict=False)
    if center is None or is_uncalibrated(signal):
        return None
    return (center[1] + 0.0, center[0] + 0.0)


def _as_int(text):
    """``text`` (an int, or a str as typed) as an int; None when empty."""
    if isinstance(text, numbers.Integral) and not isinstance(text, bool):
        return int(text)
    stripped = str(text).strip()
    return int(stripped) if stripped else None  # ValueError when not an int


def parse_seed(text):
    """The seed typed in a form: an integer from 0 to 2**32 - 1, or None
    for an empty field (a new seed each run).

    Raises
    ------
    ValueError
        Naming the text as typed.
    """
    if text is None:
        return None
    hint = (
        f"type an integer from 0 to {_MAX_SEED}, or leave the field empty for "
        "a new seed each run"
    )
    try:
        value = _as_int(text)
    except ValueError:
        raise ValueError(
            f"Random seed {str(text)!r} is not a whole number: {hint}"
        ) from None
    if value is not None and not 0 <= value <= _MAX_SEED:
        raise ValueError(f"Random seed {str(text)!r} is out of range: {hint}")
    return value


def parse_compression(text):
    """The ``compression`` typed in a form: ``"auto"``, ``"none"`` or empty
    (None: exact iterations) or a sketch rank (an integer >= 1).

    Raises
    ------
    ValueError
        Naming the text as typed.
    """
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = _as_int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"Compression {str(text)!r} is not valid: type auto (sketch when "
            "it pays off), none (exact iterations) or a sketch rank, an "
            "integer >= 1"
        )
    return value


def _text(value) -> str:
    return "" if value is None else str(value)


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
    on the maps; the solver settings default to the estimator's
    (:func:`~hyperspy_cnmf.signals.decomposition.estimator_parameters`).
    Call :meth:`gui` for a form, or set the traits and call :meth:`run`.

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
    center_x, center_y : float
        Beam centre ``(x, y)`` in detector pixels, the order of pyxem's
        ``s.calibration.center``. Defaults to the signal's calibrated
        centre, ``-offset / scale`` on each signal axis, or, for an
        uncalibrated signal (offsets 0), the middle of the pattern, which is
        then passed as ``center=``. While it equals the calibrated centre,
        ``center=None`` is passed and the fit reads the centre from the
        signal.
    use_signal_mask : bool
        Exclude the pixels of pyxem's ``s.calibration.mask`` (on when the
        signal has one; :attr:`signal_mask_pixels` says how many).
    smoothing : {"paper", "probe_fwhm", "none"}
        Map smoothing: the paper's 3x3 Gaussian kernel ``[1, 2, 1] / 4``, a
        Gaussian whose FWHM is the probe size, or none.
    probe_fwhm : float
        Probe full width at half maximum, in ``probe_units`` (used when
        ``smoothing == "probe_fwhm"``); ``sigma = FWHM / (2 sqrt(2 ln 2))``.
    probe_units : str
        Units of ``probe_fwhm`` (nm, Å, pm, ...). Defaults to the units of
        the navigation axes; empty means the navigation axes' units.
    pure_phases : {"auto", True, False}
        The estimator's ``pure_phases``: take the amorphous part out of the
        crystalline factors.
    compression : None, "auto" or int
        The estimator's ``compression``: iterate on a sketch of this rank.
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
    errors : dict
        ``{field: message}`` for the text fields (seed, compression) whose
        text is not valid (:meth:`set_text`); :meth:`run` refuses to run
        while there is one.
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
    >>> params.center  # (x, y), as s.calibration.center
    (7.5, 7.5)
    >>> params.factor_constraints()
    [RadialContinuity(outlier_factor=2.0, center=None, n_azimuthal=360, r_min=0.0)]
    >>> params.center_y = 8.0
    >>> params.kwargs()["center"]
    (7.5, 8.0)
    >>> params.set_text("random_state", "abc")
    >>> params.errors["random_state"][:23]
    "Random seed 'abc' is no"
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
    center_x = t.Float(0.0, desc="beam centre x (detector pixels, pyxem order)")
    center_y = t.Float(0.0, desc="beam centre y (detector pixels, pyxem order)")
    use_signal_mask = t.Bool(
        False, desc="exclude the pixels of the signal's mask (s.calibration.mask)"
    )
    signal_mask_pixels = t.Int(0, desc="pixels in s.calibration.mask (read-only)")
    smoothing = t.Enum(*SMOOTHING_OPTIONS, desc="Gaussian smoothing of the maps")
    probe_fwhm = t.Range(0.0, None, 1.0, exclude_low=True, desc="probe FWHM")
    probe_units = t.Str("", desc="units of the probe FWHM")
    pure_phases = t.Enum(
        _DEFAULTS["pure_phases"],
        *(v for v in PURE_PHASES_OPTIONS if v != _DEFAULTS["pure_phases"]),
        desc="take the amorphous part out of the crystalline factors",
    )
    compression = t.Union(
        None,
        t.Enum("auto"),
        t.Range(1, None),
        default_value=_DEFAULTS["compression"],
        desc="sketch rank (auto, none or an integer)",
    )
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
        t.Range(0, _MAX_SEED),
        default_value=_DEFAULTS["random_state"],
        desc="seed (empty: random)",
    )
    errors = t.Dict(t.Str, t.Str, desc="invalid text fields and why")

    #: Text fields: trait -> parser of the typed text (see :meth:`set_text`).
    TEXT_FIELDS = {"random_state": parse_seed, "compression": parse_compression}

    def __init__(self, signal, **traits):
        super().__init__()
        self.signal = signal
        center = calibrated_center(signal)
        self._calibrated_center = center
        shape = signal.axes_manager.signal_shape  # (x, y)
        if center is None:
            if len(shape) == 2:
                center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
            else:
                # Radial continuity needs 2D patterns: off unless asked for.
                self.radial_continuity = False
                center = (0.0, 0.0)
        self.center_x, self.center_y = center
        self.signal_mask_pixels = (
            0 if len(shape) != 2 else int(_pyxem_mask_pixels(signal))
        )
        self.use_signal_mask = self.signal_mask_pixels > 0
        self.probe_units = _navigation_units(signal)
        self.trait_set(**traits)

    def __repr__(self):
        names = (
            "output_dimension",
            "radial_continuity",
            "outlier_factor",
            "center_x",
            "center_y",
            "use_signal_mask",
            "smoothing",
            "probe_fwhm",
            "probe_units",
            *EXPOSED,
        )
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({args})"

    # -- text fields -----------------------------------------------------------

    def set_text(self, name, text):
        """Set the trait ``name`` from the text typed in its form field.

        A valid text sets the trait and clears the field's error; an invalid
        one leaves the trait unchanged and records in :attr:`errors` a
        message that quotes the text, so that the form shows it and
        :meth:`run` refuses to run (never a silent default).
        """
        errors = dict(self.errors)
        try:
            value = self.TEXT_FIELDS[name](text)
        except ValueError as error:
            errors[name] = str(error)
        else:
            errors.pop(name, None)
            setattr(self, name, value)
        self.errors = errors

    def text(self, name) -> str:
        """The text a form field shows for the trait ``name``."""
        return _text(getattr(self, name))

    # -- centre helpers -----------------------------------------------------

    @property
    def center(self) -> tuple[float, float]:
        """The beam centre ``(x, y)`` in pixels, pyxem's order."""
        return (self.center_x, self.center_y)

    @property
    def center_is_calibrated(self) -> bool:
        """Whether the signal has a calibrated beam centre (offsets not all 0)."""
        return self._calibrated_center is not None

    def reset_center(self):
        """Set the centre back to the signal's calibrated centre."""
        center = calibrated_center(self.signal)
        self._calibrated_center = center
        if center is not None:
            self.center_x, self.center_y = center

    def center_to_middle(self):
        """Put the centre at the middle of the detector, ``(size - 1) / 2``.

        Only the parameters change, not the signal's calibration.
        """
        shape = self.signal.axes_manager.signal_shape
        if len(shape) == 2:
            self.center_x, self.center_y = ((n - 1) / 2 for n in shape)

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
            ``loading_constraints``, ``center``, ``signal_mask``,
            ``pure_phases``, ``compression``, ``n_init``, ``max_iter``,
            ``tol`` and ``random_state``. ``center`` is None (the signal's
            calibrated centre, read at fit time) unless radial continuity or
            the pure-phase step is on and the centre differs from the
            calibrated one; it is then ``(center_x, center_y)``, pyxem's
            order. ``signal_mask`` is None (pyxem's ``s.calibration.mask``,
            read at fit time, if any) or, with ``use_signal_mask`` off on a
            signal that has a mask, an all-False mask (no pixel excluded).

        Raises
        ------
        ValueError
            While a text field holds an invalid text (:attr:`errors`).
        """
        if self.errors:
            raise ValueError("; ".join(self.errors.values()))
        center = None
        uses_center = self.radial_continuity or self.pure_phases is not False
        if (
            uses_center
            and len(self.signal.axes_manager.signal_shape) == 2
            and not self._center_is_calibrated()
        ):
            center = self.center
        signal_mask = None
        if self.signal_mask_pixels and not self.use_signal_mask:
            signal_mask = np.zeros(self.signal.axes_manager.signal_shape, dtype=bool)
        return {
            "output_dimension": self.output_dimension,
            "factor_constraints": self.factor_constraints(),
            "loading_constraints": self.loading_constraints(),
            "center": center,
            "signal_mask": signal_mask,
            **{name: getattr(self, name) for name in EXPOSED},
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

        Raises
        ------
        ValueError
            While a text field holds an invalid text, naming it; nothing
            runs.
        """
        return decomposition(self.signal, **{**self.kwargs(), **kwargs})

    #: Alias of :meth:`run`, as HyperSpy's tools name it.
    apply = run


def _pyxem_mask_pixels(signal) -> int:
    """Pixels excluded by pyxem's ``s.calibration.mask`` (0 without one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a bad mask is reported by the fit
        mask = pyxem_mask(signal)
    return 0 if mask is None else int(mask.sum())
