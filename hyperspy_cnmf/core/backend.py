"""The array backend of a fit: numpy or cupy, resolved once from the data.

Everything that depends on where the arrays live goes through one
:class:`Backend`: the array module (``xp``), its ``ndimage`` and ``sparse``
modules, and the moves to and from the host. The solver resolves it once per
fit with :func:`get_backend` and hands it to every constraint in its
context (``context.backend``), so that a user's constraint is written once::

    def my_constraint(images, context):
        be = context.backend
        return be.ndimage.median_filter(images, size=(1, 3, 3))

and runs unchanged on numpy and cupy data. Dask arrays are data, not a
backend: their backend is that of their blocks (``X._meta``).

cupy is imported only when the data are cupy arrays.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = [
    "Backend",
    "NUMPY",
    "get_backend",
    "is_dask",
    "as_float",
    "float_dtype",
    "to_host",
]


@dataclass(frozen=True)
class Backend:
    """Where a fit's arrays live, and the modules that work on them.

    Attributes
    ----------
    name : {"numpy", "cupy"}
    xp : module
        The array module (``numpy`` or ``cupy``).
    ndimage : module
        ``scipy.ndimage`` or ``cupyx.scipy.ndimage``.
    sparse : module
        ``scipy.sparse`` or ``cupyx.scipy.sparse``.
    """

    name: str
    xp: ModuleType
    ndimage: ModuleType
    sparse: ModuleType

    def asarray(self, a, dtype=None):
        """``a`` on this backend (a no-op for arrays already there)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        """``a`` as a numpy array (copied from the device for cupy)."""
        return to_host(a)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def _numpy_backend() -> Backend:
    import scipy.ndimage
    import scipy.sparse

    return Backend("numpy", np, scipy.ndimage, scipy.sparse)


def _cupy_backend() -> Backend:
    import cupy
    import cupyx.scipy.ndimage
    import cupyx.scipy.sparse

    return Backend("cupy", cupy, cupyx.scipy.ndimage, cupyx.scipy.sparse)


NUMPY = _numpy_backend()
_CUPY: list[Backend] = []  # built on first use: importing cupy is slow


def is_dask(a) -> bool:
    """Whether ``a`` is a dask array (without importing dask)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(a, dask_array.Array)


def _is_cupy(a) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(a, cupy.ndarray)


def get_backend(a) -> Backend:
    """The backend of an array: cupy for cupy arrays (or dask arrays of
    cupy blocks), numpy for everything else."""
    if is_dask(a):
        a = a._meta
    if not _is_cupy(a):
        return NUMPY
    if not _CUPY:
        _CUPY.append(_cupy_backend())
    return _CUPY[0]


def to_host(a) -> np.ndarray:
    """A numpy array from numpy, cupy or dask input (dask is computed)."""
    if is_dask(a):
        a = a.compute()
    if _is_cupy(a):
        return a.get()
    return np.asarray(a)


def as_float(X):
    """Real floating data, converting only what must be converted.

    Integer and boolean data become float32 when every value is exactly
    representable (|x| < 2**24, true of detector counts), float64 otherwise;
    float16 becomes float32; float32 and float64 are returned as they are
    (converted to native byte order when they are not).
    Complex data raise, naming the fix. Dask arrays stay lazy (integers then
    become float32 only for types narrower than 32 bits).
    """
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(
            f"the data are complex ({X.dtype}); NMF needs real nonnegative "
            "numbers: take the modulus (abs) or the intensity (abs(x)**2) first"
        )
    if kind in "iub":
        return X.astype(_float_for_integers(X))
    if kind != "f":
        raise TypeError(
            f"the data have dtype {X.dtype}; NMF needs real numbers: convert "
            "them to float first"
        )
    if X.dtype.itemsize < 4:
        return X.astype(np.float32)
    if not X.dtype.isnative:  # big-endian detector files
        return X.astype(X.dtype.newbyteorder("="))
    return X


def _float_for_integers(X):
    """float32 when it holds every integer of ``X`` exactly, else float64."""
    if X.dtype.itemsize <= 2:  # (u)int8, (u)int16, bool: all below 2**24
        return np.float32
    if is_dask(X) or X.size == 0:
        return np.float64
    xp = get_backend(X).xp
    largest = max(abs(int(xp.max(X))), abs(int(xp.min(X))))
    return np.float32 if largest < 2**24 else np.float64


def float_dtype(X) -> np.dtype:
    """The floating type a fit works in for ``X``, without converting ``X``.

    The type :func:`as_float` would give: float32 for integer counts below
    2**24 and for float16, float32/float64 kept, float64 for wider integers;
    always in native byte order (detector files are often big-endian, which
    scipy.sparse and numba refuse: the blocks are converted as they are read).
    Complex or non-numeric data raise, naming the fix.
    """
    kind = X.dtype.kind
    if kind == "c" or kind not in "iubf":
        as_float(X[:0] if getattr(X, "ndim", 0) else X)  # raises, naming the fix
    if kind in "iub":
        return np.dtype(_float_for_integers(X)).newbyteorder("=")
    return np.dtype(np.float32 if X.dtype.itemsize < 4 else X.dtype).newbyteorder("=")
