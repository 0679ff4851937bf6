"""
Low-dose data and minor phases
==============================

What a microscopist wants most from a constrained factorization is what
PCA and plain NMF lose: the minor grain, and the phases of a scan taken at a
few hundred electrons per pattern. This example runs the default call on
the package's realistic simulation
(:func:`hyperspy_cnmf.data.realistic_4dstem`: multislice patterns of Si,
Au at two rotations and a 4 % Mg grain in a glass whose speckle differs at
every position, off-centre masked beam, uint16 counts) at three doses, and
shows the maps and patterns beside the truth.

Two defaults do the work on counts (both measured in
``benchmarks/bench_minor_phases.py``):

* ``loss="auto"`` is the Poisson likelihood for integer counts: after the
  restarts (least squares, fast) the fit refines the kept solution on the
  counts' own noise model, which weighs the faint high-angle pixels where
  the phases differ, and keeps the data's counts;
* ``scan_binning="auto"`` runs the restarts on the scan binned ``b x b``
  when a pattern holds fewer than 400 counts, then the full-resolution fit
  from there: at 100 counts per pattern a phase too weak to lower the error
  of any single pattern stands out of the noise of four.

What to look for: every true map has a recovered map with the same shape
(Pearson correlation near 1, printed in the titles), and every true
pattern a recovered pattern. A phase that no component holds shows as a
true map with no counterpart; the fit summary (``print(s.learning_results)``)
says which loss and binning ran.

Last, the residual check on a fit with one component too few: the map of
where the model leaves a grain's disks behind, and the ``output_dimension``
to try.

The test-size variant (24 x 24 scan, 64 x 64 patterns) keeps this page
quick; the benchmark runs the 48 x 48 x 128 x 128 scan.
"""

# sphinx_gallery_thumbnail_number = 1

import matplotlib.pyplot as plt
import numpy as np

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
from hyperspy_cnmf.data import FAST, realistic_4dstem
from hyperspy_cnmf.scoring import score_decomposition

# %%
# A dose series of one sample
# ---------------------------
# The same grains and glass (``random_state``), Poisson counts at three
# doses, counted outside the masked direct beam. One component more than
# the five true ones, as a user who does not know the answer would choose.

doses = (3000, 300, 100)
fits = {}
for dose in doses:
    s = realistic_4dstem(**FAST, dose=dose, random_state=7)
    truth = s.metadata.Simulation.as_dictionary()
    k = len(truth["component_names"]) + 1
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=k,
        random_state=0,
        print_info=False,
        show_progressbar=False,
    )
    lr = s.learning_results
    sig = s.axes_manager.signal_shape[::-1]
    nav = s.axes_manager.navigation_shape[::-1]
    factors = np.nan_to_num(lr.factors.T).reshape(k, *sig)
    maps = lr.loadings.T.reshape(k, *nav)
    fits[dose] = (factors, maps, score_decomposition(factors, maps, truth))
    print(f"{dose} counts per pattern:", lr.cnmf_params)

# %%
# Maps: truth (top row), then the matched component at each dose
# ---------------------------------------------------------------
# The title of each recovered map is its Pearson correlation with the true
# map (centred: a bright patch in a flat map shows, where a cosine would
# hide it).

names = truth["component_names"]
true_maps = np.asarray(truth["true_maps"])
fig, axes = plt.subplots(1 + len(doses), len(names), figsize=(11, 9))
for j, name in enumerate(names):
    axes[0, j].imshow(true_maps[j], cmap="viridis")
    axes[0, j].set_title(f"true {name}", fontsize=8)
    for i, dose in enumerate(doses, start=1):
        factors, maps, score = fits[dose]
        match = score["matching"].recovered_for_true[j]
        axes[i, j].imshow(maps[match], cmap="viridis")
        axes[i, j].set_title(f"{dose}: r = {score['map_pearson'][j]:.2f}", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Patterns: truth, then the matched component at the lowest dose
# ---------------------------------------------------------------
# Square-root scale, so the faint disks and the diffuse background both
# show; the masked direct beam is zero.

true_patterns = np.asarray(truth["true_patterns"])
factors, _, score = fits[doses[-1]]
fig, axes = plt.subplots(2, len(names), figsize=(11, 4.6))
for j, name in enumerate(names):
    match = score["matching"].recovered_for_true[j]
    axes[0, j].imshow(np.sqrt(true_patterns[j]), cmap="magma")
    axes[0, j].set_title(f"true {name}", fontsize=8)
    axes[1, j].imshow(np.sqrt(np.clip(factors[match], 0, None)), cmap="magma")
    axes[1, j].set_title(
        f"{doses[-1]}: cos = {score['pattern_cosine'][j]:.2f}", fontsize=8
    )
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Did the fit miss a phase? The residual check
# --------------------------------------------
# Another sample at 3000 counts per pattern, fitted with four components
# for its five true ones: one rotation of Au has no component of its own. ``s.residual_check()``
# averages the residual of each position with its neighbours (the missed
# grain's disks are the same at each of its positions, the glass speckle
# and the counting noise are not), maps its power and says which k to try.
# At the default k of this page it stays quiet. At 300 counts and below it
# cannot see a missed rotation (the check's docstring says why): there, fit
# one component more than you expect and let the clustering join
# components that are one phase.

s = realistic_4dstem(**FAST, dose=3000, random_state=2)
for k_try in (4, len(names) + 1):
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=k_try,
        random_state=0,
        print_info=False,
        show_progressbar=False,
    )
    result = s.residual_check()
    if k_try == 4:
        missed = result
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(missed.map.data, cmap="viridis")
axes[0].set_title("residual score, k = 4", fontsize=8)
axes[1].imshow(missed.check.flagged, cmap="gray")
axes[1].set_title(f"flagged (try k = {missed.check.suggested_k})", fontsize=8)
labels = np.asarray(s.metadata.Simulation.labels)
axes[2].imshow(labels, cmap="tab10")
axes[2].set_title("true grains", fontsize=8)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
