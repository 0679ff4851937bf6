"""The reproduction's report: the score table, Fig. 7, Fig. 9 and the files.

:func:`reproduce` (``python -m hyperspy_cnmf reproduce``) runs
:func:`~hyperspy_cnmf.reproduction.compare_methods` on the default
simulation and writes the figures and ``scores.md``; :func:`score_table`
renders a comparison's scores as a markdown table and
:func:`convergence_figure` draws Fig. 7.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..core import ConvergenceWarning
from .compare import Comparison, compare_methods
from .methods import DEFAULT_METHODS

__all__ = [
    "CLUSTERING_MIN_K",
    "FULL_SETTINGS",
    "QUICK_SETTINGS",
    "clustering_figure",
    "convergence_figure",
    "refuse_link",
    "reproduce",
    "score_table",
]


def _fmt(value, spec):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


def score_table(comparison: Comparison) -> str:
    """The scores of a :class:`Comparison` as a markdown table.

    Columns: matched map cosines (minimum, then per true component),
    pattern cosine (over the crystalline true components, the minimum of
    the best cosine of any recovered factor to the true pattern; low when
    the crystal factors carry the amorphous rings), dark-spot score of the component matched to the amorphous pattern (1:
    no dark spots, < 1: dark spots at the other phases' Bragg spots), mean
    fraction of the maps' Fourier power beyond the resolution limit, MSE and
    its excess over PCA's, fraction of negative factor pixels, time.
    """
    names = comparison.truth["component_names"]
    ref = comparison.reference_mse
    header = (
        ["method", "map cos min"]
        + [f"map cos {n}" for n in names]
        + [
            "pattern cosine",
            "dark-spot",
            f"HF power > {comparison.cutoff:.2f}",
            "MSE",
            "MSE vs PCA",
            "negative factors",
            "time (s)",
        ]
    )
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for result in comparison.results.values():
        sc = result.scores
        cos = np.asarray(sc["map_cosine"], dtype=float)
        excess = None if ref is None else 100.0 * (result.mse - ref) / ref
        row = (
            [result.label, _fmt(float(np.nanmin(cos)), ".3f")]
            + [_fmt(float(c), ".3f") for c in cos]
            + [
                _fmt(float(sc["crystal_pattern_cosine"]), ".3f"),
                _fmt(float(sc["dark_spot_score"]), ".3f"),
                _fmt(float(sc["hf_fraction_mean"]), ".4f"),
                _fmt(result.mse, ".6f"),
                "–" if excess is None else f"{excess:+.3f} %",
                _fmt(result.negative_fraction, ".3f"),
                _fmt(result.elapsed, ".1f"),
            ]
        )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def convergence_figure(
    comparison: Comparison, methods=("mu", "als", "both"), title=None
):
    """Paper Fig. 7: MSE and L1 changes per iteration, PCA's MSE as a line."""
    from ..plotting.convergence import plot_convergence

    histories = comparison.histories(methods)
    if not histories:
        raise ValueError(f"none of {list(methods)} recorded a convergence history")
    return plot_convergence(
        histories,
        reference_mse=comparison.reference_mse,
        title=title or f"Convergence, k = {comparison.n_components}",
    )


#: Settings of ``python -m hyperspy_cnmf reproduce`` (full and ``--quick``).
#: Full: exact iterations as in the paper (no sketch, so Fig. 7 shows the
#: data's own MSE throughout), 4 restarts instead of 10 and at most 200
#: iterations instead of 500, stopping once every restart changes by less
#: than 1e-5 (relative L1); the constrained fits stop after a few tens of
#: iterations, the primitive ones run to max_iter. Every restart runs to the
#: end (no successive halving), as in the paper.
FULL_SETTINGS = {
    "n_init": 4,
    "max_iter": 200,
    "tol": 1e-5,
    "compression": None,
    "prune_restarts": False,
    "sklearn_max_iter": 300,
}
QUICK_SETTINGS = {
    "n_init": 2,
    "max_iter": 60,
    "tol": 1e-4,
    "compression": "auto",
    "sklearn_max_iter": 100,
}


#: :func:`reproduce` draws the clustering figure (Fig. 9) from this ``k`` on.
CLUSTERING_MIN_K = 6


def clustering_figure(signal, k, path, *, random_state=0, dpi=72, **settings):
    """Fit ``k`` pure-phase components, cluster them, save Fig. 9 as one PNG.

    The paper's Fig. 9: a signal-level constrained NMF with
    ``pure_phases=True`` on a copy of ``signal`` (sharing its data; neither
    is modified), :func:`~hyperspy_cnmf.signals.clustering.cluster_components`
    with its defaults, then the cosine and diffraction similarity matrices
    (:func:`~hyperspy_cnmf.methods.plot_similarity_matrices`) and the
    dendrogram with the merged diffractions
    (:func:`~hyperspy_cnmf.methods.plot_dendrogram`) side by side.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The 4D signal (e.g. :func:`hyperspy_cnmf.data.simulated_4dstem`).
    k : int
        Number of components.
    path : str or pathlib.Path
        The PNG to write.
    random_state : int
        Seed of the fit.
    dpi : int
        Resolution of both panels.
    **settings
        :class:`~hyperspy_cnmf.core.ConstrainedNMF` parameters (``n_init``,
        ``max_iter``, ...); ``sklearn_max_iter`` is ignored.

    Returns
    -------
    ComponentClusters
        The clustering.
    """
    import io
    import warnings

    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    from ..methods import plot_dendrogram, plot_similarity_matrices
    from ..signals.clustering import cluster_components
    from ..signals.decomposition import decomposition, working_copy

    settings = {key: v for key, v in settings.items() if key != "sklearn_max_iter"}
    work = working_copy(signal)
    with warnings.catch_warnings():  # the quick settings stop early by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        decomposition(
            work,
            output_dimension=int(k),
            pure_phases=True,
            random_state=random_state,
            print_info=False,
            show_progressbar=False,
            **settings,
        )
    clusters = cluster_components(work)
    panels = []
    for fig in (plot_similarity_matrices(work), plot_dendrogram(work)):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        buffer.seek(0)
        panels.append(mpimg.imread(buffer, format="png"))
    title_in = 0.4  # inches above the panels for the title
    height_in = max(p.shape[0] for p in panels) / dpi + title_in
    width = sum(p.shape[1] for p in panels)
    figure = Figure(figsize=(width / dpi, height_in), dpi=dpi)
    figure.suptitle(
        f"Fig. 9: k = {k} pure-phase components in {clusters.n_clusters} clusters"
    )
    left = 0
    for panel in panels:  # pixel for pixel, top-aligned under the title
        rows, cols = panel.shape[:2]
        h = rows / dpi / height_in
        box = (left / width, 1 - title_in / height_in - h, cols / width, h)
        ax = figure.add_axes(box)
        ax.imshow(panel, interpolation="none")
        ax.set_axis_off()
        left += cols
    figure.savefig(path, dpi=dpi)
    return clusters


