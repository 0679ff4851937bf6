"""The Poisson likelihood (loss="poisson"): passes, refinement, estimator."""

import dask.array as da
import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from hyperspy_cnmf.core import ConstrainedNMF, Geometry, constrained_nmf
from hyperspy_cnmf.core import data as data_module
from hyperspy_cnmf.core import solver as solver_module
from hyperspy_cnmf.core.data import BlockData, DaskData, DenseData
from hyperspy_cnmf.core.poisson import (
    NO_CHANGE_RTOL,
    poisson_deviance,
    poisson_maps,
    poisson_refine,
)
from hyperspy_cnmf.core.solver import (
    POISSON_ITER,
    POISSON_ITER_STREAMED,
    exact_iterations,
)
from hyperspy_cnmf.data.simulated import simulate_4dstem_arrays


def _reference_pass(X, L, F, transposed):
    """The pass written out with the full model (float64)."""
    X, L, F = (np.asarray(a, dtype=np.float64) for a in (X, L, F))
    M = L @ F.T
    Q = np.where(X > 0, X / M, 0)
    product = Q.T @ L if transposed else Q @ F
    positive = X > 0
    return product, (X[positive] * np.log(M[positive])).sum(), (X * M).sum()


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    L = rng.random((40, 3)).astype(np.float32)
    F = rng.random((50, 3)).astype(np.float32)
    X = rng.poisson(L @ F.T * 0.5).astype(np.uint16)  # mostly 0 and 1
    rows = np.ones(40, bool)
    rows[5:9] = False
    cols = np.ones(50, bool)
    cols[:6] = False  # a masked direct beam
    return X, L, F, rows, cols


def _data_objects(X, rows, cols):
    Xd = da.from_array(X, chunks=(15, 20))
    yield "block", BlockData(X, rows, cols)
    yield "dask", DaskData(Xd, rows=rows, cols=cols)
    yield "dask-float", DaskData(Xd.astype(np.float32), rows=rows, cols=cols)
    if rows is None and cols is None:
        yield "dense", DenseData(X.astype(np.float32))


@pytest.mark.parametrize("masked", [False, True], ids=["all", "masked"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "numpy"])
@pytest.mark.parametrize("transposed", [True, False])
def test_poisson_pass_matches_the_full_model(
    counts, masked, kernels, transposed, monkeypatch
):
    X, L, F, rows, cols = counts
    if not masked:
        rows = cols = None
    if not kernels:  # the cast + numpy route, as cupy data take it
        monkeypatch.setattr(data_module, "poisson_applies", lambda raw: False)
    kept_X = X[rows if rows is not None else slice(None)]
    kept_X = kept_X[:, cols if cols is not None else slice(None)]
    kept_L = L[rows] if rows is not None else L
    kept_F = F[cols] if cols is not None else F
    product, x_log_m, x_m = _reference_pass(kept_X, kept_L, kept_F, transposed)
    for name, data in _data_objects(X, rows, cols):
        result = data.poisson_pass(kept_L, kept_F, transposed)
        np.testing.assert_allclose(result.product, product, rtol=2e-5, err_msg=name)
        if transposed:  # the loss sums come with this pass
            assert result.x_log_m == pytest.approx(x_log_m, rel=1e-6), name
            assert result.x_m == pytest.approx(x_m, rel=1e-6), name
        else:  # the row pass skips the logarithm: no sums, never stale ones
            assert np.isnan(result.x_log_m) and np.isnan(result.x_m), name
        total, entropy = data.count_terms()
        assert total == pytest.approx(kept_X.sum())
        positive = kept_X[kept_X > 0].astype(float)
        assert entropy == pytest.approx((positive * np.log(positive)).sum())


@pytest.mark.parametrize("masked", [False, True], ids=["all", "masked"])
def test_streamed_counts_get_the_poisson_constants_from_the_checks_pass(counts, masked):
    """A streamed fit of counts reads the data once fewer: stats() computes
    count_terms' constants, and count_terms then reads nothing."""
    X, _, _, rows, cols = counts
    if not masked:
        rows = cols = None
    reads = []
    Xd = da.from_array(X, chunks=(15, 20))
    Xd = Xd.map_blocks(lambda b: reads.append(1) or b, dtype=Xd.dtype)
    expected = DaskData(da.from_array(X, chunks=(15, 20)), rows=rows, cols=cols)
    data = DaskData(Xd, rows=rows, cols=cols)
    data.stats()
    n_reads = len(reads)
    assert data.count_terms() == pytest.approx(expected.count_terms(), rel=1e-12)
    assert len(reads) == n_reads  # no pass of its own
    floats = DaskData(da.from_array(X.astype(np.float32), chunks=(15, 20)))
    floats.stats()  # float data: no constants computed in the checks' pass
    assert floats._count_terms is None


