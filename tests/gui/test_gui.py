"""Tests of the GUI: extension registration, parameters, ipywidgets form, traitsui."""

import numpy as np
import pytest
import traits.api as t

from hyperspy_cnmf.core.constraints import GaussianSmoothing, RadialContinuity
from hyperspy_cnmf.gui import (
    ConstrainedNMFParameters,
    calibrated_center,
    constrained_nmf_gui,
)
from hyperspy_cnmf.gui import parameters as gui_parameters
from hyperspy_cnmf.gui.traitsui import constrained_nmf_traitsui, traitsui_available
from tests.signals.synthetic import as_lazy

pxm = pytest.importorskip("pyxem")
pytest.importorskip("ipywidgets")
pytest.importorskip("link_traits")

TOOLKEY = "hyperspy_cnmf.ConstrainedNMF"
KWARGS = {"toolkit": "ipywidgets", "display": False}


@pytest.fixture
def gui_signal(lazy):
    """A 4 x 5 scan of 16 x 12 patterns, centre at (row, col) = (7, 3), in
    memory and lazy."""
    rng = np.random.default_rng(0)
    s = as_lazy(pxm.signals.Diffraction2D(rng.random((4, 5, 16, 12))), lazy)
    kx, ky = s.axes_manager.signal_axes  # HyperSpy order: (x, y) = (col, row)
    kx.scale, kx.offset = 0.5, -1.5  # col centre 3
    ky.scale, ky.offset = 0.5, -3.5  # row centre 7
    for axis in s.axes_manager.navigation_axes:
        axis.scale, axis.units = 2.0, "nm"
    return s


@pytest.fixture
def fake_decomposition(monkeypatch):
    """Replace the decomposition the form runs by a recorder."""
    calls = []

    def decomposition(gui_signal, **kwargs):
        calls.append((gui_signal, kwargs))
        return "result"

    monkeypatch.setattr(gui_parameters, "decomposition", decomposition)
    return calls


def ipy(params):
    return params.gui(**KWARGS)["ipywidgets"]


# -- registration -------------------------------------------------------------


def test_extension_registers_toolkey_and_widgets():
    from hyperspy.extensions import ALL_EXTENSIONS
    from hyperspy.ui_registry import UI_REGISTRY

    assert TOOLKEY in ALL_EXTENSIONS["GUI"]["toolkeys"]
    widgets = ALL_EXTENSIONS["GUI"]["widgets"]
    assert widgets["ipywidgets"][TOOLKEY] == {
        "module": "hyperspy_cnmf.gui.ipywidgets",
        "function": "constrained_nmf_ipy",
    }
    assert widgets["traitsui"][TOOLKEY] == {
        "module": "hyperspy_cnmf.gui.traitsui",
        "function": "constrained_nmf_traitsui",
    }
    assert set(UI_REGISTRY[TOOLKEY]) == {"ipywidgets", "traitsui"}


def test_registered_functions_exist():
    import importlib

    from hyperspy.ui_registry import UI_REGISTRY

    for specs in UI_REGISTRY[TOOLKEY].values():
        assert callable(
            getattr(importlib.import_module(specs["module"]), specs["function"])
        )


def test_gui_method_added():
    assert callable(ConstrainedNMFParameters.gui)
    assert "toolkit" in ConstrainedNMFParameters.gui.__doc__


# -- parameters -----------------------------------------------------------------


def test_calibrated_center_follows_pyxem(gui_signal):
    assert calibrated_center(gui_signal) == (3.0, 7.0)  # (x, y)
    assert tuple(gui_signal.calibration.center) == calibrated_center(
        gui_signal
    )  # (x, y)
    gui_signal.axes_manager.signal_axes[0].offset = 0.0
    gui_signal.axes_manager.signal_axes[1].offset = 0.0
    assert calibrated_center(gui_signal) is None  # uncalibrated: no centre


