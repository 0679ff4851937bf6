r"""Pure-phase maps for spectrum images: take a host's floor out of the maps
of the phases it surrounds.

The dual of :mod:`~hyperspy_cnmf.core.phases` (which purifies diffraction
*patterns*). A factorization ``X ~= L F^T`` (``F``: spectra, (n_sig, k);
``L``: maps, (n_nav, k)) is not unique. On particles in a matrix, NMF
often returns a particle map with a *floor*, a small constant share of the
matrix map across the whole scan (``l_p = t_p + beta l_m``), and a matrix
spectrum lowered by ``beta f_p`` to compensate: ``L F^T`` is the same, but
the matrix spectrum lacks part of the lines that the particles have too
(on espm's EDS particles, a third of the matrix's Al K line: ten noise
deviations below the true spectrum).

**The move.** For a minor component ``i`` and a host ``j``,

.. math::

    l_i \leftarrow \max(l_i - \beta_{ij} l_j, 0), \qquad
    f_j \leftarrow f_j + \beta_{ij} f_i ,

i.e. ``T = I + \beta e_i e_j^T`` on the maps, which leaves ``L F^T``
unchanged except where the clipping to zero acts (negative noise of the
floor) and keeps ``F >= 0``. Moves are applied one after the other, each
exact.

**The assumption.** A phase is absent where another one is pure: where the
host's map is strong (above half its 99th percentile), the minor map is
its floor, so ``beta`` is the *median* of ``l_i / l_j`` there (robust to
the minor phase's own region as long as it covers less than half of the
host's strong pixels). A floor is small: the move is made only when
``beta`` times the host's 99th percentile is at most ``max_share`` of the
minor map's 99th percentile. A larger share is a real co-presence (a
gradient, overlapping particles, a phase spread through the scan) and is
left alone: on the fits of ``benchmarks/bench_spectra.py`` (three seeds
each) the candidate shares are 0.02-0.06 on espm's particles (floors) and
0.13 or more on :func:`~hyperspy_cnmf.data.simulated_spectrum_image`'s
overlapping maps and exspy's ``EELS_MnFe`` line scan.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .backend import get_backend, to_host

__all__ = ["MapFloors", "remove_map_floors"]

MAX_SHARE = 0.1  # a floor: at most a tenth of the minor map's peak
_STRONG = 0.5  # the host's strong pixels: above half its 99th percentile
_MIN_STRONG = 10  # fewer strong pixels give no robust median


@dataclasses.dataclass(frozen=True)
class MapFloors:
    """What :func:`remove_map_floors` did.

    Attributes
    ----------
    coefficients : ndarray, shape (k, k)
        ``coefficients[i, j]``: the multiple of map ``j`` taken out of map
        ``i`` (and of spectrum ``i`` added to spectrum ``j``); 0 where no
        move was made.
    clipped_fraction : ndarray, shape (k,)
        Share of each map's sum clipped to zero by its moves.
    product_change : float
        ``||L' F'^T - L F^T||_F / ||L F^T||_F``; exactly 0 when nothing was
        clipped.
    """

    coefficients: np.ndarray
    clipped_fraction: np.ndarray
    product_change: float

    @property
    def moved(self) -> bool:
        """Whether any floor was taken out."""
        return bool(np.any(self.coefficients > 0))

    def reordered(self, order) -> MapFloors:
        """The same record for components reordered as ``factors[:, order]``."""
        order = np.asarray(order)
        return dataclasses.replace(
            self,
            coefficients=self.coefficients[np.ix_(order, order)],
            clipped_fraction=self.clipped_fraction[order],
        )


def _peak(image, xp) -> float:
    """A map's robust peak: its 99th percentile."""
    return float(xp.quantile(image, 0.99))


def _floor_coefficient(minor, host, host_peak, xp) -> float:
    """The median of ``minor / host`` where ``host`` is strong (0 where the
    host has too few strong pixels)."""
    strong = host > _STRONG * host_peak
    if host_peak <= 0 or int(strong.sum()) < _MIN_STRONG:
        return 0.0
    return float(xp.median(minor[strong] / host[strong]))


def remove_map_floors(factors, loadings, *, max_share=MAX_SHARE):
    r"""Take each host's floor out of the other components' maps, exactly.

    Parameters
    ----------
    factors : ndarray, shape (n_sig, k)
        Nonnegative spectra (HyperSpy's ``learning_results.factors``), one
        column per component. numpy or cupy.
    loadings : ndarray, shape (n_nav, k)
        Their nonnegative maps.
    max_share : float, default 0.1
        The largest floor taken out, as a share of the minor map's 99th
        percentile (the module docstring says why).

    Returns
    -------
    factors, loadings : ndarray
        New arrays; the inputs are not modified.
    record : MapFloors
    """
    if not 0 < max_share < 1:
        raise ValueError(f"max_share={max_share!r} must be between 0 and 1")
    xp = get_backend(factors).xp
    F, L = factors.copy(), loadings.copy()
    k = F.shape[1]
    coefficients = np.zeros((k, k))
    clipped = np.zeros(k)
    total = to_host(L.sum(axis=0)).astype(float)
    peaks = [_peak(L[:, c], xp) for c in range(k)]  # a map's changes with its moves
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            beta = _floor_coefficient(L[:, i], L[:, j], peaks[j], xp)
            if not 0 < beta * peaks[j] <= max_share * peaks[i]:
                continue
            lowered = L[:, i] - beta * L[:, j]
            clipped[i] += float(-xp.minimum(lowered, 0).sum())
            L[:, i] = xp.maximum(lowered, 0)
            F[:, j] = F[:, j] + beta * F[:, i]
            coefficients[i, j] += beta
            peaks[i] = _peak(L[:, i], xp)
    record = MapFloors(
        coefficients=coefficients,
        clipped_fraction=clipped / np.maximum(total, 1e-300),
        product_change=_product_change(factors, loadings, F, L),
    )
    return F, L, record


def _product_change(F0, L0, F1, L1) -> float:
    """``||L1 F1^T - L0 F0^T||_F / ||L0 F0^T||_F`` from the k x k Gram
    matrices (the products themselves are as large as the data)."""

    def inner(La, Fa, Lb, Fb):
        return float(to_host(((La.T @ Lb) * (Fa.T @ Fb)).sum()))

    old = inner(L0, F0, L0, F0)
    diff = inner(L1, F1, L1, F1) - 2 * inner(L0, F0, L1, F1) + old
    return float(np.sqrt(max(diff, 0.0) / old)) if old > 0 else 0.0
