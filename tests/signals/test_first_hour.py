"""What a new user meets first (issue 20): one centre convention, (x, y) as
pyxem gives it, at every surface; uncalibrated signals refused; results of
earlier versions read correctly; messages that name what the user gave."""

import json

import numpy as np
import pytest

from hyperspy_cnmf.core import RadialContinuity
from hyperspy_cnmf.signals.clustering import cluster_results
from hyperspy_cnmf.signals.results import fit_params, fit_summary, stored_center_xy

from .synthetic import CENTER, FAST, make_signal

pytest.importorskip("pyxem")

CENTER_XY = (CENTER[1], CENTER[0])  # (11, 6): the synthetic beam, (x, y)


def _fit(s, k=2, **options):
    return s.decomposition(
        algorithm="constrained_nmf", output_dimension=k, **{**FAST, **options}
    )


@pytest.mark.parametrize("kind", [list, tuple, np.asarray])
def test_radial_continuity_takes_pyxem_centre_as_given(lazy, kind, capsys):
    s = make_signal(lazy=lazy)
    given = s.calibration.center  # a list (x, y)
    assert given == pytest.approx(CENTER_XY)
    _fit(
        s,
        factor_constraints=[RadialContinuity(center=kind(given))],
        print_info=True,
    )
    # the centre stored and reported is the one the constraint used
    assert stored_center_xy(s.learning_results) == pytest.approx(CENTER_XY)
    np.testing.assert_allclose(s.learning_results.cnmf_center_xy, CENTER_XY)
    assert fit_params(s.learning_results)["center_xy"] == pytest.approx(CENTER_XY)
    assert "beam centre (x, y)=(11, 6) px" in capsys.readouterr().out


def test_constraint_centre_is_the_fit_centre_and_conflicts_are_refused(lazy):
    s = make_signal(lazy=lazy)
    s.calibration.center = None  # the middle, (9.5, 7.5); the beam is elsewhere
    _fit(s, factor_constraints=[RadialContinuity(center=CENTER_XY)])
    assert stored_center_xy(s.learning_results) == pytest.approx(CENTER_XY)
    with pytest.raises(ValueError, match=r"given twice with different values"):
        _fit(
            s,
            center=(9.5, 7.5),
            factor_constraints=[RadialContinuity(center=CENTER_XY)],
        )


def _uncalibrated(lazy=False):
    s = make_signal(lazy=lazy)
    for axis in s.axes_manager.signal_axes:
        axis.offset = 0.0
    return s


def test_uncalibrated_signal_is_refused_naming_both_fixes(lazy):
    s = _uncalibrated(lazy)
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None") as error:
        _fit(s)
    assert "center=(x, y)" in str(error.value)
    assert getattr(s.learning_results, "factors", None) is None  # nothing stored
    _fit(s, k=3, factor_constraints=[], pure_phases=False)  # uses no centre
    assert stored_center_xy(s.learning_results) is None
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None"):
        s.cluster_components()


def test_uncalibrated_signal_runs_with_a_centre_or_without_one_needed(lazy):
    s = _uncalibrated(lazy)
    _fit(s, center=CENTER_XY)
    assert stored_center_xy(s.learning_results) == pytest.approx(CENTER_XY)
    result = s.cluster_components()  # reuses the fit's centre
    assert result.params["center_xy"] == pytest.approx(list(CENTER_XY))
    s = _uncalibrated(lazy)
    _fit(s, factor_constraints=[], pure_phases=False)  # no centre is used
    assert s.learning_results.factors.shape[1] == 2


