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
        ``"run_button"``, ``"close_button"`` and ``"status"`` (an HTML
        widget: invalid fields, quoting what they hold, as they are typed,
        or the outcome of the last run).
    """
    wdict = {}
    output_dimension = ipywidgets.BoundedIntText(min=1, max=10**6)
    radial_continuity = ipywidgets.Checkbox(
        description="Radial continuity", indent=False
    )
    outlier_factor = ipywidgets.BoundedFloatText(min=1.0 + 1e-6, max=1e6, step=0.1)
    center_x = ipywidgets.FloatText(step=0.5)
    center_y = ipywidgets.FloatText(step=0.5)
    center_note = ipywidgets.HTML(
        ""
        if obj.center_is_calibrated
        else "<i>The signal has no calibrated centre (signal offsets 0): the "
        "fit uses the centre above. To store one: s.calibration.center = "
        "None (the middle) or = (x, y).</i>"
    )
    use_signal_mask = ipywidgets.Checkbox(
        description=(
            f"Exclude s.calibration.mask ({obj.signal_mask_pixels} px)"
            if obj.signal_mask_pixels
            else "No signal mask (set s.calibration.mask)"
        ),
        indent=False,
        disabled=not obj.signal_mask_pixels,
    )
    center_reset = ipywidgets.Button(
        description="Calibrated", tooltip="Beam centre from the signal calibration"
    )
    center_middle = ipywidgets.Button(
        description="Middle", tooltip="Beam centre at the middle of the detector"
    )
    smoothing = ipywidgets.Dropdown(
        options=[(label, value) for value, label in SMOOTHING_OPTIONS.items()]
    )
    probe_fwhm = ipywidgets.BoundedFloatText(min=1e-12, max=1e12)
    probe_units = ipywidgets.Text(placeholder="navigation units")
    pure_phases = ipywidgets.Dropdown(
        options=[(label, value) for value, label in PURE_PHASES_OPTIONS.items()]
    )
    compression = ipywidgets.Text(placeholder="auto, none or a rank")
    n_init = ipywidgets.BoundedIntText(min=1, max=10**6)
    max_iter = ipywidgets.BoundedIntText(min=1, max=10**9)
    tol = ipywidgets.BoundedFloatText(min=0.0, max=1e6, step=1e-5)
    random_state = ipywidgets.Text(placeholder="random")
    run = ipywidgets.Button(
        description="Run", button_style="primary", tooltip="Run the constrained NMF"
    )
    close = ipywidgets.Button(description="Close", tooltip="Close this form")
    status = ipywidgets.HTML("")
    status.add_class("cnmf-status")  # found by tools/check_gui_in_jupyter.py

    fields = {
        "output_dimension": output_dimension,
        "radial_continuity": radial_continuity,
        "outlier_factor": outlier_factor,
        "center_x": center_x,
        "center_y": center_y,
        "use_signal_mask": use_signal_mask,
        "smoothing": smoothing,
        "pure_phases": pure_phases,
        "probe_fwhm": probe_fwhm,
        "probe_units": probe_units,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
    }
    for name, widget in fields.items():
        link((obj, name), (widget, "value"))
    _text_field(obj, "random_state", random_state)
    _text_field(obj, "compression", compression)
    wdict.update(fields)
    wdict["random_state"] = random_state
    wdict["compression"] = compression

    def show_errors(new=None):
        status.value = _error_html(obj.errors.values())

    obj.on_trait_change(show_errors, "errors")

    # Show only the fields that the choices use.
    radial_box = ipywidgets.VBox(
        [
            _labelme(
                "Outlier factor", outlier_factor, "Bragg spots: above factor x mean"
            ),
            _labelme("Centre x (px)", center_x, "pyxem's s.calibration.center[0]"),
            _labelme("Centre y (px)", center_y, "pyxem's s.calibration.center[1]"),
            ipywidgets.HBox([center_reset, center_middle]),
            center_note,
        ]
    )
    probe_box = ipywidgets.VBox(
        [
            _labelme("Probe FWHM", probe_fwhm),
            _labelme("Probe units", probe_units, "empty: navigation axes' units"),
        ]
    )

    def update_visibility(change=None):
        radial_box.layout.display = "" if radial_continuity.value else "none"
        probe_box.layout.display = "" if smoothing.value == "probe_fwhm" else "none"

    radial_continuity.observe(update_visibility, "value")
    smoothing.observe(update_visibility, "value")
    update_visibility()

    center_reset.on_click(lambda b: obj.reset_center())
    center_middle.on_click(lambda b: obj.center_to_middle())

    # The fit's progress bar and summary, shown in the form: a click handler's
    # output would otherwise go to JupyterLab's log console.
    output = ipywidgets.Output()

    def on_run_clicked(b):
        if obj.errors:  # never run with a value other than the one shown
            status.value = _error_html(obj.errors.values()) + (
                "<div style='color:red'>Not run: correct the field first.</div>"
            )
            return
        run.disabled = True
        status.value = "Running..."
        if _in_jupyter():  # outside a kernel this prints escape codes
            output.clear_output()
        try:
            with output:
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

    run.on_click(on_run_clicked)

    box = ipywidgets.VBox(
        [
            _labelme("Number of components", output_dimension),
            ipywidgets.HTML("<b>Diffraction factors</b>"),
            use_signal_mask,
            radial_continuity,
            radial_box,
            _labelme("Pure phases", pure_phases, "amorphous part out of the crystals"),
            ipywidgets.HTML("<b>Maps</b>"),
            _labelme("Smoothing", smoothing),
            probe_box,
            ipywidgets.HTML("<b>Solver</b>"),
            _labelme("Restarts (n_init)", n_init),
            _labelme("Max iterations", max_iter),
            _labelme("Tolerance", tol),
            _labelme("Compression", compression, "auto, none or a sketch rank"),
            _labelme("Random seed", random_state, "empty: a new seed each run"),
            ipywidgets.HBox([run, close]),
            status,
            output,
        ]
    )

    def on_close_clicked(b):
        box.close()

    close.on_click(on_close_clicked)

    wdict["center_reset_button"] = center_reset
    wdict["center_middle_button"] = center_middle
    wdict["run_button"] = run
    wdict["close_button"] = close
    wdict["status"] = status
    wdict["output"] = output
    return {"widget": box, "wdict": wdict}