def test_poisson_pass_refuses_scaled_data(counts):
    X, L, F, _, _ = counts
    scaled = BlockData(X).with_scaling(np.ones(40) * 2, None)
    with pytest.raises(ValueError, match="unscaled counts"):
        scaled.poisson_pass(L, F, True)


def _identity(M, iteration):
    return np.maximum(M, 0)


def test_refinement_lowers_the_divergence_and_keeps_the_best_iterate(counts):
    X, L, F, _, _ = counts
    rng = np.random.default_rng(1)
    F0 = F * rng.uniform(0.5, 1.5, F.shape).astype(np.float32)
    F0 /= np.linalg.norm(F0, axis=0)
    L0 = L * rng.uniform(0.5, 1.5, L.shape).astype(np.float32)
    data = BlockData(X)
    result = poisson_refine(data, F0, L0, _identity, _identity, 30)
    deviance = result.history["poisson_deviance"]
    assert deviance.shape == (30,) and result.history["mse"].shape == (30,)
    assert result.deviance < 0.9 * result.start_deviance
    assert result.deviance == pytest.approx(deviance.min())
    # multiplicative KL updates never increase the divergence without constraints
    assert np.all(np.diff(deviance) <= 1e-6 * deviance[:-1])
    # the KL stationarity condition: the model holds the data's counts
    model_total = result.loadings.sum(axis=0) @ result.factors.sum(axis=0)
    assert model_total == pytest.approx(X.sum(), rel=5e-3)


def test_refinement_returns_the_start_when_every_step_is_worse(counts):
    X, L, F, _, _ = counts
    F0 = F / np.linalg.norm(F, axis=0)
    data = BlockData(X)
    good = poisson_refine(data, F0, L, _identity, _identity, 40)

    def spoil(M, iteration):  # a "constraint" that wrecks every iterate
        return np.maximum(M, 0) * 0 + 1

    result = poisson_refine(data, good.factors, good.loadings, _identity, spoil, 5)
    assert result.best_iteration == 0
    np.testing.assert_array_equal(result.loadings, good.loadings)
    assert result.deviance == pytest.approx(good.deviance, rel=1e-6)


@pytest.fixture
def low_dose_problem():
    """Two spot patterns on a flat background at ~40 counts per pattern."""
    rng = np.random.default_rng(3)
    shape = (12, 12)
    patterns = np.full((3, *shape), 0.02)
    patterns[0, 2, 3] = patterns[0, 8, 8] = 1.0
    patterns[1, 5, 10] = patterns[1, 10, 2] = 1.0
    patterns = patterns.reshape(3, -1)
    patterns /= patterns.sum(axis=1, keepdims=True)
    maps = rng.dirichlet(np.ones(3) * 0.5, size=100)
    X = rng.poisson(40 * maps @ patterns).astype(np.uint16)
    return X, maps, patterns


def test_poisson_loss_minimises_the_deviance_and_keeps_the_counts(
    low_dose_problem, lazy
):
    X, _, _ = low_dose_problem
    data = da.from_array(X, chunks=(30, 144)) if lazy else X
    fits = {
        loss: constrained_nmf(
            data,
            3,
            loss=loss,
            n_init=2,
            max_iter=60,
            n_exact_iter=20,
            random_state=0,
            n_iter_no_change=None,  # the 60 iterations, then the Poisson ones
        )
        for loss in ("frobenius", "poisson")
    }
    frobenius, poisson = fits["frobenius"], fits["poisson"]
    assert poisson.poisson_deviance is not None and frobenius.poisson_deviance is None
    deviance = poisson.history["poisson_deviance"]
    # 60 Frobenius iterations (no deviance), then the 20 Poisson ones
    assert deviance.shape == (80,) and poisson.n_iter == 80
    assert np.isnan(deviance[:60]).all() and np.isfinite(deviance[60:]).all()
    assert poisson.poisson_deviance <= deviance[60:].min() + 1e-12
    assert poisson.poisson_deviance < deviance[60]
    # each fit is best at its own loss
    assert poisson.mse > frobenius.mse
    model_total = poisson.loadings.sum(axis=0) @ poisson.factors.sum(axis=0)
    assert model_total == pytest.approx(X.sum(), rel=5e-3)


