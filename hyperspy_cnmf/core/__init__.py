"""Numerical core: arrays in, arrays out, no HyperSpy import.

* :mod:`.solver` - the constrained ALS / MU loop with batched restarts
* :mod:`.estimator` - :class:`ConstrainedNMF`, the scikit-learn estimator
  (every setting declared once, here), and :func:`constrained_nmf`
* :mod:`.backend` - numpy or cupy, resolved once per fit
* :mod:`.phases` - pure-phase factors (the amorphous part taken out of the
  crystalline ones by an exact re-parameterisation)
* :mod:`.constraints` - the constraint protocol and the built-in constraints
* :mod:`.polar` - polar resampling about a beam centre (sparse, built once)
* :mod:`.geometry` - shapes, calibrated axes, centre and masks of the data
* :mod:`.data` - the data matrix as products (numpy, cupy, dask, sketch)
* :mod:`.kernels` - products of integer counts without a float copy (numba)
"""

from .backend import Backend, get_backend
from .constraints import (
    Constraint,
    GaussianSmoothing,
    NonNegativity,
    RadialContinuity,
    SpectralContinuity,
    paper_factor_constraints,
    paper_loading_constraints,
)
from .estimator import ConstrainedNMF, constrained_nmf, nonnegative_loadings
from .geometry import AxisInfo, ConstraintContext, Geometry
from .map_floors import MapFloors, remove_map_floors
from .phases import PhaseSeparation, refit_maps, separate_phases
from .polar import PolarOperator, polar_operator
from .solver import ConvergenceWarning, NMFResult

__all__ = [
    "AxisInfo",
    "Backend",
    "ConstrainedNMF",
    "Constraint",
    "ConstraintContext",
    "ConvergenceWarning",
    "GaussianSmoothing",
    "Geometry",
    "MapFloors",
    "NMFResult",
    "NonNegativity",
    "PhaseSeparation",
    "PolarOperator",
    "RadialContinuity",
    "SpectralContinuity",
    "constrained_nmf",
    "get_backend",
    "nonnegative_loadings",
    "paper_factor_constraints",
    "paper_loading_constraints",
    "polar_operator",
    "refit_maps",
    "remove_map_floors",
    "separate_phases",
]
