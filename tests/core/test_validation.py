"""Bad input gets a clear error or warning, and the caller's data is untouched."""

import numpy as np
import pytest

from hyperspy_cnmf import ConstrainedNMF, Geometry, constrained_nmf
from hyperspy_cnmf.core.polar import polar_operator


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(size=(12, 10))


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [
        (np.nan, "NaN or infinite"),
        (np.inf, "NaN or infinite"),
        (-1.0, "Negative values"),
    ],
)
def test_bad_values(X, bad_value, message):
    X[3, 4] = bad_value
    before = X.copy()
    with pytest.raises(ValueError, match=message):
        constrained_nmf(X, 2)
    np.testing.assert_array_equal(X, before)


def test_all_zero_data(X):
    with pytest.raises(ValueError, match="all zero"):
        constrained_nmf(np.zeros_like(X), 2)


def test_all_zero_rows_warn_and_all_zero_columns_are_a_note(X, caplog):
    X[2] = 0
    X[:, 5] = 0
    with caplog.at_level("INFO", logger="hyperspy_cnmf.core.validation"):
        with pytest.warns(UserWarning, match="1 all-zero rows") as record:
            constrained_nmf(X, 2, n_init=1, max_iter=5)
    assert not any("columns" in str(w.message) for w in record)
    assert record[0].filename == __file__  # points at the caller's line
    assert "1 all-zero columns" in caplog.text


def test_all_zero_columns_do_not_warn(X):
    X[:, 5] = 0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constrained_nmf(X, 2, n_init=1, max_iter=5)


@pytest.mark.parametrize(
    ("scale", "dtype", "match"),
    [
        (1e19, np.float32, "overflow"),
        (1e-30, np.float32, "underflow"),
        (1e160, np.float64, "overflow"),
    ],
)
def test_data_near_the_float_limits_are_refused_up_front(X, scale, dtype, match):
    data = (X * scale).astype(dtype)
    with pytest.raises(ValueError, match=rf"{match}.*rescale the data"):
        constrained_nmf(data, 2, n_init=1, max_iter=5)


def test_transform_of_negative_data_is_refused(X):
    model = ConstrainedNMF(n_components=2, n_init=1, max_iter=5).fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        model.transform(X - 1)


@pytest.mark.parametrize(
    ("dtype", "scale", "expected"),
    [
        (np.uint16, 10, np.float32),  # detector counts: exact in float32
        (np.int32, 10, np.float32),
        (np.int64, 2**30, np.float64),  # beyond 2**24: float32 would round
    ],
)
def test_integer_data_are_converted_compactly_not_modified(X, dtype, scale, expected):
    counts = (X * scale).astype(dtype)
    before = counts.copy()
    result = constrained_nmf(counts, 2, n_init=1, max_iter=5)
    assert result.factors.dtype == expected
    np.testing.assert_array_equal(counts, before)


def test_wrong_shape():
    with pytest.raises(ValueError, match="dim 3"):
        constrained_nmf(np.ones((3, 4, 5)), 2)


@pytest.mark.parametrize("k", [11, 20])
def test_too_many_components(X, k):
    with pytest.raises(ValueError, match="choose at most 9 components"):
        constrained_nmf(X, k)


def test_k_equal_to_min_warns(X):
    with pytest.warns(UserWarning, match="reduces nothing"):
        constrained_nmf(X, 10, n_init=1, max_iter=3)


@pytest.mark.parametrize("k", [0, -1, 2.5, None])
def test_bad_n_components(X, k):
    with pytest.raises(ValueError, match="n_components"):
        constrained_nmf(X, k)


def test_geometry_must_match(X):
    with pytest.raises(ValueError, match="geometry keeps"):
        constrained_nmf(X, 2, geometry=Geometry((3, 3), (4, 3)))


@pytest.mark.parametrize("center", [(-3, 5), (5, 40), (np.nan, 2)])
def test_centre_off_the_pattern(center):
    # Geometry takes (x, y); polar_operator, on bare images, (row, col)
    with pytest.raises(ValueError, match=r"lies outside|\(x, y\) = \(col, row\)"):
        Geometry((16, 20), (3, 4), center=center)
    with pytest.raises(ValueError, match="lies outside"):
        polar_operator((16, 20), center)


def test_mask_that_hides_everything():
    with pytest.raises(ValueError, match="hides every pixel"):
        Geometry((4, 4), (3, 3), signal_mask=np.ones((4, 4), bool))


def test_mask_of_wrong_shape():
    with pytest.raises(ValueError, match="mask has shape"):
        Geometry((4, 5), (3, 3), signal_mask=np.zeros((5, 4), bool))


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (lambda images, context: images[:, :2], "returned shape"),
        (lambda images, context: images * np.nan, "returned NaN"),
    ],
)
def test_broken_constraint(X, constraint, message):
    with pytest.raises(ValueError, match=message):
        constrained_nmf(X, 2, loading_constraints=[constraint], max_iter=2)


def test_constraint_that_is_not_callable(X):
    with pytest.raises(TypeError, match="must hold callables"):
        constrained_nmf(X, 2, factor_constraints=["radial"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solver": "cd"}, "'solver' parameter"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1}, "tol"),
        ({"compression": 1000}, "compression"),
    ],
)
def test_bad_parameters(X, kwargs, message):
    with pytest.raises(ValueError, match=message):
        constrained_nmf(X, 2, **kwargs)


def test_estimator_rejects_negative_data(X):
    X[0, 0] = -0.5
    with pytest.raises(ValueError, match="Negative values"):
        ConstrainedNMF(2).fit(X)


def test_geometry_centre_is_x_y():
    g = Geometry((16, 20), (3, 4), center=[12.0, 5.0])  # a list, as pyxem gives
    assert g.center == (12.0, 5.0) and g.center_rc == (5.0, 12.0)
    assert g.context("factors").center_rc == (5.0, 12.0)
    assert Geometry((16, 20), (3, 4)).center == (9.5, 7.5)  # the middle, (x, y)
    with pytest.raises(ValueError, match=r"outside the 20x16 \(x, y\) pattern"):
        Geometry((16, 20), (3, 4), center=np.array([5.0, 18.0]))
    with pytest.raises(ValueError, match="only used for 2D"):
        Geometry((50,), (3, 4), center=(1, 2))
