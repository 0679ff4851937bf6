"""
Spectrum images: reverse-peak dips and spectral continuity
==========================================================

On an EELS spectrum image every phase sits on the same power-law
background, and a phase's white lines appear where the others have none.
Plain NMF then often gives a component a dip (a "reverse peak") where
another component has a peak: the product of maps and spectra fits the
data either way. :class:`~hyperspy_cnmf.SpectralContinuity`, the spectral
counterpart of the radial continuity of diffraction patterns, raises each
component spectrum where it falls below its own robust baseline (peaks
untouched), and is the default on exspy's EELS and EDS signal types.

This example runs on the package's simulated EELS image
(:func:`~hyperspy_cnmf.data.simulated_spectrum_image`: an oxide matrix with
an O K edge, a Mn oxide with Mn L2,3 white lines, an Fe grain with Fe L2,3
white lines) and compares the default with nonnegativity only.
"""

import matplotlib.pyplot as plt
import numpy as np

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
from hyperspy_cnmf.data import simulated_spectrum_image

# %%
# The data
# --------
# ``metadata.Signal.signal_type`` is ``"EELS"``: with exspy installed,
# ``s.set_signal_type("EELS")`` makes it an ``EELSSpectrum``; the defaults
# below are the same either way.

s = simulated_spectrum_image("EELS", navigation_shape=(24, 24), random_state=0)
truth = s.metadata.Simulation
energy = s.axes_manager.signal_axes[0].axis
print(s, truth.names)

# %%
# Decompose, with the defaults and with nonnegativity only
# --------------------------------------------------------


def fit(**kwargs):
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=3,
        n_init=4,
        max_iter=200,
        random_state=0,
        print_info=False,
        show_progressbar=False,
        **kwargs,
    )
    lr = s.learning_results
    return lr.factors.T.copy(), lr.loadings.T.copy(), lr.cnmf_factor_constraints


results = {
    "defaults": fit(),
    "nonnegativity only": fit(factor_constraints=[]),
}
print(results["defaults"][2])


def unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


# %%
# Spectra against the truth
# -------------------------
# Each fitted spectrum is matched to the true phase spectrum it is most
# similar to and scaled to it by least squares; the cosine similarity is in
# the legend. Without the spectral constraint the Mn and Fe components
# borrow each other's white lines with opposite signs.

fig, axes = plt.subplots(3, 2, figsize=(9, 7), sharex=True)
for col, (label, (factors, _, _)) in enumerate(results.items()):
    cos = unit(truth.spectra) @ unit(factors).T
    for row, true in enumerate(truth.spectra):
        j = int(np.argmax(cos[row]))
        f = factors[j] * (true @ factors[j]) / (factors[j] @ factors[j])
        ax = axes[row, col]
        ax.plot(energy, true, "k", lw=1, label="truth")
        ax.plot(energy, f, "C1", lw=1, label=f"fit, cosine {cos[row, j]:.3f}")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"{label}: {truth.names[row]}", fontsize=9)
axes[-1, 0].set_xlabel("Energy loss (eV)")
axes[-1, 1].set_xlabel("Energy loss (eV)")
fig.tight_layout()

# %%
# Maps
# ----

fig, axes = plt.subplots(2, 3, figsize=(8, 5.5))
for row, (label, (factors, loadings, _)) in enumerate(results.items()):
    cos_s = unit(truth.spectra) @ unit(factors).T
    cos_m = unit(truth.maps.reshape(3, -1)) @ unit(loadings).T
    for col in range(3):
        j = int(np.argmax(cos_s[col]))
        axes[row, col].imshow(loadings[j].reshape(24, 24))
        axes[row, col].set_title(
            f"{label}\n{truth.names[col]}: map cosine {cos_m[col, j]:.2f}", fontsize=8
        )
        axes[row, col].axis("off")
fig.tight_layout()
plt.show()
