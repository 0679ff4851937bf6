"""ipywidgets form for :class:`~hyperspy_cnmf.gui.parameters.ConstrainedNMFParameters`.

Registered in ``hyperspy_extension.yaml`` as the ``ipywidgets`` widget of the
toolkey ``hyperspy_cnmf.ConstrainedNMF``. It follows the conventions of
``hyperspy_gui_ipywidgets``: the function takes the parameter object and
keyword arguments, ``display=True`` shows the form, ``display=False`` returns
``{"widget": box, "wdict": {name: widget}}`` (for tests and customisation),
and every field is linked both ways to its trait with ``link_traits.link``.
"""

from __future__ import annotations

import html

try:
    import ipywidgets
    from hyperspy_gui_ipywidgets.utils import add_display_arg, labelme
    from link_traits import link
except ImportError as error:  # pragma: no cover - exercised without the extras
    raise ImportError(
        "The ipywidgets form of hyperspy_cnmf needs ipywidgets, link_traits and "
        "hyperspy_gui_ipywidgets: pip install 'hyperspy_cnmf[gui]'"
    ) from error

from .parameters import PURE_PHASES_OPTIONS, SMOOTHING_OPTIONS

__all__ = ["constrained_nmf_ipy"]


def _labelme(label, widget, tooltip=""):
    """A labelled row (``hyperspy_gui_ipywidgets.utils.labelme``) with a tooltip."""
    row = labelme(label, widget)
    if tooltip:
        row.children[0].tooltip = tooltip
        widget.tooltip = tooltip
    return row


def _in_jupyter() -> bool:
    """Whether a Jupyter kernel runs this code: outside one, clearing an
    Output widget prints terminal escape codes (IPython's ``clear_output``)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _error_html(messages) -> str:
    return "".join(
        f"<div style='color:red'>{html.escape(m, quote=False)}</div>" for m in messages
    )


def _text_field(obj, name, widget):
    """Link a Text widget to the trait ``name`` through ``obj.set_text``: a
    typed text is parsed (an invalid one is reported in ``obj.errors``, the
    trait is unchanged), a trait set in code shows as text."""
    widget.value = obj.text(name)

    def typed(change):
        obj.set_text(name, change["new"])

    def trait_changed(new):
        if name not in obj.errors:
            widget.value = obj.text(name)

    widget.observe(typed, "value")
    obj.on_trait_change(trait_changed, name)


def _widgets(obj) -> dict:
    """The form's widgets, by name: the fields under their trait names."""
    w = {
        "output_dimension": ipywidgets.BoundedIntText(min=1, max=10**6),
        "radial_continuity": ipywidgets.Checkbox(
            description="Radial continuity", indent=False
        ),
        "outlier_factor": ipywidgets.BoundedFloatText(
            min=1.0 + 1e-6, max=1e6, step=0.1
        ),
        "center_x": ipywidgets.FloatText(step=0.5),
        "center_y": ipywidgets.FloatText(step=0.5),
        "use_signal_mask": ipywidgets.Checkbox(
            description=(
                f"Exclude s.calibration.mask ({obj.signal_mask_pixels} px)"
                if obj.signal_mask_pixels
                else "No signal mask (set s.calibration.mask)"
            ),
            indent=False,
            disabled=not obj.signal_mask_pixels,
        ),
        "smoothing": ipywidgets.Dropdown(
            options=[(label, value) for value, label in SMOOTHING_OPTIONS.items()]
        ),
        "pure_phases": ipywidgets.Dropdown(
            options=[(label, value) for value, label in PURE_PHASES_OPTIONS.items()]
        ),
        "probe_fwhm": ipywidgets.BoundedFloatText(min=1e-12, max=1e12),
        "probe_units": ipywidgets.Text(placeholder="navigation units"),
        "n_init": ipywidgets.BoundedIntText(min=1, max=10**6),
        "max_iter": ipywidgets.BoundedIntText(min=1, max=10**9),
        "tol": ipywidgets.BoundedFloatText(min=0.0, max=1e6, step=1e-5),
    }
    for name, widget in w.items():
        link((obj, name), (widget, "value"))
    # Typed text, validated by the parameters object (errors shown, never
    # silently replaced).
    w["random_state"] = ipywidgets.Text(placeholder="random")
    w["compression"] = ipywidgets.Text(placeholder="auto, none or a sketch rank")
    _text_field(obj, "random_state", w["random_state"])
    _text_field(obj, "compression", w["compression"])
    w["center_reset_button"] = ipywidgets.Button(
        description="Calibrated", tooltip="Beam centre from the signal calibration"
    )
    w["center_middle_button"] = ipywidgets.Button(
        description="Middle", tooltip="Beam centre at the middle of the detector"
    )
    w["run_button"] = ipywidgets.Button(
        description="Run", button_style="primary", tooltip="Run the constrained NMF"
    )
    w["close_button"] = ipywidgets.Button(
        description="Close", tooltip="Close this form"
    )
    w["status"] = ipywidgets.HTML("")
    w["status"].add_class("cnmf-status")  # found by tools/check_gui_in_jupyter.py
    # The fit's progress bar and summary, shown in the form: a click
    # handler's output would otherwise go to JupyterLab's log console.
    w["output"] = ipywidgets.Output()
    return w


