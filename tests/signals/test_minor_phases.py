"""Issue 17 on the realistic simulation's fast variant: the 4 % grain is
found and the default clustering gives the true phase grouping; at low
doses the phases are found at every rotation."""

import numpy as np
import pytest

from hyperspy_cnmf.data.realistic import FAST, realistic_4dstem
from hyperspy_cnmf.scoring import clustered_map_pearson, score_decomposition


def _fit_and_score(s, seed):
    truth = s.metadata.Simulation.as_dictionary()
    k = len(truth["component_names"]) + 1
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=k,
        random_state=seed,
        print_info=False,
        show_progressbar=False,
    )
    rows, cols = s.axes_manager.signal_shape[::-1]
    nav = s.axes_manager.navigation_shape[::-1]
    lr = s.learning_results
    factors = np.nan_to_num(np.asarray(lr.factors, dtype=np.float64)).T
    maps = np.asarray(lr.loadings, dtype=np.float64).T.reshape(k, *nav)
    scores = score_decomposition(factors.reshape(k, rows, cols), maps, truth)
    clusters = s.cluster_components()
    clustered = clustered_map_pearson(
        maps,
        factors.sum(axis=1),
        clusters.labels,
        clusters.rotation,
        truth["true_maps"],
        scores["matching"],
    )
    return truth, scores, clustered


@pytest.fixture(scope="module", params=[False, True], ids=["numpy", "lazy"])
def fitted(request):
    s = realistic_4dstem(**FAST, dose=3000, random_state=7, lazy=request.param)
    return (s, *_fit_and_score(s, seed=7))  # k one above the truth, as users do


def test_every_phase_and_the_minor_grain_recovered(fitted):
    _, truth, scores, _ = fitted
    assert truth["component_names"][-1].startswith("Mg")  # the 4 % grain
    assert (scores["map_pearson"] >= 0.95).all(), scores["map_pearson"]
    assert scores["pattern_cosine"][-1] >= 0.9, scores["pattern_cosine"]


def test_clustering_is_the_true_phase_grouping(fitted):
    s, truth, scores, _ = fitted
    labels = np.asarray(s.cluster_components().labels)
    found = scores["matching"].recovered_for_true
    groups = [sorted({int(labels[found[i]]) for i in g}) for g in truth["phase_groups"]]
    # each phase (both Au rotations together) in one cluster of its own
    assert all(len(g) == 1 for g in groups), groups
    assert len({g[0] for g in groups}) == len(groups), groups
    # with the paper's plain correlation the Mg grain joins Si on this data
    plain = np.asarray(s.cluster_components(subtract_mean=False).labels)
    si, mg = found[1], found[-1]
    assert plain[si] == plain[mg]


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "lazy"])
def test_at_300_counts_every_phase_is_found(lazy):
    s = realistic_4dstem(**FAST, dose=300, random_state=8, lazy=lazy)
    truth, scores, _ = _fit_and_score(s, seed=8)
    # the target: every phase of >= 4 % (all five here) with a map >= 0.8
    assert (scores["map_pearson"] >= 0.8).all(), scores["map_pearson"]
    assert (scores["map_pearson"][1:] >= 0.85).all()  # the crystals, the grain too


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "lazy"])
def test_at_100_counts_every_crystal_is_found_at_every_rotation(lazy):
    """The crystals of >= 10 % (Si, Au at two rotations), read per phase and
    rotation after the clustering: with one component too many, the sixth
    may share a grain with its phase's own component (the same pattern);
    joined they are the grain. The glass is not asserted at this size:
    its speckle, averaged over 576 positions of 64 x 64 pixels, splits it on
    some seeds (the full-size benchmark scores it: >= 0.97)."""
    s = realistic_4dstem(**FAST, dose=100, random_state=8, lazy=lazy)
    truth, scores, clustered = _fit_and_score(s, seed=8)
    crystals = [1, 2, 3]  # Si, Au at 10 and at 40 degrees
    assert [truth["component_names"][i][:2] for i in crystals] == ["Si", "Au", "Au"]
    assert (clustered[crystals] >= 0.9).all(), clustered
    # joining the components of one pattern never costs a crystal its map
    assert (clustered[crystals] >= scores["map_pearson"][crystals] - 1e-9).all()