def test_defaults(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    assert params.output_dimension == 2
    assert params.radial_continuity
    assert params.outlier_factor == 2.0
    assert params.center == (3.0, 7.0)  # (x, y)
    assert params.smoothing == "paper"
    assert params.probe_units == "nm"
    assert params.random_state is None
    assert params.signal is gui_signal
    assert params.kwargs() == {
        "output_dimension": 2,
        "factor_constraints": params.factor_constraints(),
        "loading_constraints": params.loading_constraints(),
        "center": None,
        "signal_mask": None,
        "pure_phases": "auto",
        "compression": "auto",
        "n_init": 10,
        "max_iter": 500,
        "tol": 0.0,
        "random_state": None,
    }
    assert "output_dimension=2" in repr(params)


def test_initial_traits(gui_signal):
    params = ConstrainedNMFParameters(
        gui_signal, output_dimension=4, smoothing="none", n_init=1
    )
    assert (params.output_dimension, params.smoothing, params.n_init) == (4, "none", 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("output_dimension", 0),
        ("outlier_factor", 1.0),
        ("smoothing", "5x5"),
        ("probe_fwhm", 0.0),
        ("n_init", 0),
        ("max_iter", 0),
        ("tol", -1.0),
        ("random_state", "seed"),
        ("random_state", -1),
        ("compression", 0),
        ("pure_phases", "yes"),
    ],
)
def test_invalid_values_rejected(gui_signal, name, value):
    params = ConstrainedNMFParameters(gui_signal)
    with pytest.raises(t.TraitError):
        setattr(params, name, value)


def test_factor_constraints_and_center(gui_signal):
    params = ConstrainedNMFParameters(gui_signal, outlier_factor=3.0)
    (constraint,) = params.factor_constraints()
    assert isinstance(constraint, RadialContinuity)
    assert constraint.outlier_factor == 3.0
    assert constraint.center is None  # the fit context gives the centre
    assert params.kwargs()["center"] is None  # calibrated: read at fit time
    params.center_y = 8.0
    assert params.kwargs()["center"] == (3.0, 8.0)
    params.reset_center()
    assert params.center == (3.0, 7.0)
    assert params.kwargs()["center"] is None
    params.center_to_middle()
    assert params.center == (5.5, 7.5)
    assert params.kwargs()["center"] == (5.5, 7.5)
    params.radial_continuity = False
    assert params.factor_constraints() == []
    assert params.kwargs()["center"] == (5.5, 7.5)  # the pure-phase step uses it
    params.pure_phases = False
    assert params.kwargs()["center"] is None


