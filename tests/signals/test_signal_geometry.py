"""Signal -> Geometry: array order, calibrated axes, beam centre, masks, callbacks."""

import warnings

import numpy as np
import pytest

import hyperspy_cnmf
from hyperspy_cnmf.core import Constraint
from hyperspy_cnmf.signals.geometry import (
    beam_center,
    navigation_mask_array,
    signal_geometry,
    signal_mask_array,
)

from .synthetic import (
    CENTER,
    FAST,
    NAV_SCALE,
    NAV_SHAPE,
    SIG_SCALE,
    SIG_SHAPE,
    make_signal,
)


class Recorder(Constraint):
    """Identity constraint that records the context it is given."""

    def __init__(self):
        self.contexts = []

    def get_params(self):
        return {}

    def __call__(self, images, context):
        self.contexts.append(context)
        return images


class OuterCutoff(Constraint):
    """Zero everything beyond a calibrated radius |k| > k_max (axes units)."""

    def __init__(self, k_max):
        self.k_max = k_max

    def __call__(self, images, context):
        row_axis, col_axis = context.axes
        ky = row_axis.offset + row_axis.scale * np.arange(row_axis.size)
        kx = col_axis.offset + col_axis.scale * np.arange(col_axis.size)
        keep = ky[:, None] ** 2 + kx[None, :] ** 2 <= self.k_max**2
        return images * keep


def test_geometry_array_order_and_calibration(lazy):
    s = make_signal(lazy=lazy)
    g = signal_geometry(s)
    assert g.signal_shape == SIG_SHAPE
    assert g.navigation_shape == NAV_SHAPE
    assert [a.size for a in g.signal_axes] == list(SIG_SHAPE)
    assert [a.scale for a in g.signal_axes] == pytest.approx(SIG_SCALE)
    assert [a.scale for a in g.navigation_axes] == pytest.approx([NAV_SCALE] * 2)
    assert g.signal_axes[0].units == "1/nm"
    assert g.center == pytest.approx(CENTER[::-1])  # (x, y), as pyxem
    assert g.center_rc == pytest.approx(CENTER)  # array order, for the core
    assert beam_center(s) == pytest.approx(CENTER)
    # pyxem's own centre is (x, y) = (col, row)
    assert s.calibration.center == pytest.approx(CENTER[::-1])


def test_masks_are_read_as_hyperspy_reads_them(lazy):
    s = make_signal(lazy=lazy)
    nav = np.zeros(NAV_SHAPE, bool)
    nav[1, 4] = True
    sig = np.zeros(SIG_SHAPE, bool)
    sig[2, 17] = True
    import hyperspy.api as hs

    # numpy navigation masks are in HyperSpy's (x, y) order and transposed
    assert np.array_equal(navigation_mask_array(s, nav.T), nav)
    # numpy signal masks have axes_manager.signal_shape and are flattened as is
    natural = sig.reshape(s.axes_manager.signal_shape)
    assert np.array_equal(signal_mask_array(s, natural), sig)
    # signals: their data, in array order
    nav_signal = hs.signals.BaseSignal(nav).T
    sig_signal = hs.signals.Signal2D(sig)
    assert np.array_equal(navigation_mask_array(s, nav_signal), nav)
    assert np.array_equal(signal_mask_array(s, sig_signal), sig)
    with pytest.raises(ValueError, match=r"array order.*mask\.T"):
        navigation_mask_array(s, nav)
    with pytest.raises(ValueError, match=r"array order.*Signal2D\(mask\)"):
        signal_mask_array(s, sig)
    with pytest.raises(ValueError, match="hides every"):
        signal_mask_array(s, np.ones(s.axes_manager.signal_shape, bool))
    with pytest.raises(ValueError, match="other than 0 and 1"):
        navigation_mask_array(s, np.full(s.axes_manager.navigation_shape, 0.5))
    floats = nav.T.astype(float)
    assert np.array_equal(navigation_mask_array(s, floats), nav)


def test_center_argument_is_pyxem_xy(lazy):
    s = make_signal(lazy=lazy)
    g = signal_geometry(s, center=s.calibration.center)
    assert g.center_rc == pytest.approx(CENTER)
    g = signal_geometry(s, center=np.array([11.0, 4.0]))
    assert g.center == pytest.approx((11.0, 4.0))
    assert g.center_rc == pytest.approx((4.0, 11.0))
    for bad in (8, (7, 7, 99), "middle", (np.nan, 3)):
        with pytest.raises(ValueError, match=r"\(x, y\) = \(col, row\)"):
            signal_geometry(s, center=bad)
    with pytest.raises(ValueError, match=r"outside.*calibration\.center = None"):
        signal_geometry(s, center=(300, 4))