def refuse_link(path):
    """``path``, unless it is a symbolic link: files are never written through
    a link (one planted in the output folder could point anywhere)."""
    from pathlib import Path

    path = Path(path)
    if path.is_symlink():
        raise FileExistsError(
            f"{path} is a symbolic link; hyperspy_cnmf does not write through "
            "links: remove it or choose another output folder"
        )
    return path


def _figures(comparison, k) -> dict:
    """The comparison's figures by file name: all methods, Fig. 7, and
    Figs. 1 and 6 from the methods they show."""
    from ..plotting.decomposition import plot_comparison

    figures = {
        "comparison.png": plot_comparison(
            comparison, title=f"PCA, primitive and constrained NMF, k = {k}"
        ),
        "fig7_convergence.png": convergence_figure(
            comparison, [m for m in ("mu", "als", "both") if m in comparison]
        ),
    }
    for name, shown, title in (
        ("fig1_pca_nmf_constrained.png", ("pca", "als", "both"), "Fig. 1 b-d"),
        ("fig6_constraints.png", ("als", "maps", "factors", "both"), "Fig. 6 a-d"),
    ):
        shown = [m for m in shown if m in comparison]
        if shown:
            figures[name] = plot_comparison(
                comparison, methods=shown, title=f"{title}, k = {k}"
            )
    return figures


def reproduce(
    output,
    n_components=(4,),
    *,
    quick: bool = False,
    seed: int = 0,
    methods: Sequence[str] = DEFAULT_METHODS,
    progress: bool = True,
    dpi: int = 72,
    simulation: Mapping | None = None,
) -> list:
    """Run the comparison on the default simulation; write PNGs and ``scores.md``.

    For each ``k`` in ``n_components``, ``output/k<k>/`` receives
    ``comparison.png`` (all methods), ``fig1_pca_nmf_constrained.png``
    (paper Fig. 1 b-d), ``fig6_constraints.png`` (Fig. 6 a-d),
    ``fig7_convergence.png`` (Fig. 7) and ``scores.md``; for ``k >= 6``
    (more components than the simulation's four phases) also
    ``fig9_clustering.png`` (Fig. 9, see :func:`clustering_figure`).
    ``output/scores.md`` collects the tables of every ``k``.

    ``simulation`` holds keyword arguments for
    :func:`hyperspy_cnmf.data.simulated_4dstem` (default: the paper's data
    set, 36 x 36 x 128 x 128, 1e4 electrons per pattern).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from pathlib import Path

    from ..data import simulated_4dstem

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    settings = dict(QUICK_SETTINGS if quick else FULL_SETTINGS)
    start = time.perf_counter()
    s = simulated_4dstem(**{"seed": seed, **(simulation or {})})
    if progress:
        print(f"Simulated data: {s} ({time.perf_counter() - start:.1f} s)", flush=True)
        print(f"Settings: {settings}", flush=True)
    written, tables = [], []
    for k in n_components:
        folder = refuse_link(output / f"k{k}")
        folder.mkdir(exist_ok=True)
        comparison = compare_methods(
            s, k, methods, random_state=seed, progress=progress, **settings
        )
        for name, fig in _figures(comparison, k).items():
            fig.savefig(refuse_link(folder / name), dpi=dpi)
            written.append(folder / name)
        if k >= CLUSTERING_MIN_K:
            path = refuse_link(folder / "fig9_clustering.png")
            clustering_figure(s, k, path, random_state=seed, dpi=dpi, **settings)
            written.append(path)
        table = score_table(comparison)
        heading = f"## k = {k}\n\n"
        note = (
            f"Settings: {settings}; resolution limit {comparison.cutoff:.3f} "
            "cycles/pixel.\n\n"
        )
        refuse_link(folder / "scores.md").write_text(heading + note + table)
        written.append(folder / "scores.md")
        tables.append(heading + note + table)
        if progress:
            print(table, flush=True)
    refuse_link(output / "scores.md").write_text(
        "# Scores on the simulated data (Kimoto et al. 2025, Fig. 10)\n\n"
        + "\n".join(tables)
    )
    written.append(output / "scores.md")
    if progress:
        print(f"Total {time.perf_counter() - start:.0f} s", flush=True)
    return written
