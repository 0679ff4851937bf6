"""The estimator's own Poisson normalisation and reprojection (core.weighting,
ConstrainedNMF.transform / extend_components)."""

import numpy as np
import pytest

from hyperspy_cnmf import ConstrainedNMF, Geometry, RadialContinuity
from hyperspy_cnmf.core.data import as_data
from hyperspy_cnmf.core.solver import POISSON_ITER
from hyperspy_cnmf.core.weighting import PoissonScaled, poisson_weights

FIT = dict(n_init=2, max_iter=60, random_state=3, compression=None)


def test_weights_are_root_sums_and_one_where_a_sum_is_zero():
    X = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [4.0, 5.0, 0.0]])
    rows, cols = poisson_weights(as_data(X))
    np.testing.assert_allclose(rows, [2.0, 1.0, 3.0])
    np.testing.assert_allclose(cols, [np.sqrt(5.0), np.sqrt(8.0), 1.0])


def test_normalised_fit_is_the_fit_of_the_scaled_data_scaled_back(low_rank_problem):
    """normalize_poissonian_noise=True: the same fit as the one of
    X / (sqrt(aG) sqrt(bH)) done by hand, its factors and maps scaled back."""
    X = low_rank_problem[0]
    rows = np.sqrt(X.sum(axis=1))
    cols = np.sqrt(X.sum(axis=0))
    by_hand = ConstrainedNMF(3, **FIT)
    maps = by_hand.fit_transform(X / rows[:, None] / cols[None, :])
    model = ConstrainedNMF(3, normalize_poissonian_noise=True, **FIT)
    scaled_maps = model.fit_transform(X)
    np.testing.assert_allclose(scaled_maps, maps * rows[:, None], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(
        model.components_, by_hand.components_ * cols[None, :], rtol=1e-5, atol=1e-9
    )
    assert model.resolved_params_["normalize_poissonian_noise"] is True
    assert model.loss_ == "frobenius"  # scaled data are no longer counts


def test_constraints_of_a_normalised_fit_act_on_physical_images():
    """The wrapped constraint sees the images with the weights put back."""
    seen = []

    def record(images, context):
        seen.append(images.copy())
        return images

    weights = np.array([[2.0, 4.0]])
    wrapped = PoissonScaled(record, weights)
    context = Geometry(signal_shape=(1, 2), navigation_shape=(3,)).context("factors")
    out = wrapped(np.ones((1, 1, 2)), context)
    np.testing.assert_allclose(seen[0], [[[2.0, 4.0]]])
    np.testing.assert_allclose(out, np.ones((1, 1, 2)))
    assert repr(wrapped).startswith("PoissonScaled(")


def test_poisson_loss_and_normalisation_are_refused_together(low_rank_problem):
    counts = np.round(low_rank_problem[0] * 10).astype(np.uint16)
    model = ConstrainedNMF(3, loss="poisson", normalize_poissonian_noise=True)
    with pytest.raises(ValueError, match="both model Poisson noise"):
        model.fit(counts)


def test_transform_reprojects_new_positions_and_keeps_zero_ones(low_rank_problem):
    X, L, F = low_rank_problem
    model = ConstrainedNMF(3, **FIT).fit(X[:50])
    maps = model.transform(X[50:])
    model_error = np.linalg.norm(X[50:] - maps @ model.components_)
    assert model_error / np.linalg.norm(X[50:]) < 0.02
    np.testing.assert_array_equal(model.transform(np.zeros((2, 80))), 0)
    with pytest.raises(ValueError, match="NaN"):
        model.transform(np.full((2, 80), np.nan))
    with pytest.raises(ValueError, match="80 features"):
        model.transform(X[50:, :70])


def test_extend_components_fills_pixels_the_fit_did_not_use(low_rank_problem):
    X = low_rank_problem[0]
    keep = np.arange(80) % 5 != 0
    model = ConstrainedNMF(3, **FIT)
    maps = model.fit_transform(X[:, keep])
    new = model.extend_components(X[:, ~keep], maps)
    assert new.shape == (3, int((~keep).sum()))
    assert np.all(new >= 0)
    error = np.linalg.norm(X[:, ~keep] - maps @ new) / np.linalg.norm(X[:, ~keep])
    assert error < 0.02
    with pytest.raises(ValueError, match="the data of the fitted samples"):
        model.extend_components(X[:10, ~keep], maps)


def test_resolved_params_of_a_fit_hold_no_auto():
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(36, 64)).astype(np.uint16)
    geometry = Geometry(signal_shape=(8, 8), navigation_shape=(6, 6))
    model = ConstrainedNMF(2, geometry=geometry, n_init=1, max_iter=5).fit(X)
    resolved = model.resolved_params_
    assert set(resolved) == set(model.get_params())
    assert not [k for k, v in resolved.items() if isinstance(v, str) and v == "auto"]
    assert isinstance(resolved["factor_constraints"][0], RadialContinuity)
    assert resolved["n_exact_iter"] == POISSON_ITER  # counts: the Poisson phase
    assert resolved["compression"] is None  # small data: exact iterations
