"""Physics-constrained NMF and rotation-invariant clustering for HyperSpy/pyxem.

Importing this package enables ``s.decomposition(algorithm="constrained_nmf")``
on HyperSpy and pyxem signals. The numerical core
(:mod:`hyperspy_cnmf.core`) works on bare numpy/cupy/dask matrices.
"""

from .core import (
    AxisInfo,
    ConstrainedNMF,
    Constraint,
    ConstraintContext,
    ConvergenceWarning,
    GaussianSmoothing,
    Geometry,
    NonNegativity,
    RadialContinuity,
    constrained_nmf,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AxisInfo",
    "ConstrainedNMF",
    "Constraint",
    "ConstraintContext",
    "ConvergenceWarning",
    "GaussianSmoothing",
    "Geometry",
    "NonNegativity",
    "RadialContinuity",
    "constrained_nmf",
]

# HyperSpy adapter: ``s.decomposition(algorithm="constrained_nmf")``.
from .signals import decomposition, signal_geometry  # noqa: E402
from .signals.dispatch import install as _install_dispatch  # noqa: E402

_install_dispatch()
__all__ += ["decomposition", "signal_geometry"]
