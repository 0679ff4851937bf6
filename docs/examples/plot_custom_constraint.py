"""
Writing your own constraint
===========================

A constraint is any callable ``constraint(images, context) -> images``. It
receives the diffraction patterns (``role="factors"``) or the maps
(``role="loadings"``) refolded to 2D, with the calibrated axes, the beam
centre and the mask in ``context``
(:class:`~hyperspy_cnmf.core.geometry.ConstraintContext`), and returns an
array of the same shape. Deriving from
:class:`~hyperspy_cnmf.core.constraints.Constraint` is optional; it gives a
readable ``repr`` (shown by ``print(s.learning_results)`` and stored in
``cnmf_factor_constraints``) built from the ``__init__`` parameters.

This example writes two constraints that work in calibrated units:

* ``KCutoff`` zeroes the diffraction patterns beyond a scattering vector
  ``|k|`` given in the signal's reciprocal units (1/nm);
* ``LorentzianSmoothing`` convolves the maps with a Lorentzian probe tail of
  half width ``gamma`` given in the scan's units (nm), the kind of kernel the
  paper's discussion suggests for other instruments.
"""

import matplotlib.pyplot as plt
import numpy as np

import hyperspy_cnmf
from hyperspy_cnmf import Constraint, RadialContinuity
from hyperspy_cnmf.data import simulated_4dstem

# %%
# A constraint on the diffraction patterns
# ----------------------------------------
# ``context.axes`` holds one :class:`~hyperspy_cnmf.core.geometry.AxisInfo`
# per image axis in array order ``(rows, cols)``, with
# ``value = offset + scale * index``. For a pyxem signal whose centre is
# calibrated, the calibrated value is the scattering vector, zero at the beam
# centre. ``context.backend`` says where ``images`` live, resolved once per
# fit: ``backend.xp`` is their array module (numpy, or cupy on a GPU),
# ``backend.ndimage`` and ``backend.sparse`` the matching ``scipy.ndimage``
# and ``scipy.sparse``. Written against them, the same code runs on both.


class KCutoff(Constraint):
    """Zero every pixel beyond ``|k| > k_max`` (signal axis units)."""

    def __init__(self, k_max):
        self.k_max = k_max

    def _keep(self, context):
        rows, cols = context.axes
        k_row = rows.offset + rows.scale * np.arange(rows.size)
        k_col = cols.offset + cols.scale * np.arange(cols.size)
        keep = np.hypot(k_row[:, None], k_col[None, :]) <= self.k_max
        return context.backend.asarray(keep)  # to the device, once per fit

    def __call__(self, images, context):
        # Built once per fit: the context's cache lives for one fit.
        keep = context.cached(("KCutoff", self.k_max), lambda: self._keep(context))
        return images * keep  # a new array; the input is not modified


# %%
# A constraint on the maps
# ------------------------
# For the maps, ``context.axes`` are the navigation axes (scan step and
# units). The kernel is built in pixels from ``gamma`` in the axes' units,
# and the convolution is normalised so that the scan edges (and positions
# excluded by a navigation mask) do not pull the maps towards zero. The
# convolution is the backend's ``ndimage.convolve``: scipy's on numpy data,
# cupyx's on a GPU.


class LorentzianSmoothing(Constraint):
    """Convolve maps with a 2D Lorentzian of half width ``gamma`` (scan units)."""

    def __init__(self, gamma, half_size=2):
        self.gamma = gamma
        self.half_size = half_size

    def kernel(self, context):
        rows, cols = context.axes
        dy = np.arange(-self.half_size, self.half_size + 1) * abs(rows.scale)
        dx = np.arange(-self.half_size, self.half_size + 1) * abs(cols.scale)
        r2 = dy[:, None] ** 2 + dx[None, :] ** 2
        kernel = 1.0 / (1.0 + r2 / self.gamma**2) ** 1.5  # 2D Lorentzian (Cauchy)
        return kernel / kernel.sum()

    def __call__(self, images, context):
        be = context.backend
        kernel = context.cached(
            ("Lorentzian", self.gamma),
            lambda: be.asarray(self.kernel(context), dtype=images.dtype)[None],
        )
        weight = be.xp.ones(context.shape, dtype=images.dtype)
        if context.mask is not None:
            weight[be.asarray(context.mask)] = 0
        norm = be.ndimage.convolve(weight, kernel[0], mode="constant")
        out = be.ndimage.convolve(images * weight, kernel, mode="constant")
        return out / be.xp.maximum(norm, 1e-12) * weight


# %%
# Check the constraints on their own
# ----------------------------------
# :meth:`Geometry.context <hyperspy_cnmf.core.geometry.Geometry.context>`
# builds the context a fit would hand over, so a constraint can be tested on
# plain arrays. :func:`hyperspy_cnmf.signal_geometry` reads the geometry of
# a signal (calibrated axes in array order, beam centre, masks).

s = simulated_4dstem(navigation_shape=(24, 24), signal_shape=(64, 64), seed=1)
geometry = hyperspy_cnmf.signal_geometry(s)
print(geometry.signal_axes)
print("beam centre (x, y) px:", geometry.center)  # geometry.center_rc: (row, col)

factor_context = geometry.context("factors")
patterns = np.ones((2, 64, 64), dtype=np.float32)
cut = KCutoff(k_max=5.0)(patterns, factor_context)
print("kept pixels:", int(cut[0].sum()), "of", cut[0].size)
assert cut.shape == patterns.shape and cut[0, 32, 32] == 1 and cut[0, 0, 0] == 0
assert np.array_equal(KCutoff(5.0)(cut, factor_context), cut)  # idempotent

map_context = geometry.context("loadings")
impulse = np.zeros((1, 24, 24))
impulse[0, 12, 12] = 1.0
smoothed = LorentzianSmoothing(gamma=1.5)(impulse, map_context)
assert np.isclose(smoothed.sum(), 1.0)  # normalised away from the edges
print(LorentzianSmoothing(gamma=1.5).kernel(map_context).round(3))

# %%
# Use them in a decomposition
# ---------------------------
# Constraints are applied in list order after each half-step, between two
# nonnegativity projections. Here the patterns get the paper's radial
# continuity and then the cutoff; the maps get the Lorentzian.

s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=4,
    factor_constraints=[RadialContinuity(), KCutoff(k_max=5.0)],
    loading_constraints=[LorentzianSmoothing(gamma=1.5)],
    n_init=2,
    max_iter=60,
    random_state=0,
    show_progressbar=False,
)
print(s.learning_results.cnmf_factor_constraints)
print(s.learning_results.cnmf_loading_constraints)

# %%
# The factors are zero beyond ``|k| = 5 / nm`` (dashed circle) and the maps
# are smooth.

factors = s.get_decomposition_factors()
loadings = s.get_decomposition_loadings()
radius_px = 5.0 / geometry.signal_axes[0].scale
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2), layout="constrained")
for k in range(4):
    axes[0, k].imshow(np.sqrt(np.clip(factors.inav[k].data, 0, None)), cmap="inferno")
    axes[0, k].add_patch(
        plt.Circle(geometry.center, radius_px, fill=False, ls="--", color="c")
    )
    axes[0, k].set_title(f"factor {k}", fontsize=9)
    axes[1, k].imshow(loadings.inav[k].data, cmap="viridis")
    axes[1, k].set_title(f"map {k}", fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()