def _radial_box(obj, w):
    """The fields of the radial constraint: outlier factor and beam centre."""
    center_note = ipywidgets.HTML(
        ""
        if obj.center_is_calibrated
        else "<i>The signal has no calibrated centre (signal offsets 0): the "
        "fit uses the centre above. To store one: s.calibration.center = "
        "None (the middle) or = (x, y).</i>"
    )
    return ipywidgets.VBox(
        [
            _labelme(
                "Outlier factor",
                w["outlier_factor"],
                "Bragg spots: above factor x mean",
            ),
            _labelme("Centre x (px)", w["center_x"], "pyxem's s.calibration.center[0]"),
            _labelme("Centre y (px)", w["center_y"], "pyxem's s.calibration.center[1]"),
            ipywidgets.HBox([w["center_reset_button"], w["center_middle_button"]]),
            center_note,
        ]
    )


def _show_used_fields(w, radial_box, probe_box):
    """Show only the fields that the choices use."""

    def update_visibility(change=None):
        radial_box.layout.display = "" if w["radial_continuity"].value else "none"
        probe_box.layout.display = (
            "" if w["smoothing"].value == "probe_fwhm" else "none"
        )

    w["radial_continuity"].observe(update_visibility, "value")
    w["smoothing"].observe(update_visibility, "value")
    update_visibility()


def _on_run(obj, w):
    """The Run button's handler: never runs with a value other than the one
    shown; the outcome goes to the status line."""
    status, run = w["status"], w["run_button"]

    def on_run_clicked(b):
        if obj.errors:
            status.value = _error_html(obj.errors.values()) + (
                "<div style='color:red'>Not run: correct the field first.</div>"
            )
            return
        run.disabled = True
        status.value = "Running..."
        if _in_jupyter():  # outside a kernel this prints escape codes
            w["output"].clear_output()
        try:
            with w["output"]:
                obj.run()
        except Exception as error:
            status.value = (
                f"<span style='color:red'>Failed: {type(error).__name__}: "
                f"{html.escape(str(error))}</span>"
            )
            raise
        else:
            status.value = "Done: results in <code>signal.learning_results</code>"
        finally:
            run.disabled = False

    return on_run_clicked


@add_display_arg
def constrained_nmf_ipy(obj, **kwargs):
    """Form to set the constrained NMF parameters and run the fit.

    Parameters
    ----------
    obj : hyperspy_cnmf.gui.parameters.ConstrainedNMFParameters
        The parameters; the fields are linked both ways to its traits.
    display : bool, default True
        Display the form; if False return the widgets.
    **kwargs
        Ignored (HyperSpy's widget-function signature).

    Returns
    -------
    dict or None
        With ``display=False``: ``{"widget": VBox, "wdict": dict}``; ``wdict``
        holds the field widgets under the trait names, plus
        ``"center_reset_button"``, ``"center_middle_button"``,
        ``"run_button"``, ``"close_button"``, ``"output"`` and ``"status"``
        (an HTML widget: invalid fields, quoting what they hold, as they are
        typed, or the outcome of the last run).
    """
    w = _widgets(obj)

    def show_errors(new=None):
        w["status"].value = _error_html(obj.errors.values())

    obj.on_trait_change(show_errors, "errors")
    radial_box = _radial_box(obj, w)
    probe_box = ipywidgets.VBox(
        [
            _labelme("Probe FWHM", w["probe_fwhm"]),
            _labelme("Probe units", w["probe_units"], "empty: navigation axes' units"),
        ]
    )
    _show_used_fields(w, radial_box, probe_box)
    w["center_reset_button"].on_click(lambda b: obj.reset_center())
    w["center_middle_button"].on_click(lambda b: obj.center_to_middle())
    w["run_button"].on_click(_on_run(obj, w))
    box = ipywidgets.VBox(
        [
            _labelme("Number of components", w["output_dimension"]),
            ipywidgets.HTML("<b>Diffraction factors</b>"),
            w["use_signal_mask"],
            w["radial_continuity"],
            radial_box,
            _labelme(
                "Pure phases", w["pure_phases"], "amorphous part out of the crystals"
            ),
            ipywidgets.HTML("<b>Maps</b>"),
            _labelme("Smoothing", w["smoothing"]),
            probe_box,
            ipywidgets.HTML("<b>Solver</b>"),
            _labelme("Restarts (n_init)", w["n_init"]),
            _labelme("Max iterations", w["max_iter"]),
            _labelme("Tolerance", w["tol"]),
            _labelme("Compression", w["compression"], "auto, none or a sketch rank"),
            _labelme("Random seed", w["random_state"], "empty: a new seed each run"),
            ipywidgets.HBox([w["run_button"], w["close_button"]]),
            w["status"],
            w["output"],
        ]
    )
    w["close_button"].on_click(lambda b: box.close())
    return {"widget": box, "wdict": w}
