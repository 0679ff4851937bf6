"""Decomposition figures: factors, maps and the maps' Fourier transforms."""

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from hyperspy_cnmf.plotting.decomposition import (  # noqa: E402
    map_power_spectrum,
    plot_comparison,
    plot_components,
)
from hyperspy_cnmf.reproduction import compare_methods  # noqa: E402


def _renders(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    assert buffer.tell() > 0


def _decomposition(k, rng, negative=False):
    factors = rng.random((k, 16, 16))
    if negative:
        factors -= 0.5
    return factors, rng.random((k, 10, 12))


def _circles(ax):
    return [p for p in ax.patches if isinstance(p, Circle)]


@pytest.mark.parametrize("k", [1, 4])
def test_plot_components_has_three_rows_of_k_panels(k):
    factors, maps = _decomposition(k, np.random.default_rng(0))
    fig = plot_components(factors, maps, cutoff=0.3, title="one")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * k
    # The resolution limit is a dotted circle on each Fourier transform.
    for ax in fig.axes[2 * k :]:
        (circle,) = _circles(ax)
        assert circle.get_radius() == pytest.approx(0.3)
        assert circle.get_linestyle() == ":"
    _renders(fig)


def test_plot_components_without_fft_or_cutoff():
    factors, maps = _decomposition(3, np.random.default_rng(1))
    fig = plot_components(factors, maps, fft=False, names=["a", "b", "c"])
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    fig = plot_components(factors, maps, cutoff=None)
    assert not any(_circles(ax) for ax in fig.axes)


def test_negative_factors_use_a_diverging_map_symmetric_about_zero():
    rng = np.random.default_rng(2)
    factors, maps = _decomposition(2, rng, negative=True)
    fig = plot_components(factors, maps)
    image = fig.axes[0].get_images()[0]
    low, high = image.get_clim()
    assert low == pytest.approx(-high)
    assert image.get_cmap().name == "RdBu_r"
    positive = plot_components(np.abs(factors), maps).axes[0].get_images()[0]
    assert positive.get_clim()[0] == 0
    # rounding-level negatives (a 1e-6 share) keep the nonnegative map
    rounded = np.abs(factors)
    rounded[:, 0, 0] = -1e-6 * np.abs(factors).max()
    image = plot_components(rounded, maps).axes[0].get_images()[0]
    assert image.get_cmap().name == "inferno" and image.get_clim()[0] == 0


def test_plot_components_refuses_mismatched_input():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="3 factors but 2 maps"):
        plot_components(rng.random((3, 8, 8)), rng.random((2, 5, 5)))
    with pytest.raises(ValueError, match="factors must be"):
        plot_components(rng.random(8), rng.random((1, 5, 5)))


def test_plot_comparison_has_a_row_per_method():
    rng = np.random.default_rng(4)
    decompositions = {
        "PCA": _decomposition(4, rng, negative=True),
        "NMF": _decomposition(4, rng),
        "short": _decomposition(2, rng),
    }
    fig = plot_comparison(decompositions, cutoff=0.25, names=["w", "x", "y", "z"])
    assert len(fig.axes) == 3 * 3 * 4
    assert sum(len(_circles(ax)) for ax in fig.axes) == 4 + 4 + 2
    # Missing components of the shorter decomposition are blank panels.
    assert not fig.axes[-1].axison
    _renders(fig)
    with pytest.raises(ValueError, match="non-empty"):
        plot_comparison({})


def test_plot_comparison_of_a_comparison_selects_methods():
    from hyperspy_cnmf.data import simulated_4dstem

    s = simulated_4dstem((10, 10), (24, 24), area_size=3)
    c = compare_methods(
        s,
        3,
        ("pca", "als"),
        n_init=1,
        max_iter=5,
        compression=None,
        progress=False,
    )
    fig = plot_comparison(c)
    assert len(fig.axes) == 2 * 3 * 3
    assert "PCA" in fig.axes[0].get_ylabel()
    (circle,) = _circles(fig.axes[6])
    assert circle.get_radius() == pytest.approx(c.cutoff)
    fig = plot_comparison(c, methods=["als"])
    assert len(fig.axes) == 3 * 3
    with pytest.raises(ValueError, match="did not run"):
        plot_comparison(c, methods=["both"])


