"""Choosing k: scan_components on a small simulation, and HyperSpy's
explained-variance plots on a constrained result."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hyperspy_cnmf  # noqa: E402, F401  (installs algorithm="constrained_nmf")
from hyperspy_cnmf.data import simulated_4dstem  # noqa: E402
from hyperspy_cnmf.selection import ComponentScan, scan_components  # noqa: E402

from .signals.synthetic import as_lazy  # noqa: E402

SMALL = {"navigation_shape": (12, 12), "signal_shape": (32, 32), "area_size": 3}
FAST = {"n_init": 1, "max_iter": 15, "compression": None}


@pytest.fixture(scope="module")
def simulation():
    return simulated_4dstem(**SMALL)


@pytest.fixture(scope="module")
def scan(simulation):
    return scan_components(simulation, (1, 2, 3), show_progressbar=False, **FAST)


def test_scan_records_both_errors_and_the_clusters(scan):
    assert isinstance(scan, ComponentScan)
    np.testing.assert_array_equal(scan.n_components, [1, 2, 3])
    assert scan.pca_mse.shape == scan.cnmf_mse.shape == (3,)
    # PCA is the lowest error at each k and falls with k.
    assert np.all(scan.cnmf_mse >= scan.pca_mse * (1 - 1e-9))
    assert np.all(np.diff(scan.pca_mse) < 0)
    assert scan.n_clusters[0] == 1
    assert np.all((scan.n_clusters >= 1) & (scan.n_clusters <= scan.n_components))
    assert [labels.size for labels in scan.labels] == [1, 2, 3]
    assert np.all(scan.elapsed > 0)
    lines = scan.table().strip().splitlines()
    assert len(lines) == 2 + 3 and lines[2].startswith("| 1 |")
    fig = scan.plot()
    assert len(fig.axes) == 2


def test_lazy_scan_gives_the_same_errors_and_clusters(simulation, scan):
    """The scan of the lazy twin (the one shared lazy case of the scan)."""
    lazy = scan_components(
        as_lazy(simulation), (1, 2, 3), show_progressbar=False, **FAST
    )
    np.testing.assert_allclose(lazy.pca_mse, scan.pca_mse, rtol=1e-5)
    np.testing.assert_allclose(lazy.cnmf_mse, scan.cnmf_mse, rtol=1e-5)
    np.testing.assert_array_equal(lazy.n_clusters, scan.n_clusters)


def optimal_mse(X, k):
    """The rank-k optimum (Eckart-Young), from the exact SVD."""
    sigma = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    return (sigma[k:] ** 2).sum() / X.size


def test_the_errors_are_those_of_single_fits(simulation, scan):
    X = simulation.data.reshape(144, -1)
    expected = [optimal_mse(X, k) for k in (1, 2, 3)]
    np.testing.assert_allclose(scan.pca_mse, expected, rtol=1e-5)  # randomized
    s = simulation.deepcopy()
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=3,
        random_state=0,
        print_info=False,
        **FAST,
    )
    assert scan.cnmf_mse[2] == pytest.approx(s.learning_results.cnmf_mse, rel=1e-9)
    assert scan.n_clusters[2] == s.cluster_components().n_clusters


def test_scan_leaves_the_signal_alone(simulation, lazy):
    s = as_lazy(simulation.deepcopy(), lazy)
    s.decomposition(algorithm="SVD", output_dimension=3, print_info=False)
    factors = s.learning_results.factors.copy()
    data = s.data.copy()
    scan_components(s, (2,), cluster=False, show_progressbar=False, **FAST)
    assert s.learning_results.decomposition_algorithm == "SVD"
    np.testing.assert_array_equal(s.learning_results.factors, factors)
    np.testing.assert_array_equal(s.data, data)
    assert not [k for k in vars(s.learning_results) if k.startswith("cnmf_")]


def test_scan_is_reproducible_and_honours_masks(simulation, lazy):
    s = as_lazy(simulation, lazy)
    nav_mask = np.zeros((12, 12), bool)
    nav_mask[:2] = True
    runs = [
        scan_components(
            s,
            (2,),
            cluster=False,
            navigation_mask=nav_mask,
            show_progressbar=False,
            **FAST,
        )
        for _ in range(2)
    ]
    assert runs[0].cnmf_mse[0] == runs[1].cnmf_mse[0]
    assert runs[0].n_clusters[0] == -1
    # PCA is fitted on the kept positions only ((x, y) mask, HyperSpy's order).
    assert runs[0].pca_mse[0] == runs[1].pca_mse[0]
    X = simulation.data.reshape(144, -1)[~nav_mask.T.ravel()]
    np.testing.assert_allclose(runs[0].pca_mse[0], optimal_mse(X, 2), rtol=1e-5)


def test_progress_bar_follows_hyperspy(simulation, capsys):
    scan_components(simulation, (1,), cluster=False, show_progressbar=True, **FAST)
    assert "1/1" in capsys.readouterr().err


def test_bad_input_is_refused(simulation, lazy):
    simulation = as_lazy(simulation, lazy)
    with pytest.raises(ValueError, match=">= 1"):
        scan_components(simulation, (0, 2))
    with pytest.raises(ValueError, match="repeat"):
        scan_components(simulation, (2, 2))
    with pytest.raises(ValueError, match="unrepeatable"):
        scan_components(simulation, (2,), random_state=None)
    with pytest.raises(ValueError, match="output_dimension is set"):
        scan_components(simulation, (2,), output_dimension=3)
    with pytest.raises(ValueError, match="normalize_poissonian_noise"):
        scan_components(simulation, (2,), normalize_poissonian_noise=True)


def test_hyperspy_scree_plots_work_on_a_constrained_result(simulation):
    s = simulation.deepcopy()
    s.decomposition(
        algorithm="constrained_nmf", output_dimension=4, print_info=False, **FAST
    )
    lr = s.learning_results
    # Definition: the energy of each rank-1 term, |l_i|^2 |f_i|^2, per
    # position (as HyperSpy's uncentred SVD stores S_i^2 / n), and its share
    # of the summed energies; components come sorted by it.
    energy = np.nansum(lr.loadings**2, axis=0) * np.nansum(lr.factors**2, axis=0)
    np.testing.assert_allclose(lr.explained_variance, energy / 144, rtol=1e-6)
    np.testing.assert_allclose(
        lr.explained_variance_ratio, energy / energy.sum(), rtol=1e-6
    )
    assert np.all(np.diff(lr.explained_variance) <= 0)
    import matplotlib.pyplot as plt

    plt.close("all")  # HyperSpy draws on pyplot's current figure
    ax = s.plot_cumulative_scree_plot()
    np.testing.assert_allclose(
        ax.collections[-1].get_offsets()[:, 1],
        np.cumsum(energy) / energy.sum(),
        rtol=1e-5,  # float32 factors
    )
    plt.close("all")
    s.plot_scree_plot()
    plt.close("all")
    elbow = s.estimate_elbow_position()
    assert 0 <= elbow < 4
    assert lr.number_significant_components == elbow + 1


def test_scan_on_counts_makes_no_copy_of_the_data(monkeypatch):
    import tracemalloc

    import hyperspy.api as hs

    from hyperspy_cnmf.core import data as data_module

    monkeypatch.setattr(data_module, "BLOCK_BYTES", 2**20)  # blocks << data
    rng = np.random.default_rng(0)
    counts = rng.poisson(5, size=(64, 64, 32, 32)).astype(np.uint16)  # 8 MiB
    s = hs.signals.Signal2D(counts)
    # The same call on a small scan first: imports and compiled kernels are
    # loaded before counting (they are not copies of the data).
    small = hs.signals.Signal2D(counts[:8, :8])
    scan_components(
        small, (2, 3), cluster=False, show_progressbar=False, center=(16, 16), **FAST
    )
    tracemalloc.start()
    scan = scan_components(
        s, (2, 3), cluster=False, show_progressbar=False, center=(16, 16), **FAST
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.75 * counts.nbytes  # a float32 copy alone would be 2x
    assert np.all(scan.cnmf_mse >= scan.pca_mse * (1 - 1e-6))
