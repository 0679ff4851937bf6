"""Choosing the number of components ``k`` (Kimoto et al. 2025, Discussion).

:func:`scan_components` fits the constrained NMF for several ``k`` on a
copy of a signal and records, for each ``k``:

* PCA's MSE: the rank-k truncated SVD of the *uncentred* data
  (:func:`hyperspy_cnmf.core.data.truncated_svd_errors`: one randomized
  range finder for every k, on the data as the fit reads them, with no
  copy), the lowest error any rank-k factorization can reach
  (Eckart-Young);
* the constrained NMF's MSE (``learning_results.cnmf_mse``);
* the number of clusters that the default
  :func:`~hyperspy_cnmf.signals.clustering.cluster_components` finds among
  the ``k`` components.

While ``k`` is below the number of distinct components, both errors drop
and every new component opens a new cluster; beyond it the errors level
off and the extra components join existing clusters (rotated copies of a
crystal's pattern, split maps). The ``k`` where the cluster count stops
growing is the natural choice; :meth:`ComponentScan.plot` draws both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ComponentScan", "scan_components"]


@dataclass
class ComponentScan:
    """What :func:`scan_components` returns.

    Attributes
    ----------
    n_components : numpy.ndarray of int, shape (n,)
        The values of ``k``, in the order run.
    pca_mse : numpy.ndarray, shape (n,)
        MSE of the rank-k truncated SVD of the uncentred data (kept
        positions and pixels only), data units squared.
    cnmf_mse : numpy.ndarray, shape (n,)
        ``learning_results.cnmf_mse`` of the constrained NMF at each ``k``.
    n_clusters : numpy.ndarray of int, shape (n,)
        Clusters found by ``cluster_components(**cluster_params)`` (1 for
        ``k = 1``); -1 where the clustering was not run.
    labels : list of numpy.ndarray
        Cluster label of every component at each ``k``.
    elapsed : numpy.ndarray, shape (n,)
        Seconds taken at each ``k`` (decomposition and clustering).
    params : dict
        The decomposition and clustering settings used.
    """

    n_components: np.ndarray
    pca_mse: np.ndarray
    cnmf_mse: np.ndarray
    n_clusters: np.ndarray
    labels: list = field(default_factory=list)
    elapsed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    params: dict = field(default_factory=dict)

    @property
    def mse_excess(self) -> np.ndarray:
        """Relative excess of the constrained NMF's MSE over PCA's."""
        return (self.cnmf_mse - self.pca_mse) / self.pca_mse

    def table(self) -> str:
        """The scan as a markdown table."""
        lines = [
            "| k | PCA MSE | constrained NMF MSE | excess | clusters | time (s) |",
            "|---|---|---|---|---|---|",
        ]
        for i, k in enumerate(self.n_components):
            clusters = "–" if self.n_clusters[i] < 0 else str(self.n_clusters[i])
            lines.append(
                f"| {k} | {self.pca_mse[i]:.6g} | {self.cnmf_mse[i]:.6g} | "
                f"{100 * self.mse_excess[i]:+.2f} % | {clusters} | "
                f"{self.elapsed[i]:.1f} |"
            )
        return "\n".join(lines) + "\n"

    def plot(self, **kwargs):
        """:func:`~hyperspy_cnmf.plotting.selection.plot_component_scan` of the scan."""
        from .plotting.selection import plot_component_scan

        clusters = self.n_clusters if np.all(self.n_clusters >= 0) else None
        return plot_component_scan(
            self.n_components, self.pca_mse, self.cnmf_mse, clusters, **kwargs
        )


def scan_components(
    signal,
    n_components,
    *,
    random_state=0,
    cluster=True,
    cluster_params=None,
    show_progressbar=None,
    **decomposition_params,
) -> ComponentScan:
    """Fit the constrained NMF for each ``k`` and record errors and clusters.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The data, as for ``s.decomposition(algorithm="constrained_nmf")``.
        Neither it nor its ``learning_results`` are modified: the fits run
        on a copy that shares the data array.
    n_components : iterable of int
        The values of ``k`` (each >= 1), e.g. ``range(2, 9)``.
    random_state : int, default 0
        Seed of every fit (the same for every ``k``) and of the randomized
        SVD; ``None`` is refused, so that a scan can be repeated.
    cluster : bool, default True
        Count the clusters of the components at each ``k``.
    cluster_params : dict, optional
        Keyword arguments of
        :func:`~hyperspy_cnmf.signals.clustering.cluster_components`;
        default its defaults (``distance_threshold="auto"``).
    show_progressbar : bool or None
        A progress bar over the values of ``k`` (the fits' own bars are off);
        None: ``hs.preferences.General.show_progressbar``, as in HyperSpy.
    **decomposition_params
        Passed to every fit:
        :func:`hyperspy_cnmf.signals.decomposition.decomposition`'s keywords
        (``navigation_mask``, ``signal_mask``, ``center``, ...) and any
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` parameter (``n_init``,
        ``max_iter``, ``compression``, ``pure_phases``, ...).
        ``normalize_poissonian_noise=True`` is refused: the two errors would
        then be on differently scaled data.

    Returns
    -------
    ComponentScan
        ``table()`` prints it, ``plot()`` draws it.

    Examples
    --------
    >>> import hyperspy_cnmf
    >>> from hyperspy_cnmf.data import simulated_4dstem
    >>> from hyperspy_cnmf.selection import scan_components
    >>> s = simulated_4dstem(navigation_shape=(24, 24), signal_shape=(64, 64))
    >>> scan = scan_components(s, range(2, 7), n_init=2, max_iter=100,
    ...                        compression="auto")  # doctest: +SKIP
    >>> print(scan.table())  # doctest: +SKIP
    """
    from .core.data import truncated_svd_errors
    from .signals.clustering import cluster_components
    from .signals.decomposition import decomposition, kept_data, working_copy

    ks = [int(k) for k in n_components]
    if not ks or min(ks) < 1:
        raise ValueError(f"n_components must be integers >= 1, got {ks}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_components must not repeat: {ks}")
    if random_state is None:
        raise ValueError("random_state=None would make the scan unrepeatable")
    for key in ("output_dimension", "algorithm", "print_info", "return_info"):
        if key in decomposition_params:
            raise ValueError(f"{key} is set by scan_components")
    if decomposition_params.get("normalize_poissonian_noise"):
        raise ValueError(
            "normalize_poissonian_noise=True is not supported by "
            "scan_components: PCA's and the constrained NMF's errors would be "
            "on differently scaled data"
        )
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = bool(preferences.General.show_progressbar)
    from hyperspy.external.progressbar import progressbar

    cluster_params = dict(cluster_params or {})
    work = working_copy(signal)
    pca_mse = None
    cnmf, clusters, labels, elapsed = [], [], [], []
    for k in progressbar(ks, disable=not show_progressbar, desc="k"):
        start = time.perf_counter()
        decomposition(
            work,
            k,
            random_state=random_state,
            show_progressbar=False,
            print_info=False,
            **decomposition_params,
        )
        lr = work.learning_results
        if pca_mse is None:  # the kept entries are the same for every k
            X = kept_data(work, lr)
            rng = np.random.default_rng(random_state)
            pca_mse = truncated_svd_errors(X, ks, rng) / (X.shape[0] * X.shape[1])
        cnmf.append(float(lr.cnmf_mse))
        if not cluster:
            clusters.append(-1)
            labels.append(np.full(k, -1))
        elif k == 1:
            clusters.append(1)
            labels.append(np.zeros(1, dtype=int))
        else:
            result = cluster_components(work, **cluster_params)
            clusters.append(int(result.n_clusters))
            labels.append(np.asarray(result.labels))
        elapsed.append(time.perf_counter() - start)
    params = {
        "random_state": random_state,
        **decomposition_params,
        "cluster_params": cluster_params if cluster else None,
    }
    return ComponentScan(
        n_components=np.asarray(ks, dtype=int),
        pca_mse=pca_mse,
        cnmf_mse=np.asarray(cnmf),
        n_clusters=np.asarray(clusters, dtype=int),
        labels=labels,
        elapsed=np.asarray(elapsed),
        params=params,
    )
