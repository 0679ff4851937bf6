"""
Choosing the number of components
=================================

How many components should the constrained NMF have? The paper's answer
(Kimoto et al. 2025, Discussion): fit several ``k``, compare the error with
PCA's (the lowest any rank-k model reaches), and count the phases the
components cluster into. :func:`hyperspy_cnmf.selection.scan_components`
does this on a copy of the signal; HyperSpy's own scree plot
(``s.plot_scree_plot()``, formerly ``s.plot_explained_variance_ratio()``)
works on a constrained result too.

The data: the package's simulation, an amorphous matrix and three
crystalline phases (9 %, 3 % and 1 % crystallinity areas), i.e. four true
components.
"""

import matplotlib.pyplot as plt
import numpy as np

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
from hyperspy_cnmf.data import simulated_4dstem
from hyperspy_cnmf.scoring import cosine_similarity_matrix
from hyperspy_cnmf.selection import scan_components

s = simulated_4dstem(navigation_shape=(24, 24), signal_shape=(64, 64), seed=5)
truth = s.metadata.Simulation
print(truth.component_names)

# %%
# Scan k
# ------
# Every fit uses the same seed and settings (here 2 restarts of 100
# iterations, to keep the page quick); ``s`` and its ``learning_results``
# are left as they were.

options = dict(n_init=2, max_iter=100)
scan = scan_components(s, range(2, 8), show_progressbar=False, **options)
print(scan.table())
fig = scan.plot()

# %%
# What to look for
# ----------------
# * **The constrained MSE levels off at the true number of components.**
#   PCA's error keeps falling with k (each extra component fits a bit more
#   noise); the constrained NMF's stops falling once every phase has a
#   component, here at k = 4, and surplus components buy almost nothing.
#   A k where the constrained MSE is *higher* than at a smaller k is a fit
#   stuck in a worse local minimum: more restarts help.
# * **Surplus components split phases; the clustering merges them back.**
#   Beyond the true k, NMF typically splits the amorphous matrix into
#   several components (or one crystal into its rotations); their
#   diffractions are the same up to a rotation, so ``cluster_components``
#   puts them in one cluster and the number of clusters stays at the
#   number of phases instead of growing with k.
# * **Caveat: with few restarts a weak crystal may not get its own
#   component.** Then the number of clusters *drops* below the number of
#   phases: the weak crystal's spots went into a split of a strong
#   component. Check k against the cluster count, and use the paper's
#   protocol (``n_init=10, max_iter=500``, the defaults) before trusting a
#   low count.
#
# Below, k = 6 shows both effects on this data.

k_surplus = 6
s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=k_surplus,
    random_state=0,
    print_info=False,
    show_progressbar=False,
    **options,
)
clusters = s.cluster_components()
print(clusters)
cosine = cosine_similarity_matrix(
    s.get_decomposition_factors().data, np.asarray(truth.true_patterns)
)
for i, row in enumerate(cosine):
    best = int(row.argmax())
    print(
        f"component {i} (cluster {clusters.labels[i]}): closest to "
        f"{truth.component_names[best]} (cosine {row[best]:.2f})"
    )
merged, _ = s.get_cluster_components()
merged_cosine = cosine_similarity_matrix(
    np.nan_to_num(merged.data), np.asarray(truth.true_patterns)
)
for name, column in zip(truth.component_names, merged_cosine.T, strict=True):
    print(f"{name:10s}: best merged cluster cosine {column.max():.2f}")

# %%
# Components whose closest truth is the amorphous pattern form one cluster;
# a true phase whose best merged cosine is low has no component of its own
# in this fit.
#
# HyperSpy's scree plot
# ---------------------
# After a constrained decomposition, ``learning_results.explained_variance``
# holds the component energies ``|l_i|^2 |f_i|^2`` per position, so
# HyperSpy's ``plot_scree_plot`` (the new name of
# ``plot_explained_variance_ratio``, deprecated in HyperSpy 2.5) draws
# them (log scale). At
# the true k = 4, one dominant amorphous component is followed by the three
# crystalline ones, orders of magnitude weaker: a scree plot of an NMF is no
# elbow test for weak phases, which is why the scan above compares errors
# and clusters instead.

s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=4,
    random_state=0,
    print_info=False,
    show_progressbar=False,
    **options,
)
print("explained variance ratio:", s.learning_results.explained_variance_ratio)
fig_scree, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
s.plot_scree_plot(n=4, hline=False, fig=fig_scree, ax=ax)
ax.set_title("Constrained NMF, k = 4: component energies")
