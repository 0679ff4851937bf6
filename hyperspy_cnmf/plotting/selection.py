"""Choosing the number of components: error and clusters against ``k``.

The paper's Discussion: PCA's error is the lowest any rank-k factorization
reaches; the constrained NMF's error follows it while ``k`` adds real
components and the number of clusters of similar components grows with
them, and both level off once the extra components only split phases
(rotated copies, which the clustering merges again). Arrays in, figure out.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_component_scan"]


def _vector(name, values, n):
    values = np.asarray(values, dtype=float).ravel()
    if values.shape != (n,):
        raise ValueError(f"{name} has {values.size} values for {n} values of k")
    return values


def plot_component_scan(
    n_components,
    pca_mse,
    cnmf_mse,
    n_clusters=None,
    *,
    title=None,
    figsize=None,
):
    """MSE against ``k`` for PCA and the constrained NMF, and clusters against ``k``.

    Parameters
    ----------
    n_components : array_like of int, shape (n,)
        The values of ``k``.
    pca_mse, cnmf_mse : array_like, shape (n,)
        Mean squared error of the rank-k truncated SVD of the uncentred data
        (the lowest any rank-k factorization reaches) and of the constrained
        NMF, in data units squared.
    n_clusters : array_like of int, shape (n,), optional
        Number of clusters of the components at each ``k``; a second panel
        when given.
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One or two axes sharing the ``k`` axis: the MSE (PCA dashed,
        constrained NMF solid, ``k`` marked on integer ticks) and, when
        ``n_clusters`` is given, the number of clusters with the line
        ``clusters = k`` for reference.

    Examples
    --------
    >>> fig = plot_component_scan([2, 3, 4], [3.0, 2.5, 2.4], [3.1, 2.6, 2.45],
    ...                           [2, 3, 4])
    """
    ks = np.asarray(n_components).ravel()
    if ks.size == 0:
        raise ValueError("n_components is empty")
    if not np.all(np.equal(np.mod(ks, 1), 0)) or ks.min() < 1:
        raise ValueError(f"n_components must be positive integers, got {ks}")
    ks = ks.astype(int)
    pca = _vector("pca_mse", pca_mse, ks.size)
    cnmf = _vector("cnmf_mse", cnmf_mse, ks.size)
    panels = 1 if n_clusters is None else 2
    fig = Figure(figsize=figsize or (5.0, 3.2 * panels), layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(ks, pca, "o--", color="0.4", label="PCA (truncated SVD)")
    ax.plot(ks, cnmf, "s-", color="C0", label="constrained NMF")
    ax.set_ylabel("MSE (data units²)")
    ax.legend(frameon=False)
    if n_clusters is not None:
        clusters = _vector("n_clusters", n_clusters, ks.size)
        ax = axes[1]
        ax.plot(ks, ks, ":", color="0.6", label="clusters = k")
        ax.plot(ks, clusters, "D-", color="C1", label="clusters found")
        ax.set_ylabel("number of clusters")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
        ax.legend(frameon=False)
    axes[-1].set_xlabel("number of components k")
    axes[-1].set_xticks(ks)
    if title:
        fig.suptitle(title)
    return fig
