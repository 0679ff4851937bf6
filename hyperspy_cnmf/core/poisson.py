r"""The Poisson likelihood: generalized Kullback-Leibler NMF with constraints.

Counting detectors record Poisson counts: at a few hundred electrons per
pattern most pixels hold 0 or 1 and the squared error weighs a bright pixel
far above the many faint ones where a minor phase's spots lie. The Poisson
negative log-likelihood of the model ``M = L F^T`` is, up to a constant,
the generalized Kullback-Leibler divergence

.. math::

    D(X \| M) = \sum_{ij} X_{ij} \log \frac{X_{ij}}{M_{ij}} - X_{ij} + M_{ij},

reported as the mean Poisson deviance ``2 D / (n_nav n_sig)``.

It is minimised here by the multiplicative updates of Lee and Seung (NIPS
2000), each half-step followed by the same projections as the ALS fit
(nonnegativity, then the constraints) and the same normalisation of the
patterns::

    F <- F * (Q^T L) / (1^T L),   Q = X / (L F^T)
    F <- [constraints on factors]+ ; normalise the columns of F
    L <- L * (Q F) / (1^T F),     Q = X / (L F^T)
    L <- [constraints on loadings]+

MU converges slowly from a random start, so it starts from the kept
Frobenius fit (the restarts and the sketch have found the components; the
likelihood then weighs them as the counts say). Each half-step is one pass
over the data (:meth:`poisson_pass` of the data classes), in bounded
memory, on data in memory or streamed from dask. The iterate with the
lowest divergence is returned, so the refinement never ends worse than it
started.
"""

from __future__ import annotations

import numpy as np

from .backend import to_host

#: An iteration counts as progress (for ``n_iter_no_change``) only when it
#: lowers the loss by more than this (relative) below the loss of the last
#: progress.
NO_CHANGE_RTOL = 1e-5

__all__ = ["PoissonRefinement", "poisson_deviance", "poisson_maps", "poisson_refine"]


class PoissonRefinement:
    """What :func:`poisson_refine` returns.

    Attributes
    ----------
    factors, loadings : arrays
        The iterate with the lowest divergence.
    history : dict of ndarray
        Per iteration: ``"mse"``, ``"poisson_deviance"``,
        ``"factor_change_l1"``, ``"loading_change_l1"``.
    deviance : float
        Mean Poisson deviance of the returned iterate.
    start_deviance : float
        That of the starting point.
    best_iteration : int
        Iteration of the returned iterate (0: the start).
    mse : float
        Its mean squared error (from the same pass as its deviance: no
        further pass over the data is needed for it).
    """

    def __init__(
        self, factors, loadings, history, deviance, start, best_iteration, mse
    ):
        self.factors = factors
        self.loadings = loadings
        self.history = history
        self.deviance = deviance
        self.start_deviance = start
        self.best_iteration = best_iteration
        self.mse = mse


def _normalise(F, xp):
    norms = xp.sqrt((F * F).sum(axis=0))
    return F / xp.where(norms > 0, norms, 1), norms


def _losses(result, L, F, constants, squared_norm, n_entries):
    """Mean deviance and MSE of ``(L, F)`` from the sums of one pass."""
    total, entropy = constants
    model_total = float(to_host(L.sum(axis=0, dtype=np.float64) @ F.sum(axis=0)))
    divergence = entropy - result.x_log_m - total + model_total
    GL = to_host((L.T @ L).astype(np.float64))
    GF = to_host((F.T @ F).astype(np.float64))
    sse = squared_norm - 2 * result.x_m + float((GL * GF).sum())
    return 2 * divergence / n_entries, sse / n_entries


def poisson_deviance(data, factors, loadings) -> float:
    """Mean Poisson deviance of the model ``loadings @ factors.T`` on the
    counts ``data`` (a data object): one pass.

    Parameters
    ----------
    data : data object
        The counts (:mod:`~hyperspy_cnmf.core.data`), unscaled.
    factors, loadings : arrays (n_sig, k), (n_nav, k)

    Returns
    -------
    float
        ``2 D(X || L F^T) / (n_nav n_sig)``; NaN where the sums are.
    """
    n_entries = float(data.shape[0]) * float(data.shape[1])
    sums = data.poisson_pass(loadings, factors, transposed=True)
    deviance, _ = _losses(
        sums, loadings, factors, data.count_terms(), data.squared_norm, n_entries
    )
    return float(deviance)


