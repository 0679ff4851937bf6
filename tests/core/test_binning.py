"""Coarse-to-fine fits of low-dose scans (core.binning, scan_binning=)."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_cnmf.core import ConstrainedNMF, Geometry
from hyperspy_cnmf.core import solver as solver_module
from hyperspy_cnmf.core.binning import (
    MAX_SCAN_BINNING,
    TARGET_COUNTS,
    auto_scan_binning,
    bin_scan,
    counts_per_position,
)
from hyperspy_cnmf.core.data import BlockData, DaskData, DenseData
from hyperspy_cnmf.core.geometry import AxisInfo
from hyperspy_cnmf.core.solver import POISSON_ITER, POISSON_ITER_STREAMED


@pytest.mark.parametrize(
    "counts, shape, expected",
    [
        (TARGET_COUNTS, (48, 48), 1),  # enough counts
        (300.0, (48, 48), 2),
        (100.0, (48, 48), 2),
        (99.0, (48, 48), 3),
        (1.0, (48, 48), MAX_SCAN_BINNING),
        (1.0, (30, 48), 2),  # at least 12 binned positions a side
        (1.0, (20, 48), 1),
        (1.0, (2304,), 1),  # line scans are not binned
    ],
)
def test_auto_scan_binning(counts, shape, expected):
    assert auto_scan_binning(counts, shape) == expected


def _scan(nav=(7, 9), n_sig=5, dtype=np.uint16):
    rng = np.random.default_rng(0)
    return rng.poisson(3.0, size=(nav[0] * nav[1], n_sig)).astype(dtype)


def _reference(X, nav, factor, nav_mask=None):
    """Binned sums written out with loops."""
    rows, cols = nav[0] // factor, nav[1] // factor
    keep = np.ones(nav, bool) if nav_mask is None else ~nav_mask
    cube = X.reshape(*nav, -1).astype(np.float64) * keep[..., None]
    out = np.zeros((rows, cols, X.shape[1]))
    for r in range(rows):
        for c in range(cols):
            cell = cube[r * factor : (r + 1) * factor, c * factor : (c + 1) * factor]
            out[r, c] = cell.sum(axis=(0, 1))
    return out.reshape(rows * cols, -1)


@pytest.mark.parametrize("kind", ["dense", "block", "dask"])
@pytest.mark.parametrize("masked", [False, True])
def test_bin_scan_sums_the_kept_positions(kind, masked):
    nav, factor = (7, 9), 2
    X = _scan(nav)
    nav_mask = np.zeros(nav, bool)
    if masked:
        nav_mask[:2, :2] = True  # a whole cell
        nav_mask[3, 4] = True  # one member of a cell
    keep = ~nav_mask.ravel()
    sig_keep = np.array([True, False, True, True, True])
    geometry = Geometry(
        (5,),
        nav,
        navigation_axes=(AxisInfo(7, 1.5, 0.0, "nm"), AxisInfo(9, 1.5, 3.0, "nm")),
        navigation_mask=nav_mask if masked else None,
    )
    if kind == "dense":
        data = DenseData(X[keep][:, sig_keep].astype(np.float32))
    elif kind == "block":
        data = BlockData(X, rows=keep, cols=sig_keep)
    else:
        data = DaskData(da.from_array(X, chunks=(10, 3)), rows=keep, cols=sig_keep)
    binning = bin_scan(data, geometry, factor)
    expected = _reference(X, nav, factor, nav_mask if masked else None)[:, sig_keep]
    members = np.array([4.0] * 12)
    if masked:
        members[0] = 0
        members[1 * 4 + 2] = 3  # cell (1, 2) lost position (3, 4)
    kept_cells = members > 0
    np.testing.assert_allclose(binning.data, expected[kept_cells])
    np.testing.assert_array_equal(binning.members, members[kept_cells])
    coarse = binning.geometry
    assert coarse.navigation_shape == (3, 4)
    assert coarse.navigation_axes[1].scale == 3.0
    assert coarse.navigation_axes[1].offset == pytest.approx(3.75)
    if masked:
        assert coarse.navigation_mask[0, 0] and coarse.navigation_mask.sum() == 1
    else:
        assert coarse.navigation_mask is None
    # spreading back keeps the counts of the kept cells' positions
    coarse_maps = np.arange(1, 1 + 2 * kept_cells.sum(), dtype=np.float32).reshape(
        -1, 2
    )
    fine = binning.spread(coarse_maps)
    assert fine.shape == (int(keep.sum()), 2)
    inside = binning.cell_of_row >= 0
    assert np.all(fine[inside] > 0)


def test_binned_counts_keep_their_integer_type_until_they_overflow():
    X = np.full((16, 3), 20000, dtype=np.uint16)
    geometry = Geometry((3,), (4, 4))
    small = bin_scan(BlockData(X // 8), geometry, 2)
    assert small.data.dtype == np.uint16 and small.data[0, 0] == 4 * 2500
    big = bin_scan(BlockData(X), geometry, 2)
    assert big.data.dtype == np.uint32 and big.data[0, 0] == 80000
    floats = bin_scan(DenseData(X.astype(np.float64)), geometry, 2)
    assert floats.data.dtype == np.float32


def test_counts_per_position_only_for_integer_counts():
    X = _scan()
    assert counts_per_position(BlockData(X)) == pytest.approx(X.sum(1).mean())
    assert counts_per_position(DaskData(da.from_array(X, chunks=(20, 5)))) == (
        pytest.approx(X.sum(1).mean())
    )
    assert counts_per_position(DenseData(X.astype(np.float32))) is None
    assert counts_per_position(BlockData(X).with_scaling(np.ones(63), None)) is None


@pytest.fixture
def weak_phase_scan():
    """A 24x24 scan of 12x12 patterns at ~25 counts: a flat matrix and a
    9 % grain whose spots hold a third of its pattern."""
    rng = np.random.default_rng(4)
    background = np.full(144, 1.0)
    grain = np.full(144, 0.5)
    grain[[20, 50, 90, 130]] = 20.0
    patterns = np.stack([background / background.sum(), grain / grain.sum()])
    rows, cols = np.indices((24, 24))
    inside = ((rows - 8) ** 2 + (cols - 15) ** 2 < 16).astype(float)
    maps = np.stack([1 - 0.8 * inside, 0.8 * inside]).reshape(2, -1).T
    X = rng.poisson(25 * maps @ patterns).astype(np.uint16)
    return X, maps, patterns


def test_auto_binning_fits_the_coarse_scan_then_the_full_one(weak_phase_scan, lazy):
    X, maps, _ = weak_phase_scan
    data = da.from_array(X, chunks=(100, 144)) if lazy else X
    model = ConstrainedNMF(
        2,
        geometry=Geometry((12, 12), (24, 24)),
        n_init=3,
        max_iter=40,
        random_state=0,
        factor_constraints=[],
        pure_phases=False,
    )
    L = model.fit_transform(data)
    assert model.scan_binning_ == 2  # 25 counts -> 100 binned (max 2 at 24 px)
    exact = model.history_["exact"]
    # the coarse restarts (stopped once settled), then the exact phase on the
    # full scan
    assert 0 < (~exact).sum() <= 40
    assert model.loss_ == "poisson"  # "auto" on counts
    # the Poisson polish, stopped once its deviance stalls
    assert 0 < exact.sum() <= (POISSON_ITER_STREAMED if lazy else POISSON_ITER)
    assert L.shape == (576, 2)
    grain = int(np.argmax(model.components_[:, 20]))
    correlation = np.corrcoef(L[:, grain], maps[:, 1])[0, 1]
    assert correlation > 0.9


def test_the_coarse_fit_keeps_the_restart_of_lowest_deviance(
    weak_phase_scan, lazy, monkeypatch
):
    X, _, _ = weak_phase_scan
    chosen = []

    def spy(data, state, spread):
        restart = least_deviance(data, state, spread)
        chosen.append((data.shape, restart, state.best()))
        return restart

    least_deviance = solver_module._least_deviance
    monkeypatch.setattr(solver_module, "_least_deviance", spy)
    options = dict(geometry=Geometry((12, 12), (24, 24)), n_init=4, max_iter=30)
    model = ConstrainedNMF(2, **options, random_state=0, pure_phases=False)
    model.fit(da.from_array(X, chunks=(100, 144)) if lazy else X)
    assert model.scan_binning_ == 2
    assert [shape for shape, *_ in chosen] == [(144, 144)]  # the binned counts
    # unbinned patterns and float data: the squared error's restart, no passes
    ConstrainedNMF(2, **options, scan_binning=1, random_state=0).fit(X)
    ConstrainedNMF(2, **options, random_state=0).fit(X.astype(np.float32))
    assert len(chosen) == 1
    # the same counts as small spectra in memory: the deviance on themselves
    spectra = dict(options, geometry=Geometry((144,), (24, 24)))
    ConstrainedNMF(2, **spectra, scan_binning=1, random_state=0).fit(X)
    assert [shape for shape, *_ in chosen] == [(144, 144), X.shape]
    # whole numbers stored as floats are counts too (espm's spectra)
    ConstrainedNMF(2, **spectra, random_state=0).fit(X.astype(np.float32))
    assert len(chosen) == 3 and chosen[-1][0] == (144, 144)  # binned, as counts
    # other float spectra, and counts too large for cheap passes: the
    # squared error's
    ConstrainedNMF(2, **spectra, random_state=0).fit(X.astype(np.float32) + 0.5)
    assert len(chosen) == 3
    monkeypatch.setattr(solver_module, "DEVIANCE_RESTARTS_MAX_ENTRIES", X.size - 1)
    ConstrainedNMF(2, **spectra, scan_binning=1, random_state=0).fit(X)
    assert len(chosen) == 3


def test_float_patterns_are_not_binned_unless_asked(weak_phase_scan):
    X, _, _ = weak_phase_scan
    options = dict(geometry=Geometry((12, 12), (24, 24)), n_init=2, max_iter=10)
    model = ConstrainedNMF(2, **options, random_state=0)
    model.fit(X.astype(np.float32))
    assert model.scan_binning_ == 1
    model = ConstrainedNMF(2, **options, scan_binning=3, random_state=0)
    model.fit(X.astype(np.float32))
    assert model.scan_binning_ == 3 and model.components_.shape == (2, 144)


@pytest.mark.parametrize(
    ("geometry", "loss", "binning"),
    [
        (Geometry((144,), (24, 24)), "poisson", 2),  # spectra: counts as floats
        (Geometry((12, 12), (24, 24)), "frobenius", 1),  # patterns (docstring)
        (None, "frobenius", 1),  # a bare matrix: scikit-learn's convention
    ],
)
def test_whole_number_floats_are_counts_for_spectra_only(
    weak_phase_scan, lazy, geometry, loss, binning
):
    X, _, _ = weak_phase_scan
    floats = X.astype(np.float32)
    model = ConstrainedNMF(2, geometry=geometry, n_init=2, max_iter=5, random_state=0)
    model.fit(da.from_array(floats, chunks=(100, 144)) if lazy else floats)
    # as counts: the Poisson likelihood, and 25 counts a position binned 2x2
    assert (model.loss_, model.scan_binning_) == (loss, binning)
    model.fit(floats + 0.5)
    assert (model.loss_, model.scan_binning_) == ("frobenius", 1)


def test_scan_binning_needs_a_scan():
    with pytest.raises(ValueError, match="scan_binning=2 needs the scan"):
        ConstrainedNMF(2, scan_binning=2, max_iter=5).fit(_scan())
