"""
The scikit-learn estimator on a bare matrix
===========================================

Without HyperSpy: :class:`~hyperspy_cnmf.core.estimator.ConstrainedNMF` is
a scikit-learn transformer on a data matrix ``X`` of shape
``(probe positions, detector pixels)``. A
:class:`~hyperspy_cnmf.core.geometry.Geometry` tells it how the rows and
columns refold into scan maps and diffraction patterns (shapes, calibrated
axes, beam centre, masks), which the domain constraints need.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from hyperspy_cnmf import ConstrainedNMF, GaussianSmoothing, Geometry, RadialContinuity
from hyperspy_cnmf.data import simulate_4dstem_arrays

# %%
# Plain numpy data
# ----------------
# :func:`~hyperspy_cnmf.data.simulate_4dstem_arrays` returns the simulation
# as numpy arrays (no HyperSpy import). Unfold it to ``X``: one row per probe
# position, one column per detector pixel, both in C order.

sim = simulate_4dstem_arrays(navigation_shape=(24, 24), signal_shape=(64, 64), seed=0)
X = sim.data.reshape(24 * 24, 64 * 64)
print(X.shape, X.dtype)

# %%
# Mask the centre of the detector (``True`` = excluded, in array order
# ``(rows, cols)``); ``X`` then holds only the kept pixels.

rows, cols = np.indices(sim.signal_shape)
beam_stop = np.hypot(rows - sim.center[0], cols - sim.center[1]) < 3
X_kept = X[:, ~beam_stop.ravel()]
geometry = Geometry(
    signal_shape=sim.signal_shape,
    navigation_shape=sim.navigation_shape,
    center=sim.center[::-1],  # Geometry takes (x, y); sim.center is (row, col)
    signal_mask=beam_stop,
)
print(geometry, geometry.n_signal)

# %%
# Fit
# ---
# With a 2D ``geometry`` the default constraints (``"auto"``) are the
# paper's: :class:`~hyperspy_cnmf.core.constraints.RadialContinuity` on the
# patterns and the 3x3 :class:`~hyperspy_cnmf.core.constraints.GaussianSmoothing`
# on the maps. They are spelled out here.

model = ConstrainedNMF(
    n_components=4,
    geometry=geometry,
    factor_constraints=[RadialContinuity()],
    loading_constraints=[GaussianSmoothing()],
    n_init=2,
    max_iter=80,
    tol=0,
    random_state=0,
)
maps = model.fit_transform(X_kept)
print(maps.shape, model.components_.shape)
print(
    f"{model.n_iter_} iterations, best restart {model.best_restart_}, MSE {model.mse_:.4g}"
)
print("restart MSEs:", model.restart_mse_.round(4))

# %%
# ``components_`` has one unit-norm pattern per row over the kept pixels;
# refold it with the mask. The components are sorted by the L2 norm of
# their maps (the amorphous matrix first).

patterns = np.zeros((4, *sim.signal_shape))
patterns[:, ~beam_stop] = model.components_
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2), layout="constrained")
for k in range(4):
    axes[0, k].imshow(np.sqrt(patterns[k]), cmap="inferno")
    axes[1, k].imshow(maps[:, k].reshape(sim.navigation_shape), cmap="viridis")
    axes[0, k].set_title(f"component {k}", fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()

# %%
# ``history_`` holds the MSE and the L1 norms of the changes per iteration.

fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.semilogy(model.history_["factor_change_l1"], label=r"$\|W^{(i+1)} - W^{(i)}\|_1$")
ax.semilogy(model.history_["loading_change_l1"], label=r"$\|H^{(i+1)} - H^{(i)}\|_1$")
ax.set_xlabel("iteration")
ax.legend()

# %%
# In a Pipeline
# -------------
# The estimator passes scikit-learn's common checks, so it composes with
# the rest of scikit-learn. Here a pipeline bins the counts by 2 in the
# detector (a stateless preprocessing step) before the factorization;
# without a geometry for the binned data, the defaults fall back to plain
# nonnegativity, as on any bare matrix. ``transform`` gives the
# nonnegative least-squares maps of new data for the fitted components.


def bin_detector(X):
    images = X.reshape(len(X), 32, 2, 32, 2)
    return images.sum(axis=(2, 4)).reshape(len(X), -1)


pipeline = make_pipeline(
    FunctionTransformer(bin_detector),
    ConstrainedNMF(n_components=4, n_init=2, max_iter=80, random_state=0),
)
binned_maps = pipeline.fit_transform(X)
print(pipeline)
print("binned components:", pipeline[-1].components_.shape)
new_maps = pipeline.transform(X[:10])
print("maps of 10 patterns:", new_maps.shape)
