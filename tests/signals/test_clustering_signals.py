"""Component clustering on signals: ``s.cluster_components()`` and friends.

Small synthetic signals (8 x 8 scan x 48 x 48 detector, off-centre beam)
carry hand-made factors and loadings in ``learning_results``, so that the
expected similarities and rotations are known; a real HyperSpy NMF and the
package's constrained NMF on its simulated data check the whole chain.
"""

import json
import warnings

import numpy as np
import pytest

import hyperspy_cnmf
from hyperspy_cnmf import methods
from hyperspy_cnmf.core.polar import rotate_images
from hyperspy_cnmf.signals import clustering as sc

from .synthetic import as_lazy

NAV = (8, 8)
SIG = (48, 48)
CENTER = (23.0, 24.0)  # (row, col) px, off the middle on purpose
SCALE = 0.05  # 1/nm per pixel


def lattice(
    angle_deg, a=(9.0, 0.0), b=(0.0, 13.0), center=CENTER, shape=SIG, sigma=1.0
):
    """Gaussian spots of a rectangular lattice rotated by ``angle_deg``.

    Centrosymmetric (2-fold), so rotations are defined modulo 180 degrees.
    """
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    a, b = rot @ np.asarray(a), rot @ np.asarray(b)
    rows, cols = np.indices(shape)
    image = np.zeros(shape)
    for i in range(-3, 4):
        for j in range(-3, 4):
            if i == j == 0:
                continue
            g = i * a + j * b
            if np.hypot(*g) > 21:
                continue
            r, c = center[0] + g[0], center[1] + g[1]
            weight = np.exp(-np.hypot(*g) / 15)
            image += weight * np.exp(
                -0.5 * ((rows - r) ** 2 + (cols - c) ** 2) / sigma**2
            )
    return image


def ring(radius, width=1.5, center=CENTER, shape=SIG):
    rows, cols = np.indices(shape)
    rho = np.hypot(rows - center[0], cols - center[1])
    return np.exp(-0.5 * ((rho - radius) / width) ** 2)


def beam(sigma=1.5, center=CENTER, shape=SIG):
    return 20 * ring(0.0, sigma, center, shape)


def maps_for(k, nav=NAV):
    rows, cols = np.indices(nav)
    out = []
    for i in range(k):
        r0, c0 = (i * 2.3) % nav[0], (i * 3.1) % nav[1]
        out.append(0.2 + np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / 6.0))
    return np.stack(out)


def signal_with_factors(
    patterns, maps=None, *, lazy=False, pyxem=True, algorithm="fake"
):
    """A calibrated signal whose ``learning_results`` hold the given factors."""
    import hyperspy.api as hs

    patterns = np.asarray(patterns, dtype=float)
    k = patterns.shape[0]
    maps = maps_for(k) if maps is None else maps
    data = np.einsum("kyx,kuv->yxuv", maps, patterns)
    if pyxem:
        import pyxem as pxm

        s = pxm.signals.ElectronDiffraction2D(data)
    else:
        s = hs.signals.Signal2D(data)
    for axis, c in zip(s.axes_manager.signal_axes[::-1], CENTER, strict=True):
        axis.scale, axis.offset, axis.units = SCALE, -c * SCALE, "1/nm"
    for axis in s.axes_manager.navigation_axes:
        axis.scale, axis.units = 2.0, "nm"
    lr = s.learning_results
    lr.factors = patterns.reshape(k, -1).T.copy()
    lr.loadings = maps.reshape(k, -1).T.copy()
    lr.decomposition_algorithm = algorithm
    lr.output_dimension = k
    if lazy:
        s = as_lazy(s)
        s.learning_results = lr
    return s


def three_patterns(angle=35.0):
    """A lattice, its rotated copy (analytic), and a different lattice."""
    return np.stack(
        [lattice(0.0), lattice(angle), lattice(10.0, a=(6.0, 0.0), b=(0.0, 7.0))]
    )


def wrap180(angle):
    """Angle modulo 180 into (-90, 90]."""
    a = np.mod(angle, 180.0)
    return a - 180.0 if a > 90 else a


