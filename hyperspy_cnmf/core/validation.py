"""Input checks shared by the solvers, the estimator and the adapter.

Every check names the problem and the fix; none modifies its input.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import warnings

import numpy as np

from .backend import float_dtype, get_backend, is_dask
from .data import BlockData, DenseData, as_data, is_data

_logger = logging.getLogger(__name__)

__all__ = [
    "check_data",
    "check_n_components",
    "check_constraints",
    "check_constraint_output",
]


def _package_dirs():
    dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sklearn = sys.modules.get("sklearn")
    if sklearn is not None:  # its fit/transform wrappers sit between user and us
        dirs.append(os.path.dirname(os.path.abspath(sklearn.__file__)))
    return tuple(dirs)


def user_stacklevel() -> int:
    """``stacklevel`` pointing a warning at the user's line, not at our internals."""
    inside = _package_dirs()
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        inside
    ):
        frame, level = frame.f_back, level + 1
    if frame is None or frame.f_code.co_filename.startswith("<frozen"):
        # run as ``python -m hyperspy_cnmf``: our own __main__ is the caller
        return max(1, level - 1)
    return level


def _check_scale(maximum, dtype):
    """Refuse data whose products (X X^T, W^T W) would overflow or underflow."""
    finfo = np.finfo(dtype)
    # The solver forms sums of products of data values: keep their squares
    # well inside the type's range.
    high = math.sqrt(float(finfo.max)) / 1e3
    low = math.sqrt(float(finfo.tiny)) * 1e3
    fix = (
        "rescale the data (e.g. s.data = s.data / s.data.max(), or multiply "
        "by a constant) "
        + ("or convert them to float64 " if finfo.bits < 64 else "")
        + "before the fit; the factors scale back linearly"
    )
    if maximum > high:
        raise ValueError(
            f"the data reach {maximum:.3g}, too close to the {dtype} limit "
            f"({float(finfo.max):.3g}): the fit's products would overflow; {fix}"
        )
    if 0 < maximum < low:
        raise ValueError(
            f"the data are at most {maximum:.3g}, "
            f"too close to the {dtype} underflow limit ({float(finfo.tiny):.3g}): "
            f"the fit's products would underflow to zero; {fix}"
        )


def check_data(X, *, fitting=True):
    """Validate a data matrix or data object; return it unchanged.

    ``fitting=False`` (data to transform): all-zero data and rows are fine
    (their maps are zero); finiteness, sign and scale are still checked.

    Nothing is converted or copied: integer counts are checked as integers,
    in-memory arrays in blocks of rows, dask arrays in one pass (whose
    ``||X||^2`` a data object keeps for the fit).

    Raises
    ------
    ValueError
        For non-2D input, NaN/inf, negative values or all-zero data.
    TypeError
        For complex or non-numeric data.
    """
    if is_data(X):
        data = X
    else:
        if not is_dask(X) and get_backend(X).name == "numpy":
            X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2D (positions, pixels), got shape {X.shape}; unfold "
                "the data first (HyperSpy: s.unfold())"
            )
        if min(X.shape) < 1:
            raise ValueError(f"X has shape {X.shape}: it holds no data")
        float_dtype(X)  # complex or non-numeric data raise, naming the fix
        data = as_data(X)
        if isinstance(data, DenseData):  # its checks in blocks, like counts
            data = BlockData(X)
    finite, minimum, maximum, row_sums, col_sums, _ = data.stats()
    # A caller that builds the data object names what the user gave it
    # (the HyperSpy adapter: "the signal's data"); X otherwise.
    what = getattr(data, "label", None) or "X"
    if not finite:
        raise ValueError(
            f"{what} contains NaN or infinite values; replace them (e.g. "
            "np.nan_to_num) or exclude those pixels/positions with a mask"
            + (" (signal_mask / navigation_mask)" if what != "X" else "")
        )
    if minimum < 0:
        raise ValueError(
            f"Negative values in data passed to constrained NMF (minimum "
            f"{minimum:.3g}); NMF needs nonnegative data: clip them "
            "(np.clip(X, 0, None)) or subtract a smaller background"
        )
    if not fitting:
        return X
    if float(row_sums.max()) == 0:
        raise ValueError(f"{what} is all zero: there is nothing to factorize")
    _check_scale(float(maximum), data.dtype)
    n_zero_rows = int((row_sums == 0).sum())
    n_zero_cols = int((col_sums == 0).sum())
    # All-zero pixels are normal (detector corners, pixels beyond the camera
    # length) and harmless: their factors stay zero. A note, not a warning.
    if n_zero_cols:
        _logger.info(
            "X has %d all-zero columns (pixels); they carry no information: "
            "mask them (signal_mask) to save time",
            n_zero_cols,
        )
    if n_zero_rows:
        warnings.warn(
            f"X has {n_zero_rows} all-zero rows (positions); they carry no "
            "information and their maps are zero: mask them "
            "(navigation_mask) to save time",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return X


def check_n_components(n_components, shape):
    """``n_components`` must be an integer in ``[1, min(shape)]`` (warns at the top)."""
    if n_components is None:
        raise ValueError(
            "n_components (output_dimension) must be given: the number of "
            "components to extract"
        )
    if (
        not isinstance(n_components, (int, np.integer))
        or isinstance(n_components, bool)
        or n_components < 1
    ):
        raise ValueError(f"n_components={n_components!r} must be a positive integer")
    limit = min(shape)
    sizes = f"n_samples = {shape[0]} positions, n_features = {shape[1]} pixels"
    if n_components > limit:
        raise ValueError(
            f"n_components={n_components} is larger than min(n_positions, "
            f"n_pixels) = {limit} ({sizes}); choose at most {limit - 1} components"
        )
    if n_components == limit:
        warnings.warn(
            f"n_components={n_components} equals min(n_positions, n_pixels) "
            f"({sizes}): the factorization reduces nothing and is not unique; "
            "choose fewer components",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return int(n_components)


def check_constraints(constraints, name):
    """A list of callables (None means none)."""
    if constraints is None:
        return []
    if callable(constraints):  # one constraint (or a class, refused below)
        constraints = [constraints]
    constraints = list(constraints)
    for c in constraints:
        if isinstance(c, type):  # a class: it would be called as a constructor
            raise TypeError(
                f"{name} holds the class {c.__name__}, not a constraint: "
                f"give an instance, {c.__name__}() (with its parameters)"
            )
        if not callable(c):
            raise TypeError(
                f"{name} must hold callables constraint(images, context) -> "
                f"images; got {c!r}"
            )
    return constraints


def check_constraint_output(out, images, constraint, role):
    """A constraint must return a finite array of its input's shape."""
    shape = getattr(out, "shape", None)
    if shape != images.shape:
        raise ValueError(
            f"the {role} constraint {constraint!r} returned shape {shape}, "
            f"expected {images.shape} (n_images, *image_shape); it must return "
            "an array of the same shape as its input"
        )
    xp = get_backend(images).xp
    if not bool(xp.isfinite(out).all()):
        raise ValueError(
            f"the {role} constraint {constraint!r} returned NaN or infinite "
            "values; guard its divisions (e.g. by xp.maximum(d, tiny))"
        )
