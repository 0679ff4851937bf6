"""Small synthetic 4D-STEM signals for the adapter tests (numpy only).

Non-square scan (6 rows x 5 cols) and detector (16 rows x 20 cols), with the
beam off centre at (row, col) = (6, 11) px so that any transposition or
centre bug shows.
"""

import numpy as np

NAV_SHAPE = (6, 5)  # (rows, cols) = (y, x)
SIG_SHAPE = (16, 20)
CENTER = (6.0, 11.0)  # (row, col) px
SIG_SCALE = (0.05, 0.04)  # 1/nm per pixel along (rows, cols)
NAV_SCALE = 2.5  # nm


def _disk(shape, center, radius):
    r, c = np.indices(shape)
    return ((r - center[0]) ** 2 + (c - center[1]) ** 2 <= radius**2).astype(float)


def _ring(shape, center, radius, width=1.0):
    r, c = np.indices(shape)
    d = np.hypot(r - center[0], c - center[1])
    return np.exp(-0.5 * ((d - radius) / width) ** 2)


def make_patterns(sig_shape=SIG_SHAPE, center=CENTER):
    """Three nonnegative patterns: amorphous ring, sparse Bragg spots, a second ring."""
    spots = np.zeros(sig_shape)
    for dr, dc in ((5, 0), (-5, 0), (0, 7)):
        spots += _disk(sig_shape, (center[0] + dr, center[1] + dc), 1.0)
    beam = _disk(sig_shape, center, 1.5)
    ring = _ring(sig_shape, center, 5.0)
    ring2 = _ring(sig_shape, center, 3.0, 0.7)
    return np.stack([ring + 0.5 * beam, spots + 0.5 * beam, ring2 + 0.5 * beam])


def make_maps(nav_shape=NAV_SHAPE):
    rows, cols = np.indices(nav_shape) / np.array(nav_shape)[:, None, None]
    return np.stack(
        [
            np.exp(-((rows - 0.2) ** 2 + (cols - 0.3) ** 2) / 0.2),
            np.exp(-((rows - 0.8) ** 2 + (cols - 0.7) ** 2) / 0.2),
            0.3 + 0.2 * rows,
        ]
    )


def make_data(nav_shape=NAV_SHAPE, sig_shape=SIG_SHAPE, center=CENTER, seed=0):
    rng = np.random.default_rng(seed)
    maps, patterns = make_maps(nav_shape), make_patterns(sig_shape, center)
    data = np.einsum("kyx,kuv->yxuv", maps, patterns)
    return data + 0.01 * rng.uniform(size=data.shape)


def calibrate(s, center=CENTER):
    """Calibrated signal axes with the beam centre at ``center`` (row, col)."""
    row_axis, col_axis = s.axes_manager.signal_axes[::-1]
    for axis, scale, c in zip((row_axis, col_axis), SIG_SCALE, center, strict=True):
        axis.scale = scale
        axis.offset = -c * scale
        axis.units = "1/nm"
    for axis in s.axes_manager.navigation_axes:
        axis.scale = NAV_SCALE
        axis.units = "nm"
    return s


def as_lazy(s, lazy=True):
    """``s`` as a lazy (dask-backed) signal when ``lazy``, else ``s`` itself:
    the one switch of the numpy/lazy parametrisation (the ``lazy`` fixture
    of ``tests/conftest.py``). HyperSpy copies the learning results."""
    return s.as_lazy() if lazy else s


def make_signal(lazy=False, dtype=np.float64, center=CENTER, **kwargs):
    import pyxem as pxm

    s = pxm.signals.ElectronDiffraction2D(
        make_data(center=center, **kwargs).astype(dtype)
    )
    calibrate(s, center)
    if lazy:
        s = as_lazy(s)
        s.data = s.data.rechunk((3, -1, -1, -1))
    return s


FAST = {
    "n_init": 2,
    "max_iter": 25,
    "random_state": 0,
    "print_info": False,
    "show_progressbar": False,
}


def decomposed_copy(s, k, lazy=False, **params):
    """A copy of ``s`` (lazy if asked) after a quiet constrained NMF."""
    s = as_lazy(s.deepcopy(), lazy)
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=k,
        print_info=False,
        show_progressbar=False,
        **params,
    )
    return s


def make_counts(nav_shape=(32, 32), sig_shape=(64, 64), beam_xy=(33, 30), seed=0):
    """Poisson counts (uint16, mean 2 per pixel) of the three patterns with
    the beam at ``beam_xy`` = (x, y) = (col, row) px: the case where the
    constrained fit diverged (issue 19)."""
    center = (beam_xy[1], beam_xy[0])
    data = np.einsum(
        "kyx,kuv->yxuv", make_maps(nav_shape), make_patterns(sig_shape, center)
    )
    data *= 2.0 / data.mean()
    return np.random.default_rng(seed).poisson(data).astype(np.uint16)


def make_counts_signal(lazy=False, beam_xy=(33, 30), **kwargs):
    """:func:`make_counts` as an uncalibrated signal whose beam centre is set
    with ``s.calibration.center``, as a user would."""
    import pyxem as pxm

    s = pxm.signals.ElectronDiffraction2D(make_counts(beam_xy=beam_xy, **kwargs))
    s.calibration.center = beam_xy
    return as_lazy(s, lazy)