# ---------------------------------------------------------------------------
# Similarity, rotation and clustering of known factors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [35.0, 77.0, -50.0])
def test_rotated_copy_is_similar_and_cosine_is_not(lazy, angle):
    s = signal_with_factors(three_patterns(angle), lazy=lazy)
    result = s.cluster_components()
    assert result.similarity[0, 1] >= 0.98
    assert result.similarity[0, 2] < result.similarity[0, 1] - 0.3
    assert result.similarity[1, 2] < result.similarity[0, 1] - 0.3
    # cosine (eq. 9) does not recognise the rotated copy
    assert result.cosine_similarity[0, 1] < 0.5
    # rotation[0, 1] rotates component 1 (lattice at +angle) back onto 0:
    # within one azimuthal bin, modulo the lattice's 2-fold symmetry
    # (the sign convention is checked against rotate_images below)
    rot = result.rotation[0, 1]
    assert min(abs(wrap180(rot + angle)), abs(wrap180(rot - angle))) <= 1.0
    assert result.labels.tolist() == [0, 0, 1]
    np.testing.assert_allclose(result.params["center_xy"], CENTER[::-1])  # (x, y)


def test_rotation_sign_matches_rotate_images(lazy):
    base = lattice(0.0)
    rotated = rotate_images(base, 40.0, CENTER)
    s = signal_with_factors(
        np.stack([base, rotated, lattice(0.0, a=(6.0, 0.0), b=(0.0, 7.0))]),
        lazy=lazy,
    )
    result = hyperspy_cnmf.cluster_components(s)
    # j = i rotated by theta -> rotation[i, j] = -theta (mod 180)
    assert abs(wrap180(result.rotation[0, 1] + 40.0)) <= 1.0
    assert result.similarity[0, 1] >= 0.98


