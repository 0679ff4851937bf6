"""s.residual_check(): a missed phase is flagged where it is, and the true
k is quiet."""

import numpy as np
import pytest

from hyperspy_cnmf.core.residual import structured_residual
from hyperspy_cnmf.data import simulated_4dstem
from hyperspy_cnmf.signals.residual import residual_check


@pytest.fixture(scope="module")
def sim():
    return simulated_4dstem((36, 36), (64, 64), seed=1)


@pytest.fixture(scope="module", params=[False, True], ids=["numpy", "lazy"])
def fits(sim, request):
    s = sim.as_lazy() if request.param else sim.deepcopy()
    out = {}
    for k in (3, 4):
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


def test_needs_a_2d_scan():
    import hyperspy.api as hs

    s = hs.signals.Signal2D(np.random.default_rng(0).random((5, 8, 8)))
    with pytest.raises(ValueError, match="2 navigation axes"):
        residual_check(s)
