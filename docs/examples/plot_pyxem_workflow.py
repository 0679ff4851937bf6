"""
The pyxem workflow: centre, calibrate, mask, decompose, integrate
=================================================================

What a user does with a real 4D-STEM scan, on the package's simulated data:

1. centre the direct beam in every pattern (``center_direct_beam``);
2. check the calibration that the constraints use: beam centre, scale,
   units and mask (``s.calibration``);
3. mask the direct beam (``get_direct_beam_mask``);
4. run the constrained decomposition;
5. read the diffraction factors as radial profiles and polar images with
   pyxem's ``get_azimuthal_integral1d`` / ``get_azimuthal_integral2d``.

The scan is small and the fit short (2 restarts of 60 iterations) so that
the page builds in seconds; the paper's protocol is ``n_init=10,
max_iter=500`` (the defaults).
"""

# sphinx_gallery_thumbnail_number = 3

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
from hyperspy_cnmf.data import simulated_4dstem
from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps

# %%
# A scan with a direct beam that wanders
# --------------------------------------
# ``simulated_4dstem`` returns a calibrated pyxem ``ElectronDiffraction2D``
# (scan step 1.5 nm, detector 0.2 1/nm per pixel) with the beam on the
# middle pixel of a 65 x 65 detector. A real scan's beam drifts with the
# probe position (descan): we shift each pattern by up to two pixels to
# imitate it (whole pixels, so that no interpolation blurs the counts).

s = simulated_4dstem(
    navigation_shape=(24, 24), signal_shape=(65, 65), direct_beam=True, seed=0
)
rows, cols = np.indices(s.axes_manager.navigation_shape[::-1])
drift = np.rint(np.stack([0.15 * rows - 1.7, 2.0 - 0.15 * cols], axis=-1))
for index in np.ndindex(*rows.shape):  # drift[index] = (dy, dx) in pixels
    s.data[index] = ndimage.shift(s.data[index], drift[index], order=0)
print(s)

# %%
# 1. Centre the direct beam
# -------------------------
# pyxem finds the beam in each pattern (here by blurring and taking the
# maximum) and shifts the pattern so that the beam sits at the middle of the
# detector; ``subpixel=False`` shifts by whole pixels, without
# interpolation. The shifts are a signal over the scan: look at them before
# trusting them (here they undo the drift we added, a ramp along each axis).
# A beam that is not found in some patterns shows up as outliers.

shifts = s.get_direct_beam_position(method="blur", sigma=2, half_square_width=10)
s = s.center_direct_beam(shifts=shifts, inplace=False, subpixel=False)
axes = hs.plot.plot_images(
    shifts.T,
    label=["beam position x (px)", "beam position y (px)"],
    cmap="RdBu_r",
    centre_colormap=True,
    colorbar="multi",
    axes_decor="off",
    scalebar="all",
    suptitle="Direct-beam position found by pyxem",
    tight_layout=True,
)

# %%
# 2. The calibration the constraints use
# --------------------------------------
# The radial-continuity constraint and the component clustering work in
# polar coordinates about the beam centre, read from ``s.calibration``
# (``centre_px = -offset / scale`` on each signal axis, in pyxem's (x, y)
# order). After ``center_direct_beam`` the beam is on the middle pixel, so
# we put the centre there, and check it against the centre of mass of the
# beam in the mean pattern: half a pixel off blurs every ring of the polar
# transform. Scale and units are what the axes of every figure below show.

s.calibration.center = None  # the middle of the pattern
print("centre (x, y) px:", s.calibration.center)
print("scale:", s.calibration.scale, "units:", s.calibration.units)

mean_pattern = s.mean()
y, x = np.indices(mean_pattern.data.shape)
cx, cy = s.calibration.center
beam = mean_pattern.data * (np.hypot(x - cx, y - cy) < 4)
print(
    f"beam centre of mass (x, y) px: {(beam * x).sum() / beam.sum():.2f}, "
    f"{(beam * y).sum() / beam.sum():.2f}"
)

# %%
# 3. Mask the direct beam
# -----------------------
# The direct beam is not a component: it is in every pattern. Its pixels are
# excluded with a mask (True = excluded, like HyperSpy). Put it in
# ``s.calibration.mask`` (the decomposition uses it when no ``signal_mask``
# is given) or pass it as ``signal_mask=``. The radius is in pixels.

beam_mask = s.get_direct_beam_mask(radius=4)
s.calibration.mask = beam_mask
print("masked pixels:", int(beam_mask.data.sum()))

masked_mean = mean_pattern.deepcopy()
masked_mean.data[beam_mask.data] = np.nan
axes = hs.plot.plot_images(
    [mean_pattern, masked_mean],
    label=["mean pattern", "with the beam masked (NaN)"],
    cmap="inferno",
    colorbar="multi",
    axes_decor="off",
    scalebar="all",
    suptitle="Mean diffraction pattern",
    tight_layout=True,
)

# %%
# 4. The constrained decomposition
# --------------------------------
# HyperSpy's own ``decomposition``, with the calibrated centre and the mask
# taken from the signal. The factors and maps are drawn with HyperSpy's
# ``plot_images`` on the calibrated axes.

s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=4,
    n_init=2,
    max_iter=60,
    random_state=0,
    print_info=False,
    show_progressbar=False,
)
print("beam centre used (x, y) px:", s.learning_results.cnmf_center_xy)
fig = plot_factors_and_maps(s, title="Constrained NMF, direct beam masked")

# %%
# 5. The factors through pyxem's azimuthal integration
# ----------------------------------------------------
# ``s.get_decomposition_factors()`` is an ``ElectronDiffraction2D`` with the
# detector calibration, so pyxem's integrators apply to it directly. The
# masked pixels are NaN in the factors (nothing was fitted there), and pyxem
# passes the NaN on: the radial profiles have no value inside the beam
# mask. That is honest; to fill them instead, decompose with
# ``reproject="signal"``, which fits the masked pixels afterwards by
# nonnegative least squares against the maps (they then also carry the
# direct beam, which is in every pattern).

factors = s.get_decomposition_factors()
print("NaN pixels per factor:", np.isnan(factors.data).sum(axis=(1, 2)))

profiles = factors.get_azimuthal_integral1d(npt=60)
fig_profiles, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
k_axis = profiles.axes_manager.signal_axes[0]
for i in range(profiles.axes_manager.navigation_size):
    ax.plot(k_axis.axis, profiles.inav[i].data, label=f"component {i}")
ax.axvspan(0, 4 * s.calibration.scale[0], color="0.85", label="beam mask")
ax.set_xlabel(f"k ({k_axis.units})")
ax.set_ylabel("azimuthal integral (a.u.)")
ax.set_title("Radial profiles of the factors (NaN inside the mask)")
ax.legend(fontsize="small")

# %%
# The polar images show the Bragg spots of the crystalline components as
# points on the amorphous rings (straight lines in polar coordinates). The
# radial-continuity constraint works on exactly these images: at each radius
# it raises values below the ring's mean to it.

polar = factors.get_azimuthal_integral2d(npt=60, npt_azim=180)
axes = hs.plot.plot_images(
    polar,
    label=[f"component {i} (polar)" for i in range(4)],
    cmap="inferno",
    per_row=2,
    aspect="square",
    colorbar="multi",
    axes_decor="all",
    scalebar=None,
    suptitle="Factors in polar coordinates (pyxem)",
    tight_layout=True,
)

# %%
# Next: :doc:`plot_rotation_clustering` merges components that are one
# crystal at several rotations, with the same polar transform about the
# calibrated centre.