def test_function_and_method_agree_and_results_are_stored(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    result = hyperspy_cnmf.cluster_components(s, n_clusters=2)
    lr = s.learning_results
    for key in ("labels", "linkage", "similarity", "cosine_similarity", "rotation"):
        np.testing.assert_array_equal(
            getattr(lr, "cnmf_cluster_" + key), getattr(result, key)
        )
    params = json.loads(lr.cnmf_cluster_params)
    assert params["n_clusters"] == 2 and params["method"] == "average"
    assert params["n_components"] == 3
    again = s.cluster_components(n_clusters=2)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_allclose(again.similarity, result.similarity)
    assert "2 clusters" in repr(result)


def test_fixed_threshold_and_auto_cut(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    auto = s.cluster_components()
    assert auto.params["distance_threshold"] == "auto"
    lo, hi = sc.AUTO_THRESHOLD_RANGE
    assert lo <= auto.params["cut_height"] <= hi
    one = s.cluster_components(distance_threshold=2.0)
    assert one.labels.tolist() == [0, 0, 0]
    every = s.cluster_components(distance_threshold=0.0)
    assert sorted(every.labels.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="not both"):
        s.cluster_components(n_clusters=2, distance_threshold=0.3)


def test_merged_components_signals(lazy):
    patterns = three_patterns(35.0)
    maps = maps_for(3)
    maps[0] *= 3.0  # component 0 is the reference of its cluster
    s = signal_with_factors(patterns, maps, lazy=lazy)
    s.cluster_components()
    diffractions, cluster_maps = s.get_cluster_components()

    import pyxem as pxm

    assert isinstance(diffractions, pxm.signals.ElectronDiffraction2D)
    assert not diffractions._lazy
    assert diffractions.axes_manager.navigation_shape == (2,)
    assert diffractions.axes_manager.signal_shape == s.axes_manager.signal_shape
    for a, b in zip(
        diffractions.axes_manager.signal_axes, s.axes_manager.signal_axes, strict=True
    ):
        assert (a.scale, a.offset, a.units) == (b.scale, b.offset, b.units)
    assert cluster_maps.axes_manager.signal_shape == s.axes_manager.navigation_shape
    assert cluster_maps.axes_manager.navigation_shape == (2,)
    assert cluster_maps.axes_manager.signal_axes[0].scale == 2.0
    np.testing.assert_allclose(cluster_maps.data[0], maps[0] + maps[1])
    np.testing.assert_allclose(cluster_maps.data[1], maps[2])
    # merged = rotation-corrected weighted mean: still the reference lattice
    merged = diffractions.data[0]
    cos = merged.ravel() @ patterns[0].ravel()
    cos /= np.linalg.norm(merged) * np.linalg.norm(patterns[0])
    assert cos > 0.97
    np.testing.assert_allclose(diffractions.data[1], patterns[2], atol=1e-12)
    assert "Merged cluster diffractions" in diffractions.metadata.General.title


def test_plain_signal2d_and_line_scan(lazy):
    patterns = three_patterns()
    s = signal_with_factors(patterns, pyxem=False, lazy=lazy)
    s.cluster_components()
    diffractions, maps = s.get_cluster_components()
    assert type(diffractions).__name__ == "Signal2D"
    # a line scan: maps become Signal1D
    line = signal_with_factors(
        patterns, maps_for(3, (1, 8)), pyxem=False, lazy=lazy
    ).inav[:, 0]
    line.learning_results.factors = s.learning_results.factors
    line.learning_results.loadings = maps_for(3, (1, 8)).reshape(3, -1).T
    line.cluster_components()
    _, line_maps = line.get_cluster_components()
    assert type(line_maps).__name__ == "Signal1D"
    assert line_maps.axes_manager.signal_shape == (8,)


# ---------------------------------------------------------------------------
# Radial range: direct beam and masks
# ---------------------------------------------------------------------------


def test_unmasked_direct_beam_is_left_out_automatically(lazy):
    patterns = three_patterns() + beam()
    s = signal_with_factors(patterns, lazy=lazy)
    with_beam = s.cluster_components(r_min=0)
    auto = s.cluster_components()
    assert auto.params["r_min_source"] == "direct beam"
    assert 2.0 < auto.params["r_min"] < 8.0
    # the beam makes the different lattices look alike unless it is left out
    assert with_beam.similarity[0, 2] > auto.similarity[0, 2] + 0.2
    assert auto.labels.tolist() == [0, 0, 1]


def test_masked_direct_beam_sets_r_min_and_nan_factors_are_excluded(lazy):
    patterns = three_patterns() + beam()
    rows, cols = np.indices(SIG)
    mask = np.hypot(rows - CENTER[0], cols - CENTER[1]) <= 4.0
    s = signal_with_factors(patterns, lazy=lazy)
    factors = s.learning_results.factors.copy()
    factors[mask.ravel()] = np.nan  # as HyperSpy stores masked pixels
    s.learning_results.factors = factors
    s.learning_results.signal_mask = mask
    result = s.cluster_components()
    assert result.params["r_min_source"] == "signal mask"
    assert 4.0 <= result.params["r_min"] < 5.0
    assert result.params["masked_pixels"] == int(mask.sum())
    assert result.labels.tolist() == [0, 0, 1]
    diffractions, _ = s.get_cluster_components()
    assert np.isnan(diffractions.data[:, mask]).all()
    assert np.isfinite(diffractions.data[:, ~mask]).all()


def test_reduced_factors_with_signal_mask_are_expanded(lazy):
    patterns = three_patterns()
    rows, cols = np.indices(SIG)
    mask = np.hypot(rows - CENTER[0], cols - CENTER[1]) <= 3.0
    s = signal_with_factors(patterns, lazy=lazy)
    s.learning_results.factors = patterns.reshape(3, -1)[:, ~mask.ravel()].T.copy()
    s.learning_results.signal_mask = mask
    assert s.cluster_components().labels.tolist() == [0, 0, 1]


def test_r_min_in_calibrated_units(lazy):
    s = signal_with_factors(three_patterns() + beam(), lazy=lazy)
    px = s.cluster_components(r_min=5.0)
    cal = s.cluster_components(r_min=5.0 * SCALE, radius_units="calibrated")
    assert cal.params["r_min"] == pytest.approx(5.0)
    np.testing.assert_allclose(cal.similarity, px.similarity)
    with pytest.raises(ValueError, match="radius_units"):
        s.cluster_components(radius_units="nm")
    with pytest.raises(ValueError, match="r_min"):
        s.cluster_components(r_min=100.0)


def test_hyperspy_nmf_with_signal_mask_end_to_end():
    patterns = three_patterns() + beam()
    rng = np.random.default_rng(0)
    s = signal_with_factors(patterns, pyxem=False)
    s.data = s.data + 0.01 * rng.uniform(size=s.data.shape)
    rows, cols = np.indices(SIG)
    mask = s._get_signal_signal(np.hypot(rows - CENTER[0], cols - CENTER[1]) <= 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(
            algorithm="NMF",
            output_dimension=3,
            signal_mask=mask,
            print_info=False,
            max_iter=300,
            random_state=0,
        )
    assert np.isnan(s.learning_results.factors).any()
    result = s.cluster_components()
    assert result.params["r_min_source"] == "signal mask"
    assert result.n_clusters == 2
    diffractions, maps = s.get_cluster_components()
    assert diffractions.axes_manager.navigation_shape == (2,)


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["hspy", "zspy"])
def test_results_survive_save_and_load(lazy, tmp_path, extension):
    import hyperspy.api as hs

    s = signal_with_factors(three_patterns(), lazy=lazy)
    result = s.cluster_components()
    before_d, before_m = s.get_cluster_components()
    path = tmp_path / f"clustered.{extension}"
    s.save(path)
    loaded = hs.load(path)
    lr = loaded.learning_results
    for key in ("labels", "linkage", "similarity", "cosine_similarity", "rotation"):
        np.testing.assert_allclose(
            getattr(lr, "cnmf_cluster_" + key), getattr(result, key)
        )
    assert json.loads(str(lr.cnmf_cluster_params)) == result.params
    restored = sc.cluster_results(loaded)
    np.testing.assert_array_equal(restored.labels, result.labels)
    after_d, after_m = loaded.get_cluster_components()
    np.testing.assert_allclose(after_d.data, before_d.data)
    np.testing.assert_allclose(after_m.data, before_m.data)


def test_new_decomposition_invalidates_clustering(lazy):
    s = signal_with_factors(three_patterns(), pyxem=False, lazy=lazy)
    s.cluster_components()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(algorithm="SVD", output_dimension=3, print_info=False)
    with pytest.raises(RuntimeError, match="cluster_components"):
        s.get_cluster_components()


def test_stale_clustering_is_detected(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    s.cluster_components()
    s.learning_results.factors = s.learning_results.factors * 2.0
    with pytest.raises(RuntimeError, match="earlier decomposition"):
        s.get_cluster_components()


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_no_decomposition(lazy):
    import hyperspy.api as hs

    s = as_lazy(hs.signals.Signal2D(np.ones((4, 4, 16, 16))), lazy)
    with pytest.raises(RuntimeError, match=r"run s\.decomposition\(\.\.\.\) first"):
        s.cluster_components()


def test_one_component(lazy):
    s = signal_with_factors(three_patterns()[:1], lazy=lazy)
    with pytest.raises(ValueError, match="at least 2 components"):
        s.cluster_components()


def test_nan_factors(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    factors = s.learning_results.factors.copy()
    factors[100, 1] = np.nan
    s.learning_results.factors = factors
    with pytest.raises(ValueError, match=r"components \[1\] contain NaN"):
        s.cluster_components()


def test_one_dimensional_signal(lazy):
    import hyperspy.api as hs

    s = as_lazy(
        hs.signals.Signal1D(np.random.default_rng(0).uniform(size=(4, 5, 32))), lazy
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(algorithm="SVD", output_dimension=3, print_info=False)
    # spectra: a 1D similarity, the rotation steps skipped (issue 21)
    result = s.cluster_components()
    assert result.params["similarity"] == "cosine"
    assert result.params["rotation"].startswith("skipped")
    assert hyperspy_cnmf.cluster_components(s).labels.shape == (3,)


def test_results_requested_before_clustering(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    with pytest.raises(RuntimeError, match=r"s\.cluster_components"):
        s.get_cluster_components()
    with pytest.raises(RuntimeError, match=r"s\.cluster_components"):
        sc.cluster_results(s)


def test_uncalibrated_centre_is_refused_and_a_corner_centre_reported(lazy):
    import hyperspy.api as hs

    s = as_lazy(hs.signals.Signal2D(np.ones((4, 4, 16, 16))), lazy)
    s.learning_results.factors = np.random.default_rng(0).uniform(size=(256, 2))
    s.learning_results.loadings = np.ones((16, 2))
    # An uncalibrated signal (offsets 0): refused, naming both fixes.
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None") as error:
        s.cluster_components()
    assert "center=(x, y)" in str(error.value)
    # A centre passed on the corner: warned, naming the fix, and compared
    # over partial circles instead of "r_max = -0 px".
    with pytest.warns(UserWarning, match=r"s\.calibration\.center = None"):
        result = s.cluster_components(center=(0.0, 0.0))
    assert result.params["r_max"] > 0
    assert "-0" not in str(result.params["center_xy"])


def test_center_argument_is_pyxem_xy(lazy):
    import hyperspy.api as hs

    s = as_lazy(hs.signals.Signal2D(np.ones((4, 4, 16, 20))), lazy)
    s.learning_results.factors = np.random.default_rng(0).uniform(size=(320, 2))
    s.learning_results.loadings = np.ones((16, 2))
    result = s.cluster_components(center=(12.0, 7.0))  # (x, y)
    assert tuple(result.params["center_xy"]) == (12.0, 7.0)  # stored (x, y)
    with pytest.raises(ValueError, match=r"\(x, y\) = \(col, row\)"):
        s.cluster_components(center=8)
    with pytest.raises(ValueError, match=r"outside.*center=\(x, y\)"):
        s.cluster_components(center=(7.0, 18.0))


def test_bad_clustering_arguments(lazy):
    s = signal_with_factors(three_patterns(), lazy=lazy)
    with pytest.raises(ValueError, match="linkage method"):
        s.cluster_components(method="nope")
    with pytest.raises(ValueError, match="distance_threshold"):
        s.cluster_components(distance_threshold="big")
    with pytest.raises(ValueError, match="n_clusters"):
        s.cluster_components(n_clusters=7)


# ---------------------------------------------------------------------------
# Installation on HyperSpy's signals
# ---------------------------------------------------------------------------


def test_methods_installed_idempotently_without_clobbering():
    from hyperspy.learn._mva import MVA
    from hyperspy.signal import BaseSignal

    assert methods.is_installed()
    before = MVA.__dict__["cluster_components"]
    methods.install()
    assert MVA.__dict__["cluster_components"] is before
    # HyperSpy's own clustering plot is left alone
    assert not getattr(BaseSignal.plot_cluster_results, "_hyperspy_cnmf_method", False)
    assert MVA.cluster_components.__doc__ == hyperspy_cnmf.cluster_components.__doc__
    methods.uninstall()
    try:
        assert not hasattr(MVA, "cluster_components")
    finally:
        methods.install()
    assert methods.is_installed()


# ---------------------------------------------------------------------------
# Headline: simulated data, constrained NMF with k > number of phases
# ---------------------------------------------------------------------------


def _cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.filterwarnings("ignore:X has .* all-zero:UserWarning")
def test_simulated_phase_at_two_rotations_is_merged():
    """One crystalline phase at 10 and 40 degrees in an amorphous matrix.

    Constrained NMF with k = 4 (> 2 phases) splits the amorphous matrix in
    two and gives one component per rotation; the clustering must return
    one amorphous and one crystalline cluster, and the rotation-corrected
    merge of the two crystalline components must match the true pattern
    better than either component alone (the average halves the noise).
    Dose 2e3 keeps the components noise-limited (at 1e4 they are already
    as good as the truth allows). The rectangular lattice gives a true
    crystal-vs-amorphous diffraction similarity of 0.47 (the hexagonal one,
    with its spots on the amorphous rings, 0.64).
    """
    from hyperspy_cnmf.data import simulated_4dstem

    s = simulated_4dstem(
        (24, 24),
        (64, 64),
        lattices=(("rectangular", (0.21, 0.33)),),
        rotations=[[10.0, 40.0]],
        crystallinity=(0.9, 0.8),
        dose=2e3,
        seed=0,
    )
    truth = s.metadata.Simulation
    true_patterns = truth.true_patterns
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=4,
        n_init=2,
        max_iter=150,
        random_state=0,
        print_info=False,
        show_progressbar=False,
    )
    result = s.cluster_components()

    k = 4
    factors = s.learning_results.factors.T.reshape(k, 64, 64)
    cos = np.array([[_cos(t, f) for f in factors] for t in true_patterns])
    best = cos.argmax(axis=0)  # true component each factor resembles
    phase = np.asarray(truth.component_phase)[best]
    assert sorted(set(phase.tolist())) == [0, 1]
    # one amorphous cluster, one crystalline cluster (both rotations)
    assert result.n_clusters == 2
    for members in result.members:
        assert len(set(phase[members].tolist())) == 1
    crystal = next(m for m in result.members if phase[m[0]] == 1)
    assert sorted(best[crystal].tolist()) == [1, 2]  # both rotations
    i, j = crystal
    assert result.similarity[i, j] > 0.95
    assert result.cosine_similarity[i, j] < 0.5
    # rotation between the members: 30 degrees modulo the 2-fold symmetry
    assert abs(abs(wrap180(result.rotation[i, j])) - 30.0) <= 1.5

    merged = sc.merged_arrays(s)
    c = int(result.labels[i])
    reference = int(merged.reference[c])
    merged_cos = _cos(np.nan_to_num(merged.patterns[c]), true_patterns[best[reference]])
    member_cos = [cos[best[m], m] for m in crystal]
    assert merged_cos > max(member_cos)
