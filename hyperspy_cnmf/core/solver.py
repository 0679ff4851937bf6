r"""Constrained NMF by alternating least squares (Kimoto et al. 2025).

Orientation: the data matrix ``X`` has shape ``(n_nav, n_sig)``, one row per
probe position and one column per detector pixel (HyperSpy's unfolding and
scikit-learn's ``(n_samples, n_features)``). The paper's ``X`` is its
transpose, so the paper's diffraction matrix ``W`` is our ``factors``
``F`` (n_sig, k) and its map matrix ``H`` is our ``loadings.T``
(``L`` is (n_nav, k)); ``X ~= L F^T``.

One ALS iteration (paper steps 3-7), for all restarts at once::

    F <- X^T L (L^T L)^-1        # paper eq. 7
    F <- [constraints on factors]+ ; normalise the columns of F
    L <- X F (F^T F)^-1          # paper eq. 8
    L <- [constraints on loadings]+
    record MSE, ||F_new - F||_1, ||L_new - L||_1

The restarts are stacked side by side (``F`` is (n_sig, n_init k)) so each
iteration makes a single pass over ``X`` whatever ``n_init`` is.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .backend import to_host
from .binning import bin_signal
from .coordinate_descent import nonnegative_cd
from .data import as_data, is_streamed, sketch
from .geometry import Geometry
from .map_floors import MapFloors, remove_map_floors
from .memory import check_fit_memory
from .phases import PhaseSeparation, refit_maps, separate_phases
from .poisson import NO_CHANGE_RTOL, poisson_deviance, poisson_maps, poisson_refine
from .validation import check_constraint_output, user_stacklevel

__all__ = [
    "NMFResult",
    "ConvergenceWarning",
    "LOSSES",
    "SOLVERS",
    "auto_compression_rank",
    "exact_iterations",
    "halving_schedule",
    "kept_restart_loss",
    "solve",
]


try:  # scikit-learn's warning, so sklearn users can filter one class
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # pragma: no cover - scikit-learn is a dependency

    class ConvergenceWarning(UserWarning):
        """The solver stopped at ``max_iter`` before reaching ``tol``."""


SOLVERS = ("als", "mu")
LOSSES = ("frobenius", "poisson")
# exact iterations after a sketch, n_exact_iter="auto": in memory, streamed
EXACT_ITER, EXACT_ITER_STREAMED = 30, 10
# Poisson (KL) iterations after the Frobenius fit, n_exact_iter="auto"
POISSON_ITER, POISSON_ITER_STREAMED = 50, 10
#: A streamed Poisson polish counts an iteration as progress only when it
#: lowers the deviance by more than this (relative; in memory
#: :data:`~.poisson.NO_CHANGE_RTOL`): each iteration reads the data twice.
#: bench_scale's 256 x 256 scan: iteration 1 lowered the deviance by 1.9e-5
#: (relative), iteration 2 raised it, and both the kept iterate (the first)
#: and the error are the same with two reads fewer (30 s of 180 s); at 128 x
#: 128 the first iteration already raised it.
POISSON_RTOL_STREAMED = 1e-4

#: A restart is pruned only when its error is this much (relative) above the
#: best restart's at the first pruning iteration (and this times the first
#: pruning iteration over the current one later): close contenders may still
#: overtake early on.
_PRUNE_MARGIN = 1e-3

#: Restarts whose errors are within this relative margin of the lowest are
#: tied and the first of them wins, so that rounding (which depends on the
#: BLAS thread count) cannot flip the choice.
_TIE = 1e-3

#: An iteration that raises the error by more than this (relative) is
#: retried safely (see _State._no_rise).
_ASCENT_RTOL = 1e-3

#: Iterations a restart whose ALS step rose takes the safe step directly
#: before it tries ALS again (see _State._skips_als).
_SAFE_RUN = 4

#: A restart's latest iterate is its best while its error is within this
#: relative margin of the lowest it has reached (a constrained fit may settle
#: slightly above an earlier transient); beyond, the fit returns the iterate
#: of lowest error, with a ConvergenceWarning.
_KEEP_LAST = 0.05


@dataclass
class NMFResult:
    """What :func:`constrained_nmf` returns.

    Attributes
    ----------
    factors : ndarray, shape (n_sig, k)
        Diffraction patterns (paper ``W``), unit L2 norm per column, sorted
        by decreasing L2 norm of their maps.
    loadings : ndarray, shape (n_nav, k)
        Maps (paper ``H^T``).
    mse : float
        Exact mean squared error of the returned factorization.
    history : dict of ndarray
        Per iteration of the kept restart: ``"mse"``, ``"factor_change_l1"``
        and ``"loading_change_l1"``; ``"exact"`` says which iterations ran
        on the data itself rather than on its sketch.
    restart_mse : ndarray, shape (n_init,)
        Final MSE of each restart (on the sketch when compression was used;
        at the iteration it was dropped for a pruned restart).
    best_restart : int
    n_iter : int
        Iterations run (sketch phase plus exact phase).
    converged : bool
        Whether ``tol`` was reached before ``max_iter``.
    dead_components : list of int
        Components of the kept restart that became all zero.
    compression_rank : int or None
        Rank of the sketch used, or None for exact iterations throughout.
    elapsed : float
        Seconds.
    phase_separation : PhaseSeparation, MapFloors or None
        What the pure-phase step did: on diffraction patterns or on spectra
        (None when it did not run).
    poisson_deviance : float or None
        Mean Poisson deviance of the fit before the pure-phase step, for
        ``loss="poisson"``.
    """

    factors: np.ndarray
    loadings: np.ndarray
    mse: float
    history: dict
    restart_mse: np.ndarray
    best_restart: int
    n_iter: int
    converged: bool
    dead_components: list = field(default_factory=list)
    compression_rank: int | None = None
    elapsed: float = 0.0
    phase_separation: PhaseSeparation | MapFloors | None = None
    poisson_deviance: float | None = None


def _random_state(seed):
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.integers(2**32 - 1))
    return np.random.RandomState(seed)


def _gram(M, n_blocks, xp):
    """Per-restart Gram matrices ``M_b^T M_b``: (R, k, k).

    A loop of 2D products on column slices: BLAS takes strided columns
    directly, whereas a batched 3D matmul on the transposed view does not.
    """
    k = M.shape[1] // n_blocks
    G = xp.empty((n_blocks, k, k), dtype=M.dtype)
    for b in range(n_blocks):
        block = M[:, b * k : (b + 1) * k]
        G[b] = block.T @ block
    return G


def _safe_inverse(G, xp):
    """Inverse of SPD Gram blocks with a tiny ridge, in float64.

    A dead component (all-zero column) makes ``G`` singular; the ridge keeps
    the solve finite and the dead component stays exactly zero. The ridge is
    relative to the mean diagonal (the data's scale squared), so data scaled
    by 1e-100 or 1e100 fit as well as data of order one; an all-zero block
    gets a ridge of 1.
    """
    G64 = G.astype(np.float64)
    k = G.shape[-1]
    trace = xp.trace(G64, axis1=1, axis2=2)
    ridge = xp.where(trace > 0, 1e-10 * trace / k, 1.0)
    eye = xp.eye(k)[None]
    return xp.linalg.inv(G64 + ridge[:, None, None] * eye).astype(G.dtype)


def _solve_blocks(A, G, n_blocks, xp):
    """``A_b G_b^-1`` for every restart block of ``A`` (n, R k)."""
    return _times_blocks(A, _safe_inverse(G, xp), n_blocks, xp)


def _times_blocks(A, G, n_blocks, xp):
    """``A_b G_b`` for every restart block of ``A`` (n, R k)."""
    k = A.shape[1] // n_blocks
    out = xp.empty_like(A)
    for b in range(n_blocks):
        cols = slice(b * k, (b + 1) * k)
        out[:, cols] = A[:, cols] @ G[b]
    return out


class _Projector:
    """Applies nonnegativity and a constraint list to stacked columns."""

    def __init__(self, constraints, context, mask):
        self.constraints = list(constraints)
        self.context = context
        xp = self.xp = context.xp
        self.shape = context.shape
        self.keep = None if mask is None else xp.asarray(~mask.ravel())
        # Built-in constraints declare that they keep images nonnegative; a
        # user's may not, so then nonnegativity is projected again at the end.
        self.clip_after = not all(
            getattr(c, "preserves_nonnegativity", False) for c in self.constraints
        )

    def __call__(self, M, iteration):
        """Project ``M`` (a fresh array of the solver's, modified in place)."""
        xp = self.xp
        xp.maximum(M, 0, out=M)
        if not self.constraints:
            return M
        images = self._refold(M)
        context = self.context.at_iteration(iteration)
        for constraint in self.constraints:
            out = constraint(images, context)
            check_constraint_output(out, images, constraint, self.context.role)
            images = out
        M = self._unfold(images, M.dtype)
        if self.clip_after:
            xp.maximum(M, 0, out=M)
        return M

    # The images handed to constraints are transposed views of (pixels, n)
    # arrays: no copy here, and a constraint working on the (pixels, n)
    # layout (images.reshape(n, -1).T) needs none either.
    def _refold(self, M):
        n_images = M.shape[1]
        if self.keep is None:
            return M.T.reshape((n_images, *self.shape))
        full = self.xp.zeros((self.keep.size, n_images), dtype=M.dtype)
        full[self.keep] = M
        return full.T.reshape((n_images, *self.shape))

    def _unfold(self, images, dtype):
        flat = images.reshape(images.shape[0], -1).T
        if self.keep is not None:
            flat = flat[self.keep]
        return self.xp.ascontiguousarray(flat, dtype=dtype)


def _descend(M, start, C, G, blocks):
    """``M`` (fresh, modified in place) with its restart ``blocks`` replaced
    by the safe half-step from ``start``: coordinate-descent sweeps on
    ``-2 <C_b, M_b> + <M_b^T M_b, G_b>`` (see :func:`~.coordinate_descent.nonnegative_cd`)."""
    k = G.shape[-1]
    for b in blocks:
        M[:, b * k : (b + 1) * k] = start[:, b * k : (b + 1) * k]
    return nonnegative_cd(M, C, G, blocks)


def _normalise_columns(F, xp):
    """Scale the columns of ``F`` (fresh, modified in place) to unit L2 norm."""
    norms = xp.sqrt(xp.einsum("ij,ij->j", F, F))
    F /= xp.where(norms > 0, norms, 1)
    return F, norms


def _block_sums(M, n_blocks):
    """Sum of ``M`` over rows and within each restart block, in float64: (R,).

    Column sums first: a reduction along the contiguous rows, four times
    faster than one over axes (0, 2) of the (n, R, k) view.
    """
    return M.sum(axis=0, dtype=np.float64).reshape(n_blocks, -1).sum(axis=1)


def _als_factors(XtL, F_old, GL, n_blocks, xp):
    """ALS factor half-step, paper eq. 7: ``F = X^T L (L^T L)^-1``."""
    return _solve_blocks(XtL, GL, n_blocks, xp)


def _als_loadings(XF, L_old, norms, GF, n_blocks, xp):
    """ALS map half-step, paper eq. 8: ``L = X F (F^T F)^-1``."""
    return _solve_blocks(XF, GF, n_blocks, xp)


def _mu_factors(XtL, F_old, GL, n_blocks, xp):
    """Multiplicative factor update, paper eq. 3."""
    denominator = _times_blocks(F_old, GL, n_blocks, xp)
    return F_old * XtL / xp.maximum(denominator, _eps(F_old.dtype))


def _mu_loadings(XF, L_old, norms, GF, n_blocks, xp):
    """Multiplicative map update, paper eq. 4, from the maps rescaled by the
    norms the factors had before they were normalised."""
    L_scaled = L_old * norms
    denominator = _times_blocks(L_scaled, GF, n_blocks, xp)
    return L_scaled * XF / xp.maximum(denominator, _eps(L_scaled.dtype))


#: solver -> (factor half-step, map half-step), chosen once per fit
_UPDATES = {"als": (_als_factors, _als_loadings), "mu": (_mu_factors, _mu_loadings)}

#: The per-iteration records of a restart (NMFResult.history's keys, less
#: "exact")
_HISTORY = ("mse", "factor_change_l1", "loading_change_l1")


class _State:
    """Iterates stacked restarts on one data object; records their history.

    With ``tol > 0`` a restart that has converged is retired: its factors and
    maps are kept aside and the remaining restarts iterate without it. With
    a pruning ``schedule`` ({iteration: restarts kept}) the restarts with the
    highest error are dropped at those iterations (successive halving).
    """

    def __init__(
        self, data, F, L, n_blocks, project_f, project_l, solver, safeguard=True
    ):
        self.data = data
        self.xp = data.xp
        self.F = F
        self.L = L
        self.k = L.shape[1] // n_blocks
        self.active = np.arange(n_blocks)
        self.project_f = project_f
        self.project_l = project_l
        self.update_factors, self.update_loadings = _UPDATES[solver]
        self.safeguard = safeguard
        self.n_entries = float(data.shape[0]) * float(data.shape[1])
        self.squared_norm = float(data.squared_norm)
        self.GL = _gram(L, n_blocks, self.xp)
        self.history = [{key: [] for key in _HISTORY} for _ in range(n_blocks)]
        self.converged = np.zeros(n_blocks, dtype=bool)
        self.pruned = np.zeros(n_blocks, dtype=bool)
        self.retired = {}
        # The best iterate of each active restart (arrays laid out as F and
        # L; the iterates are fresh arrays, so these are references, not
        # copies, while every restart improves) and its error.
        self.best_F, self.best_L = F, L
        self.best_mse = np.full(n_blocks, np.inf)
        self.lowest_mse = np.full(n_blocks, np.inf)
        # the error at each restart's last progress, iterations since then
        self.progress_mse = np.full(n_blocks, np.inf)
        self.no_change = np.zeros(n_blocks, dtype=int)
        # restarts that take the safe step directly, and for how long so far
        self.safe_mode = np.zeros(n_blocks, dtype=bool)
        self.safe_run = np.zeros(n_blocks, dtype=int)

    def step(self, iteration):
        """One iteration of every active restart; returns their relative changes."""
        xp, R = self.xp, self.active.size
        F_old, L_old = self.F, self.L
        direct = np.flatnonzero(self._skips_als())
        XtL = self.data.XtL(L_old)
        F = self.update_factors(XtL, F_old, self.GL, R, xp)
        if direct.size:
            F = _descend(F, F_old, XtL, self.GL, direct)
        F = self.project_f(F, iteration)
        F, norms = _normalise_columns(F, xp)
        GF = _gram(F, R, xp)
        XF = self.data.XF(F)
        L = self.update_loadings(XF, L_old, norms, GF, R, xp)
        if direct.size:
            L = _descend(L, L_old * norms, XF, GF, direct)
        L = self.project_l(L, iteration)
        self.GL = _gram(L, R, xp)
        mse = self._mse(XF, L, GF, self.GL)
        if self.safeguard:
            F, L, mse = self._no_rise(F, L, mse, F_old, L_old, XtL, iteration, direct)
        self.safe_run[self.active[direct]] += 1
        factor_change = to_host(_block_sums(xp.abs(F - F_old), R))
        loading_change = to_host(_block_sums(xp.abs(L - L_old), R))
        scale_F = to_host(_block_sums(F, R))  # F, L >= 0: their L1 norms are sums
        scale_L = to_host(_block_sums(L, R))
        self.F, self.L = F, L
        self._keep_best(mse)
        for i, restart in enumerate(self.active):
            record = self.history[restart]
            record["mse"].append(mse[i])
            record["factor_change_l1"].append(factor_change[i])
            record["loading_change_l1"].append(loading_change[i])
        tiny = np.finfo(np.float64).tiny
        with np.errstate(over="ignore"):  # all-zero factors: an infinite change
            return np.maximum(
                factor_change / np.maximum(scale_F, tiny),
                loading_change / np.maximum(scale_L, tiny),
            )

    def _mse(self, XF, L, GF, GL):
        """Per restart: ``||X - L F^T||^2 = ||X||^2 - 2 <X F, L> + <F^T F,
        L^T L>``, from products the iteration has made (no extra pass)."""
        cross = _block_sums(XF * L, L.shape[1] // self.k)
        model = (GF.astype(np.float64) * GL.astype(np.float64)).sum(axis=(1, 2))
        return to_host((self.squared_norm - 2 * cross + model) / self.n_entries)

    def _skips_als(self):
        """Per active restart: whether it takes the safe step directly.

        A restart whose ALS step rose and was replaced by the safe one
        (:meth:`_no_rise`) takes the safe step directly for the next
        :data:`_SAFE_RUN` iterations, then tries ALS again. The rises come
        in runs (24x24 scan of 128x128 patterns, k = 30: runs of 25-40
        iterations, the safe step 12 % lower each time), and an ALS step
        that is thrown away costs its constraints and a pass for nothing.
        """
        restarts = self.active
        return self.safe_mode[restarts] & (self.safe_run[restarts] < _SAFE_RUN)

    def _no_rise(self, F, L, mse, F_old, L_old, XtL, iteration, direct):
        """The iteration, or for the restarts whose error it raised by more
        than :data:`_ASCENT_RTOL`, a safe one from their previous iterate when
        that is lower; ``direct``: the positions (an index array, possibly
        empty) of the restarts that took the safe step already.

        Why the error can rise: each half-step is a least-squares solution,
        clipped to nonnegative values and constrained. When the Gram matrix
        is ill-conditioned (maps made alike by the smoothing, factors sharing
        the baseline that RadialContinuity raises in each) the unclipped
        solution has large negative parts cancelling large positive ones;
        clipping keeps the positive ones, the error rises, and the next
        half-step, from a worse point, overshoots more: the fit diverges
        (relative residual 1.24 on issue 19's case). The safe iteration
        replaces each least-squares solve by a few sweeps of nonnegative
        coordinate descent from the previous iterate (each column update
        lowers the error or keeps it: no amplification), then applies the
        same constraints. It costs one more pass over the data, only when
        an error has risen.
        """
        previous = np.array(
            [
                h["mse"][-1] if h["mse"] else np.inf
                for h in map(self.history.__getitem__, self.active)
            ]
        )
        tried = np.ones(self.active.size, dtype=bool)
        tried[direct] = False
        rising = tried & (mse > previous * (1 + _ASCENT_RTOL))
        self.safe_mode[self.active[tried]] = False
        self.safe_run[self.active[tried]] = 0
        if not rising.any():
            return F, L, mse
        # Only the rising restarts' columns: every step below acts on each
        # restart block alone (constraints see whole blocks), so the others'
        # work would be discarded.
        xp = self.xp
        blocks = np.flatnonzero(rising)
        cols = xp.asarray(self._columns(blocks))
        n_rising = blocks.size
        L_before = xp.ascontiguousarray(L_old[:, cols])
        safe_F = nonnegative_cd(
            xp.ascontiguousarray(F_old[:, cols]),
            xp.ascontiguousarray(XtL[:, cols]),
            _gram(L_before, n_rising, xp),
        )
        safe_F = self.project_f(safe_F, iteration)
        safe_F, norms = _normalise_columns(safe_F, xp)
        GF = _gram(safe_F, n_rising, xp)
        XF = self.data.XF(safe_F)
        safe_L = nonnegative_cd(L_before * norms, xp.ascontiguousarray(XF), GF)
        safe_L = self.project_l(safe_L, iteration)
        GL = _gram(safe_L, n_rising, xp)
        safe_mse = self._mse(XF, safe_L, GF, GL)
        take = safe_mse < mse[blocks]
        if not take.any():
            return F, L, mse
        taken = blocks[take]
        self.safe_mode[self.active[taken]] = True
        into = xp.asarray(self._columns(taken))
        source = xp.asarray(self._columns(np.flatnonzero(take)))
        F[:, into] = safe_F[:, source]
        L[:, into] = safe_L[:, source]
        self.GL[taken] = GL[take]
        mse = mse.copy()
        mse[taken] = safe_mse[take]
        return F, L, mse

    def _keep_best(self, mse):
        """Remember the new iterate of the restarts whose error is (within
        :data:`_KEEP_LAST`) their lowest so far; the others keep their best."""
        restarts = self.active
        self.lowest_mse[restarts] = np.fmin(self.lowest_mse[restarts], mse)
        better = ~(mse > self.lowest_mse[restarts] * (1 + _KEEP_LAST))  # NaN: worse
        self.best_mse[restarts[better]] = mse[better]
        if better.all():
            self.best_F, self.best_L = self.F, self.L
        elif better.any():
            cols = self._columns(np.flatnonzero(better))
            self.best_F, self.best_L = self.best_F.copy(), self.best_L.copy()
            self.best_F[:, cols] = self.F[:, cols]
            self.best_L[:, cols] = self.L[:, cols]

    def _columns(self, positions):
        return np.concatenate(
            [np.arange(p * self.k, (p + 1) * self.k) for p in positions]
        ).astype(np.intp)

    def retire(self, done):
        """Set aside the active restarts flagged in ``done``."""
        for position in np.flatnonzero(done):
            cols = slice(position * self.k, (position + 1) * self.k)
            restart = int(self.active[position])
            self.retired[restart] = (
                self.best_F[:, cols].copy(),
                self.best_L[:, cols].copy(),
            )
            self.converged[restart] = True
        self._keep_only(np.flatnonzero(~done))

    def prune(self, n_keep, margin):
        """Drop the active restarts beyond the ``n_keep`` best that are
        clearly losing: an error more than ``margin`` (relative) above the
        best one's. Close contenders run on."""
        errors = self.best_mse[self.active]
        errors = np.where(np.isnan(errors), np.inf, errors)
        order = np.argsort(errors, kind="stable")
        losing = errors[order] > errors[order[0]] * (1 + margin)
        drop = order[n_keep:][losing[n_keep:]]
        self.pruned[self.active[drop]] = True
        self._keep_only(np.setdiff1d(np.arange(errors.size), drop))

    def _keep_only(self, keep):
        cols = self._columns(keep)
        self.F = self.xp.ascontiguousarray(self.F[:, cols])
        self.L = self.xp.ascontiguousarray(self.L[:, cols])
        self.best_F = self.xp.ascontiguousarray(self.best_F[:, cols])
        self.best_L = self.xp.ascontiguousarray(self.best_L[:, cols])
        self.GL = self.GL[keep]
        self.active = self.active[keep]

    def block(self, restart):
        """Factors and maps of one restart: its best iterate."""
        if restart in self.retired:
            return self.retired[restart]
        position = int(np.flatnonzero(self.active == restart)[0])
        cols = slice(position * self.k, (position + 1) * self.k)
        return self.best_F[:, cols], self.best_L[:, cols]

    def final_mse(self):
        """Error of each restart's best iterate (see :meth:`block`)."""
        return self.best_mse.copy()

    def best(self) -> int:
        """The restart with the lowest error among those not pruned; errors
        within :data:`_TIE` of the lowest are ties, won by the first restart."""
        chosen = _first_of_lowest(np.where(self.pruned, np.inf, self.final_mse()))
        return 0 if chosen is None else chosen  # no finite error: the first

    def rise(self, restart):
        """``(best error, its iteration, last error)`` of ``restart``."""
        errors = np.asarray(self.history[restart]["mse"], dtype=np.float64)
        at = np.flatnonzero(errors == self.best_mse[restart])
        at = int(at[-1]) + 1 if at.size else len(errors)
        return float(self.best_mse[restart]), at, float(errors[-1])

    def run(
        self,
        n_iter,
        *,
        tol=0.0,
        n_iter_no_change=None,
        first_iteration=0,
        progress=None,
        schedule=None,
    ):
        """Up to ``n_iter`` iterations (numbered from ``first_iteration``),
        retiring converged restarts (``tol > 0``) and stalled ones
        (``n_iter_no_change``), pruning on ``schedule``; returns the
        iterations run."""
        schedule = schedule or {}
        for n in range(1, n_iter + 1):
            change = self.step(first_iteration + n - 1)
            if progress is not None:
                progress.update(1)
            if n in schedule and self.active.size > schedule[n]:
                # Trajectories settle: later rungs drop smaller gaps.
                self.prune(schedule[n], _PRUNE_MARGIN * min(schedule) / n)
                continue
            done = np.zeros(self.active.size, dtype=bool)
            if tol > 0:
                done |= change < tol
            if n_iter_no_change is not None:
                done |= self._stalled(n_iter_no_change)
            if done.all():
                self.converged[self.active] = True
                return n
            if done.any():
                self.retire(done)
        return n_iter

    def _stalled(self, n_iter_no_change):
        """Per active restart: whether its error has not fallen by more than
        :data:`NO_CHANGE_RTOL` for ``n_iter_no_change`` iterations."""
        restarts = self.active
        latest = np.array([self.history[r]["mse"][-1] for r in restarts])
        progress = latest < self.progress_mse[restarts] * (1 - NO_CHANGE_RTOL)
        self.progress_mse[restarts[progress]] = latest[progress]
        self.no_change[restarts] = np.where(progress, 0, self.no_change[restarts] + 1)
        return self.no_change[restarts] >= n_iter_no_change


#: Rounding of an error from its expansion, relative to the mean square of
#: the data (:func:`_warn_divergence`).
_ROUNDING = 1e-6


def _warn_divergence(rise, n_iter, mse, zero_mse):
    """A ConvergenceWarning, with the figures, when the kept restart's error
    rose after its best iterate (which is what the fit returns) or when the
    fit is no better than an all-zero model."""
    best, at, last = rise if rise is not None else (np.inf, 0, 0.0)
    # errors from the expansion of ||X - L F^T||^2 carry rounding of the
    # order of the float32 epsilon times ||X||^2: an exact fit's error
    # "rising" from 0 to 2e-16 is no divergence
    if last > best * (1 + _KEEP_LAST) + zero_mse * _ROUNDING:
        warnings.warn(
            f"the error of the kept fit rose from {best:.6g} (iteration {at}) "
            f"to {last:.6g} (iteration {n_iter}); the best iterate is returned. "
            "Try another random_state, more n_init, or compression=None",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    if not mse < zero_mse:
        warnings.warn(
            f"the constrained NMF did not converge: its mean squared error "
            f"{mse:.6g} is not below {zero_mse:.6g}, that of an all-zero "
            "model. Check the data and the constraints, or try another "
            "random_state",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )


def _eps(dtype):
    return np.finfo(dtype).eps


def _initial_loadings(rng, n_nav, n_columns, dtype, xp):
    return xp.asarray(rng.uniform(size=(n_nav, n_columns)).astype(dtype))


def _first_of_lowest(losses):
    """Index of the lowest of ``losses`` (NaN: worst); losses within
    :data:`_TIE` of it are ties, won by the first, so that rounding (the
    BLAS thread count) cannot change the choice. None when none is finite."""
    losses = np.where(np.isnan(losses), np.inf, losses)
    lowest = losses.min()
    if not np.isfinite(lowest):
        return None
    return int(np.flatnonzero(losses <= lowest * (1 + _TIE))[0])


def _initial_factors(rng, n_sig, n_columns, dtype, xp):
    F = rng.uniform(size=(n_sig, n_columns)).astype(dtype)
    return xp.asarray(F / np.sqrt((F * F).sum(axis=0)))


def halving_schedule(max_iter, n_init) -> dict:
    """Successive halving of the restarts: ``{iteration: restarts kept}``.

    Half of the restarts (rounded up) are kept at ``max_iter`` / 16, / 8,
    / 4 and / 2 (none before iteration 20, or half of a shorter run), so 10
    restarts of 500 iterations cost about 1150 restart-iterations instead
    of 5000, and the last one runs to ``max_iter``. Only restarts clearly
    behind are dropped (see ``_State.run``); the kept fit is as good as the
    full protocol's (``benchmarks/bench_default.py``).
    """
    schedule, keep = {}, n_init
    for fraction in (16, 8, 4, 2):
        # Early rankings are noise: no restart is judged before iteration 20.
        iteration = max(max_iter // fraction, min(20, max_iter // 2))
        if keep <= 1 or iteration < 1 or iteration in schedule:
            continue
        keep = (keep + 1) // 2
        schedule[iteration] = keep
    return schedule


def exact_iterations(n_exact_iter, data, loss="frobenius") -> int:
    """``n_exact_iter`` with ``"auto"`` resolved: fewer exact iterations when
    each one streams the data from a dask array (two reads per iteration);
    for ``loss="poisson"`` the number of Poisson iterations."""
    if n_exact_iter != "auto":
        return int(n_exact_iter)
    streamed = is_streamed(data)
    if loss == "poisson":
        return POISSON_ITER_STREAMED if streamed else POISSON_ITER
    return EXACT_ITER_STREAMED if streamed else EXACT_ITER


def auto_compression_rank(n_components, shape):
    """Sketch rank for ``compression="auto"``, or None when exact is cheaper."""
    rank = max(2 * n_components, n_components + 50)
    if 3 * rank >= min(shape) or shape[0] * shape[1] < 2_000_000:
        return None
    return rank


#: Poisson map updates after the pure-phase step (the factors fixed), from
#: the least-squares refit; each is a pass over the counts. Starting from
#: the refit instead of the moved maps (10 updates): on the realistic
#: simulation (48x48, seeds 101-103, 3000, 300 and 100 counts) no map's
#: Pearson r fell (mean over the 9 fits: Si 0.963 -> 0.978, glass 0.975 ->
#: 0.977, Mg 0.968 -> 0.970, Au the same), the 30 % Si phase at 100 counts
#: went 0.892 -> 0.946 and 0.850 -> 0.907 on the two seeds where two
#: components share it (10 updates from the moved maps had not converged),
#: and the step reads the data 4 times instead of 10. 2 updates instead of
#: 3 (with :data:`POISSON_NO_CHANGE` 1; ``bench_minor_phases.py``): every
#: map's Pearson r within 0.01 of the 3 updates' in the 9 fits, the
#: worst per dose the same or higher (Mg at 300 counts 0.96 -> 0.98), one
#: pass fewer.
POISSON_MAP_ITER = 2


def _refit_maps(data, F, L, loss, project_l, iteration):
    """The maps refit to the data for the pure-phase factors, and the mean
    squared error of the refit model.

    The pure-phase move maps ``L`` onto the new factors exactly only where
    nothing is clipped; refitting to the data removes what the clipping
    left (a share of every crystal map in the amorphous one). Least squares
    with each position's counts kept (:func:`~.phases.refit_maps`, one
    pass); for the Poisson loss, then :data:`POISSON_MAP_ITER`
    multiplicative updates of the maps alone from there, which keep the
    counts at their optimum. The factors stay fixed, so the ``X F`` of the
    first pass gives the final error too (no pass of its own).
    """
    xp, k = data.xp, F.shape[1]
    ones = xp.ones((F.shape[0], 1), dtype=F.dtype)
    XF1 = data.XF(xp.concatenate([F, ones], axis=1))
    XF = XF1[:, :k]
    L = project_l(refit_maps(XF, F, totals=XF1[:, k]), iteration)
    if loss == "poisson":
        L = poisson_maps(data, F, L, project_l, POISSON_MAP_ITER, iteration)
    return L, _squared_error(data, XF, L, F) / (data.shape[0] * data.shape[1])


def _squared_error(data, XF, L, F) -> float:
    """``||X - L F^T||^2 = ||X||^2 - 2 <L, X F> + <L^T L, F^T F>``, in
    float64, from ``X F`` (no pass over the data)."""
    cross = float(to_host((L.astype(np.float64) * XF.astype(np.float64)).sum()))
    GL = to_host((L.T @ L).astype(np.float64))
    GF = to_host((F.T @ F).astype(np.float64))
    return max(data.squared_norm - 2 * cross + float((GL * GF).sum()), 0.0)


def _extend_history(history, more, n_before, exact=True):
    """Append the iterations ``more`` (exact ones: polishing or Poisson,
    unless ``exact`` is False) to the history of the first ``n_before``
    iterations; keys absent on one side are NaN there."""
    n_more = len(more["mse"])
    for key in set(history) | set(more):
        if key == "exact":
            continue
        before = history.get(key, np.full(n_before, np.nan))
        after = np.asarray(more.get(key, np.full(n_more, np.nan)), dtype=np.float64)
        history[key] = np.concatenate([np.asarray(before, np.float64), after])
    history["exact"] = np.concatenate([history["exact"], np.full(n_more, exact)])


def _continue_kept(fit, data, projectors, solver, n_iter, *, exact, **run):
    """The kept restart ``fit`` iterated up to ``n_iter`` more times on
    ``data``: its factors, maps, rise and history (``exact`` marks the new
    iterations) updated in place; ``run``: :meth:`_State.run`'s ``tol``,
    ``n_iter_no_change``, ``progress``. Returns the one-restart state."""
    n_before = fit.n_iter
    state = _State(data, fit.F, fit.L, 1, *projectors, solver)
    state.run(n_iter, first_iteration=n_before, **run)
    fit.F, fit.L = state.block(0)
    best_mse, at, last = state.rise(0)
    fit.rise = (best_mse, at + n_before, last)
    _extend_history(fit.history, state.history[0], n_before, exact=exact)
    return state


def _progress(show, total):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Constrained NMF", unit="it")


@dataclass
class _Fit:
    """The kept restart as it passes from one step of :func:`solve` to the
    next: its factors and maps, its history and the restarts' record
    (``rise``: see :meth:`_State.rise`); ``mse``: its exact error where a
    pass over the data already gave it (saves :func:`_finalise` a pass)."""

    F: object
    L: object
    history: dict
    restart_mse: np.ndarray
    best_restart: int
    converged: bool
    rise: tuple | None
    poisson_deviance: float | None = None
    mse: float | None = None

    @property
    def n_iter(self) -> int:
        return len(self.history["mse"])


def _history_of(record, exact):
    """A restart's per-iteration record as float64 arrays, with ``"exact"``."""
    history = {key: np.asarray(record[key], dtype=np.float64) for key in _HISTORY}
    history["exact"] = np.full(len(record["mse"]), exact)
    return history


def _initialise(data, k, n_init, solver, rng, n_sig):
    """Random starts of the ``n_init`` restarts side by side: ``(F0, L0)``,
    patterns of ``n_sig`` pixels (fewer than the data's when the restarts
    run on binned patterns). ALS starts from the maps alone; MU from both,
    the maps scaled so that ``L F^T`` has the data's mean."""
    xp, n_nav = data.xp, data.shape[0]
    dtype = np.dtype(data.dtype)
    L0 = _initial_loadings(rng, n_nav, n_init * k, dtype, xp)
    if solver != "mu":
        return xp.zeros((n_sig, n_init * k), dtype=dtype), L0
    F0 = _initial_factors(rng, n_sig, n_init * k, dtype, xp)
    mean = float(np.sqrt(data.squared_norm / (n_nav * data.shape[1])))
    L0 = L0 * float(mean / np.sqrt(k) / max(float(L0.mean()), 1e-12))
    return F0, L0


def _iterate_restarts(
    data,
    F0,
    L0,
    *,
    n_init,
    solver,
    rank,
    rng,
    projectors,
    restart_projectors,
    restart_loss,
    binning,
    **run,
):
    """The restarts, side by side, on the data or on their rank-``rank``
    sketch, of patterns binned by ``binning`` (a
    :class:`~.binning.SignalBinning`) unless it is None; ``run``:
    ``max_iter``, ``tol``, ``n_iter_no_change``, ``prune_restarts``,
    ``progress``; ``projectors`` at full resolution, ``restart_projectors``
    those of the restarts' patterns. Returns the kept restart at full
    resolution (:func:`_settled_unbinned`): the lowest error, or for
    ``restart_loss="poisson"`` the lowest Poisson deviance on ``data``
    (:func:`_least_deviance`)."""
    full = data if rank is None else sketch(data, int(rank), rng)
    iterate_on, spread = full, _unbinned
    if binning is not None:
        iterate_on, spread = binning.of_sketch(full), binning.spread
    state = _State(iterate_on, F0, L0, n_init, *restart_projectors, solver)
    # MU converges too slowly for early rankings to hold: never pruned.
    prune = run["prune_restarts"] and solver == "als"
    state.run(
        run["max_iter"],
        tol=run["tol"],
        n_iter_no_change=run["n_iter_no_change"],
        progress=run["progress"],
        schedule=halving_schedule(run["max_iter"], n_init) if prune else None,
    )
    if restart_loss == "poisson":
        best = _least_deviance(data, state, spread)
    else:
        best = state.best()
    fit = _Fit(
        *spread(*state.block(best)),
        _history_of(state.history[best], exact=rank is None),
        restart_mse=state.final_mse(),
        best_restart=best,
        converged=bool(state.converged[best]),
        rise=state.rise(best),
        # on the data itself, the iteration's passes gave the kept error
        mse=float(state.final_mse()[best]) if rank is None else None,
    )
    if binning is not None:
        fit = _settled_unbinned(full, fit, projectors, solver, run)
    return fit


#: Most iterations of the kept restart on the full sketch after binned
#: restarts (:func:`_settled_unbinned`): enough to sharpen the patterns; at
#: 24 x 24 x 128 x 128, k = 30 running until the error stalls took 70
#: iterations (2 s) and changed the final error by less than 0.01 %.
SETTLE_ITER = 10


def _settled_unbinned(sketched, fit, projectors, solver, run):
    """The kept restart of binned patterns, spread to full resolution,
    iterated on the full sketch (at most :data:`SETTLE_ITER` iterations,
    fewer when it settles: ``tol``, ``n_iter_no_change``).

    Spread patterns are blocky: the Frobenius exact phase recomputes them
    from the maps at its first step, but the Poisson polish updates them
    multiplicatively, and from blocky patterns its deviance kept falling
    for 5 iterations instead of 1 (128 x 128 x 256 x 256 streamed: 8 more
    passes, 52.8 s -> 89.5 s). One restart on the sketch costs no pass.
    """
    state = _continue_kept(
        fit,
        sketched,
        projectors,
        solver,
        min(run["max_iter"], SETTLE_ITER),
        exact=False,
        tol=run["tol"],
        n_iter_no_change=run["n_iter_no_change"],
    )
    fit.converged = bool(state.converged[0])
    return fit


def _unbinned(F, L):
    return F, L


def _least_deviance(data, state, spread=_unbinned) -> int:
    """The restart, among those not pruned, whose kept iterate has the
    lowest Poisson deviance on the counts ``data`` (one pass each); within
    :data:`_TIE` of the lowest, the first.

    Why not the lowest squared error: at low dose the restarts' errors are
    alike while their likelihoods are not. Realistic simulation, seed 101,
    100 counts per pattern, binned scan: errors within 1.1 % of each other,
    deviances 0.0854-0.0876; the restart of lowest error splits a 10 %
    phase (map r -0.16 and 0.66 at its two rotations), the one of lowest
    deviance finds both (1.00, 1.00), for random states 0, 1 and 2.

    Used on the binned scan of a low-dose fit and on small spectra in
    memory (:func:`kept_restart_loss`): there the passes cost little. On
    the full data of a real-size scan each candidate would cost a pass
    (20 s -> 42 s on bench_scale's 64x64 x 256x256 user scan, same
    result), and at high dose the squared error's choice already gives
    every map r >= 0.96 on the realistic simulation (3000 counts, seeds
    101-103).
    """
    deviances = np.full(state.pruned.size, np.inf)
    for restart in np.flatnonzero(~state.pruned):
        deviances[restart] = poisson_deviance(data, *spread(*state.block(int(restart))))
    chosen = _first_of_lowest(deviances)
    return state.best() if chosen is None else chosen


#: Spectra held in memory as counts of at most this many entries pick the
#: kept restart by the Poisson deviance (:func:`kept_restart_loss`): a pass
#: per restart is then a few tens of milliseconds.
DEVIANCE_RESTARTS_MAX_ENTRIES = 2**24


def kept_restart_loss(loss, data, signal_ndim) -> str:
    """The loss that picks the kept restart of a fit with ``loss`` on
    ``data`` whose signal has ``signal_ndim`` dimensions: the Poisson
    deviance for a Poisson fit of spectra (``signal_ndim == 1``) held in
    memory and small (:data:`DEVIANCE_RESTARTS_MAX_ENTRIES`), where its
    passes cost little, else the squared error.

    espm's EDS particles (``benchmarks/bench_spectra.py``, counts, seed 5:
    two particles whose maps correlate 0.79): the restart of lowest squared
    error merges them (worst spectrum cosine 0.18, Poisson deviance 0.6093
    above the truth's 0.6070), one at 1.0014 times that error finds all
    three phases (0.985, deviance 0.6071); seeds 0-4, 6 and 7 keep the same
    restart. Diffraction patterns keep the squared error's choice (at high
    dose every map r >= 0.96 on the realistic simulation, and low-dose
    scans choose on their binned coarse fit, :func:`_least_deviance`).
    """
    n_entries = data.shape[0] * data.shape[1]
    small = not is_streamed(data) and n_entries <= DEVIANCE_RESTARTS_MAX_ENTRIES
    spectra = signal_ndim == 1
    return "poisson" if loss == "poisson" and small and spectra else "frobenius"


def _given_start(init, xp, dtype):
    """A fit from a given start (a coarse fit): no restarts were run."""
    F, L = (xp.asarray(a, dtype=dtype) for a in init)
    history = {key: np.zeros(0) for key in _HISTORY}
    history["exact"] = np.zeros(0, dtype=bool)
    return _Fit(F, L, history, np.full(1, np.nan), 0, False, None)


#: Patience of the Poisson polish (at most ``n_iter_no_change``): its
#: deviance falls for an iteration or a few, then the constraints raise it
#: again, and its best iterate is kept. 2 instead of 10: on the realistic
#: simulation (48x48, seeds 101-103; 3000, 300 and 100 counts) every map's
#: Pearson r is the same or higher (Si at 100 counts 0.86 -> 0.89, 0.93 ->
#: 0.96) and the fits take half the time. 1 instead of 2 (same benchmark,
#: with :data:`POISSON_MAP_ITER` 2): no map's r falls by more than 0.01,
#: the worst map per dose is the same or higher, and a streamed fit reads
#: the data twice fewer (the polish's iterations after its best are each
#: two passes); at 300 counts, seed 103, the polish stops at its best
#: iteration 1 instead of running on to 25 (Mg r 0.96 -> 0.98).
POISSON_NO_CHANGE = 1


def _polish_patience(n_iter_no_change):
    """The polish's ``n_iter_no_change``: None (no early stop) stays None."""
    if n_iter_no_change is None:
        return None
    return min(n_iter_no_change, POISSON_NO_CHANGE)


def _poisson_phase(data, fit, *, n_exact_iter, n_iter_no_change, projectors, progress):
    """Up to ``n_exact_iter`` Poisson (KL) iterations from the Frobenius fit,
    stopped once the deviance stalls (``n_iter_no_change``)."""
    n_before = fit.n_iter
    refined = poisson_refine(
        data,
        fit.F,
        fit.L,
        *projectors,
        n_exact_iter,
        n_iter_no_change=_polish_patience(n_iter_no_change),
        rtol=POISSON_RTOL_STREAMED if is_streamed(data) else NO_CHANGE_RTOL,
        first_iteration=n_before,
        progress=progress,
    )
    _extend_history(fit.history, refined.history, n_before)
    fit.F, fit.L = refined.factors, refined.loadings
    fit.poisson_deviance = refined.deviance
    fit.mse = refined.mse  # the kept iterate's, from the pass that scored it
    fit.rise = None  # the Poisson phase keeps its own best iterate
    return fit


def _exact_phase(data, fit, *, solver, n_exact_iter, projectors, progress):
    """``n_exact_iter`` exact iterations on the data from the kept restart
    (after a sketch or a coarse fit)."""
    _continue_kept(
        fit, data, projectors, solver, n_exact_iter, exact=True, progress=progress
    )
    fit.mse = fit.rise[0]  # its best error, from the passes of its iteration
    return fit


def _pure_phases(data, fit, geometry, loss, project_l):
    """The pure-phase step on the kept fit: diffraction patterns without the
    glass (:func:`~.phases.separate_phases`, 2D signals) or maps without a
    host's floor (:func:`~.map_floors.remove_map_floors`, spectra); returns
    its record."""
    if len(geometry.signal_shape) == 1:
        return _map_floors(fit)
    fit.F, fit.L, phases = separate_phases(
        fit.F,
        fit.L,
        signal_shape=geometry.signal_shape,
        center_rc=geometry.center_rc,
        mask=geometry.signal_mask,
    )
    if phases.crystalline and phases.amorphous:
        fit.L, fit.mse = _refit_maps(data, fit.F, fit.L, loss, project_l, fit.n_iter)
    return phases


def _map_floors(fit):
    """The spectral pure-phase move; the error is recomputed by
    :func:`_finalise` where a move clipped anything."""
    fit.F, fit.L, floors = remove_map_floors(fit.F, fit.L)
    if floors.product_change > 0:
        fit.mse = None
    return floors


def _finalise(data, fit, phases, *, tol, max_iter, compression, start):
    """The result: components sorted by the L2 norm of their maps, the exact
    error, and the warnings (dead components, divergence, ``tol`` not
    reached)."""
    xp, (n_nav, n_sig) = data.xp, data.shape
    order = np.argsort(-to_host(xp.sqrt((fit.L * fit.L).sum(axis=0))), kind="stable")
    fit.F, fit.L = fit.F[:, order], fit.L[:, order]
    if phases is not None:
        phases = phases.reordered(order)
    dead = [int(i) for i in np.flatnonzero(to_host((fit.F**2).sum(axis=0)) == 0)]
    if dead:
        warnings.warn(
            f"{len(dead)} of {fit.F.shape[1]} components became all zero during "
            f"the fit (components {dead} after sorting) and were kept as zeros; "
            "the data may hold fewer components: try a smaller n_components or "
            "another random_state",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
    mse = fit.mse
    if mse is None or not np.isfinite(mse):
        mse = float(data.residual_squared(fit.L, fit.F) / (n_nav * n_sig))
    _warn_divergence(fit.rise, fit.n_iter, mse, data.squared_norm / (n_nav * n_sig))
    if tol > 0 and not fit.converged:
        warnings.warn(
            f"the constrained NMF did not reach tol={tol} within max_iter="
            f"{max_iter} iterations; increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    return NMFResult(
        factors=fit.F,
        loadings=fit.L,
        mse=mse,
        history=fit.history,
        restart_mse=np.asarray(fit.restart_mse),
        best_restart=fit.best_restart,
        n_iter=fit.n_iter,
        converged=bool(fit.converged),
        dead_components=dead,
        compression_rank=None if compression is None else int(compression),
        elapsed=time.perf_counter() - start,
        phase_separation=phases,
        poisson_deviance=fit.poisson_deviance,
    )


def _projectors(geometry, backend, factor_constraints, loading_constraints):
    """The factor and map projections (nonnegativity, then the constraints)."""
    return (
        _Projector(
            factor_constraints,
            geometry.context("factors", backend),
            geometry.signal_mask,
        ),
        _Projector(
            loading_constraints,
            geometry.context("loadings", backend),
            geometry.navigation_mask,
        ),
    )


def _checked_geometry(geometry, shape):
    """``geometry`` (a flat one when None), checked against ``X``'s shape."""
    n_nav, n_sig = shape
    geometry = geometry if geometry is not None else Geometry.flat(n_nav, n_sig)
    if (geometry.n_navigation, geometry.n_signal) != (n_nav, n_sig):
        raise ValueError(
            f"X has shape {shape} (positions, pixels) but the geometry keeps "
            f"{geometry.n_navigation} positions and {geometry.n_signal} pixels"
        )
    return geometry


def _signal_binning(factor, geometry, compression, init):
    """The :class:`~.binning.SignalBinning` of the restarts, or None."""
    if factor == 1 or init is not None:
        return None
    if compression is None:
        raise ValueError(
            f"signal_binning={factor} bins the patterns of the restarts on the "
            "sketch: give compression='auto' (or a rank), or signal_binning=1"
        )
    return bin_signal(geometry, factor)


def _check_rank(compression, k, shape):
    if compression is not None and not k <= compression <= min(shape):
        raise ValueError(
            f"compression={compression!r} must be None, 'auto' or an integer "
            f"rank between n_components={k} and min(X.shape)={min(shape)}"
        )


def solve(
    X,
    *,
    n_components,
    factor_constraints,
    loading_constraints,
    geometry,
    solver,
    loss,
    n_init,
    prune_restarts,
    max_iter,
    tol,
    n_iter_no_change,
    compression,
    n_exact_iter,
    random_state,
    show_progressbar,
    pure_phases=False,
    init=None,
    restart_loss="frobenius",
    signal_binning=1,
) -> NMFResult:
    r"""Factorize ``X ~= loadings @ factors.T`` with constraints.

    The core behind :class:`~hyperspy_cnmf.core.ConstrainedNMF`, which
    declares, validates and resolves every setting
    (:meth:`~hyperspy_cnmf.core.ConstrainedNMF._resolve`) and passes them here
    as keywords, concrete values only (no ``"auto"``): ``compression`` is
    the sketch's rank or None, ``n_exact_iter`` a number, the constraints
    lists of callables, ``loss`` ``"frobenius"`` or ``"poisson"``. The
    other names are documented on the estimator.

    The steps: :func:`_initialise` the restarts, :func:`_iterate_restarts`
    (batched, on the sketch when ``compression``), then the exact phase on
    the data (:func:`_poisson_phase` or :func:`_exact_phase`), then
    :func:`_pure_phases` and :func:`_finalise`.

    ``init`` ``(factors, loadings)``: a start (e.g. the fit of the binned
    scan, :mod:`~hyperspy_cnmf.core.binning`); no restarts, only the exact
    phase. ``restart_loss``: the loss that picks the kept restart; the
    estimator's coarse fit on the binned scan of a low-dose Poisson fit
    passes ``"poisson"`` (:func:`_least_deviance`). ``pure_phases``: run
    :func:`~hyperspy_cnmf.core.phases.separate_phases` (2D patterns) or
    :func:`~hyperspy_cnmf.core.map_floors.remove_map_floors` (1D spectra) on
    the kept fit.
    ``signal_binning``: the restarts run on the sketch of the patterns
    binned ``b x b`` (:func:`~hyperspy_cnmf.core.binning.bin_signal`), the
    exact phase on the data from their maps.
    """
    start = time.perf_counter()
    # n_components is checked against X by the estimator
    geometry = _checked_geometry(geometry, X.shape)
    _check_rank(compression, n_components, X.shape)
    rng = _random_state(random_state)
    data = as_data(X)  # a data object passes through; arrays are not copied
    projectors = _projectors(
        geometry, data.backend, factor_constraints, loading_constraints
    )
    check_fit_memory(data, n_components, n_init, compression)
    binning = _signal_binning(signal_binning, geometry, compression, init)
    restart_projectors = projectors
    if binning is not None:
        restart_projectors = _projectors(
            binning.geometry, data.backend, factor_constraints, loading_constraints
        )
    exact_phase = compression is not None or init is not None
    n_total = (0 if init is not None else max_iter) + (
        n_exact_iter if exact_phase or loss == "poisson" else 0
    )
    progress = _progress(show_progressbar, n_total)
    try:
        if init is None:
            n_sig = X.shape[1] if binning is None else binning.pooling.shape[1]
            F0, L0 = _initialise(data, n_components, n_init, solver, rng, n_sig)
            fit = _iterate_restarts(
                data, F0, L0, n_init=n_init, solver=solver, rank=compression,
                rng=rng, max_iter=max_iter, tol=tol,
                projectors=projectors, restart_projectors=restart_projectors,
                restart_loss=restart_loss, binning=binning,
                n_iter_no_change=n_iter_no_change,
                prune_restarts=prune_restarts, progress=progress,
            )  # fmt: skip
        else:
            fit = _given_start(init, data.xp, np.dtype(data.dtype))
        phase = dict(n_exact_iter=n_exact_iter, projectors=projectors)
        if loss == "poisson":
            fit = _poisson_phase(
                data,
                fit,
                n_iter_no_change=n_iter_no_change,
                progress=progress,
                **phase,
            )
        elif exact_phase and n_exact_iter > 0:
            fit = _exact_phase(data, fit, solver=solver, progress=progress, **phase)
    finally:
        if progress is not None:
            progress.close()
    phases = (
        _pure_phases(data, fit, geometry, loss, projectors[1]) if pure_phases else None
    )
    return _finalise(
        data, fit, phases, tol=tol, max_iter=max_iter, compression=compression,
        start=start,
    )  # fmt: skip
