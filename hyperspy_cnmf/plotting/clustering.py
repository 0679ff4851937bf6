"""Figures of the component clustering (Kimoto et al. 2025, Fig. 9).

* :func:`plot_similarity_matrices` - cosine similarity (eq. 9) next to the
  rotation-invariant diffraction similarity (eq. 10), Fig. 9a-b;
* :func:`plot_dendrogram` - the dendrogram of the hierarchical clustering
  on ``1 - diffraction similarity`` with the merged, rotation-corrected
  diffraction of each cluster as an image inset, Fig. 9c-d.

Both take arrays (or a :class:`~hyperspy_cnmf.ComponentClusters` result,
which carries them) and return a :class:`matplotlib.figure.Figure` built
without pyplot: nothing is shown and no pyplot state is left behind (in
Jupyter the returned figure displays itself; elsewhere call
``fig.savefig(...)``). For a signal after ``s.cluster_components()`` use
``s.plot_component_clusters()`` or :func:`hyperspy_cnmf.signals.clustering.
plot_dendrogram` / :func:`~hyperspy_cnmf.signals.clustering.
plot_similarity_matrices`, which gather the arrays from the signal and call
these functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_dendrogram", "plot_similarity_matrices"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _refuse_signal(obj, name):
    if hasattr(obj, "axes_manager"):
        raise TypeError(
            f"hyperspy_cnmf.plotting.clustering.{name} takes arrays; for a signal "
            f"after s.cluster_components() call s.plot_component_clusters() or "
            f"hyperspy_cnmf.signals.clustering.{name}(s)"
        )


def plot_similarity_matrices(
    source=None,
    *,
    cosine=None,
    diffraction=None,
    labels=None,
    annotate=None,
    cmap="viridis",
    vmin=0.0,
    vmax=1.0,
    figsize=None,
):
    """Cosine and diffraction similarity matrices side by side (Fig. 9a-b).

    Parameters
    ----------
    source : (ndarray, ndarray) or ComponentClusters, optional
        A pair ``(cosine, diffraction)`` of ``(k, k)`` arrays, or a
        clustering result with ``cosine_similarity`` and ``similarity``
        attributes (:class:`~hyperspy_cnmf.ComponentClusters`).
    cosine, diffraction : ndarray, shape (k, k), optional
        The matrices, instead of ``source``.
    labels : sequence of str, optional
        Tick labels; default the component indices ``0 ... k-1``.
    annotate : bool, optional
        Write the values in the cells; default when ``k <= 12``.
    cmap : str, default "viridis"
    vmin, vmax : float, default 0, 1
        Colour range, shared by both panels.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Two image axes (cosine left, diffraction right), each with its own
        colorbar axes.

    Raises
    ------
    TypeError
        A signal (use ``s.plot_component_clusters()``) or a bad ``source``.
    ValueError
        Matrices missing, not square or of different sizes.
    """
    _refuse_signal(source, "plot_similarity_matrices")
    if hasattr(source, "cosine_similarity") and hasattr(source, "similarity"):
        cosine, diffraction = source.cosine_similarity, source.similarity
    elif source is not None:
        try:
            cosine, diffraction = source
        except (TypeError, ValueError):
            raise TypeError(
                "source must be a pair (cosine, diffraction) of (k, k) arrays or "
                "a ComponentClusters result"
            ) from None
    if cosine is None or diffraction is None:
        raise ValueError(
            "give both cosine= and diffraction= similarity matrices (or, for a "
            "signal after s.cluster_components(), call "
            "s.plot_component_clusters())"
        )
    cosine = np.asarray(cosine, dtype=float)
    diffraction = np.asarray(diffraction, dtype=float)
    if (
        cosine.ndim != 2
        or cosine.shape[0] != cosine.shape[1]
        or cosine.shape != diffraction.shape
    ):
        raise ValueError(
            f"the similarity matrices must be square and of the same size, got "
            f"{cosine.shape} and {diffraction.shape}"
        )
    k = cosine.shape[0]
    if labels is None:
        labels = [str(i) for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"labels has {len(labels)} entries for {k} components")
    if annotate is None:
        annotate = k <= 12
    if figsize is None:
        figsize = (9.0, 4.2)
    fig = _figure(figsize)
    axes = fig.subplots(1, 2)
    titles = ("Cosine similarity (eq. 9)", "Diffraction similarity (eq. 10)")
    for ax, matrix, title in zip(axes, (cosine, diffraction), titles, strict=True):
        image = ax.imshow(
            matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        ax.set_title(title)
        ax.set_xticks(range(k), labels, rotation=90 if k > 12 else 0)
        ax.set_yticks(range(k), labels)
        ax.set_xlabel("Component")
        ax.set_ylabel("Component")
        fig.colorbar(image, ax=ax, shrink=0.85, label="Similarity")
        if annotate:
            mid = 0.5 * (vmin + vmax)
            for i in range(k):
                for j in range(k):
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if matrix[i, j] > mid else "white",
                    )
    return fig


def _cluster_insets(ax, tree, labels, patterns, inset_height, cmap):
    """Each cluster's pattern above its leaves of the dendrogram ``tree``."""
    from matplotlib.transforms import blended_transform_factory

    labels = np.asarray(labels)
    patterns = np.asarray(patterns, dtype=float)
    n_clusters = int(labels.max()) + 1
    if patterns.shape[0] != n_clusters:
        raise ValueError(
            f"{patterns.shape[0]} patterns for {n_clusters} clusters; give one "
            "image per cluster"
        )
    # leaf x positions: 5, 15, 25, ... in dendrogram order
    position = {int(leaf): 10 * i + 5 for i, leaf in enumerate(tree["leaves"])}
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    x_range = ax.get_xlim()
    width_data = min(9.0, 0.9 * (x_range[1] - x_range[0]) / max(n_clusters, 1))
    for c in range(n_clusters):
        xs = [position[int(i)] for i in np.flatnonzero(labels == c)]
        x0 = float(np.mean(xs)) - width_data / 2
        inset = ax.inset_axes(
            [x0, 1.0 - inset_height - 0.01, width_data, inset_height],
            transform=transform,
        )
        image = np.nan_to_num(patterns[c], nan=0.0)
        inset.imshow(
            np.sqrt(np.clip(image, 0, None)), cmap=cmap, interpolation="nearest"
        )
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_title(f"cluster {c}", fontsize=7, pad=2)


