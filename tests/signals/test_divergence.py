"""A fit never returns an iterate worse than its own best (issue 19).

Both paper constraints together made the clipped least-squares half-steps
climb (the Gram matrices are ill-conditioned: smoothing makes the maps
alike, RadialContinuity raises the same baseline in every factor), and the
last, diverged iterate was stored. The counts come from
:func:`.synthetic.make_counts`.
"""

import warnings

import numpy as np
import pytest

import hyperspy_cnmf
from hyperspy_cnmf.core import solver
from hyperspy_cnmf.core.solver import ConvergenceWarning
from hyperspy_cnmf.data import simulated_4dstem

from .synthetic import make_counts_signal

#: The configuration the issue reported (the defaults of the time): least
#: squares all through, no binning.
FROBENIUS = {"loss": "frobenius", "scan_binning": 1}


def _fit(s, k, seed, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return hyperspy_cnmf.decomposition(
            s,
            output_dimension=k,
            random_state=seed,
            return_info=True,
            print_info=False,
            **kwargs,
        )


def _relative_residual(s):
    X = np.asarray(s.data, dtype=np.float64).reshape(s.axes_manager.navigation_size, -1)
    lr = s.learning_results
    return np.linalg.norm(X - lr.loadings @ lr.factors.T) / np.linalg.norm(X)


def _assert_never_rises(history):
    """Within each phase (sketch, exact) no iteration raises the error by
    more than 1 % (before the fix: up to 2.5x, and 880 / 2.79 in polishing),
    and the phase ends within 5 % of its lowest error (a constrained fit may
    settle a little above an earlier transient)."""
    for phase in (~history["exact"], history["exact"]):
        mse = history["mse"][phase]
        if mse.size:
            assert np.all(mse[1:] <= mse[:-1] * 1.01), np.max(mse[1:] / mse[:-1])
            assert mse[-1] <= mse.min() * 1.05


def test_issue_case_converges(lazy):
    """32x32 scan of 64x64 uint16 counts, beam at (x, y) = (33, 30), k = 4,
    the default call of the time (least squares): before the fix this seed
    ended at relative residual 0.39 (the error rose 2.79 -> 880 in
    polishing); 0.123 now."""
    s = make_counts_signal(lazy)
    estimator = _fit(s, 4, 0, **FROBENIUS)
    assert estimator.compression_rank_ is not None  # sketch, then polishing
    _assert_never_rises(estimator.history_)
    assert _relative_residual(s) < 0.13
    assert estimator.mse_ < 0.02 * float((np.asarray(s.data, float) ** 2).mean())


def test_todays_default_call_on_the_issue_case(lazy):
    """The same data with today's defaults (Poisson likelihood on counts,
    binning where the counts are low): no ConvergenceWarning, a residual as
    low, and the Poisson phase's divergence never rises."""
    s = make_counts_signal(lazy)
    estimator = _fit(s, 4, 0)
    assert estimator.loss_ == "poisson"
    deviance = estimator.history_["poisson_deviance"]
    deviance = deviance[np.isfinite(deviance)]
    assert deviance.size and estimator.poisson_deviance_ <= deviance.min()
    assert _relative_residual(s) < 0.13


@pytest.mark.parametrize("k", [4, 5])
def test_seed_sweep_converges(lazy, k):
    """One restart, exact iterations: before the fix seed 4 ended at relative
    residual 1.05 (k = 4) and each run rose by up to 2.5x in one step; all
    six seeds end at 0.213-0.216 now (2 and 4 are run here)."""
    s = make_counts_signal(
        lazy, nav_shape=(16, 16), sig_shape=(32, 32), beam_xy=(16, 15)
    )
    residuals = []
    for seed in (2, 4):
        estimator = _fit(s, k, seed, n_init=1, max_iter=100, **FROBENIUS)
        _assert_never_rises(estimator.history_)
        residuals.append(_relative_residual(s))
    assert max(residuals) < 0.228, residuals
    assert max(residuals) - min(residuals) < 0.005, residuals


def _unsafe(self, F, L, mse, *args):
    """The safeguard off: every iteration kept as it comes."""
    return F, L, mse


class _Wreck:
    """Scales the maps by 30 from iteration ``at`` on."""

    def __init__(self, at):
        self.at = at

    def __call__(self, images, context):
        return images * (30.0 if context.iteration >= self.at else 1.0)


def test_best_iterate_is_kept_and_a_rise_reported(monkeypatch):
    """Without the descent safeguard a constraint that wrecks the fit late
    makes the error rise: the fit returns its best iterate, with a
    ConvergenceWarning giving the figures."""
    from hyperspy_cnmf.core import constrained_nmf

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 3)) @ rng.uniform(size=(3, 30))
    kwargs = dict(n_init=2, max_iter=30, random_state=0, compression=None)
    monkeypatch.setattr(solver._State, "_no_rise", _unsafe)
    with pytest.warns(ConvergenceWarning, match=r"rose from .* \(iteration 2?\d\)"):
        result = constrained_nmf(X, 3, loading_constraints=[_Wreck(20)], **kwargs)
    assert result.history["mse"][-1] > 10 * result.mse
    assert result.mse == pytest.approx(result.history["mse"].min(), rel=1e-6)
    assert result.mse == pytest.approx(result.history["mse"][19], rel=1e-6)


