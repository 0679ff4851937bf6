"""Figures of the component clustering (Fig. 9a-d)."""

import ast
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hyperspy_cnmf  # noqa: E402
from hyperspy_cnmf import methods as sc  # noqa: E402
from hyperspy_cnmf.plotting import clustering as plots  # noqa: E402
from hyperspy_cnmf.plotting.clustering import (  # noqa: E402
    plot_dendrogram,
    plot_similarity_matrices,
)

from ..signals.test_clustering_signals import ring, signal_with_factors, three_patterns  # noqa: E402


@pytest.fixture
def clustered(lazy):
    patterns = np.concatenate([three_patterns(35.0), ring(16.0)[None]])
    s = signal_with_factors(patterns, lazy=lazy)
    s.cluster_components()
    return s


def _renders(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.tell() > 0


def test_similarity_matrices_from_signal(clustered):
    fig = sc.plot_similarity_matrices(clustered)
    assert isinstance(fig, Figure)
    # two matrices + two colorbars
    assert len(fig.axes) == 4
    images = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert [ax.get_title().split(" (")[0] for ax in images] == [
        "Cosine similarity",
        "Diffraction similarity",
    ]
    lr = clustered.learning_results
    np.testing.assert_array_equal(
        images[0].images[0].get_array(), lr.cnmf_cluster_cosine_similarity
    )
    np.testing.assert_array_equal(
        images[1].images[0].get_array(), lr.cnmf_cluster_similarity
    )
    assert [t.get_text() for t in images[0].get_xticklabels()] == ["0", "1", "2", "3"]
    assert len(images[0].texts) == 16  # annotated cells
    assert _renders(fig)


def test_similarity_matrices_from_arrays():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(15, 15))
    fig = plot_similarity_matrices((a, a.T), labels=[f"c{i}" for i in range(15)])
    assert len(fig.axes) == 4
    assert not fig.axes[0].texts  # no annotation for k > 12
    fig = plot_similarity_matrices(cosine=a, diffraction=a)
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="same size"):
        plot_similarity_matrices(cosine=a, diffraction=a[:3, :3])
    with pytest.raises(ValueError, match="cosine="):
        plot_similarity_matrices()
    with pytest.raises(TypeError, match="pair"):
        plot_similarity_matrices(3.0)


def test_plots_from_a_clustering_result(clustered):
    result = sc.cluster_results(clustered)
    fig = plot_similarity_matrices(result)
    np.testing.assert_array_equal(
        fig.axes[0].images[0].get_array(), result.cosine_similarity
    )
    fig = plot_dendrogram(result)  # no patterns: no insets, but the cut line
    ax = fig.axes[0]
    assert not ax.child_axes
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())
    patterns = sc.merged_arrays(clustered).patterns
    assert len(plot_dendrogram(result, patterns=patterns).axes[0].child_axes) == 3


def test_array_plots_refuse_a_signal(clustered):
    with pytest.raises(TypeError, match="plot_component_clusters"):
        plot_similarity_matrices(clustered)
    with pytest.raises(TypeError, match="plot_component_clusters"):
        plot_dendrogram(clustered)


def test_plotting_does_not_import_the_adapter():
    """Surfaces sit above the adapter: plotting takes arrays, no signals import."""
    folder = Path(plots.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert "signals" not in module.split("."), (path.name, module)


def test_dendrogram_with_insets(clustered):
    result = hyperspy_cnmf.signals.clustering.cluster_results(clustered)
    fig = sc.plot_dendrogram(clustered)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    insets = ax.child_axes
    assert len(insets) == result.n_clusters == 3
    assert all(len(inset.images) == 1 for inset in insets)
    assert [inset.get_title() for inset in insets] == [
        "cluster 0",
        "cluster 1",
        "cluster 2",
    ]
    # one tick label per component, the cut drawn as a dashed line
    assert sorted(t.get_text() for t in ax.get_xticklabels()) == ["0", "1", "2", "3"]
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())
    assert _renders(fig)


def test_dendrogram_from_arrays_and_without_insets(clustered):
    result = hyperspy_cnmf.signals.clustering.cluster_results(clustered)
    fig = plot_dendrogram(linkage=result.linkage)
    assert len(fig.axes) == 1 and not fig.axes[0].child_axes
    patterns = np.random.default_rng(0).uniform(size=(3, 8, 8))
    fig = plot_dendrogram(
        linkage=result.linkage, labels=result.labels, patterns=patterns
    )
    assert len(fig.axes[0].child_axes) == 3
    fig = sc.plot_dendrogram(clustered, insets=False)
    assert not fig.axes[0].child_axes
    with pytest.raises(ValueError, match="one image per cluster"):
        plot_dendrogram(
            linkage=result.linkage, labels=result.labels, patterns=patterns[:2]
        )
    with pytest.raises(ValueError, match="linkage="):
        plot_dendrogram()


def test_into_given_axes(clustered):
    fig = Figure()
    ax = fig.add_subplot()
    assert sc.plot_dendrogram(clustered, ax=ax) is fig


def test_signal_method(clustered):
    similarity, dendrogram = clustered.plot_component_clusters()
    assert len(similarity.axes) == 4
    assert len(dendrogram.axes[0].child_axes) == 3
    _, dendrogram = clustered.plot_component_clusters(weights="sum", cmap="gray")
    assert dendrogram.axes[0].child_axes[0].images[0].get_cmap().name == "gray"


def test_signal_side_functions_pass_arrays_through(clustered):
    result = sc.cluster_results(clustered)
    a = result.similarity
    assert len(sc.plot_similarity_matrices((a, a)).axes) == 4
    fig = sc.plot_dendrogram(linkage=result.linkage)
    assert len(fig.axes) == 1 and not fig.axes[0].child_axes


def test_plots_before_clustering(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    with pytest.raises(RuntimeError, match="cluster_components"):
        sc.plot_similarity_matrices(s)
    with pytest.raises(RuntimeError, match="cluster_components"):
        sc.plot_dendrogram(s)
    with pytest.raises(RuntimeError, match="cluster_components"):
        s.plot_component_clusters()
