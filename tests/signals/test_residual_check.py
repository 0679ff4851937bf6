"""s.residual_check(): a missed phase is flagged where it is, and the true
k is quiet."""

import numpy as np
import pytest

from hyperspy_cnmf.core.residual import structured_residual
from hyperspy_cnmf.data import FAST, realistic_4dstem, simulated_4dstem
from hyperspy_cnmf.signals.residual import residual_check


@pytest.fixture(scope="module")
def sim():
    return simulated_4dstem((36, 36), (64, 64), seed=1)


@pytest.fixture(scope="module", params=[False, True], ids=["numpy", "lazy"])
def fits(sim, request):
    s = sim.as_lazy() if request.param else sim.deepcopy()
    return _checks_at(s, (3, 4))


def _checks_at(s, ks):
    """``{k: residual_check(s)}`` after a default fit with each k."""
    out = {}
    for k in ks:
        s.decomposition(
            algorithm="constrained_nmf",
            output_dimension=k,
            random_state=0,
            print_info=False,
            show_progressbar=False,
        )
        out[k] = residual_check(s, print_info=False)
    return out


def test_a_missed_crystal_is_flagged_where_it_is(sim, fits):
    result = fits[3]  # one crystal too few
    assert result.check.found and result.check.suggested_k == 4
    assert "output_dimension=4" in result.check.message
    true_maps = np.asarray(sim.metadata.Simulation.true_maps)
    flagged = result.check.flagged
    # the flagged positions are where some crystal is strongest: the one missed
    inside = [m[flagged].mean() / max(m.mean(), 1e-12) for m in true_maps[1:]]
    assert max(inside) > 3, inside
    assert result.map.axes_manager.signal_shape == (36, 36)
    assert result.map.axes_manager.signal_axes[0].units == "nm"


def test_the_true_k_is_quiet(fits):
    result = fits[4]
    assert not result.check.found and result.check.suggested_k == 4
    assert result.check.flagged.sum() == 0
    assert "no structured residual" in result.check.message


def test_pure_noise_is_quiet_and_a_patch_is_found():
    rng = np.random.default_rng(0)
    factors = rng.random((16 * 16, 2))
    loadings = rng.random((20 * 20, 2)) * 50
    X = rng.poisson(loadings @ factors.T).astype(np.float64)
    quiet = structured_residual(
        X, factors, loadings, navigation_shape=(20, 20), signal_shape=(16, 16)
    )
    assert not quiet.found
    spot = np.zeros((16, 16))
    spot[5:8, 9:12] = 40.0
    X = X.reshape(20, 20, -1)
    X[4:9, 11:16] += rng.poisson(spot.ravel(), size=(5, 5, 256))
    found = structured_residual(
        X.reshape(400, -1),
        factors,
        loadings,
        navigation_shape=(20, 20),
        signal_shape=(16, 16),
    )
    assert found.found and found.n_patches == 1
    rows, cols = np.nonzero(found.flagged)
    assert 4 <= rows.mean() <= 8 and 11 <= cols.mean() <= 15


@pytest.fixture(scope="module", params=[False, True], ids=["numpy", "lazy"])
def speckled(request):
    """Realistic data (glass speckle different at every position), one
    crystal rotation too few and the true k."""
    s = realistic_4dstem(**FAST, dose=3000, random_state=2)
    labels = np.asarray(s.metadata.Simulation.labels)
    s = s.as_lazy() if request.param else s
    return labels, {k: r.check for k, r in _checks_at(s, (4, 5)).items()}


def test_a_missed_crystal_is_flagged_in_speckled_glass(speckled):
    labels, checks = speckled
    missed = checks[4]
    assert missed.found and missed.suggested_k == 5
    # the flagged positions lie in one grain (the missed rotation), not in the glass
    flagged_in = np.bincount(labels[missed.flagged], minlength=labels.max() + 1)
    assert flagged_in[0] <= 0.2 * flagged_in.sum(), flagged_in
    assert not checks[5].found, checks[5].message


def test_the_scan_is_read_in_bands_with_the_same_scores():
    rng = np.random.default_rng(1)
    factors = rng.random((8 * 8, 2))
    loadings = rng.random((9 * 7, 2)) * 30
    X = rng.poisson(loadings @ factors.T).astype(np.float64)
    shapes = {"navigation_shape": (9, 7), "signal_shape": (8, 8)}
    whole = structured_residual(X, factors, loadings, block_rows=10_000, **shapes)
    for block_rows in (1, 7, 15, 20):  # one row per band up to bands of 2 rows
        reads = _RowsRead(X)
        banded = structured_residual(
            reads, factors, loadings, block_rows=block_rows, **shapes
        )
        np.testing.assert_allclose(banded.score, whole.score, rtol=1e-12)
        assert reads.n_rows == len(X)  # every position read once, no halo again


class _RowsRead:
    """The data, counting the rows each slice reads."""

    def __init__(self, X):
        self.X, self.n_rows = X, 0

    def __getitem__(self, rows):
        block = self.X[rows]
        self.n_rows += len(block)
        return block


def test_needs_a_2d_scan():
    import hyperspy.api as hs

    s = hs.signals.Signal2D(np.random.default_rng(0).random((5, 8, 8)))
    with pytest.raises(ValueError, match="2 navigation axes"):
        residual_check(s)