def test_map_power_spectrum_is_centred():
    yy, xx = np.mgrid[:16, :16]
    stripes = np.cos(2 * np.pi * 4 * xx / 16)  # 0.25 cycles/pixel along x
    spectrum = map_power_spectrum(stripes)
    assert spectrum.shape == (16, 16)
    row, col = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert row == 8 and abs(col - 8) == 4
    assert map_power_spectrum(np.stack([stripes, stripes])).shape == (2, 16, 16)


# -- plot_factors_and_maps: a decomposed signal, HyperSpy's plot_images -------


@pytest.fixture
def decomposed():
    from hyperspy_cnmf.data import simulated_4dstem

    s = simulated_4dstem((8, 10), (24, 24), area_size=3)
    # Any algorithm: the figure reads only the learning results and the axes.
    s.decomposition(algorithm="SVD", output_dimension=3, print_info=False)
    return s


def _inside_figure(fig):
    """Every axes (images, colour bars, their labels) lies inside the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= -1 and box.y0 >= -1, ax
        assert box.x1 <= width + 1 and box.y1 <= height + 1, ax


def test_plot_factors_and_maps_numbers_calibrates_and_labels(decomposed):
    from matplotlib import pyplot as plt

    from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps

    fig = plot_factors_and_maps(decomposed)
    try:
        images = [ax for ax in fig.axes if ax.get_images()]
        assert len(images) == 6
        titles = [ax.get_title() for ax in images]
        assert titles[:3] == [f"component {i} diffraction" for i in range(3)]
        assert titles[3:] == [f"component {i} map" for i in range(3)]
        # Diffractions on the calibrated detector axes, with units ...
        assert images[0].get_xlabel() == "kx (1/nm)"
        assert images[0].get_ylabel() == "ky (1/nm)"
        left, right, bottom, top = images[0].get_images()[0].get_extent()
        assert right - left == pytest.approx(24 * 0.2)
        # ... maps with a scale bar in the scan units and no ticks.
        for ax in images[3:]:
            assert ax.scalebar.units == "nm"
            assert not ax.get_xticks().size
        # Every image has a colour bar; each row's last one is labelled.
        colorbars = [ax.get_images()[0].colorbar for ax in images]
        assert all(cb is not None for cb in colorbars)
        assert colorbars[2].ax.get_ylabel() == "intensity (a.u.)"
        assert colorbars[5].ax.get_ylabel() == "weight (a.u.)"
        _inside_figure(fig)
        _renders(fig)
    finally:
        plt.close(fig)


def test_plot_factors_and_maps_selects_components(decomposed):
    from matplotlib import pyplot as plt

    from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps

    fig = plot_factors_and_maps(decomposed, [2, 0], title="two of three")
    try:
        images = [ax for ax in fig.axes if ax.get_images()]
        assert [ax.get_title() for ax in images] == [
            "component 2 diffraction",
            "component 0 diffraction",
            "component 2 map",
            "component 0 map",
        ]
        factor = decomposed.get_decomposition_factors().inav[2].data
        np.testing.assert_allclose(images[0].get_images()[0].get_array(), factor)
        assert fig.get_suptitle() == "two of three"
        _inside_figure(fig)
    finally:
        plt.close(fig)
    fig = plot_factors_and_maps(decomposed, 1)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 2
    plt.close(fig)


def test_plot_factors_and_maps_refuses_what_it_cannot_draw(decomposed):
    from hyperspy_cnmf.data import simulated_4dstem
    from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps

    with pytest.raises(ValueError, match="select among the 3"):
        plot_factors_and_maps(decomposed, [0, 3])
    with pytest.raises(ValueError, match="no decomposition"):
        plot_factors_and_maps(simulated_4dstem((4, 4), (16, 16)))
    with pytest.raises(ValueError, match="two navigation and two signal"):
        plot_factors_and_maps(decomposed.inav[0])


def test_plot_factors_and_maps_with_one_component(lazy):
    """HyperSpy returns a single component without a navigation axis
    (an IndexError before, issue 19)."""
    import hyperspy_cnmf  # noqa: F401
    from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps
    from tests.signals.synthetic import make_signal

    s = make_signal(lazy=lazy)
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=1,
        n_init=1,
        max_iter=5,
        print_info=False,
    )
    fig = plot_factors_and_maps(s)
    assert len([ax for ax in fig.axes if ax.images]) == 2  # one factor, one map
    _renders(fig)
