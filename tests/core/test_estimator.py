"""ConstrainedNMF: scikit-learn contract and agreement with the function."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from hyperspy_cnmf import ConstrainedNMF, GaussianSmoothing, Geometry, RadialContinuity
from hyperspy_cnmf.core import constrained_nmf


@parametrize_with_checks([ConstrainedNMF(n_components=2, max_iter=500)])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_estimator_and_function_agree(low_rank_problem):
    X, _, _ = low_rank_problem
    model = ConstrainedNMF(3, n_init=2, max_iter=50, tol=0, random_state=4)
    maps = model.fit_transform(X)
    result = constrained_nmf(X, 3, n_init=2, max_iter=50, random_state=4)
    np.testing.assert_array_equal(model.components_, result.factors.T)
    np.testing.assert_array_equal(maps, result.loadings)
    assert model.mse_ == result.mse
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(X - maps @ model.components_)
    )
    assert model.n_iter_ == 50 and model.history_["mse"].shape == (50,)


def test_auto_constraints_follow_geometry(diffraction_problem):
    X, geometry, _ = diffraction_problem
    bare = ConstrainedNMF(2, n_init=1, max_iter=5).fit(X)
    assert bare.factor_constraints_ == [] and bare.loading_constraints_ == []
    calibrated = ConstrainedNMF(
        2, n_init=1, max_iter=5, geometry=Geometry(**geometry)
    ).fit(X)
    assert calibrated.factor_constraints_ == [RadialContinuity()]
    assert calibrated.loading_constraints_ == [GaussianSmoothing()]
    primitive = ConstrainedNMF(
        2,
        n_init=1,
        max_iter=5,
        geometry=Geometry(**geometry),
        factor_constraints=[],
        loading_constraints=[],
    ).fit(X)
    assert primitive.factor_constraints_ == []


def test_geometry_needing_constraint_without_geometry_is_explained(low_rank_problem):
    X, _, _ = low_rank_problem
    model = ConstrainedNMF(2, factor_constraints=[RadialContinuity()], max_iter=3)
    with pytest.raises(ValueError, match="needs 2D diffraction patterns"):
        model.fit(X)


def test_transform_gives_nonnegative_least_squares(low_rank_problem):
    X, _, _ = low_rank_problem
    model = ConstrainedNMF(3, n_init=2, max_iter=200, random_state=0).fit(X)
    maps = model.transform(X)
    assert (maps >= 0).all()
    # Optimal: no nonnegative perturbation of the maps lowers the error.
    residual = np.linalg.norm(X - maps @ model.components_)
    rng = np.random.default_rng(0)
    for _ in range(5):
        trial = np.maximum(maps + 1e-3 * rng.standard_normal(maps.shape), 0)
        assert np.linalg.norm(X - trial @ model.components_) >= residual - 1e-9


def test_in_a_pipeline(low_rank_problem):
    X, _, _ = low_rank_problem
    pipe = make_pipeline(
        FunctionTransformer(np.sqrt), ConstrainedNMF(3, n_init=1, max_iter=20)
    )
    assert pipe.fit_transform(X).shape == (60, 3)


def test_get_params_round_trip():
    model = ConstrainedNMF(
        4, n_init=3, loading_constraints=[GaussianSmoothing(sigma=1.0)]
    )
    clone = ConstrainedNMF(**model.get_params())
    assert clone.get_params() == model.get_params()
