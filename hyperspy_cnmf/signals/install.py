"""Install the signal methods when the package is imported.

``algorithm="constrained_nmf"`` on ``s.decomposition`` and the component
clustering methods. When HyperSpy has moved what we wrap, the package still
imports (the core and the patch-free functions work) and a warning names the
HyperSpy version and the alternatives.
"""

from __future__ import annotations

import warnings

from . import clustering, dispatch

__all__ = ["install_signal_methods"]


def install_signal_methods() -> None:
    """Enable the algorithm name and the clustering methods (idempotent)."""
    try:
        dispatch.install()
    except dispatch.DispatchError as error:
        warnings.warn(str(error), RuntimeWarning, stacklevel=3)
    clustering.install()
