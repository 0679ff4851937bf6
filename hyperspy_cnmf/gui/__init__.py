"""Graphical forms for the constrained NMF (ipywidgets and traitsui).

The parameters live in a traits object, :class:`ConstrainedNMFParameters`;
its ``gui()`` method (added by HyperSpy's ``add_gui_method`` under the
toolkey ``hyperspy_cnmf.ConstrainedNMF``, declared in the package's
``hyperspy_extension.yaml``) shows the form of every enabled toolkit::

    from hyperspy_cnmf.gui import ConstrainedNMFParameters, constrained_nmf_gui

    params = ConstrainedNMFParameters(s, output_dimension=4)
    params.gui(toolkit="ipywidgets")     # in Jupyter; "Run" fits the signal
    # or, in one call:
    params = constrained_nmf_gui(s)

Both forms call :meth:`ConstrainedNMFParameters.run`, i.e.
``hyperspy_cnmf.decomposition(s, output_dimension=k, factor_constraints=...,
loading_constraints=..., center=..., n_init=..., max_iter=..., tol=...,
random_state=...)``.
The ipywidgets form needs ``pip install 'hyperspy_cnmf[gui]'``; the traitsui
dialog needs traitsui (optional).
"""

from __future__ import annotations

from .parameters import SMOOTHING_OPTIONS, ConstrainedNMFParameters, calibrated_center

__all__ = [
    "SMOOTHING_OPTIONS",
    "ConstrainedNMFParameters",
    "calibrated_center",
    "constrained_nmf_gui",
]


def constrained_nmf_gui(signal, toolkit=None, display=True, **traits):
    """Show a form to choose the constrained NMF parameters of ``signal`` and run it.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The signal to decompose (typically a pyxem ``Diffraction2D``).
    toolkit : str, iterable of str or None
        ``"ipywidgets"``, ``"traitsui"`` or both. None: the toolkits enabled
        in HyperSpy's preferences, leaving out traitsui when it is not
        installed.
    display : bool, default True
        Display the form. If False, the widgets are returned in
        ``params.widgets`` (``{toolkit: {"widget": ..., "wdict": ...}}`` for
        ipywidgets), for tests or customisation.
    **traits
        Initial parameter values, e.g. ``output_dimension=4``.

    Returns
    -------
    ConstrainedNMFParameters
        The parameters behind the form; ``params.run()`` fits from code.

    Raises
    ------
    NotImplementedError
        If ``toolkit`` asks for traitsui and it is not installed.
    """
    from .traitsui import TRAITSUI_MISSING, traitsui_available

    params = ConstrainedNMFParameters(signal, **traits)
    if toolkit is None:
        from hyperspy.defaults_parser import preferences

        toolkit = []
        if preferences.GUIs.enable_ipywidgets_gui:
            toolkit.append("ipywidgets")
        if preferences.GUIs.enable_traitsui_gui and traitsui_available():
            toolkit.append("traitsui")
        toolkit = toolkit or None  # let HyperSpy explain what is disabled
    elif isinstance(toolkit, str):
        toolkit = [toolkit]
    if toolkit is not None and "traitsui" in toolkit and not traitsui_available():
        raise NotImplementedError(TRAITSUI_MISSING)
    widgets = params.gui(toolkit=toolkit, display=display)
    params.widgets = widgets if not display else None
    return params
