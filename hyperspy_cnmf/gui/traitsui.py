"""traitsui dialog for :class:`~hyperspy_cnmf.gui.parameters.ConstrainedNMFParameters`.

Registered in ``hyperspy_extension.yaml`` as the ``traitsui`` widget of the
toolkey ``hyperspy_cnmf.ConstrainedNMF``. traitsui is optional: without it
the widget function raises :class:`NotImplementedError`, which HyperSpy's
``gui()`` treats as "this toolkit is not available" (the ipywidgets form, if
enabled, is still shown).
"""

from __future__ import annotations

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
        The traitsui view and handler when ``display`` is False.

    Raises
    ------
    NotImplementedError
        If traitsui is not installed.
    """
    try:
        import traitsui.api as tu
    except ImportError as error:
        raise NotImplementedError(TRAITSUI_MISSING) from error

    class ConstrainedNMFHandler(tu.Handler):
        def run_fit(self, info):
            info.object.run()

        def reset_center(self, info):
            info.object.reset_center()

        def center_to_middle(self, info):
            info.object.center_to_middle()

    def parse_seed(text):
        text = str(text).strip()
        return int(text) if text else None

    view = tu.View(
        tu.Item("output_dimension", label="Number of components"),
        tu.Group(
            tu.Item("radial_continuity", label="Radial continuity"),
            tu.Item("outlier_factor", enabled_when="radial_continuity"),
            tu.Item(
                "center_row", label="Centre row (px)", enabled_when="radial_continuity"
            ),
            tu.Item(
                "center_col", label="Centre col (px)", enabled_when="radial_continuity"
            ),
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
