"""
EELS line scan from exspy: Mn and Fe L2,3 edges
===============================================

exspy ships an artificial EELS line scan, ``exspy.data.EELS_MnFe``: Mn and
Fe L2,3 edges (white lines on arctan steps) on a power-law background, the
Mn fraction going from 1 to 0 along the line while Fe goes from 0 to 1. Its
``EELSSpectrum`` type gives the constrained NMF its EELS defaults without
any argument: SpectralContinuity (50 eV window) on the spectra, smoothing
along the line on the maps.

Needs ``pip install exspy`` (not run in the documentation build).
"""

import exspy
import matplotlib.pyplot as plt
import numpy as np

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")

s = exspy.data.EELS_MnFe(navigation_shape=(64,), random_state=0)
s.data = s.data.clip(0)  # exspy's noise is uniform and can cross zero
print(s)

# %%
# exspy's usual preparations work before the call: crop the energy range,
# rebin. The fractions are known from exspy's source.
s.crop_signal(550.0, 790.0)
s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=2,
    random_state=0,
    show_progressbar=False,
)
print(s.learning_results.cnmf_factor_constraints)

fractions = np.interp(np.linspace(0, 4, 64), np.arange(5), [1, 1, 0.75, 0.5, 0])
maps = s.learning_results.loadings.T
for i, m in enumerate(maps):
    r = np.corrcoef(m, fractions)[0, 1]
    print(f"map {i}: correlation with the Mn fraction {r:+.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
energy = s.axes_manager.signal_axes[0].axis
for i, factor in enumerate(s.learning_results.factors.T):
    ax1.plot(energy, factor, label=f"component {i}")
ax1.set_xlabel("Energy loss (eV)")
ax1.legend()
ax2.plot(fractions, "k--", label="Mn fraction (exspy)")
ax2.plot(1 - fractions, "k:", label="Fe fraction (exspy)")
for i, m in enumerate(maps):
    ax2.plot(m / m.max(), label=f"map {i} (scaled)")
ax2.set_xlabel("Position along the line")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