def test_no_better_than_zero_warns(monkeypatch):
    """(Constraints that zero every map, the safeguard off.)"""
    from hyperspy_cnmf.core import constrained_nmf

    monkeypatch.setattr(solver._State, "_no_rise", _unsafe)
    X = np.random.default_rng(0).uniform(size=(20, 10))
    with pytest.warns(ConvergenceWarning, match="all-zero model"):
        constrained_nmf(
            X, 2, n_init=1, max_iter=3, loading_constraints=[lambda m, c: m * 0]
        )


def test_an_exact_fit_is_no_divergence():
    """An exactly low-rank X is fitted to an error of rounding: its error
    moving from 0 to 1e-16 is no rise to warn about (the estimator's
    docstring example)."""
    from hyperspy_cnmf import ConstrainedNMF

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(50, 3)) @ rng.uniform(size=(3, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = ConstrainedNMF(n_components=3, random_state=0).fit(X)
    assert model.mse_ < 1e-12 * (X**2).mean()


_PROJECT, _SKIPS_ALS = solver._Projector.__call__, solver._State._skips_als


def _fit_counting_projections(monkeypatch, lazy, safe_run):
    """A fit of the package simulation (12x12 scan of 64x64 patterns, k = 6:
    its ALS steps rise in runs) with ``_SAFE_RUN = safe_run``: its maps, the
    columns its projectors saw and the restart-iterations that skipped ALS."""
    seen = {"columns": 0, "direct": 0}
    project, skips = _PROJECT, _SKIPS_ALS

    def counting_project(self, M, iteration):
        seen["columns"] += M.shape[1]
        return project(self, M, iteration)

    def counting_skips(self):
        direct = skips(self)
        seen["direct"] += int(direct.sum())
        return direct

    monkeypatch.setattr(solver, "_SAFE_RUN", safe_run)
    monkeypatch.setattr(solver._Projector, "__call__", counting_project)
    monkeypatch.setattr(solver._State, "_skips_als", counting_skips)
    s = simulated_4dstem((12, 12), (64, 64), seed=1, lazy=lazy)
    _fit(s, 6, 0)
    return np.asarray(s.learning_results.loadings), seen


def test_a_rising_restart_goes_straight_to_the_safe_step(monkeypatch, lazy):
    """A restart whose ALS step rose takes the safe step directly for the
    next iterations instead of computing an ALS step to throw away: the
    same fit as trying ALS at every iteration, with fewer projections."""
    default = solver._SAFE_RUN
    tried, tried_seen = _fit_counting_projections(monkeypatch, lazy, 0)
    maps, seen = _fit_counting_projections(monkeypatch, lazy, default)
    assert tried_seen["direct"] == 0 and seen["direct"] > 100
    assert seen["columns"] < 0.8 * tried_seen["columns"]
    np.testing.assert_allclose(maps, tried, atol=1e-3 * np.abs(tried).max())
