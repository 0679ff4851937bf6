"""Every setting is declared once, in ConstrainedNMF: the surfaces that list
settings (dispatch note, error text, docstring, CLI, GUI) take their names
from it, so a new estimator parameter cannot be missing from any of them."""

import inspect

import pytest

from hyperspy_cnmf.core import ConstrainedNMF
from hyperspy_cnmf.core import solver as solver_module

PARAMS = ConstrainedNMF().get_params()
# the adapter sets these from the signal, they are not keyword arguments
SET_BY_ADAPTER = {"n_components", "geometry", "show_progressbar"}
KEYWORDS = sorted(set(PARAMS) - SET_BY_ADAPTER)


def test_solver_takes_every_setting_as_a_keyword():
    """solve() has a keyword for each estimator parameter and reads no
    estimator (no ``settings`` argument)."""
    signature = inspect.signature(solver_module.solve).parameters
    assert "settings" not in signature
    # the estimator's own: scan_binning (a coarse solve, then a fine one) and
    # the Poisson normalisation (the data and constraints it hands over)
    own = {"scan_binning", "normalize_poissonian_noise"}
    # not settings: the coarse solve's result (init) and the loss its
    # restarts are chosen by (restart_loss), passed by the estimator
    assert set(signature) - {"X", "init", "restart_loss"} == set(PARAMS) - own


def test_resolve_leaves_no_auto():
    import numpy as np

    from hyperspy_cnmf.core.data import as_data
    from hyperspy_cnmf.core.geometry import Geometry

    X = np.random.default_rng(0).poisson(2.0, size=(16, 25))
    model = ConstrainedNMF(
        2, geometry=Geometry(navigation_shape=(4, 4), signal_shape=(5, 5))
    )
    resolved = model._resolve(as_data(X))
    assert set(resolved) == set(PARAMS)
    assert not [k for k, v in resolved.items() if isinstance(v, str) and v == "auto"]
    assert resolved["loss"] == "poisson"  # integer counts
    assert resolved["compression"] is None  # small data: exact iterations
    assert resolved["n_exact_iter"] == solver_module.POISSON_ITER
    assert resolved["pure_phases"] is True  # 2D patterns


@pytest.mark.parametrize("name", KEYWORDS)
def test_dispatch_note_names_every_setting(name):
    from hyperspy_cnmf.signals.dispatch import _note

    assert f"``{name}``" in _note()


@pytest.mark.parametrize("name", KEYWORDS)
def test_unknown_keyword_error_names_every_setting(name):
    import numpy as np
    from hyperspy.signals import Signal2D

    from hyperspy_cnmf.signals.decomposition import decomposition

    s = Signal2D(np.ones((3, 3, 4, 4)))
    with pytest.raises(TypeError, match="unknown argument") as info:
        decomposition(s, 2, no_such_setting=1)
    assert name in str(info.value).split("ConstrainedNMF's:")[1]
    for own in ("stream", "center", "reproject", "show_progressbar"):
        assert own in str(info.value).split("ConstrainedNMF's:")[0]


@pytest.mark.parametrize("name", KEYWORDS)
def test_decomposition_docstring_names_every_setting(name):
    from hyperspy_cnmf.signals.decomposition import decomposition

    assert f"``{name}``" in decomposition.__doc__


def test_gui_shows_or_deliberately_leaves_every_setting():
    from hyperspy_cnmf.gui import parameters

    assert set(parameters.EXPOSED).isdisjoint(parameters.NOT_EXPOSED)
    assert set(parameters.EXPOSED) | set(parameters.NOT_EXPOSED) == set(KEYWORDS)


def test_cli_defaults_are_the_estimator_s():
    from hyperspy_cnmf import __main__

    assert __main__._DEFAULTS == PARAMS
    description = __main__.build_parser()._subparsers._group_actions[0].choices
    text = description["demo"].description
    assert f"{PARAMS['n_init']} restarts, {PARAMS['max_iter']} iterations" in text


@pytest.mark.parametrize("lazy", [False, True])
def test_adapter_warnings_point_at_the_user_s_line(lazy):
    """The stacklevel is computed: the warning names this file, not the
    dispatch wrapper or the adapter."""
    import numpy as np
    import pyxem as pxm

    import hyperspy_cnmf  # noqa: F401  (installs algorithm="constrained_nmf")

    s = pxm.signals.ElectronDiffraction2D(
        np.random.default_rng(0).uniform(size=(4, 4, 32, 32))
    )
    s.calibration.center = (1.0, 1.0)  # calibrated, but at the corner
    s = s.as_lazy() if lazy else s
    with pytest.warns(UserWarning, match="near the edge") as record:
        s.decomposition(
            algorithm="constrained_nmf",
            output_dimension=2,
            n_init=1,
            max_iter=3,
            print_info=False,
        )
    edge = [w for w in record if "near the edge" in str(w.message)]
    assert edge and edge[0].filename == __file__


def test_one_public_install():
    """hyperspy_cnmf.methods.install/uninstall is the one public pair; the
    adapter package exports none (its dispatch step alone left the extra
    methods patched)."""
    import hyperspy_cnmf.signals as signals
    from hyperspy_cnmf import methods

    assert not {"install", "uninstall", "is_installed"} & set(signals.__all__)
    assert {"install", "uninstall", "is_installed"} <= set(methods.__all__)


def test_data_classes_follow_the_declared_protocol():
    """as_data chooses the class; every class is a FitData, the sketch the
    Products only; arrays are no data objects; DenseData scales without a
    copy, with the same products as the scaled matrix."""
    import numpy as np

    from hyperspy_cnmf.core.data import (
        FitData,
        Products,
        as_data,
        is_data,
        sketch,
    )

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 7))
    dense = as_data(X)
    assert isinstance(dense, FitData) and is_data(dense)
    assert not is_data(X)
    small = sketch(dense, 3, np.random.RandomState(0))
    assert isinstance(small, Products) and not isinstance(small, FitData)
    ra, rb = rng.uniform(1, 2, size=12), rng.uniform(1, 2, size=7)
    scaled = dense.with_scaling(ra, rb)
    assert scaled.X is X  # no copy
    L = rng.uniform(size=(12, 2))
    np.testing.assert_allclose(
        scaled.XtL(L), (X / ra[:, None] / rb[None, :]).T @ L, rtol=1e-12
    )
