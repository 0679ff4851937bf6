"""The HyperSpy/pyxem adapter: signals in, native ``learning_results`` out.

* :mod:`.geometry` - a signal's shapes, calibrated axes, beam centre and
  masks as a core :class:`~hyperspy_cnmf.core.Geometry` (array order)
* :mod:`.decomposition` - :func:`decomposition`, the patch-free
  ``s.decomposition(algorithm="constrained_nmf")``
* :mod:`.dispatch` - the algorithm name on HyperSpy's signals (one step
  of :func:`hyperspy_cnmf.install`, the one public install/uninstall)
"""

from .decomposition import ALGORITHM, clear_results, decomposition
from .geometry import beam_center, signal_geometry

__all__ = [
    "ALGORITHM",
    "beam_center",
    "clear_results",
    "decomposition",
    "signal_geometry",
]
