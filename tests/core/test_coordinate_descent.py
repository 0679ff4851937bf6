"""Nonnegative coordinate descent on stacked restart blocks."""

import numpy as np
import pytest

from hyperspy_cnmf.core import coordinate_descent as cd


def _problem(n=50, k=4, R=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    other = rng.random((40, R * k)).astype(dtype)
    X = rng.random((n, 40)).astype(dtype)
    C = np.ascontiguousarray(X @ other)
    G = np.stack(
        [
            other[:, b * k : (b + 1) * k].T @ other[:, b * k : (b + 1) * k]
            for b in range(R)
        ]
    )
    M = rng.random((n, R * k)).astype(dtype)
    return M, C, G


def _objective(M, C, G, b):
    k = G.shape[1]
    Mb = M[:, b * k : (b + 1) * k]
    return -2 * (C[:, b * k : (b + 1) * k] * Mb).sum() + np.einsum(
        "ij,ik,jk->", Mb, Mb, G[b]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# rows: one short group, whole groups, whole groups and a short one
@pytest.mark.parametrize("n", [50, 2 * cd.ROW_GROUP, 2 * cd.ROW_GROUP + 3])
def test_kernel_matches_the_column_loop(dtype, n):
    M, C, G = _problem(n=n, dtype=dtype)
    fast = cd.nonnegative_cd(M.copy(), C, G)
    slow = cd._column_loop(M.copy(), C, G, np.arange(3), cd.N_SWEEPS, np)
    assert cd._kernel_applies(M, C, G)
    np.testing.assert_allclose(fast, slow, rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_only_the_named_blocks_move_and_their_objective_falls():
    M, C, G = _problem()
    out = cd.nonnegative_cd(M.copy(), C, G, blocks=[1])
    np.testing.assert_array_equal(out[:, :4], M[:, :4])
    np.testing.assert_array_equal(out[:, 8:], M[:, 8:])
    assert (out >= 0).all()
    assert _objective(out, C, G, 1) < _objective(M, C, G, 1)


def test_sweeps_approach_the_nonnegative_least_squares_solution():
    from scipy.optimize import nnls

    rng = np.random.default_rng(3)
    A = rng.random((30, 3))
    y = A @ np.array([1.0, 0.0, 2.0]) - 0.3 * A[:, 1]
    x_star = nnls(A, y)[0]
    M = np.zeros((1, 3))
    C = (A.T @ y)[None]
    G = (A.T @ A)[None]
    cd.nonnegative_cd(M, C, G, n_sweeps=2000)
    np.testing.assert_allclose(M[0], x_star, atol=1e-6)


def test_a_dead_coordinate_is_left_alone():
    M, C, G = _problem(R=1)
    G[0, 2, :] = G[0, :, 2] = 0
    out = cd.nonnegative_cd(M.copy(), C, G)
    np.testing.assert_array_equal(out[:, 2], M[:, 2])