def test_results_of_earlier_versions_are_read_in_x_y(lazy, tmp_path):
    s = make_signal(lazy=lazy)
    _fit(s, k=3)
    lr = s.learning_results
    s.cluster_components()
    # the layout of the previous release: (row, col) under the old names
    params = json.loads(lr.cnmf_params)
    del params["center_xy"]
    params["center"] = list(CENTER)  # (row, col)
    lr.cnmf_params = json.dumps(params)
    del lr.cnmf_center_xy
    lr.cnmf_center = np.asarray(CENTER)
    cluster_params = json.loads(lr.cnmf_cluster_params)
    cluster_params["center"] = cluster_params.pop("center_xy")[::-1]
    lr.cnmf_cluster_params = json.dumps(cluster_params)

    assert stored_center_xy(lr) == pytest.approx(CENTER_XY)
    assert fit_params(lr)["center_xy"] == pytest.approx(CENTER_XY)
    assert "beam centre (x, y)=(11, 6) px" in fit_summary(lr)
    old = cluster_results(s, check_current=False)
    assert old.params["center_xy"] == pytest.approx(list(CENTER_XY))
    merged, _ = s.get_cluster_components()  # rotates about the right centre
    assert np.isfinite(merged.data).any()
    again = s.cluster_components()  # reads the old cnmf_center
    assert again.params["center_xy"] == pytest.approx(list(CENTER_XY))


def test_saved_results_of_earlier_versions_load_in_x_y(lazy, tmp_path):
    import hyperspy.api as hs

    s = make_signal(lazy=lazy)
    _fit(s)
    lr = s.learning_results
    params = json.loads(lr.cnmf_params)  # the previous release's layout
    params["center"] = list(CENTER)
    del params["center_xy"]
    lr.cnmf_params = json.dumps(params)
    del lr.cnmf_center_xy
    lr.cnmf_center = np.asarray(CENTER)
    s.save(tmp_path / "old.hspy")
    loaded = hs.load(tmp_path / "old.hspy")
    assert stored_center_xy(loaded.learning_results) == pytest.approx(CENTER_XY)
    assert "beam centre (x, y)=(11, 6) px" in fit_summary(loaded.learning_results)
    result = loaded.cluster_components()
    assert result.params["center_xy"] == pytest.approx(list(CENTER_XY))


def test_messages_name_what_the_user_gave():
    s = make_signal()
    with pytest.raises(ValueError, match=r"var_array=<ndarray of shape \(6, 5\)>"):
        _fit(s, var_array=np.ones((6, 5)))
    with pytest.raises(
        TypeError, match=r"show_progressbar, print_info, return_info, stream\)"
    ):
        _fit(s, not_a_setting=1)
    bad = make_signal()
    bad.data[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="the signal's data contains NaN") as error:
        _fit(bad)
    assert "X " not in str(error.value)


def test_probe_units_listed_once():
    from hyperspy_cnmf.core.geometry import AxisInfo, to_pixels

    with pytest.raises(ValueError, match="use one of") as error:
        to_pixels(1.0, "furlong", AxisInfo(4, 1.0, 0.0, "nm"))
    listed = str(error.value).split("use one of: ")[1]
    assert listed.count("Å") == 1 and listed.count("µm") == 1
    assert "μm" not in listed  # the Greek-mu spelling is accepted, not listed


def test_merged_titles_of_an_untitled_signal(lazy):
    s = make_signal(lazy=lazy)
    s.metadata.General.title = ""
    _fit(s, k=3)
    s.cluster_components()
    diffractions, maps = s.get_cluster_components()
    assert diffractions.metadata.General.title == "Merged cluster diffractions"
    assert maps.metadata.General.title == "Summed cluster maps"
    s.metadata.General.title = "scan 7"
    diffractions, _ = s.get_cluster_components()
    assert (
        diffractions.metadata.General.title == "Merged cluster diffractions of scan 7"
    )


def test_component_scan_counts_on_integer_ticks():
    from hyperspy_cnmf.plotting.selection import plot_component_scan

    fig = plot_component_scan([2, 3, 4], [3.0, 2.5, 2.4], [3.1, 2.6, 2.45], [2, 2, 3])
    fig.draw_without_rendering()
    ticks = fig.axes[1].get_yticks()
    assert len(ticks) > 1
    np.testing.assert_array_equal(ticks, np.round(ticks))