def plot_dendrogram(
    source=None,
    *,
    linkage=None,
    labels=None,
    patterns=None,
    cut_height=None,
    insets=True,
    inset_height=0.28,
    cmap="inferno",
    leaf_labels=None,
    figsize=None,
    ax=None,
    **dendrogram_kwargs,
):
    """Dendrogram of the component clustering with merged diffraction insets.

    Fig. 9c-d of Kimoto et al. 2025: the hierarchical clustering on
    ``1 - diffraction similarity`` (:func:`scipy.cluster.hierarchy.
    dendrogram`), coloured below the cut, with the dashed cut line and, above
    each cluster's leaves, its merged (rotation-corrected, map-weighted)
    diffraction pattern.

    Parameters
    ----------
    source : ComponentClusters, optional
        A clustering result (:class:`~hyperspy_cnmf.ComponentClusters`):
        its ``linkage``, ``labels`` and ``params["cut_height"]`` are used
        unless given.
    linkage : ndarray, shape (k - 1, 4), optional
        A SciPy linkage matrix.
    labels : array_like of int, shape (k,), optional
        Cluster of each component (0-based), for the insets.
    patterns : ndarray, shape (c, rows, cols), optional
        One image per cluster (e.g. the merged diffractions of
        :func:`~hyperspy_cnmf.core.clustering.merge_components`), for the
        insets.
    cut_height : float, optional
        Dendrogram cut (``1 - similarity``); the links below it are coloured
        per cluster and a dashed line is drawn.
    insets : bool, default True
        Draw the cluster patterns (needs ``patterns`` and ``labels``).
    inset_height : float, default 0.28
        Inset height as a fraction of the axes height.
    cmap : str, default "inferno"
        Colour map of the insets (shown with a square-root stretch).
    leaf_labels : sequence of str, optional
        Leaf labels; default the component indices.
    figsize : (float, float), optional
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (and return their figure).
    **dendrogram_kwargs
        Passed to :func:`scipy.cluster.hierarchy.dendrogram`.

    Returns
    -------
    matplotlib.figure.Figure
        The dendrogram axes plus one inset axes per cluster (in
        ``fig.axes[0].child_axes``).

    Raises
    ------
    TypeError
        A signal (use ``s.plot_component_clusters()``) or a bad ``source``.
    ValueError
        No linkage, or not one pattern per cluster.
    """
    from scipy.cluster import hierarchy

    _refuse_signal(source, "plot_dendrogram")
    if source is not None:
        if not (hasattr(source, "linkage") and hasattr(source, "labels")):
            raise TypeError(
                "source must be a ComponentClusters result; pass arrays with "
                "linkage=, labels=, patterns="
            )
        linkage = source.linkage if linkage is None else linkage
        labels = source.labels if labels is None else labels
        if cut_height is None:
            cut_height = getattr(source, "params", {}).get("cut_height")
    if linkage is None:
        raise ValueError(
            "give linkage= (a SciPy linkage matrix), or, for a signal after "
            "s.cluster_components(), call s.plot_component_clusters()"
        )
    linkage = np.asarray(linkage, dtype=float)
    k = linkage.shape[0] + 1
    if leaf_labels is None:
        leaf_labels = [str(i) for i in range(k)]
    if ax is None:
        fig = _figure(figsize or (max(5.0, 0.9 * k + 2.0), 4.8))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    options = {"color_threshold": cut_height if cut_height is not None else 0}
    options.update(dendrogram_kwargs)
    tree = hierarchy.dendrogram(linkage, ax=ax, labels=list(leaf_labels), **options)
    top = float(max(linkage[:, 2].max(), cut_height or 0.0, 1e-3))
    ax.set_ylabel("1 - diffraction similarity")
    ax.set_xlabel("Component")
    if cut_height is not None:
        ax.axhline(cut_height, color="0.4", linestyle="--", linewidth=1)
    if insets and patterns is not None and labels is not None:
        ax.set_ylim(0, top / (1.0 - inset_height - 0.05))
        _cluster_insets(ax, tree, labels, patterns, inset_height, cmap)
    else:
        ax.set_ylim(0, top * 1.1)
    ax.set_title("Component clustering on diffraction similarity")
    return fig
