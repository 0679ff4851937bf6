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

from .parameters import SMOOTHING_OPTIONS

__all__ = ["constrained_nmf_ipy"]


def _labelme(label, widget, tooltip=""):
    """A labelled row (``hyperspy_gui_ipywidgets.utils.labelme``) with a tooltip."""
    row = labelme(label, widget)
    if tooltip:
        row.children[0].tooltip = tooltip
        widget.tooltip = tooltip
    return row


def _seed_to_text(value):
    return "" if value is None else str(value)


def _text_to_seed(obj):
    def parse(text):
        text = text.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return obj.random_state  # keep the last valid seed

    return parse


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
        widget with the outcome of the last run).
    """
    wdict = {}
    output_dimension = ipywidgets.BoundedIntText(min=1, max=10**6)
    radial_continuity = ipywidgets.Checkbox(
        description="Radial continuity", indent=False
    )
    outlier_factor = ipywidgets.BoundedFloatText(min=1.0 + 1e-6, max=1e6, step=0.1)
    center_row = ipywidgets.FloatText(step=0.5)
    center_col = ipywidgets.FloatText(step=0.5)
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
        "center_row": center_row,
        "center_col": center_col,
        "smoothing": smoothing,
        "probe_fwhm": probe_fwhm,
        "probe_units": probe_units,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
    }
    for name, widget in fields.items():
        link((obj, name), (widget, "value"))
    link(
        (obj, "random_state"),
        (random_state, "value"),
        transform=(_seed_to_text, _text_to_seed(obj)),
    )
    wdict.update(fields)
    wdict["random_state"] = random_state

    # Show only the fields that the choices use.
    radial_box = ipywidgets.VBox(
        [
            _labelme(
                "Outlier factor", outlier_factor, "Bragg spots: above factor x mean"
            ),
            _labelme("Centre row (px)", center_row),
            _labelme("Centre col (px)", center_col),
            ipywidgets.HBox([center_reset, center_middle]),
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
        run.disabled = True
        status.value = "Running..."
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
            radial_continuity,
            radial_box,
            ipywidgets.HTML("<b>Maps</b>"),
            _labelme("Smoothing", smoothing),
            probe_box,
            ipywidgets.HTML("<b>Solver</b>"),
            _labelme("Restarts (n_init)", n_init),
            _labelme("Max iterations", max_iter),
            _labelme("Tolerance", tol),
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
