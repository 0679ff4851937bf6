"""Decomposition figures (paper Figs. 1 b-d and 6): diffractions, maps and
the maps' Fourier transforms with the resolution limit as a dotted circle.

:func:`plot_factors_and_maps` draws the factors and maps of a decomposed
HyperSpy/pyxem signal with HyperSpy's own :func:`hyperspy.api.plot.plot_images`:
calibrated detector axes, scale bars on the maps, component numbers and
labelled colour bars. Like every HyperSpy plot it makes a pyplot figure.

:func:`plot_components` and :func:`plot_comparison` take arrays, factors
``(k, rows, cols)`` and maps ``(k, nav_rows, nav_cols)``, return
:class:`matplotlib.figure.Figure` objects and leave no pyplot state behind.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

__all__ = [
    "map_power_spectrum",
    "plot_comparison",
    "plot_components",
    "plot_factors_and_maps",
]


def map_power_spectrum(maps) -> np.ndarray:
    """``log10`` of the centred power spectrum of each mean-removed map.

    Parameters
    ----------
    maps : array_like
        ``(k, rows, cols)`` or ``(rows, cols)``.

    Returns
    -------
    numpy.ndarray
        Same shape, ``fftshift``-ed so that zero frequency is in the middle.
    """
    m = np.asarray(maps, dtype=np.float64)
    single = m.ndim == 2
    m = m[None] if single else m
    m = np.nan_to_num(m) - np.nan_to_num(m).mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(m), axes=(-2, -1))) ** 2
    floor = max(float(power.max()) * 1e-12, np.finfo(float).tiny)
    out = np.log10(power + floor)
    return out[0] if single else out


def _as_stack(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be (k, rows, cols), got shape {a.shape}")
    return a


def _draw_factor(ax, image):
    finite = image[np.isfinite(image)]
    # Negative intensities (PCA): diverging map, symmetric about zero. A
    # rounding-level negative (under 0.1 % of the largest magnitude) is not
    # one: the panel would switch maps from run to run.
    if finite.size and finite.min() < -1e-3 * float(np.abs(finite).max()):
        vmax = float(np.percentile(np.abs(finite), 99.5)) or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    else:
        vmax = float(np.percentile(finite, 99.5)) if finite.size else 1.0
        ax.imshow(
            image, cmap="inferno", vmin=0, vmax=vmax or 1.0, interpolation="nearest"
        )


def _draw_map(ax, image):
    ax.imshow(image, cmap="viridis", interpolation="nearest")


def _draw_fft(ax, spectrum, cutoff):
    rows, cols = spectrum.shape
    # Pixel centres at fftshift-ed frequencies (cycles per scan pixel).
    fy = np.fft.fftshift(np.fft.fftfreq(rows))
    fx = np.fft.fftshift(np.fft.fftfreq(cols))
    dy = 1.0 / rows
    dx = 1.0 / cols
    extent = (fx[0] - dx / 2, fx[-1] + dx / 2, fy[-1] + dy / 2, fy[0] - dy / 2)
    finite = spectrum[np.isfinite(spectrum)]
    vmin, vmax = np.percentile(finite, [5, 99.9]) if finite.size else (None, None)
    ax.imshow(
        spectrum,
        cmap="gray",
        extent=extent,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    if cutoff is not None:
        ax.add_patch(
            Circle((0, 0), cutoff, fill=False, ls=":", lw=1.2, color="tab:orange")
        )


def _tidy(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def plot_components(
    factors,
    maps,
    *,
    cutoff: float | None = 0.25,
    names=None,
    fft: bool = True,
    title: str | None = None,
    panel_size: float = 1.6,
) -> Figure:
    """Factors, maps and the maps' Fourier transforms of one decomposition.

    Parameters
    ----------
    factors : array_like
        ``(k, rows, cols)`` diffraction components ``w_k``. Nonnegative ones
        are drawn with ``inferno`` from 0 to the 99.5th percentile; any with
        negative values with ``RdBu_r`` symmetric about 0 (blue: negative).
    maps : array_like
        ``(k, nav_rows, nav_cols)`` maps ``h_k``.
    cutoff : float or None
        Resolution limit in cycles per scan pixel, drawn as a dotted circle
        on each Fourier transform (see
        :func:`hyperspy_cnmf.scoring.resolution_cutoff`); None: no circle.
    names : sequence of str, optional
        Column titles; default ``k = 0, 1, ...``.
    fft : bool
        Add the row of Fourier transforms (log power, zero frequency in the
        middle, axes in cycles per pixel).
    title : str, optional
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        ``3 k`` axes (``2 k`` without ``fft``): row 0 factors, row 1 maps,
        row 2 Fourier transforms.
    """
    factors = _as_stack(factors, "factors")
    maps = _as_stack(maps, "maps")
    k = factors.shape[0]
    if maps.shape[0] != k:
        raise ValueError(f"{k} factors but {maps.shape[0]} maps")
    if names is None:
        names = [f"k = {i}" for i in range(k)]
    n_rows = 3 if fft else 2
    fig = Figure(
        figsize=(panel_size * k, panel_size * n_rows + 0.4), layout="constrained"
    )
    axes = np.asarray(fig.subplots(n_rows, k, squeeze=False))
    spectra = map_power_spectrum(maps) if fft else None
    for i in range(k):
        _draw_factor(axes[0, i], factors[i])
        axes[0, i].set_title(str(names[i]), fontsize="small")
        _draw_map(axes[1, i], maps[i])
        if fft:
            _draw_fft(axes[2, i], spectra[i], cutoff)
    for ax in axes.ravel():
        _tidy(ax)
    axes[0, 0].set_ylabel("diffraction $w_k$")
    axes[1, 0].set_ylabel("map $h_k$")
    if fft:
        axes[2, 0].set_ylabel("FT of $h_k$")
    if title:
        fig.suptitle(title)
    return fig


def _pairs(decompositions):
    if hasattr(decompositions, "results"):  # a reproduction.Comparison
        decompositions = {r.label: r for r in decompositions.results.values()}
    if not isinstance(decompositions, Mapping) or not decompositions:
        raise ValueError(
            "decompositions must be a non-empty {label: (factors, maps)} mapping "
            "or a Comparison"
        )
    out = {}
    for label, item in decompositions.items():
        if hasattr(item, "factors") and hasattr(item, "maps"):
            factors, maps = item.factors, item.maps
        else:
            factors, maps = item
        out[str(label)] = (_as_stack(factors, "factors"), _as_stack(maps, "maps"))
    return out


def plot_comparison(
    decompositions,
    *,
    methods=None,
    cutoff: float | None = None,
    names=None,
    title: str | None = None,
    panel_size: float = 1.1,
) -> Figure:
    """Several decompositions side by side, one row per method (paper Fig. 1).

    Parameters
    ----------
    decompositions : mapping or Comparison
        ``{label: (factors, maps)}`` (or values with ``.factors`` and
        ``.maps``), or a :class:`hyperspy_cnmf.reproduction.Comparison`.
        Components should already be in a common order (the comparison
        matches them to the truth).
    methods : sequence, optional
        With a Comparison: the method keys to show, in order; default all.
    cutoff : float, optional
        Resolution limit (cycles/pixel) drawn on the Fourier transforms;
        default the Comparison's, else none.
    names : sequence of str, optional
        Component names for the column titles.
    title : str, optional
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_methods x 3 k`` axes: per row the ``k`` diffractions, the ``k``
        maps and the ``k`` Fourier transforms of the maps (``k`` is the
        largest number of components; missing panels are left blank).
    """
    if hasattr(decompositions, "results"):
        if cutoff is None:
            cutoff = decompositions.cutoff
        if names is None:
            names = decompositions.truth.get("component_names")
        if methods is not None:
            missing = [m for m in methods if m not in decompositions.results]
            if missing:
                raise ValueError(f"the comparison did not run {missing}")
            decompositions = {
                decompositions.results[m].label: decompositions.results[m]
                for m in methods
            }
    rows = _pairs(decompositions)
    k = max(f.shape[0] for f, _ in rows.values())
    n = len(rows)
    fig = Figure(
        figsize=(panel_size * 3 * k + 1.2, panel_size * n + 0.6), layout="constrained"
    )
    axes = np.asarray(fig.subplots(n, 3 * k, squeeze=False))
    for r, (label, (factors, maps)) in enumerate(rows.items()):
        spectra = map_power_spectrum(maps)
        for i in range(k):
            ax_w, ax_h, ax_f = axes[r, i], axes[r, k + i], axes[r, 2 * k + i]
            if i < factors.shape[0]:
                _draw_factor(ax_w, factors[i])
                _draw_map(ax_h, maps[i])
                _draw_fft(ax_f, spectra[i], cutoff)
            else:
                for ax in (ax_w, ax_h, ax_f):
                    ax.set_axis_off()
        axes[r, 0].set_ylabel(label.replace(" + ", "\n+ "), fontsize="x-small")
    for i in range(k):
        suffix = f"\n{names[i]}" if names is not None and i < len(names) else ""
        axes[0, i].set_title(f"$w_{i}${suffix}", fontsize="x-small")
        axes[0, k + i].set_title(f"$h_{i}${suffix}", fontsize="x-small")
        axes[0, 2 * k + i].set_title(f"FT $h_{i}$", fontsize="x-small")
    for ax in axes.ravel():
        _tidy(ax)
    if title:
        fig.suptitle(title)
    return fig


def _axis_label(axis) -> str:
    units = axis.units
    name = str(axis.name)
    if isinstance(units, str) and units and units != "<undefined>":
        return f"{name} ({units})"
    return name


def _component(stack, c):
    """Component ``c`` of HyperSpy's factor or loading stack; with one
    component HyperSpy returns it without a navigation axis."""
    if stack.axes_manager.navigation_dimension == 0:
        return stack
    return stack.inav[c]


def plot_factors_and_maps(
    signal,
    components=None,
    *,
    factor_cmap: str = "inferno",
    map_cmap: str = "viridis",
    factor_label: str = "intensity (a.u.)",
    map_label: str = "weight (a.u.)",
    title: str | None = None,
    panel_size: float = 2.6,
):
    """Diffraction factors above their maps, numbered, calibrated, with colour bars.

    One column per component: the factor (diffraction pattern) on the
    signal's calibrated detector axes, under it the map (loading) with a
    scale bar in the scan units. Drawn with HyperSpy's
    :func:`hyperspy.api.plot.plot_images`, so the axes, units and scale bars
    are those of the signal's ``axes_manager``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A decomposed signal with two navigation and two signal axes (a pyxem
        ``Diffraction2D`` after ``s.decomposition(...)``, any algorithm).
    components : int or sequence of int, optional
        The components to show: a number ``n`` (the first ``n``) or their
        indices; default all (``learning_results.output_dimension``).
    factor_cmap, map_cmap : str
        Colour maps of the factors and of the maps.
    factor_label, map_label : str
        Colour bar labels of the factors and of the maps.
    title : str, optional
        Figure title; default the signal's title.
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot figure (``plt.close(fig)`` when done), ``2 n`` image axes
        and their ``2 n`` colour bars. Panels ``i`` and ``n + i`` are titled
        ``component c diffraction`` and ``component c map``, ``c`` the
        component's index in ``learning_results``.

    Examples
    --------
    >>> s.decomposition(algorithm="constrained_nmf", output_dimension=4)  # doctest: +SKIP
    >>> fig = plot_factors_and_maps(s)  # doctest: +SKIP
    >>> fig.savefig("components.png")  # doctest: +SKIP
    """
    import hyperspy.api as hs
    import matplotlib.pyplot as plt

    if signal.axes_manager.signal_dimension != 2 or (
        signal.axes_manager.navigation_dimension != 2
    ):
        raise ValueError(
            "plot_factors_and_maps needs two navigation and two signal axes; "
            "use signal.plot_decomposition_results() for other signals"
        )
    if getattr(signal.learning_results, "factors", None) is None:
        raise ValueError("the signal has no decomposition: run s.decomposition first")
    n_total = signal.learning_results.factors.shape[1]
    if components is None:
        indices = list(range(n_total))
    elif np.ndim(components) == 0:
        indices = list(range(min(int(components), n_total)))
    else:
        indices = [int(i) for i in components]
    if not indices or min(indices) < 0 or max(indices) >= n_total:
        raise ValueError(
            f"components must select among the {n_total} components, got {components}"
        )
    all_factors = signal.get_decomposition_factors()
    all_maps = signal.get_decomposition_loadings()
    factors = [_component(all_factors, c) for c in indices]
    maps = [_component(all_maps, c) for c in indices]
    n = len(indices)
    # An image is about 0.75 of a panel wide (its colour bar takes the rest).
    fig = plt.figure(figsize=(panel_size * n + 0.4, 1.6 * panel_size + 1.0))
    labels = [f"component {c} diffraction" for c in indices]
    labels += [f"component {c} map" for c in indices]
    axes = hs.plot.plot_images(
        factors + maps,
        per_row=n,
        cmap=[factor_cmap] * n + [map_cmap] * n,
        label=labels,
        axes_decor="all",
        scalebar=list(range(n, 2 * n)),
        colorbar="multi",
        centre_colormap=False,
        fig=fig,
        tight_layout=False,
    )
    x_label = _axis_label(all_factors.axes_manager.signal_axes[0])
    y_label = _axis_label(all_factors.axes_manager.signal_axes[1])
    for i, ax in enumerate(axes):
        image = ax.get_images()[0]
        colorbar = image.colorbar
        if i < n:
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label if i == 0 else "")
            if colorbar is not None:
                colorbar.set_label(factor_label if i == n - 1 else "")
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            if colorbar is not None:
                colorbar.set_label(map_label if i == 2 * n - 1 else "")
        ax.set_title(ax.get_title(), fontsize="medium")
    fig.suptitle(signal.metadata.General.title if title is None else title)
    # The colour bars sit in axes_grid1 dividers, which tight_layout (not
    # constrained_layout) knows how to make room for.
    fig.tight_layout()
    return fig
