"""remove_map_floors: a host's floor taken out of the maps of the phases it
surrounds, exactly, and nothing else."""

import numpy as np
import pytest

from hyperspy_cnmf.core import ConstrainedNMF, Geometry, MapFloors, remove_map_floors


def _particles(shape=(30, 30), n_channels=60):
    """A matrix everywhere and two discs at half fraction; three distinct
    spectra (HyperSpy orientation: factors (n_sig, k), loadings (n_nav, k))."""
    rows, cols = np.indices(shape)
    discs = [(rows - r) ** 2 + (cols - c) ** 2 <= 16 for r, c in ((8, 8), (20, 21))]
    particles = np.stack([0.5 * d for d in discs], axis=1).reshape(-1, 2).astype(float)
    matrix = 1 - particles.sum(axis=1, keepdims=True)
    L = np.concatenate([matrix, particles], axis=1)
    e = np.arange(n_channels)
    peak = lambda c: np.exp(-0.5 * ((e - c) / 2.0) ** 2)  # noqa: E731
    F = np.stack(
        [1 + peak(10), 0.2 + 3 * peak(10) + peak(30), 0.2 + 2 * peak(45)], axis=1
    )
    return F, L


def _with_floor(F, L, beta, minor, host=0):
    """The same product with ``beta`` of the host's map in the minor map."""
    F, L = F.copy(), L.copy()
    L[:, minor] += beta * L[:, host]
    F[:, host] -= beta * F[:, minor]
    assert (F >= 0).all()
    return F, L


def test_a_floor_is_taken_out_exactly():
    F, L = _particles()
    Ff, Lf = _with_floor(*_with_floor(F, L, 0.03, minor=1), 0.02, minor=2)
    inputs = Ff.copy(), Lf.copy()
    F2, L2, record = remove_map_floors(Ff, Lf)
    np.testing.assert_allclose(L2, L, atol=1e-12)
    np.testing.assert_allclose(F2, F, atol=1e-12)
    np.testing.assert_allclose(record.coefficients[1:, 0], [0.03, 0.02], rtol=1e-9)
    assert record.product_change < 1e-12 and record.moved
    np.testing.assert_array_equal(Ff, inputs[0])  # inputs are not modified
    np.testing.assert_array_equal(Lf, inputs[1])


def test_the_true_maps_are_left_alone():
    F, L = _particles()
    F2, L2, record = remove_map_floors(F, L)
    np.testing.assert_array_equal(L2, L)
    np.testing.assert_array_equal(F2, F)
    assert not record.moved and record.product_change == 0


def test_a_real_co_presence_is_not_a_floor():
    """A phase spread through the scan at a fifth of its peak is real."""
    F, L = _particles()
    Ff, Lf = _with_floor(F, L, 0.15, minor=1)  # 0.15 / 0.65 of its peak
    F2, L2, record = remove_map_floors(Ff, Lf)
    np.testing.assert_array_equal(L2, Lf)
    np.testing.assert_array_equal(F2, Ff)
    assert not record.moved
    _, lenient_maps, lenient = remove_map_floors(Ff, Lf, max_share=0.5)
    assert lenient.coefficients[1, 0] == pytest.approx(0.15)
    np.testing.assert_allclose(lenient_maps, L, atol=1e-12)


def test_noisy_floor_clipping_is_reported():
    rng = np.random.default_rng(0)
    F, L = _particles()
    Ff, Lf = _with_floor(F, L, 0.03, minor=1)
    Lf[:, 1] = np.maximum(Lf[:, 1] + rng.normal(0, 0.005, len(Lf)), 0)
    F2, L2, record = remove_map_floors(Ff, Lf)
    assert record.coefficients[1, 0] == pytest.approx(0.03, abs=0.003)
    assert 0 < record.clipped_fraction[1] < 0.2
    assert 0 < record.product_change < 0.01
    assert (L2 >= 0).all() and (F2 >= 0).all()
    outside = L[:, 1] == 0
    assert np.abs(L2[outside, 1]).mean() < 0.2 * np.abs(Lf[outside, 1]).mean()


def test_reordered_follows_the_components():
    F, L = _particles()
    _, _, record = remove_map_floors(*_with_floor(F, L, 0.03, minor=2))
    order = np.array([2, 0, 1])
    moved = record.reordered(order)
    assert moved.coefficients[0, 1] == pytest.approx(0.03)
    np.testing.assert_array_equal(
        moved.clipped_fraction, record.clipped_fraction[order]
    )


@pytest.mark.parametrize("max_share", [0, 1, -0.1])
def test_bad_max_share(max_share):
    F, L = _particles()
    with pytest.raises(ValueError, match="max_share"):
        remove_map_floors(F, L, max_share=max_share)


def test_estimator_runs_it_on_spectra_when_asked():
    rng = np.random.default_rng(1)
    F, L = _particles()
    X = rng.poisson(50 * L @ F.T).astype(float)
    geometry = Geometry(signal_shape=(F.shape[0],), navigation_shape=(30, 30))
    options = dict(n_init=2, max_iter=60, random_state=0, geometry=geometry)
    model = ConstrainedNMF(3, pure_phases=True, **options)
    maps = model.fit_transform(X)
    assert isinstance(model.phase_separation_, MapFloors)
    off = ConstrainedNMF(3, **options).fit(X)  # "auto": diffraction only
    assert off.phase_separation_ is None
    # the error reported is the error of the moved fit
    mse = np.mean((X - maps @ model.components_) ** 2)
    assert model.mse_ == pytest.approx(mse, rel=1e-6)


def test_pure_phases_without_a_geometry_is_explained():
    X = np.ones((20, 10))
    with pytest.raises(ValueError, match=r"pure_phases=True needs.*\(n_channels,\)"):
        ConstrainedNMF(2, pure_phases=True, max_iter=2).fit(X)
