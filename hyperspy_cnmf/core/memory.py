"""Peak memory of a fit, estimated before it starts.

A fit holds, besides the data (which the data classes never copy): the
stacked restarts' factors and maps and their products (``(n_nav + n_sig)``
by ``n_init * k``), the randomized sketch when one is used (``(n_nav +
n_sig)`` by its rank, partly in float64) and the data class's bounded
working blocks (:attr:`work_bytes`). :func:`check_fit_memory` compares this
with the memory available (``psutil``, when installed) and refuses a fit
that cannot fit, saying how much is needed and what to do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["available_memory", "fit_memory", "check_fit_memory", "format_bytes"]

MARGIN = 1.25  # constraints' operators, temporaries of small products


def available_memory() -> int | None:
    """Bytes of memory available now (psutil), None when unknown."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return None
    return int(psutil.virtual_memory().available)


def format_bytes(n) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def fit_memory(shape, n_components, n_init, rank=None, itemsize=4, work_bytes=0):
    """Estimated peak bytes of a fit on data of ``shape``, beyond the data.

    Parameters
    ----------
    shape : (n_nav, n_sig)
    n_components, n_init : int
    rank : int or None
        Sketch rank (None: exact iterations throughout).
    itemsize : int
        Bytes of the working float type.
    work_bytes : int
        The data class's working blocks.
    """
    n_nav, n_sig = (int(v) for v in shape)
    columns = n_init * n_components
    # L, F, their previous values, X^T L, X F and the changes
    need = 8 * (n_nav + n_sig) * columns * itemsize
    if rank is not None:
        # test matrix and range basis in float64, the sketch itself
        need += 4 * (n_nav + n_sig) * int(rank) * 8
    return int(MARGIN * need + work_bytes)


def check_fit_memory(data, n_components, n_init, rank=None, available=None):
    """Raise a MemoryError naming the fix when the fit cannot fit in memory.

    Returns the estimated need in bytes.
    """
    need = fit_memory(
        data.shape,
        n_components,
        n_init,
        rank,
        np.dtype(data.dtype).itemsize,
        getattr(data, "work_bytes", 0),
    )
    if available is None:
        available = available_memory()
    if available is not None and need > available:
        raise MemoryError(
            f"the constrained NMF of {data.shape[0]} x {data.shape[1]} data "
            f"with n_components={n_components} and n_init={n_init} needs about "
            f"{format_bytes(need)} beyond the data, but only "
            f"{format_bytes(available)} are available. Use compression='auto' "
            "(or a smaller rank), fewer components or restarts (n_init), or "
            "mask pixels that carry no information (signal_mask); for data "
            "larger than memory use a lazy signal (hs.load(..., lazy=True)), "
            "which is streamed chunk by chunk"
        )
    return need