def test_reset_center_reads_new_calibration(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    gui_signal.calibration.center = None
    params.reset_center()
    assert params.center == (5.5, 7.5)
    assert params.kwargs()["center"] is None


def test_loading_constraints(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    (paper,) = params.loading_constraints()
    assert isinstance(paper, GaussianSmoothing)
    assert (paper.sigma, paper.size, paper.probe_fwhm) == (None, None, None)
    params.smoothing = "probe_fwhm"
    params.probe_fwhm = 3.0
    (probe,) = params.loading_constraints()
    assert (probe.probe_fwhm, probe.probe_units) == (3.0, None)  # nav units
    params.probe_units = "Å"
    assert params.loading_constraints()[0].probe_units == "Å"
    params.probe_units = " "
    assert params.loading_constraints()[0].probe_units is None
    params.smoothing = "none"
    assert params.loading_constraints() == []


def test_signal_without_2d_patterns():
    hs = pytest.importorskip("hyperspy.api")
    s = hs.signals.Signal1D(np.ones((3, 4, 10)))
    params = ConstrainedNMFParameters(s)
    assert calibrated_center(s) is None
    assert not params.radial_continuity
    assert params.factor_constraints() == []
    assert params.probe_units == ""  # undefined navigation units


def test_run_calls_decomposition(gui_signal, fake_decomposition):
    params = ConstrainedNMFParameters(gui_signal, output_dimension=3, random_state=1)
    assert params.run() == "result"
    ((passed, kwargs),) = fake_decomposition
    assert passed is gui_signal
    assert kwargs["output_dimension"] == 3
    assert kwargs["random_state"] == 1
    assert repr(kwargs["factor_constraints"]) == repr(params.factor_constraints())
    assert repr(kwargs["loading_constraints"]) == repr(params.loading_constraints())
    params.apply(max_iter=7)
    assert fake_decomposition[-1][1]["max_iter"] == 7


# -- ipywidgets form ------------------------------------------------------------


def test_ipywidgets_form_structure(gui_signal):
    import ipywidgets

    form = ipy(ConstrainedNMFParameters(gui_signal))
    assert isinstance(form["widget"], ipywidgets.VBox)
    for name in (
        "output_dimension",
        "radial_continuity",
        "outlier_factor",
        "center_x",
        "center_y",
        "use_signal_mask",
        "pure_phases",
        "compression",
        "smoothing",
        "probe_fwhm",
        "probe_units",
        "n_init",
        "max_iter",
        "tol",
        "random_state",
        "run_button",
        "close_button",
        "center_reset_button",
        "center_middle_button",
        "status",
    ):
        assert name in form["wdict"]


def test_widgets_show_initial_values(gui_signal):
    params = ConstrainedNMFParameters(gui_signal, n_init=3, random_state=5)
    wd = ipy(params)["wdict"]
    assert wd["output_dimension"].value == 2
    assert wd["center_x"].value == 3.0
    assert wd["center_y"].value == 7.0
    assert wd["compression"].value == "auto"
    assert wd["pure_phases"].value == "auto"
    assert wd["use_signal_mask"].disabled  # the gui_signal has no mask
    assert wd["probe_units"].value == "nm"
    assert wd["n_init"].value == 3
    assert wd["random_state"].value == "5"
    assert wd["smoothing"].value == "paper"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("output_dimension", 5),
        ("radial_continuity", False),
        ("outlier_factor", 2.5),
        ("center_x", 4.5),
        ("center_y", 6.0),
        ("pure_phases", False),
        ("smoothing", "probe_fwhm"),
        ("smoothing", "none"),
        ("probe_fwhm", 1.5),
        ("probe_units", "pm"),
        ("n_init", 2),
        ("max_iter", 50),
        ("tol", 1e-6),
    ],
)
def test_widgets_linked_both_ways(gui_signal, name, value):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    wd[name].value = value
    assert getattr(params, name) == value
    other = ConstrainedNMFParameters(gui_signal)
    wd = ipy(other)["wdict"]
    setattr(other, name, value)
    assert wd[name].value == value


