"""Convergence figure (paper Fig. 7): MSE and L1 norms of the changes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_convergence"]

_PANELS = (
    ("mse", "MSE (data units²)"),
    ("factor_change_l1", r"$\|W^{(i+1)} - W^{(i)}\|_1$ (unit-norm $W$)"),
    ("loading_change_l1", r"$\|H^{(i+1)} - H^{(i)}\|_1$ (data units)"),
)
_REQUIRED = tuple(key for key, _ in _PANELS)


def _check_history(name, history):
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history {name!r} must be a mapping with keys {list(_REQUIRED)} "
            f"(and optionally 'exact'), got {type(history).__name__}; for a "
            "signal read its history from learning_results first"
        )
    missing = [key for key in _REQUIRED if key not in history]
    if missing:
        raise ValueError(f"history {name!r} lacks {missing}")
    n = np.asarray(history["mse"]).size
    exact = history.get("exact")
    exact = np.ones(n, bool) if exact is None else np.asarray(exact, dtype=bool)
    if exact.shape != (n,):
        raise ValueError(
            f"history {name!r}: 'exact' has {exact.size} values for {n} iterations"
        )
    return exact


def _sketch_end(exact):
    """Number of leading sketch iterations (0 when every iteration is exact)."""
    if exact.all():
        return 0
    return int(np.argmax(exact)) if exact.any() else exact.size


def plot_convergence(
    histories, *, reference_mse=None, reference_label="PCA", title=None
):
    """Plot MSE and the L1 norms of the factor/map changes per iteration.

    Parameters
    ----------
    histories : mapping
        One history, or ``{label: history}`` for several. A history maps
        ``"mse"``, ``"factor_change_l1"`` and ``"loading_change_l1"`` to one
        value per iteration (as :attr:`ConstrainedNMF.history_`), and
        optionally ``"exact"`` to booleans that are False for the iterations
        on the compressed sketch and True for the exact ones.
    reference_mse : float, optional
        Drawn as a horizontal dashed line on the MSE panel (e.g. PCA's MSE at
        the same number of components).
    reference_label : str
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Three panels against the iteration number: (a) MSE,
        (b) ``||W(i+1) - W(i)||_1`` (``W`` has unit-norm columns),
        (c) ``||H(i+1) - H(i)||_1``. Where a history starts on a sketch, its
        sketch iterations are shaded (legend entry "sketch") and a dotted
        vertical line marks its first exact iteration (legend entry
        "exact").

    Notes
    -----
    The MSE of the sketch iterations is that of the compressed data, so it
    may step at the switch to exact iterations.
    """
    if isinstance(histories, Mapping) and "mse" in histories:
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError(
            "histories must be a history mapping (keys 'mse', "
            "'factor_change_l1', 'loading_change_l1', optionally 'exact') or "
            "{label: history}"
        )
    exact = {name: _check_history(name, h) for name, h in histories.items()}
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (key, label) in zip(axes, _PANELS, strict=True):
        for name, history in histories.items():
            values = np.asarray(history[key], dtype=float)
            iterations = np.arange(1, values.size + 1)
            (line,) = ax.plot(iterations, values, label=name or None)
            _mark_sketch(ax, _sketch_end(exact[name]), values.size, line.get_color())
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        if key != "mse":
            ax.set_yscale("log")
    if reference_mse is not None:
        axes[0].axhline(reference_mse, ls="--", color="k", label=reference_label)
    _limit_mse_axis(axes[0], histories, reference_mse)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))  # one "sketch", one "exact"
        axes[0].legend(unique.values(), unique.keys(), fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _mark_sketch(ax, n_sketch, n_total, color):
    """Shade the sketch iterations and draw a line at the first exact one."""
    if n_sketch == 0:
        return
    first_exact = n_sketch + 0.5
    ax.axvspan(0.5, first_exact, color=color, alpha=0.12, lw=0, label="sketch")
    if n_sketch < n_total:
        ax.axvline(first_exact, color=color, ls=":", lw=1.2, label="exact")


def _limit_mse_axis(ax, histories, reference_mse):
    """Zoom the MSE panel past the first tenth of the iterations."""
    mse_values = np.concatenate(
        [np.asarray(h["mse"], float)[len(h["mse"]) // 10 :] for h in histories.values()]
    )
    mse_values = mse_values[np.isfinite(mse_values)]
    if mse_values.size:
        low = min(mse_values.min(), reference_mse or np.inf)
        high = np.percentile(mse_values, 95)
        if high > low:
            pad = 0.05 * (high - low)
            ax.set_ylim(low - pad, high + pad)
