"""traitsui dialog for :class:`~hyperspy_cnmf.gui.parameters.ConstrainedNMFParameters`.

Registered in ``hyperspy_extension.yaml`` as the ``traitsui`` widget of the
toolkey ``hyperspy_cnmf.ConstrainedNMF``. traitsui is optional: without it
the widget function says so in a warning and returns None, so that
``params.gui(display=False)["traitsui"]`` is None rather than another
toolkit's form (HyperSpy 2.5's ``gui()`` files the previous toolkit's
widgets under "traitsui" when this function raises), and the ipywidgets
form, if enabled, is still shown.
"""

from __future__ import annotations

import warnings

__all__ = ["constrained_nmf_traitsui", "traitsui_available"]

TRAITSUI_MISSING = (
    "The traitsui dialog of hyperspy_cnmf needs traitsui (and a Qt or wx "
    "backend), which is not installed. Install it with `pip install traitsui "
    "hyperspy_gui_traitsui`, or use the ipywidgets form: "
    "params.gui(toolkit='ipywidgets')."
)


def traitsui_available() -> bool:
    """Whether traitsui can be imported."""
    try:
        import traitsui.api  # noqa: F401
    except ImportError:
        return False
    return True


def constrained_nmf_traitsui(obj, display=True, **kwargs):
    """Dialog to set the constrained NMF parameters and run the fit.

    Parameters
    ----------
    obj : hyperspy_cnmf.gui.parameters.ConstrainedNMFParameters
        The parameters edited by the dialog.
    display : bool, default True
        Open the dialog; if False return ``{"view": View, "handler": Handler}``.
    **kwargs
        Ignored (HyperSpy's widget-function signature).

    Returns
    -------
    dict or None
        The traitsui view and handler when ``display`` is False; None when
        traitsui is not installed (with a UserWarning saying so).
    """
    try:
        import traitsui.api as tu
    except ImportError:
        warnings.warn(TRAITSUI_MISSING, UserWarning, stacklevel=2)
        return None
    from .parameters import parse_compression, parse_seed

    class ConstrainedNMFHandler(tu.Handler):
        def run_fit(self, info):
            info.object.run()

        def reset_center(self, info):
            info.object.reset_center()

        def center_to_middle(self, info):
            info.object.center_to_middle()

    view = tu.View(
        tu.Item("output_dimension", label="Number of components"),
        tu.Group(
            tu.Item("radial_continuity", label="Radial continuity"),
            tu.Item("outlier_factor", enabled_when="radial_continuity"),
            tu.Item(
                "center_x", label="Centre x (px)", enabled_when="radial_continuity"
            ),
            tu.Item(
                "center_y", label="Centre y (px)", enabled_when="radial_continuity"
            ),
            tu.Item(
                "use_signal_mask",
                label="Exclude s.calibration.mask",
                enabled_when="signal_mask_pixels > 0",
            ),
            tu.Item("pure_phases", label="Pure phases"),
            label="Diffraction factors",
            show_border=True,
        ),
        tu.Group(
            tu.Item("smoothing"),
            tu.Item("probe_fwhm", enabled_when="smoothing == 'probe_fwhm'"),
            tu.Item("probe_units", enabled_when="smoothing == 'probe_fwhm'"),
            label="Maps",
            show_border=True,
        ),
        tu.Group(
            tu.Item("n_init", label="Restarts (n_init)"),
            tu.Item("max_iter", label="Max iterations"),
            tu.Item("tol", label="Tolerance"),
            tu.Item(
                "compression",
                label="Compression",
                editor=tu.TextEditor(
                    evaluate=parse_compression,
                    format_func=lambda v: "none" if v is None else str(v),
                ),
            ),
            tu.Item(
                "random_state",
                label="Random seed",
                editor=tu.TextEditor(
                    evaluate=parse_seed,
                    format_func=lambda v: "" if v is None else str(v),
                ),
            ),
            label="Solver",
            show_border=True,
        ),
        buttons=[
            tu.Action(name="Calibrated centre", action="reset_center"),
            tu.Action(name="Middle centre", action="center_to_middle"),
            tu.Action(name="Run", action="run_fit"),
            tu.OKButton,
        ],
        handler=ConstrainedNMFHandler,
        title="Constrained NMF",
        kind="live",
        resizable=True,
    )
    if display:
        obj.edit_traits(view=view)
        return None
    return {"view": view, "handler": ConstrainedNMFHandler}