def test_poisson_fit_is_the_same_in_memory_and_streamed(low_dose_problem):
    X, _, _ = low_dose_problem
    options = dict(loss="poisson", n_init=2, max_iter=30, n_exact_iter=15)
    options["random_state"] = 0
    in_memory = constrained_nmf(X, 3, **options)
    streamed = constrained_nmf(da.from_array(X, chunks=(25, 72)), 3, **options)
    np.testing.assert_allclose(streamed.factors, in_memory.factors, atol=2e-4)
    assert streamed.poisson_deviance == pytest.approx(
        in_memory.poisson_deviance, rel=1e-4
    )


def test_poisson_fit_with_constraints_and_masks(low_dose_problem):
    X, _, _ = low_dose_problem
    mask = np.zeros((12, 12), bool)
    mask[5:7, 5:7] = True  # a masked direct beam
    geometry = Geometry((12, 12), (10, 10), center=(5.5, 5.5), signal_mask=mask)
    model = ConstrainedNMF(
        3, geometry=geometry, loss="poisson", n_init=2, max_iter=30, random_state=0
    )
    maps = model.fit_transform(X[:, ~mask.ravel()])
    assert maps.shape == (100, 3) and np.all(maps >= 0)
    assert np.all(model.components_ >= 0)
    assert len(model.factor_constraints_) == 1  # radial continuity ran
    assert model.poisson_deviance_ > 0


def test_poisson_iterations_auto_are_fewer_when_streamed(low_dose_problem):
    X, _, _ = low_dose_problem
    assert exact_iterations("auto", BlockData(X), "poisson") == POISSON_ITER
    streamed = DaskData(da.from_array(X, chunks=(50, 144)))
    assert exact_iterations("auto", streamed, "poisson") == POISSON_ITER_STREAMED
    assert exact_iterations(7, streamed, "poisson") == 7
    assert POISSON_ITER_STREAMED < POISSON_ITER


def test_a_fall_below_rtol_is_no_progress(counts):
    """With ``n_iter_no_change=1`` the polish stops after the first
    iteration whose fall is below ``rtol``, keeping the best iterate."""
    X, L, F, _, _ = counts
    F0 = F / np.linalg.norm(F, axis=0)
    data = BlockData(X)
    options = dict(n_iter_no_change=1, first_iteration=0)
    strict = poisson_refine(data, F0, L, _identity, _identity, 40, **options)
    falls = -np.diff(np.r_[strict.start_deviance, strict.history["poisson_deviance"]])
    rtol = 2 * (falls / strict.start_deviance).min()  # above the smallest fall
    lenient = poisson_refine(
        data, F0, L, _identity, _identity, 40, rtol=rtol, **options
    )
    assert len(lenient.history["poisson_deviance"]) < len(
        strict.history["poisson_deviance"]
    )
    assert lenient.deviance >= strict.deviance
    assert lenient.deviance == pytest.approx(lenient.history["poisson_deviance"].min())


def test_the_streamed_polish_takes_the_streamed_rtol(low_dose_problem, monkeypatch):
    X, _, _ = low_dose_problem
    seen = []
    refine = solver_module.poisson_refine

    def spy(*args, **kwargs):
        seen.append(kwargs["rtol"])
        return refine(*args, **kwargs)

    monkeypatch.setattr(solver_module, "poisson_refine", spy)
    options = dict(loss="poisson", n_init=2, max_iter=20, random_state=0)
    ConstrainedNMF(3, **options).fit(X)
    ConstrainedNMF(3, **options).fit(da.from_array(X, chunks=(50, 144)))
    assert seen == [NO_CHANGE_RTOL, solver_module.POISSON_RTOL_STREAMED]
    assert solver_module.POISSON_RTOL_STREAMED > NO_CHANGE_RTOL


def test_unknown_loss_is_refused():
    with pytest.raises(InvalidParameterError, match="loss"):
        ConstrainedNMF(2, loss="kl").fit(np.ones((5, 4)))


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "numpy"])
def test_counts_where_the_model_is_zero_give_finite_updates(
    counts, kernels, monkeypatch
):
    """After the pure-phase step a pattern may be exactly zero at pixels
    that hold counts: the ratio X / M must not overflow the updates."""
    if not kernels:
        monkeypatch.setattr(data_module, "poisson_applies", lambda raw: False)
    X, L, F, _, _ = counts
    F = F.copy()
    F[:5] = 0  # no model at all at five pixels that hold counts
    assert X[:, :5].sum() > 0
    data = BlockData(X)
    for transposed in (True, False):
        result = data.poisson_pass(L, F, transposed)
        assert np.isfinite(result.product).all()
        assert np.isfinite(result.x_log_m) or not transposed
    maps = poisson_maps(data, F, L, _identity, 5)
    assert np.isfinite(maps).all() and (maps >= 0).all()