def test_random_state_text(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    assert wd["random_state"].value == ""
    wd["random_state"].value = " 42 "
    assert params.random_state == 42 and not params.errors
    wd["random_state"].value = "-1"
    assert "'-1' is out of range" in wd["status"].value
    wd["random_state"].value = "1.5"  # the message shows what the field holds
    assert "Random seed '1.5' is not a whole number" in wd["status"].value
    assert "-1" not in wd["status"].value
    assert params.random_state == 42
    with pytest.raises(ValueError, match=r"Random seed '1\.5'"):
        params.kwargs()
    wd["random_state"].value = ""
    assert params.random_state is None and not params.errors
    assert wd["status"].value == ""
    params.random_state = 7
    assert wd["random_state"].value == "7"


def test_invalid_seed_is_not_run(gui_signal, fake_decomposition):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    wd["random_state"].value = "abc"
    wd["run_button"].click()
    assert fake_decomposition == []  # never a silent random seed
    assert "Random seed 'abc'" in wd["status"].value
    assert "Not run" in wd["status"].value
    with pytest.raises(ValueError, match="Random seed 'abc'"):
        params.run()


def test_compression_text(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    wd["compression"].value = "none"
    assert params.compression is None
    wd["compression"].value = " 12"
    assert params.compression == 12
    wd["compression"].value = "x"
    assert "Compression 'x'" in wd["status"].value
    assert params.compression == 12
    wd["compression"].value = "AUTO"
    assert params.compression == "auto" and not params.errors


def test_signal_mask_control(gui_signal):
    mask = np.zeros((16, 12), dtype=bool)
    mask[6:9, 2:5] = True
    gui_signal.calibration.mask = mask
    params = ConstrainedNMFParameters(gui_signal)
    assert params.signal_mask_pixels == 9 and params.use_signal_mask
    wd = ipy(params)["wdict"]
    assert not wd["use_signal_mask"].disabled
    assert "9 px" in wd["use_signal_mask"].description
    assert params.kwargs()["signal_mask"] is None  # pyxem's mask, read by the fit
    wd["use_signal_mask"].value = False
    off = params.kwargs()["signal_mask"]
    assert off.shape == (12, 16) and not off.any()  # axes_manager.signal_shape


def test_center_buttons(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    wd["center_middle_button"].click()
    assert (wd["center_x"].value, wd["center_y"].value) == (5.5, 7.5)
    assert params.center == (5.5, 7.5)
    wd["center_reset_button"].click()
    assert params.center == (3.0, 7.0)
    assert wd["center_y"].value == 7.0


def test_fields_hidden_when_unused(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    form = ipy(params)
    wd = form["wdict"]

    def shown(widget):
        box = next(
            child
            for child in form["widget"].children
            if widget in getattr(child, "children", ())
            or any(
                widget in getattr(c, "children", ())
                for c in getattr(child, "children", ())
            )
        )
        return box.layout.display != "none"

    assert shown(wd["outlier_factor"])
    assert not shown(wd["probe_fwhm"])
    params.radial_continuity = False
    assert not shown(wd["outlier_factor"])
    wd["smoothing"].value = "probe_fwhm"
    assert shown(wd["probe_fwhm"])


def test_run_button(gui_signal, fake_decomposition):
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    wd["output_dimension"].value = 4
    wd["radial_continuity"].value = False
    wd["smoothing"].value = "none"
    wd["n_init"].value = 2
    wd["max_iter"].value = 20
    wd["tol"].value = 1e-3
    wd["random_state"].value = "3"
    wd["run_button"].click()
    ((passed, kwargs),) = fake_decomposition
    assert passed is gui_signal
    assert kwargs == {
        "output_dimension": 4,
        "factor_constraints": [],
        "loading_constraints": [],
        "center": None,
        "signal_mask": None,
        "pure_phases": "auto",
        "compression": "auto",
        "n_init": 2,
        "max_iter": 20,
        "tol": 1e-3,
        "random_state": 3,
    }
    assert wd["status"].value.startswith("Done")
    assert not wd["run_button"].disabled


def test_run_button_click_handlers(gui_signal, fake_decomposition):
    wd = ipy(ConstrainedNMFParameters(gui_signal))["wdict"]
    wd["run_button"]._click_handlers(wd["run_button"])
    assert len(fake_decomposition) == 1


def test_run_button_reports_errors(gui_signal, monkeypatch):
    def failing(gui_signal, **kwargs):
        raise ValueError("bad <input>")

    monkeypatch.setattr(gui_parameters, "decomposition", failing)
    params = ConstrainedNMFParameters(gui_signal)
    wd = ipy(params)["wdict"]
    # ipywidgets logs exceptions raised in click callbacks instead of raising.
    wd["run_button"].click()
    assert "Failed: ValueError: bad &lt;input&gt;" in wd["status"].value
    assert not wd["run_button"].disabled
    with pytest.raises(ValueError, match="bad"):
        params.run()


def test_close_button(gui_signal):
    form = ipy(ConstrainedNMFParameters(gui_signal))
    form["wdict"]["close_button"].click()
    assert form["widget"].comm is None  # closed


def test_display_true_returns_none(gui_signal):
    assert ConstrainedNMFParameters(gui_signal).gui(toolkit="ipywidgets") is None


# -- convenience function -----------------------------------------------------------


def test_constrained_nmf_gui(gui_signal, fake_decomposition):
    params = constrained_nmf_gui(
        gui_signal, toolkit="ipywidgets", display=False, output_dimension=3
    )
    assert isinstance(params, ConstrainedNMFParameters)
    assert params.output_dimension == 3
    wd = params.widgets["ipywidgets"]["wdict"]
    wd["run_button"].click()
    assert fake_decomposition[0][1]["output_dimension"] == 3


def test_constrained_nmf_gui_default_toolkit(gui_signal):
    params = constrained_nmf_gui(gui_signal, display=False)
    assert "ipywidgets" in params.widgets
    if not traitsui_available():
        assert "traitsui" not in params.widgets
    params = constrained_nmf_gui(gui_signal)  # displays (as text outside Jupyter)
    assert params.widgets is None


# -- traitsui ------------------------------------------------------------------


@pytest.mark.skipif(traitsui_available(), reason="traitsui is installed")
def test_traitsui_missing_said_plainly(gui_signal):
    params = ConstrainedNMFParameters(gui_signal)
    with pytest.warns(UserWarning, match="toolkit='ipywidgets'"):
        assert constrained_nmf_traitsui(params) is None
    with pytest.raises(NotImplementedError, match="traitsui"):
        constrained_nmf_gui(gui_signal, toolkit="traitsui")
    # HyperSpy's gui(): the traitsui entry is its own (None), never the
    # ipywidgets form
    with pytest.warns(UserWarning, match="traitsui"):
        widgets = params.gui(toolkit=["ipywidgets", "traitsui"], display=False)
    assert widgets["traitsui"] is None
    assert "widget" in widgets["ipywidgets"]


def test_no_escape_codes_outside_jupyter(gui_signal, fake_decomposition, capsys):
    wd = ipy(ConstrainedNMFParameters(gui_signal))["wdict"]
    wd["run_button"].click()
    wd["run_button"].click()
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err


@pytest.mark.skipif(not traitsui_available(), reason="traitsui is not installed")
def test_traitsui_view(
    gui_signal,
):  # pragma: no cover - traitsui is not a test dependency
    params = ConstrainedNMFParameters(gui_signal)
    result = constrained_nmf_traitsui(params, display=False)
    assert "view" in result


# -- end to end -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::hyperspy_cnmf.ConvergenceWarning")
def test_run_button_end_to_end():
    rng = np.random.default_rng(1)
    s = pxm.signals.Diffraction2D(rng.random((4, 5, 16, 16)))
    s.calibration.center = None
    params = ConstrainedNMFParameters(s, n_init=1, max_iter=10, random_state=0)
    form = ipy(params)
    wd = form["wdict"]
    wd["output_dimension"].value = 2
    wd["run_button"].click()
    assert wd["status"].value.startswith("Done"), wd["status"].value
    assert s.learning_results.decomposition_algorithm == "constrained_nmf"
    assert s.learning_results.factors.shape[1] == 2
    # the fit's progress and summary are shown in the form (captured by an
    # Output widget in a kernel: tools/check_gui_in_jupyter.py --strict)
    assert wd["output"] in form["widget"].children


def test_moved_center_reaches_the_fit():
    rng = np.random.default_rng(2)
    s = pxm.signals.Diffraction2D(rng.random((4, 5, 16, 12)))  # centre at (0, 0)
    params = ConstrainedNMFParameters(s, n_init=1, max_iter=5, random_state=0)
    assert params.center == (5.5, 7.5)  # uncalibrated: the middle, passed
    wd = ipy(params)["wdict"]
    wd["center_x"].value = 6.0
    wd["smoothing"].value = "none"
    wd["run_button"].click()
    assert wd["status"].value.startswith("Done"), wd["status"].value
    np.testing.assert_allclose(s.learning_results.cnmf_center_xy, [6.0, 7.5])
    assert s.axes_manager.signal_axes[0].offset == 0  # calibration untouched
