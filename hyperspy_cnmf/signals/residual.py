"""``s.residual_check()``: where the last decomposition left a structured
residual (a phase its components miss), as a map and a message."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.residual import ResidualCheck, structured_residual
from .clustering import _component_patterns
from .geometry import array_shapes

__all__ = ["residual_check"]


class ResidualMap(NamedTuple):
    """What :func:`residual_check` returns."""

    map: object  # hyperspy Signal2D over the scan
    check: ResidualCheck


def _looks_like_counts(data, n_sig) -> bool:
    if np.issubdtype(data.dtype, np.integer):
        return True
    first = np.asarray(data.reshape(-1, n_sig)[: min(64, data.size // n_sig)])
    return bool(np.all(first >= 0) and np.all(first == np.round(first)))


def residual_check(signal, *, sigma=1.5, signal_mask=None, print_info=True):
    """Map where the decomposition's residual keeps structure; say which k to try.

    The residual ``X - L F^T`` of every probe position (in Poisson standard
    deviations where the data are counts) is averaged with its 3 x 3
    neighbours (a grain's disks are the same at each of its positions;
    counting noise and a glass speckle that differs from position to
    position average down), blurred over the detector (``sigma`` pixels:
    Bragg disks survive, counting noise mostly does not), and its power is
    compared with the scan's median
    (:func:`hyperspy_cnmf.core.residual.structured_residual`). A connected
    patch far above it is a phase the components miss: the message suggests
    ``output_dimension = k + 1``.

    Works with any decomposition of a signal with 2 navigation and 2 signal
    axes, lazy or not (the data are read block by block: bands of scan rows,
    each with the row above and below it).

    Limits: at low doses (a few hundred counts per pattern) the counting
    noise of a 3 x 3 window hides a missed phase whose pattern differs
    little from a found one (a second rotation of it): on
    :func:`hyperspy_cnmf.data.realistic_4dstem` the check flags a missed
    rotation at 3000 counts per pattern, not at 300.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        After ``s.decomposition(...)``.
    sigma : float
        Blur of the detector image in pixels, about a disk's radius.
    signal_mask : bool array or signal, optional
        Excluded detector pixels (True), besides the decomposition's and
        pyxem's ``s.calibration.mask``.
    print_info : bool
        Print the message.

    Returns
    -------
    ResidualMap
        ``map``: a ``Signal2D`` over the scan, the score (1: the scan's
        median); ``check``: the :class:`~hyperspy_cnmf.core.residual.ResidualCheck`
        (``flagged`` positions, ``suggested_k``, ``message``).
    """
    import hyperspy.api as hs

    if signal.axes_manager.navigation_dimension != 2:
        raise ValueError(
            "residual_check needs a 2D scan (2 navigation axes); this signal has "
            f"{signal.axes_manager.navigation_dimension}"
        )
    patterns, mask = _component_patterns(signal, signal_mask)
    nav_shape, sig_shape = array_shapes(signal)
    n_sig = int(np.prod(sig_shape))
    loadings = np.asarray(signal.learning_results.loadings, dtype=np.float64)
    data = signal.data.reshape(int(np.prod(nav_shape)), n_sig)
    check = structured_residual(
        data,
        patterns.reshape(len(patterns), -1).T,
        loadings,
        navigation_shape=nav_shape,
        signal_shape=sig_shape,
        mask=mask,
        counts=_looks_like_counts(signal.data, n_sig),
        sigma=sigma,
    )
    score = hs.signals.Signal2D(check.score)
    for mine, theirs in zip(
        score.axes_manager.signal_axes,
        signal.axes_manager.navigation_axes,
        strict=True,
    ):
        mine.name, mine.units = theirs.name, theirs.units
        mine.scale, mine.offset = theirs.scale, theirs.offset
    title = signal.metadata.get_item("General.title", "") or "signal"
    score.metadata.General.title = f"Structured residual of {title}"
    if print_info:
        print(check.message)
    return ResidualMap(score, check)
