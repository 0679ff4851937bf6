"""Convergence figure (paper Fig. 7): MSE and L1 norms of the changes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

__all__ = ["history_from_signal", "plot_convergence"]

_KEYS = {
    "mse": "cnmf_mse_history",
    "factor_change_l1": "cnmf_factor_change_history",
    "loading_change_l1": "cnmf_loading_change_history",
}


def history_from_signal(signal) -> dict:
    """The convergence history stored by a constrained-NMF decomposition."""
    lr = signal.learning_results
    if getattr(lr, "decomposition_algorithm", None) != "constrained_nmf":
        raise ValueError(
            "this signal holds no constrained-NMF history; run "
            's.decomposition(algorithm="constrained_nmf", ...) first'
        )
    return {key: np.asarray(getattr(lr, stored)) for key, stored in _KEYS.items()}


def plot_convergence(
    histories, *, reference_mse=None, reference_label="PCA", title=None
):
    """Plot MSE and the L1 norms of the factor/map changes per iteration.

    Parameters
    ----------
    histories : mapping, dict or signal
        ``{label: history}`` where each history has ``"mse"``,
        ``"factor_change_l1"`` and ``"loading_change_l1"`` arrays (as
        :attr:`ConstrainedNMF.history_`), a single such history, or a signal
        after ``s.decomposition(algorithm="constrained_nmf")``.
    reference_mse : float, optional
        Drawn as a horizontal dashed line on the MSE panel (e.g. PCA's MSE at
        the same number of components).
    reference_label : str
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: (a) MSE, (b) ``||W(i+1) - W(i)||_1``,
        (c) ``||H(i+1) - H(i)||_1``.
    """
    if hasattr(histories, "learning_results"):
        histories = {"constrained NMF": history_from_signal(histories)}
    elif isinstance(histories, Mapping) and "mse" in histories:
        histories = {"": histories}
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        ("mse", "MSE"),
        ("factor_change_l1", r"$\|W^{(i+1)} - W^{(i)}\|_1$"),
        ("loading_change_l1", r"$\|H^{(i+1)} - H^{(i)}\|_1$"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name, history in histories.items():
            values = np.asarray(history[key], dtype=float)
            iterations = np.arange(1, values.size + 1)
            ax.plot(iterations, values, label=name or None)
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        if key != "mse":
            ax.set_yscale("log")
    if reference_mse is not None:
        axes[0].axhline(reference_mse, ls="--", color="k", label=reference_label)
    mse_values = np.concatenate(
        [np.asarray(h["mse"], float)[len(h["mse"]) // 10 :] for h in histories.values()]
    )
    if mse_values.size:
        low = min(mse_values.min(), reference_mse or np.inf)
        high = np.percentile(mse_values, 95)
        if high > low:
            pad = 0.05 * (high - low)
            axes[0].set_ylim(low - pad, high + pad)
    if any(histories) or reference_mse is not None:
        axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