def test_default_centre_reaches_constraints(lazy):
    s = make_signal(lazy=lazy)
    rec = Recorder()
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=2,
        factor_constraints=[rec],
        loading_constraints=[rec],
        **FAST,
    )
    factor_ctx = next(c for c in rec.contexts if c.role == "factors")
    loading_ctx = next(c for c in rec.contexts if c.role == "loadings")
    assert factor_ctx.center_rc == pytest.approx(CENTER)
    assert factor_ctx.center_xy == pytest.approx(CENTER[::-1])
    assert factor_ctx.shape == SIG_SHAPE
    assert [a.scale for a in factor_ctx.axes] == pytest.approx(SIG_SCALE)
    assert [a.offset for a in factor_ctx.axes] == pytest.approx(
        [-c * sc for c, sc in zip(CENTER, SIG_SCALE, strict=True)]
    )
    assert loading_ctx.shape == NAV_SHAPE
    assert loading_ctx.axes[0].units == "nm"
    assert s.learning_results.cnmf_center_xy == pytest.approx(CENTER[::-1])


def test_custom_callback_acts_at_calibrated_radius(lazy):
    s = make_signal(lazy=lazy)
    k_max = 0.2  # 1/nm: 4 px along rows, 5 px along cols
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=3,
        factor_constraints=[OuterCutoff(k_max)],
        **FAST,
    )
    kx = s.axes_manager.signal_axes[0].axis  # cols
    ky = s.axes_manager.signal_axes[1].axis  # rows
    outside = ky[:, None] ** 2 + kx[None, :] ** 2 > k_max**2
    factors = np.asarray(s.get_decomposition_factors().data)
    assert factors.shape == (3, *SIG_SHAPE)
    assert np.all(factors[:, outside] == 0)
    assert np.all(factors[:, ~outside].sum(axis=1) > 0)
    # the cut-off disk is centred on the off-centre beam, and elliptic in
    # pixels because the two axes have different scales
    assert not outside[int(CENTER[0]), int(CENTER[1])]
    assert not outside[int(CENTER[0]) + 3, int(CENTER[1])]
    assert outside[int(CENTER[0]) + 5, int(CENTER[1])]
    assert not outside[int(CENTER[0]), int(CENTER[1]) + 5]
    assert "OuterCutoff(k_max=0.2)" in s.learning_results.cnmf_factor_constraints


def test_uncalibrated_centre_is_refused_and_centre_near_edge_warns(lazy):
    import pyxem as pxm

    s = make_signal(lazy=lazy)
    s = pxm.signals.ElectronDiffraction2D(s.data)  # fresh: offsets 0
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None"):
        s.decomposition(algorithm="constrained_nmf", output_dimension=2, **FAST)
    # no error nor warning when nothing uses the centre
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*calibration.center.*")
        s.decomposition(
            algorithm="constrained_nmf",
            output_dimension=2,
            factor_constraints=[],
            pure_phases=False,
            **FAST,
        )
    assert s.learning_results.cnmf_center_xy.size == 0  # no centre was used
    s.calibration.center = (1.0, 1.0)  # calibrated, but at the corner
    with pytest.warns(UserWarning, match=r"near the edge"):
        s.decomposition(algorithm="constrained_nmf", output_dimension=2, **FAST)


def test_centre_outside_pattern_raises(lazy):
    s = make_signal(lazy=lazy)
    s.axes_manager.signal_axes[0].offset = 5.0  # centre at col -125
    with pytest.raises(ValueError, match="outside"):
        s.decomposition(algorithm="constrained_nmf", output_dimension=2, **FAST)
    with pytest.raises(ValueError, match="outside"):
        hyperspy_cnmf.decomposition(s, 2, center=(3.0, 40.0), **FAST)


def test_explicit_center_overrides_calibration(lazy):
    s = make_signal(lazy=lazy)
    rec = Recorder()
    hyperspy_cnmf.decomposition(
        s,
        2,
        center=(8.0, 9.0),
        factor_constraints=[rec],
        loading_constraints=[],
        **FAST,
    )
    # center= is pyxem's (x, y) = (col, row); array code reads (row, col)
    assert rec.contexts[0].center_xy == (8.0, 9.0)
    assert rec.contexts[0].center_rc == (9.0, 8.0)


def test_calibration_center_passed_explicitly_gives_the_default_fit(lazy):
    a, b = make_signal(lazy=lazy), make_signal(lazy=lazy)
    hyperspy_cnmf.decomposition(a, 2, **FAST)
    hyperspy_cnmf.decomposition(b, 2, center=b.calibration.center, **FAST)
    np.testing.assert_array_equal(
        a.learning_results.factors, b.learning_results.factors
    )
    np.testing.assert_array_equal(
        a.learning_results.cnmf_center_xy, b.learning_results.cnmf_center_xy
    )
