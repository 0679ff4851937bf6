"""The restarts on binned patterns (core.binning.bin_signal, signal_binning=)."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_cnmf.core import ConstrainedNMF, Geometry
from hyperspy_cnmf.core.binning import (
    MAX_SIGNAL_BINNING,
    auto_signal_binning,
    bin_signal,
)
from hyperspy_cnmf.core.constraints import (
    GaussianSmoothing,
    NonNegativity,
    RadialContinuity,
)
from hyperspy_cnmf.core.data import DenseData, sketch

from .images import ring, spots


@pytest.mark.parametrize(
    "signal_shape, compression, constraints, expected",
    [
        ((128, 128), 60, [RadialContinuity()], 2),
        ((256, 256), 60, [RadialContinuity(), NonNegativity()], MAX_SIGNAL_BINNING),
        ((127, 256), 60, [RadialContinuity()], 1),  # under 64 px a side binned
        ((128, 128), None, [RadialContinuity()], 1),  # exact restarts
        ((128, 128), 60, [RadialContinuity(center=(60.0, 64.0))], 1),  # pixels
        ((128, 128), 60, [RadialContinuity(r_min=5)], 1),
        ((128, 128), 60, [lambda images, context: images], 1),  # a user's own
        ((16384,), 60, [], 1),  # spectra
    ],
)
def test_auto_signal_binning(signal_shape, compression, constraints, expected):
    geometry = Geometry(signal_shape, (8, 8))
    assert auto_signal_binning(geometry, compression, constraints) == expected


def _reference_means(X, shape, factor, mask):
    """Bin means over kept pixels written out with loops (remainders join
    the last bin)."""
    rows, cols = shape[0] // factor, shape[1] // factor
    images = X.reshape(-1, *shape)
    out = np.zeros((X.shape[0], rows, cols))
    for r in range(rows):
        for c in range(cols):
            r1 = (r + 1) * factor if r < rows - 1 else shape[0]
            c1 = (c + 1) * factor if c < cols - 1 else shape[1]
            keep = ~mask[r * factor : r1, c * factor : c1]
            cell = images[:, r * factor : r1, c * factor : c1][:, keep]
            out[:, r, c] = cell.mean(axis=1) if keep.any() else np.nan
    return out.reshape(X.shape[0], -1)


@pytest.mark.parametrize("factor", [2, 3])
def test_bin_signal_takes_bin_means_of_kept_pixels_and_bins_the_geometry(factor):
    shape = (11, 14)
    mask = np.zeros(shape, bool)
    mask[4:7, 5:9] = True  # a masked direct beam, some bins wholly
    mask[:factor, :factor] = True  # one bin wholly masked
    geometry = Geometry(shape, (2, 3), center=(6.5, 5.0), signal_mask=mask)
    X = np.random.default_rng(0).uniform(size=(6, geometry.n_signal))
    binning = bin_signal(geometry, factor)
    full = np.zeros((6, mask.size))
    full[:, ~mask.ravel()] = X
    expected = _reference_means(full, shape, factor, mask)
    kept = ~np.isnan(expected[0])
    np.testing.assert_allclose(X @ binning.pooling, expected[:, kept])
    binned = binning.geometry
    assert binned.signal_shape == (shape[0] // factor, shape[1] // factor)
    np.testing.assert_array_equal(~binned.signal_mask.ravel(), kept)
    assert binned.n_signal == binning.pooling.shape[1]
    # the centre lands on the same physical point
    assert binned.center == pytest.approx(
        ((6.5 + 0.5) / factor - 0.5, (5.0 + 0.5) / factor - 0.5)
    )
    assert binned.signal_axes[0].scale == factor * geometry.signal_axes[0].scale


def test_spread_keeps_the_model_at_every_pixel_of_a_bin():
    geometry = Geometry((8, 10), (3, 3))
    binning = bin_signal(geometry, 2)
    rng = np.random.default_rng(1)
    F = rng.uniform(size=(binning.pooling.shape[1], 3))
    L = rng.uniform(size=(9, 3))
    fine_F, fine_L = binning.spread(F, L)
    np.testing.assert_allclose(np.linalg.norm(fine_F, axis=0), 1.0)
    model = (fine_L @ fine_F.T).reshape(9, 4, 2, 5, 2)
    binned_model = (L @ F.T).reshape(9, 4, 5)
    for dr in range(2):
        for dc in range(2):
            np.testing.assert_allclose(model[:, :, dr, :, dc], binned_model)


def test_the_binned_sketch_is_the_sketch_of_the_binned_data():
    geometry = Geometry((12, 12), (10, 10))
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(100, 3)) @ rng.uniform(size=(3, 144))
    X += 0.01 * rng.standard_normal(X.shape)
    binning = bin_signal(geometry, 2)
    sketched = sketch(DenseData(X), 20, np.random.default_rng(0))
    binned = binning.of_sketch(sketched)
    Xb = X @ binning.pooling
    L = rng.uniform(size=(100, 4))
    exact = (sketched.P @ sketched.Z @ binning.pooling).T @ L
    np.testing.assert_allclose(binned.XtL(L), exact, rtol=1e-10)
    np.testing.assert_allclose(binned.XtL(L), Xb.T @ L, rtol=2e-3)
    # the noise the sketch leaves out is 1/b^4 of its energy binned
    assert binned.squared_norm == pytest.approx(float((Xb**2).sum()), rel=1e-3)


@pytest.fixture
def ring_and_spots_scan():
    """Glass (a ring) with a crystal (spots) in the left half, 24x24 scan of
    32x32 patterns (binned 2x2 when asked)."""
    shape = (32, 32)
    glass = ring(shape, 9.0, 2.0)
    crystal = spots(shape, [(6.0, 15.5), (25.0, 15.5), (15.5, 4.0), (15.5, 27.0)])
    rows, cols = np.indices((24, 24))
    crystal_map = (cols < 12).astype(float).ravel()
    L = np.stack([np.ones(576), crystal_map], axis=1)
    F = np.stack([glass.ravel(), crystal.ravel()], axis=1)
    rng = np.random.default_rng(3)
    X = rng.poisson(20 * (L @ F.T)).astype(np.float32)
    return X, crystal_map


@pytest.mark.parametrize("lazy", [False, True])
def test_binned_restarts_give_the_fit_of_the_unbinned_ones(ring_and_spots_scan, lazy):
    X, crystal_map = ring_and_spots_scan
    geometry = Geometry((32, 32), (24, 24))
    options = dict(
        geometry=geometry,
        compression=12,
        n_init=3,
        max_iter=40,
        random_state=0,
        pure_phases=False,
        loss="frobenius",
        loading_constraints=[GaussianSmoothing()],
    )
    data = da.from_array(X, chunks=(144, 1024)) if lazy else X
    fits = {}
    for factor in (1, 2):
        model = ConstrainedNMF(2, **options, signal_binning=factor)
        maps = model.fit_transform(data)
        assert model.signal_binning_ == factor
        assert model.components_.shape == (2, 1024)  # full resolution
        fits[factor] = model.mse_, maps
    assert fits[2][0] <= fits[1][0] * (1 + 1e-3)  # as low an error
    r = {
        factor: max(np.corrcoef(maps[:, j], crystal_map)[0, 1] for j in range(2))
        for factor, (_, maps) in fits.items()
    }
    assert r[2] > 0.97 and abs(r[2] - r[1]) < 0.015  # the smoothed edge: not 1


def test_signal_binning_needs_a_sketch_and_no_poisson_weights():
    X = np.random.default_rng(0).uniform(size=(64, 256)).astype(np.float32)
    geometry = Geometry((16, 16), (8, 8))
    with pytest.raises(ValueError, match="compression='auto'"):
        ConstrainedNMF(2, geometry=geometry, compression=None, signal_binning=2).fit(X)
    with pytest.raises(ValueError, match="signal_binning=1"):
        ConstrainedNMF(
            2,
            geometry=geometry,
            compression=10,
            signal_binning=2,
            normalize_poissonian_noise=True,
        ).fit(X)


def test_the_kept_restart_settles_on_the_full_sketch_before_the_exact_phase(
    ring_and_spots_scan,
):
    # without an exact phase, what the fit returns is what the Poisson or
    # exact phase would start from: full-resolution patterns, not bins
    X, _ = ring_and_spots_scan
    model = ConstrainedNMF(
        2,
        geometry=Geometry((32, 32), (24, 24)),
        compression=12,
        n_init=3,
        max_iter=40,
        n_exact_iter=0,
        signal_binning=2,
        loss="frobenius",
        pure_phases=False,
        random_state=0,
    )
    model.fit(X)
    patterns = model.components_.reshape(2, 32, 32)
    within_bins = np.abs(patterns[:, 0::2, 0::2] - patterns[:, 1::2, 1::2]).max()
    assert within_bins > 0.05 * patterns.max()
    assert not model.history_["exact"].any()  # all on the sketches


@pytest.mark.parametrize("streamed", [False, True])
def test_auto_bins_in_memory_but_not_streamed(streamed):
    rng = np.random.default_rng(4)
    X = (rng.uniform(size=(64, 2)) @ rng.uniform(size=(2, 128 * 128))).astype(
        np.float32
    )
    model = ConstrainedNMF(
        2,
        geometry=Geometry((128, 128), (8, 8)),
        compression=12,
        n_init=2,
        max_iter=5,
        pure_phases=False,
        random_state=0,
    )
    model.fit(da.from_array(X, chunks=(32, 8192)) if streamed else X)
    assert model.signal_binning_ == (1 if streamed else 2)
