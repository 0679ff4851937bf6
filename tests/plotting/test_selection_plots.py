"""The choosing-k figure: MSE and clusters against k."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hyperspy_cnmf.plotting.selection import plot_component_scan  # noqa: E402

KS = [2, 3, 4, 5]
PCA = [2.44, 2.43, 2.41, 2.40]
CNMF = [2.49, 2.52, 2.46, 2.45]


def test_two_panels_with_clusters():
    fig = plot_component_scan(KS, PCA, CNMF, [2, 3, 4, 4], title="scan")
    assert isinstance(fig, Figure)
    mse_ax, cluster_ax = fig.axes
    assert mse_ax.get_ylabel().startswith("MSE")
    assert cluster_ax.get_ylabel() == "number of clusters"
    assert cluster_ax.get_xlabel() == "number of components k"
    pca_line, cnmf_line = mse_ax.get_lines()
    np.testing.assert_array_equal(pca_line.get_xdata(), KS)
    np.testing.assert_allclose(pca_line.get_ydata(), PCA)
    np.testing.assert_allclose(cnmf_line.get_ydata(), CNMF)
    labels = [t.get_text() for t in mse_ax.get_legend().get_texts()]
    assert labels == ["PCA (truncated SVD)", "constrained NMF"]
    reference, found = cluster_ax.get_lines()
    np.testing.assert_array_equal(reference.get_ydata(), KS)  # clusters = k
    np.testing.assert_array_equal(found.get_ydata(), [2, 3, 4, 4])
    np.testing.assert_array_equal(cluster_ax.get_xticks(), KS)
    assert fig._suptitle.get_text() == "scan"


def test_one_panel_without_clusters():
    fig = plot_component_scan(KS, PCA, CNMF)
    assert len(fig.axes) == 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="cnmf_mse has 3 values for 4"):
        plot_component_scan(KS, PCA, CNMF[:3])
    with pytest.raises(ValueError, match="n_clusters has"):
        plot_component_scan(KS, PCA, CNMF, [1, 2])
    with pytest.raises(ValueError, match="positive integers"):
        plot_component_scan([0.5, 2, 3, 4], PCA, CNMF)
    with pytest.raises(ValueError, match="empty"):
        plot_component_scan([], [], [])