def poisson_refine(
    data,
    factors,
    loadings,
    project_factors,
    project_loadings,
    n_iter,
    *,
    n_iter_no_change=None,
    rtol=NO_CHANGE_RTOL,
    first_iteration=0,
    progress=None,
) -> PoissonRefinement:
    """Run up to ``n_iter`` constrained multiplicative KL updates from a fit.

    Parameters
    ----------
    data : data object
        The exact data (:mod:`~hyperspy_cnmf.core.data`), unscaled.
    factors, loadings : arrays (n_sig, k), (n_nav, k)
        The starting fit, factors with unit columns.
    project_factors, project_loadings : callable
        ``project(M, iteration) -> M``: nonnegativity and constraints.
    n_iter : int
    n_iter_no_change : int or None
        Stop once the deviance has not fallen below its lowest by more than
        ``rtol`` (relative) for this many iterations: the
        iterate kept is the one of lowest deviance, which a longer run would
        only replace by a better one. On constrained fits it is often one of
        the first (the constraints raise the deviance that the unconstrained
        update lowers).
    rtol : float, default :data:`NO_CHANGE_RTOL`
        The relative fall that counts as progress.
    first_iteration : int
        Number of the first iteration, for the constraints' context.
    progress : tqdm or None

    Returns
    -------
    PoissonRefinement
    """
    xp = data.xp
    n_entries = float(data.shape[0]) * float(data.shape[1])
    constants = data.count_terms()
    squared_norm = data.squared_norm
    tiny = xp.finfo(factors.dtype).tiny
    F, L = factors, loadings
    record = {key: [] for key in ("mse", "poisson_deviance", "dF", "dL")}
    best = (np.inf, F, L, 0, np.nan)
    moved = (np.inf, 0)  # the deviance at the last progress, its iteration
    start_deviance = np.inf
    for n in range(n_iter + 1):
        numerators = data.poisson_pass(L, F, transposed=True)
        deviance, mse = _losses(numerators, L, F, constants, squared_norm, n_entries)
        if n > 0:  # the losses of the previous iteration's result
            record["poisson_deviance"].append(deviance)
            record["mse"].append(mse)
        if n == 0:
            start_deviance = deviance
        if deviance < best[0]:
            best = (deviance, F, L, n, mse)
        if not deviance >= moved[0] * (1 - rtol):  # NaN: no stop
            moved = (deviance, n)
        if n == n_iter or (
            n_iter_no_change is not None and n - moved[1] >= n_iter_no_change
        ):
            break
        iteration = first_iteration + n
        F_new = F * numerators.product / xp.maximum(L.sum(axis=0), tiny)
        F_new, norms = _normalise(project_factors(F_new, iteration), xp)
        L_scaled = L * norms  # the model is unchanged by the normalisation
        numerators = data.poisson_pass(L_scaled, F_new, transposed=False)
        L_new = L_scaled * numerators.product / xp.maximum(F_new.sum(axis=0), tiny)
        L_new = project_loadings(L_new, iteration)
        record["dF"].append(float(to_host(xp.abs(F_new - F).sum())))
        record["dL"].append(float(to_host(xp.abs(L_new - L).sum())))
        F, L = F_new, L_new
        if progress is not None:
            progress.update(1)
    history = {
        "mse": np.asarray(record["mse"], dtype=np.float64),
        "poisson_deviance": np.asarray(record["poisson_deviance"], dtype=np.float64),
        "factor_change_l1": np.asarray(record["dF"], dtype=np.float64),
        "loading_change_l1": np.asarray(record["dL"], dtype=np.float64),
    }
    deviance, F, L, best_iteration, mse = best
    return PoissonRefinement(
        F, L, history, deviance, start_deviance, best_iteration, mse
    )


def poisson_maps(data, factors, loadings, project_loadings, n_iter, iteration=0):
    """Maps for fixed factors by ``n_iter`` constrained multiplicative KL
    updates (one pass each), from ``loadings``; the model keeps the data's
    counts at their optimum.

    Parameters
    ----------
    data : data object
    factors : array (n_sig, k)
        Held fixed.
    loadings : array (n_nav, k)
        The start.
    project_loadings : callable
        ``project(L, iteration) -> L``.
    n_iter : int
    iteration : int
        For the constraints' context.

    Returns
    -------
    array (n_nav, k)
    """
    xp = data.xp
    tiny = xp.finfo(factors.dtype).tiny
    column_sums = xp.maximum(factors.sum(axis=0), tiny)
    L = loadings
    for _ in range(n_iter):
        numerators = data.poisson_pass(L, factors, transposed=False)
        L = project_loadings(L * numerators.product / column_sums, iteration)
    return L
