"""The constrained ALS / MU solver: invariants, history, restarts, safety."""

import warnings

import numpy as np
import pytest

from hyperspy_cnmf.core import ConvergenceWarning, constrained_nmf
from hyperspy_cnmf.core.constraints import GaussianSmoothing, RadialContinuity
from hyperspy_cnmf.core.geometry import Geometry
from hyperspy_cnmf.core.solver import (
    EXACT_ITER,
    EXACT_ITER_STREAMED,
    halving_schedule,
)


def fit(X, k=3, **kwargs):
    """A short fit; primitive (no constraints) unless constraints are given;
    every restart runs to the end unless pruning is asked for."""
    kwargs.setdefault("prune_restarts", False)
    kwargs.setdefault("factor_constraints", [])
    kwargs.setdefault("loading_constraints", [])
    kwargs.setdefault("n_init", 3)
    kwargs.setdefault("max_iter", 60)
    kwargs.setdefault("random_state", 0)
    return constrained_nmf(X, k, **kwargs)


@pytest.mark.parametrize("solver", ["als", "mu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonnegative_normalised_and_typed(low_rank_problem, solver, dtype):
    X, _, _ = low_rank_problem
    result = fit(X.astype(dtype), solver=solver)
    assert result.factors.shape == (80, 3) and result.loadings.shape == (60, 3)
    assert result.factors.dtype == dtype and result.loadings.dtype == dtype
    assert (result.factors >= 0).all() and (result.loadings >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(result.factors, axis=0), 1, rtol=1e-5)


def test_recovers_a_low_rank_nonnegative_matrix(low_rank_problem):
    X, _, _ = low_rank_problem
    result = fit(X, max_iter=300)
    noise_mse = (0.01**2) / 12  # variance of the uniform noise
    assert result.mse < 3 * noise_mse
    recon = result.loadings @ result.factors.T
    assert np.abs(recon - X).mean() < 0.02


def test_history_recorded_per_iteration(low_rank_problem):
    X, _, _ = low_rank_problem
    result = fit(X, max_iter=40)
    for key in ("mse", "factor_change_l1", "loading_change_l1", "exact"):
        assert result.history[key].shape == (40,)
    mse = result.history["mse"]
    # Primitive ALS decreases the error overall and its changes die out.
    assert mse[-1] < mse[0]
    assert (
        result.history["loading_change_l1"][-1]
        < 1e-2 * result.history["loading_change_l1"][0]
    )
    # The recorded last MSE (trace formula) agrees with the exact one.
    assert mse[-1] == pytest.approx(result.mse, rel=1e-6)
    assert result.restart_mse.shape == (3,)
    assert result.restart_mse[result.best_restart] == result.restart_mse.min()


def test_components_sorted_by_map_norm(low_rank_problem):
    X, _, _ = low_rank_problem
    norms = np.linalg.norm(fit(X).loadings, axis=0)
    assert (np.diff(norms) <= 0).all()


def test_reproducible_with_random_state(low_rank_problem):
    X, _, _ = low_rank_problem
    a, b = fit(X, random_state=7), fit(X, random_state=7)
    np.testing.assert_array_equal(a.factors, b.factors)
    c = fit(X, n_init=1, max_iter=5, random_state=8)
    d = fit(X, n_init=1, max_iter=5, random_state=9)
    assert not np.allclose(c.loadings, d.loadings)


def test_batched_restarts_equal_separate_runs(low_rank_problem):
    """Stacking restarts side by side must not change any of them."""
    X, _, _ = low_rank_problem
    batched = fit(X, n_init=4, max_iter=30, random_state=3)
    rng = np.random.RandomState(3)
    L0 = rng.uniform(size=(60, 12))
    for r in range(4):
        alone = constrained_nmf(
            X, 3, n_init=1, max_iter=30, random_state=_Fixed(L0[:, 3 * r : 3 * r + 3])
        )
        assert alone.restart_mse[0] == pytest.approx(batched.restart_mse[r], rel=1e-8)


@pytest.mark.parametrize(
    ("max_iter", "n_init", "expected"),
    [
        (500, 10, {31: 5, 62: 3, 125: 2, 250: 1}),
        (100, 4, {20: 2, 25: 1}),
        (100, 1, {}),
        (8, 10, {4: 5}),
    ],
)
def test_halving_schedule(max_iter, n_init, expected):
    assert halving_schedule(max_iter, n_init) == expected


def test_mu_restarts_are_never_pruned(low_rank_problem):
    X, _, _ = low_rank_problem
    kwargs = dict(n_init=4, max_iter=40, solver="mu", random_state=4)
    full = fit(X, **kwargs)
    pruned = fit(X, prune_restarts=True, **kwargs)
    np.testing.assert_array_equal(pruned.restart_mse, full.restart_mse)


@pytest.mark.parametrize("solver", ["als"])
def test_pruned_restarts_keep_the_same_best_fit(low_rank_problem, solver):
    """Successive halving drops trailing restarts without changing the ones
    it keeps (their fits are those of the full protocol up to float
    rounding: products of other widths round differently), and the kept fit
    is as good as the full protocol's best."""
    X, _, _ = low_rank_problem
    full = fit(X, n_init=6, max_iter=80, solver=solver, random_state=4)
    pruned = fit(
        X, n_init=6, max_iter=80, solver=solver, random_state=4, prune_restarts=True
    )
    best = pruned.best_restart
    assert pruned.restart_mse[best] == pytest.approx(full.restart_mse[best], rel=1e-2)
    assert pruned.mse <= full.mse * (1 + 1e-2)
    assert pruned.n_iter == full.n_iter == 80
    # the dropped restarts stopped early, at a higher error than the kept one
    dropped = np.setdiff1d(np.arange(6), [best])
    assert (pruned.restart_mse[dropped] > pruned.restart_mse[best]).all()
    assert not np.allclose(pruned.restart_mse[dropped], full.restart_mse[dropped])


class _Fixed(np.random.RandomState):
    """A RandomState whose first uniform draw is a given array."""

    def __init__(self, first):
        super().__init__(0)
        self._first = first

    def uniform(self, *args, size=None, **kwargs):
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return super().uniform(*args, size=size, **kwargs)


def test_tol_stops_early_and_flags_convergence(low_rank_problem):
    X, _, _ = low_rank_problem
    result = fit(X, max_iter=2000, tol=1e-5)
    assert result.converged and result.n_iter < 2000


def test_restarts_stop_once_their_error_settles(low_rank_problem):
    """n_iter_no_change: a settled fit stops long before max_iter, with the
    error of the full run; None runs every iteration."""
    X, _, _ = low_rank_problem
    full = fit(X, max_iter=400, n_iter_no_change=None)
    settled = fit(X, max_iter=400, n_iter_no_change=10)
    assert full.n_iter == 400 and not full.converged
    assert settled.n_iter < 300 and settled.converged
    assert settled.mse <= full.mse * (1 + 1e-4)
    # a restart stops only after 10 iterations without progress
    errors = settled.history["mse"]
    assert errors[-11] * (1 - 1e-5) <= errors[-10:].min()


def test_convergence_warning_when_max_iter_reached(low_rank_problem):
    X, _, _ = low_rank_problem
    with pytest.warns(ConvergenceWarning, match="did not reach tol"):
        result = fit(X, max_iter=3, tol=1e-12)
    assert not result.converged and result.n_iter == 3


def test_mu_is_slower_than_als_as_in_the_paper(low_rank_problem):
    X, _, _ = low_rank_problem
    als = fit(X, solver="als", max_iter=50)
    mu = fit(X, solver="mu", max_iter=50)
    assert als.mse < mu.mse


def test_constraints_are_applied_and_kept(diffraction_problem):
    X, geometry, _ = diffraction_problem
    geometry = Geometry(**geometry)
    seen = []

    def spy(images, context):
        seen.append((context.role, images.shape, context.iteration))
        return images

    result = fit(
        X,
        k=2,
        geometry=geometry,
        factor_constraints=[RadialContinuity(), spy],
        loading_constraints=[GaussianSmoothing(), spy],
        max_iter=5,
    )
    assert ("factors", (6, 20, 24), 0) in seen  # 3 restarts x 2 components
    assert ("loadings", (6, 6, 7), 4) in seen
    assert (result.factors >= 0).all()


def test_constrained_error_is_above_primitive(diffraction_problem):
    """Constraints are stricter than nonnegativity: MSE cannot be lower.
    (Compared before the pure-phase step, which changes either fit.)"""
    X, geometry, _ = diffraction_problem
    geometry = Geometry(**geometry)
    primitive = fit(X, k=2, geometry=geometry, max_iter=100, pure_phases=False)
    constrained = fit(
        X,
        k=2,
        geometry=geometry,
        pure_phases=False,
        factor_constraints=[RadialContinuity()],
        loading_constraints=[GaussianSmoothing()],
        max_iter=100,
    )
    assert constrained.mse > primitive.mse


def test_masked_pixels_reach_constraints_as_zeros(diffraction_problem):
    X, geometry, _ = diffraction_problem
    mask = np.zeros(geometry["signal_shape"], bool)
    mask[8:12, 10:14] = True
    geometry = Geometry(**geometry, signal_mask=mask)
    seen = {}

    def spy(images, context):
        seen["masked_values"] = images[:, context.mask]
        seen["mask"] = context.mask
        return images

    result = fit(
        X[:, ~mask.ravel()],
        k=2,
        geometry=geometry,
        factor_constraints=[spy],
        max_iter=3,
    )
    assert result.factors.shape == (int((~mask).sum()), 2)
    assert (seen["masked_values"] == 0).all() and seen["mask"] is geometry.signal_mask


def test_dead_component_gives_warning_not_nan():
    rng = np.random.default_rng(0)
    X = np.outer(rng.uniform(size=30), rng.uniform(size=25))  # rank 1

    def kill_second(images, context):
        out = images.copy()
        out[1::3] = 0  # the second component of every restart
        return out

    with pytest.warns(RuntimeWarning, match="became all zero"):
        result = constrained_nmf(
            X,
            3,
            factor_constraints=[kill_second],
            n_init=2,
            max_iter=20,
            random_state=0,
        )
    assert np.isfinite(result.factors).all() and np.isfinite(result.loadings).all()
    assert len(result.dead_components) == 1


def test_compressed_fit_matches_exact_als(diffraction_problem):
    """The sketch plus a few exact iterations lands within 0.1 % of exact ALS."""
    X, _, _ = diffraction_problem
    X = np.tile(X, (4, 1))  # 168 positions
    exact = constrained_nmf(X, 2, n_init=2, max_iter=100, random_state=0)
    compressed = constrained_nmf(
        X, 2, n_init=2, max_iter=100, random_state=0, compression=20, n_exact_iter=10
    )
    assert compressed.compression_rank == 20
    assert compressed.history["exact"].sum() == 10
    assert compressed.mse == pytest.approx(exact.mse, rel=1e-3)


@pytest.mark.parametrize("streamed", [False, True])
def test_exact_iterations_auto_are_fewer_when_each_streams_the_data(
    diffraction_problem, streamed
):
    da = pytest.importorskip("dask.array")
    X, _, _ = diffraction_problem
    X = da.from_array(X, chunks=(10, 200)) if streamed else X
    result = fit(X, k=2, max_iter=10, compression=20)  # n_exact_iter="auto"
    expected = EXACT_ITER_STREAMED if streamed else EXACT_ITER
    assert result.history["exact"].sum() == expected


def test_dask_input_matches_numpy(diffraction_problem):
    da = pytest.importorskip("dask.array")
    X, _, _ = diffraction_problem
    in_memory = fit(X, k=2, max_iter=20)
    lazy = fit(da.from_array(X, chunks=(10, 200)), k=2, max_iter=20)
    np.testing.assert_allclose(lazy.factors, in_memory.factors, rtol=1e-6, atol=1e-9)
    assert lazy.mse == pytest.approx(in_memory.mse, rel=1e-9)


def test_caller_arrays_are_not_modified(diffraction_problem):
    X, geometry, _ = diffraction_problem
    before = X.copy()
    fit(
        X,
        k=2,
        geometry=Geometry(**geometry),
        factor_constraints=[RadialContinuity()],
        max_iter=3,
    )
    np.testing.assert_array_equal(X, before)


def test_progressbar_runs(low_rank_problem, capsys):
    X, _, _ = low_rank_problem
    fit(X, max_iter=5, show_progressbar=True)
    assert "Constrained NMF" in capsys.readouterr().err


def test_interrupt_propagates(low_rank_problem):
    X, _, _ = low_rank_problem

    def interrupt(images, context):
        if context.iteration == 2:
            raise KeyboardInterrupt
        return images

    with pytest.raises(KeyboardInterrupt):
        fit(X, loading_constraints=[interrupt])


def test_no_warnings_on_clean_data(low_rank_problem):
    X, _, _ = low_rank_problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(X)


def test_converged_restarts_are_retired_without_changing_results(low_rank_problem):
    """With tol, a converged restart stops iterating; the others go on unchanged."""
    X, _, _ = low_rank_problem
    with_tol = fit(X, n_init=4, max_iter=400, tol=1e-6, random_state=5)
    lengths = {r: None for r in range(4)}
    assert with_tol.converged
    # Each restart alone, from its own start, reaches the same error.
    rng = np.random.RandomState(5)
    L0 = rng.uniform(size=(60, 12))
    for r in range(4):
        alone = constrained_nmf(
            X,
            3,
            n_init=1,
            max_iter=400,
            tol=1e-6,
            random_state=_Fixed(L0[:, 3 * r : 3 * r + 3]),
        )
        lengths[r] = alone.n_iter
        assert alone.restart_mse[0] == pytest.approx(with_tol.restart_mse[r], rel=1e-8)
    assert with_tol.n_iter == lengths[with_tol.best_restart]
    assert len(set(lengths.values())) > 1  # they did stop at different iterations


def test_float32_mse_is_exact_to_float64_precision():
    """Errors are accumulated in float64: float32 data must not lose digits."""
    rng = np.random.default_rng(3)
    X = rng.poisson(0.6, size=(1000, 20000)).astype(np.float32)  # low-dose counts
    result = constrained_nmf(X, 2, n_init=1, max_iter=2, random_state=0)
    residual = (
        X.astype(np.float64) - result.loadings.astype(np.float64) @ result.factors.T
    )
    assert result.mse == pytest.approx((residual**2).mean(), rel=1e-7)


@pytest.mark.parametrize("declares", [True, False])
def test_nonnegativity_is_restored_after_a_user_constraint(low_rank_problem, declares):
    """A constraint that makes values negative is followed by [.]+ unless it
    declares that it preserves nonnegativity (then it is trusted)."""

    class Shift:
        preserves_nonnegativity = declares

        def __call__(self, images, context):
            return images - 0.01

    X, _, _ = low_rank_problem
    result = fit(X, loading_constraints=[Shift()], max_iter=5)
    assert (result.loadings >= 0).all() != declares


def test_scale_free_fit(diffraction_problem):
    """The ridge of the solver's inverse is relative to the Gram matrices:
    data scaled by 1e-100 ... 1e100 give the same relative residual (an
    absolute ridge gave 0.365 instead of 0.141 at 1e-100, issue 19)."""
    X, geometry, _ = diffraction_problem
    geometry = Geometry(**geometry)

    def relative_residual(scale):
        Y = X * scale
        result = fit(Y, k=2, geometry=geometry, n_init=2, max_iter=50)
        residual = Y - result.loadings @ result.factors.T
        return np.linalg.norm(residual) / np.linalg.norm(Y)

    reference = relative_residual(1.0)
    for scale in (1e-100, 1e-50, 1e50, 1e100):
        assert relative_residual(scale) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_same_answer_with_one_or_two_threads(dtype):
    """BLAS and numba thread counts change no factor beyond float rounding
    (issue 19: up to 74 % of the maximum, as a 0.02 % tie between restarts
    flipped the winner or a run ended elsewhere). The counts kernel sums a
    fixed number of row bands, and restarts within 0.1 % are tied."""
    numba = pytest.importorskip("numba")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from tests.signals.synthetic import make_counts

    X = make_counts((16, 16), (32, 32), beam_xy=(17, 14)).reshape(256, -1)
    geometry = Geometry(
        signal_shape=(32, 32), navigation_shape=(16, 16), center=(14, 17)
    )
    before = numba.get_num_threads()
    results = []
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            with threadpoolctl.threadpool_limits(n_threads):
                results.append(
                    constrained_nmf(
                        X.astype(dtype),
                        4,
                        geometry=geometry,
                        compression=20,
                        max_iter=100,
                        random_state=3,
                    )
                )
    finally:
        numba.set_num_threads(before)
    one, two = results
    assert one.best_restart == two.best_restart
    for a, b in ((one.factors, two.factors), (one.loadings, two.loadings)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(a).max())
