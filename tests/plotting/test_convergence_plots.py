"""Convergence figure (paper Fig. 7), with the sketch phase marked."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hyperspy_cnmf.core import ConstrainedNMF  # noqa: E402
from hyperspy_cnmf.plotting.convergence import plot_convergence  # noqa: E402


def history(n_sketch, n_exact):
    n = n_sketch + n_exact
    return {
        "mse": np.linspace(2.0, 1.0, n),
        "factor_change_l1": np.geomspace(1.0, 1e-4, n),
        "loading_change_l1": np.geomspace(10.0, 1e-3, n),
        "exact": np.r_[np.zeros(n_sketch, bool), np.ones(n_exact, bool)],
    }


def legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_axes_and_labels():
    fig = plot_convergence(history(0, 20))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_xlabel() for ax in fig.axes] == ["iteration"] * 3
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[0].startswith("MSE") and "units" in labels[0]
    assert "W" in labels[1] and "H" in labels[2]
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log", "log"]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), np.arange(1, 21))
    # exact throughout: nothing marked, no legend for a single unnamed history
    assert not fig.axes[0].patches
    assert fig.axes[0].get_legend() is None


def test_sketch_phase_is_marked():
    fig = plot_convergence(history(12, 8), reference_mse=0.9)
    for ax in fig.axes:
        (span,) = ax.patches
        extent = span.get_window_extent().transformed(ax.transData.inverted())
        assert extent.x0 == pytest.approx(0.5) and extent.x1 == pytest.approx(12.5)
        dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert len(dotted) == 1
        assert dotted[0].get_xdata()[0] == pytest.approx(12.5)
    assert legend_texts(fig.axes[0]) == ["sketch", "exact", "PCA"]


def test_several_histories_share_one_sketch_entry():
    fig = plot_convergence({"ALS": history(5, 5), "MU": history(3, 7)}, title="t")
    assert legend_texts(fig.axes[0]) == ["ALS", "sketch", "exact", "MU"]
    assert len(fig.axes[0].patches) == 2
    assert fig._suptitle.get_text() == "t"


def test_estimator_history_with_compression():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 30)) @ rng.uniform(size=(30, 50))
    est = ConstrainedNMF(
        3, n_init=1, max_iter=15, compression=5, n_exact_iter=4, random_state=0
    ).fit(X)
    exact = est.history_["exact"]
    assert not exact[0] and exact[-1]
    fig = plot_convergence(est.history_)
    ax = fig.axes[0]
    assert ax.lines[0].get_xdata().size == exact.size
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert dotted[0].get_xdata()[0] == pytest.approx(np.argmax(exact) + 0.5)


@pytest.mark.parametrize(
    ("histories", "error", "match"),
    [
        ({"mse": [1.0]}, ValueError, "lacks"),
        ({"a": [1.0, 2.0]}, TypeError, "mapping"),
        ({}, TypeError, "history mapping"),
        ({**history(2, 2), "exact": [True]}, ValueError, "'exact' has 1"),
    ],
)
def test_bad_histories(histories, error, match):
    with pytest.raises(error, match=match):
        plot_convergence(histories)


def test_a_signal_is_refused():
    class Signal:
        learning_results = None

    with pytest.raises(TypeError, match="history mapping"):
        plot_convergence(Signal())