def test_poisson_polish_stops_once_its_deviance_stalls(low_dose_problem):
    """n_iter_no_change: the Poisson iterations stop after
    POISSON_NO_CHANGE (1) without progress and keep the iterate of lowest
    deviance; None runs them all."""
    X, _, _ = low_dose_problem
    options = dict(loss="poisson", n_init=2, max_iter=30, random_state=0)
    full = constrained_nmf(X, 3, n_exact_iter=600, n_iter_no_change=None, **options)
    settled = constrained_nmf(X, 3, n_exact_iter=600, n_iter_no_change=10, **options)
    n_full = int(np.isfinite(full.history["poisson_deviance"]).sum())
    deviance = settled.history["poisson_deviance"]
    deviance = deviance[np.isfinite(deviance)]
    patience = solver_module.POISSON_NO_CHANGE
    assert patience == 1
    assert n_full == 600 and patience <= deviance.size < 600
    # the last iterations made no progress on the one before them
    assert deviance[-patience:].min() >= deviance[-patience - 1] * (1 - 1e-5)
    assert settled.poisson_deviance == pytest.approx(deviance.min())


@pytest.fixture(scope="module")
def crystals_in_glass():
    """Counts of the package's simulation, 24 x 24 x 64 x 64: the pure-phase
    step finds glass and crystals there and refits the maps."""
    sim = simulate_4dstem_arrays((24, 24), (64, 64), seed=1)
    X = np.rint(sim.data.reshape(24 * 24, -1)).astype(np.uint16)
    return X, Geometry((64, 64), (24, 24))


@pytest.mark.parametrize("loss", ["frobenius", "poisson"])
@pytest.mark.parametrize("pure_phases", [False, True])
def test_the_fit_reports_its_error_without_a_pass_of_its_own(
    crystals_in_glass, monkeypatch, pure_phases, loss
):
    """The polish's pass that scores its kept iterate gives that iterate's
    squared error, and after the pure-phase step the refit's ``X F`` (the
    factors fixed) gives the refit model's: the streamed fit never reads
    the data again for the error."""
    X, geometry = crystals_in_glass
    passes, refits = [], []
    read, refit = DaskData.residual_squared, solver_module._refit_maps
    monkeypatch.setattr(
        DaskData,
        "residual_squared",
        lambda self, L, F: passes.append(1) or read(self, L, F),
    )
    monkeypatch.setattr(
        solver_module, "_refit_maps", lambda *a: refits.append(1) or refit(*a)
    )
    fit = constrained_nmf(
        da.from_array(X, chunks=(144, 4096)),
        4,
        loss=loss,
        n_init=2,
        max_iter=30,
        n_exact_iter=15,
        random_state=0,
        geometry=geometry,
        pure_phases=pure_phases,
    )
    assert len(refits) == int(pure_phases)  # the step did refit here
    assert not passes
    model = fit.loadings.astype(np.float64) @ fit.factors.T.astype(np.float64)
    assert fit.mse == pytest.approx(((X - model) ** 2).mean(), rel=1e-5)


class _Restarts:
    """What ``_least_deviance`` reads of the solver's state: blocks, pruning
    and the squared error's choice."""

    def __init__(self, blocks, pruned, best):
        self.blocks, self.pruned, self._best = blocks, np.asarray(pruned), best

    def block(self, restart):
        return self.blocks[restart]

    def best(self):
        return self._best


def test_deviance_picks_the_restart_the_squared_error_would_not():
    rng = np.random.default_rng(0)
    F = rng.random((30, 2))
    F /= np.linalg.norm(F, axis=0)
    L = rng.random((40, 2)) * 3
    data = DenseData(rng.poisson(L @ F.T).astype(np.uint16))
    truth = (F, L)
    # the same error, spread as the counts say, against one where the model
    # is near zero at counted pixels: a far worse likelihood
    flat = (np.full_like(F, 1 / np.sqrt(30)), L)
    assert poisson_deviance(data, *truth) < poisson_deviance(data, *flat)
    state = _Restarts([flat, truth, truth], pruned=[False, False, False], best=0)
    assert solver_module._least_deviance(data, state) == 1  # a tie: the first
    state = _Restarts([flat, truth], pruned=[False, True], best=0)
    assert solver_module._least_deviance(data, state) == 0  # pruned: not taken
