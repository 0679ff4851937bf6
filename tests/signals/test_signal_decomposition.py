"""s.decomposition(algorithm="constrained_nmf") on pyxem/HyperSpy signals."""

import copy
import inspect
import json

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

import hyperspy_cnmf
from hyperspy_cnmf.core import ConstrainedNMF, Constraint
from hyperspy_cnmf.signals import dispatch

from .synthetic import FAST, NAV_SHAPE, SIG_SHAPE, as_lazy, make_data, make_signal

N_NAV, N_SIG = int(np.prod(NAV_SHAPE)), int(np.prod(SIG_SHAPE))
CNMF_KEYS = (
    "cnmf_mse",
    "cnmf_mse_history",
    "cnmf_factor_change_history",
    "cnmf_loading_change_history",
    "cnmf_exact_history",
    "cnmf_restart_mse",
    "cnmf_best_restart",
    "cnmf_n_init",
    "cnmf_n_iter",
    "cnmf_converged",
    "cnmf_dead_components",
    "cnmf_compression_rank",
    "cnmf_amorphous_components",  # pure_phases="auto" on diffraction data
    "cnmf_crystalline_components",
    "cnmf_center_xy",
    "cnmf_factor_constraints",
    "cnmf_loading_constraints",
    "cnmf_elapsed",
    "cnmf_params",
    "cnmf_fingerprint",
)


def run(s, k=3, **kwargs):
    options = {**FAST, **kwargs}
    return s.decomposition(algorithm="constrained_nmf", output_dimension=k, **options)


def cnmf_keys(s):
    return sorted(k for k in vars(s.learning_results) if k.startswith("cnmf_"))


def snapshot(s):
    """Deep copy of what a failed call must not change."""
    return (
        np.array(s.data).copy(),
        s.data.dtype,
        s._lazy,
        copy.deepcopy(s.metadata.as_dictionary()),
        copy.deepcopy(s.axes_manager.as_dictionary()),
        copy.deepcopy(vars(s.learning_results)),
    )


def assert_unchanged(s, before):
    data, dtype, lazy, metadata, axes, results = before
    assert s._lazy == lazy
    assert s.data.dtype == dtype
    np.testing.assert_array_equal(np.array(s.data), data)
    assert s.metadata.as_dictionary() == metadata
    assert s.axes_manager.as_dictionary() == axes
    now = vars(s.learning_results)
    assert sorted(now) == sorted(results)
    for key, value in results.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(now[key], value)
        else:
            assert now[key] == value, key


# -- results ---------------------------------------------------------------


def test_native_learning_results(signal, lazy):
    run(signal)
    lr = signal.learning_results
    assert lr.decomposition_algorithm == "constrained_nmf"
    assert lr.output_dimension == 3
    assert lr.factors.shape == (N_SIG, 3)
    assert lr.loadings.shape == (N_NAV, 3)
    assert isinstance(lr.factors, np.ndarray) and isinstance(lr.loadings, np.ndarray)
    assert np.all(lr.factors >= 0) and np.all(lr.loadings >= 0)
    assert lr.mean is None and lr.centre is None
    # component energies |l_i|^2 |f_i|^2, sorted like the components
    assert lr.explained_variance.shape == (lr.factors.shape[1],)
    assert np.all(np.diff(lr.explained_variance) <= 0)
    np.testing.assert_allclose(lr.explained_variance_ratio.sum(), 1.0)
    assert lr.poissonian_noise_normalized is False
    assert lr.navigation_mask is None and lr.signal_mask is None
    assert lr.unfolded is True
    assert signal._lazy == lazy
    assert cnmf_keys(signal) == sorted(CNMF_KEYS)
    n_iter = lr.cnmf_n_iter  # at most max_iter: stopped once settled
    assert 0 < n_iter <= 25 and lr.cnmf_n_init == 2
    assert lr.cnmf_mse_history.shape == (n_iter,) == lr.cnmf_exact_history.shape
    assert lr.cnmf_restart_mse.shape == (2,)
    params = json.loads(lr.cnmf_params)
    assert params["lazy"] == lazy
    assert params["factor_constraints"][0].startswith("RadialContinuity(")
    assert params["loading_constraints"][0].startswith("GaussianSmoothing(")
    # a reconstruction close to the data (3 true components)
    model = lr.loadings @ lr.factors.T
    data = np.array(signal.data).reshape(N_NAV, N_SIG)
    assert np.linalg.norm(model - data) / np.linalg.norm(data) < 0.2
    assert "constrained_nmf" in str(lr)


def test_factors_and_loadings_signals_are_calibrated(signal):
    run(signal)
    factors = signal.get_decomposition_factors()
    loadings = signal.get_decomposition_loadings()
    assert factors.data.shape == (3, *SIG_SHAPE)
    assert loadings.data.shape == (3, *NAV_SHAPE)
    np.testing.assert_allclose(
        np.asarray(factors.data[1]),
        signal.learning_results.factors[:, 1].reshape(SIG_SHAPE),
    )
    np.testing.assert_allclose(
        np.asarray(loadings.data[2]),
        signal.learning_results.loadings[:, 2].reshape(NAV_SHAPE),
    )
    for got, want in zip(
        factors.axes_manager.signal_axes, signal.axes_manager.signal_axes, strict=True
    ):
        assert (got.scale, got.offset, got.units) == (
            want.scale,
            want.offset,
            want.units,
        )
    assert loadings.axes_manager.signal_axes[0].units == "nm"


def test_hyperspy_tools_keep_working(signal, lazy):
    run(signal)
    model = signal.get_decomposition_model()
    assert model.data.shape == signal.data.shape
    signal.plot_decomposition_results()
    if not lazy:
        signal.blind_source_separation(number_of_components=2, print_info=False)
        assert signal.learning_results.bss_factors.shape == (N_SIG, 2)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_lazy_matches_numpy():
    s, sl = make_signal(), make_signal(lazy=True)
    run(s)
    run(sl)
    a, b = s.learning_results, sl.learning_results
    np.testing.assert_allclose(b.factors, a.factors, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.loadings, a.loadings, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.cnmf_mse_history, a.cnmf_mse_history, rtol=1e-6)


class _ChunkRecorder:
    """Array-like that records every read, to prove nothing reads it whole.

    The sizes go to a class attribute: the scheduler may work on copies.
    """

    reads: list = []

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = (
            array,
            array.shape,
            array.dtype,
            array.ndim,
        )

    def __getitem__(self, key):
        out = self.array[key]
        _ChunkRecorder.reads.append(out.size)
        return out


def test_lazy_with_distributed_client_never_loads_whole():
    distributed = pytest.importorskip("distributed")
    _ChunkRecorder.reads.clear()
    recorder = _ChunkRecorder(make_data())
    data = da.from_array(recorder, chunks=(2, -1, -1, -1), asarray=False)
    s = hs.signals.Signal2D(data).as_lazy()
    s.axes_manager.signal_axes[0].offset = -11.0
    s.axes_manager.signal_axes[1].offset = -6.0
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        run(s, max_iter=10, compression=6, n_exact_iter=3)
    chunk = 2 * NAV_SHAPE[1] * N_SIG
    assert _ChunkRecorder.reads and max(_ChunkRecorder.reads) <= chunk
    assert s._lazy
    lr = s.learning_results
    assert lr.cnmf_compression_rank == 6
    assert lr.cnmf_exact_history.tolist() == [False] * 10 + [True] * 3
    reference = hs.signals.Signal2D(make_data())
    reference.axes_manager.signal_axes[0].offset = -11.0
    reference.axes_manager.signal_axes[1].offset = -6.0
    run(reference, max_iter=10, compression=6, n_exact_iter=3)
    np.testing.assert_allclose(
        lr.factors, reference.learning_results.factors, atol=1e-6
    )


def test_patch_free_function_and_return_info(lazy):
    s, t = make_signal(lazy=lazy), make_signal(lazy=lazy)
    est = hyperspy_cnmf.decomposition(s, 3, return_info=True, **FAST)
    assert run(t) is None
    np.testing.assert_array_equal(
        s.learning_results.factors, t.learning_results.factors
    )
    assert isinstance(est, ConstrainedNMF)
    assert est.components_.shape == (3, N_SIG)
    assert 0 < est.n_iter_ <= 25 and est.n_iter_ == s.learning_results.cnmf_n_iter
    assert run(t, return_info=True).mse_ == pytest.approx(est.mse_)


def test_print_info(lazy, capsys):
    s = make_signal(lazy=lazy)
    run(s, print_info=True)
    out = capsys.readouterr().out
    assert "algorithm=constrained_nmf" in out
    assert "beam centre (x, y)=(11, 6) px" in out


def test_show_progressbar_follows_hyperspy_preference(lazy, capsys, monkeypatch):
    monkeypatch.setattr(hs.preferences.General, "show_progressbar", True)
    s = make_signal(lazy=lazy)
    run(s, show_progressbar=None, max_iter=3)
    assert "Constrained NMF" in capsys.readouterr().err
    monkeypatch.setattr(hs.preferences.General, "show_progressbar", False)
    run(s, show_progressbar=None, max_iter=3)
    assert "Constrained NMF" not in capsys.readouterr().err


def test_primitive_als_with_empty_lists(lazy):
    s = make_signal(lazy=lazy)
    run(s, factor_constraints=[], loading_constraints=[])
    params = json.loads(s.learning_results.cnmf_params)
    assert params["factor_constraints"] == [] == params["loading_constraints"]
    assert s.learning_results.cnmf_factor_constraints == ""


# -- masks ------------------------------------------------------------------


def _masks():
    """Navigation and signal masks in array order (rows, cols)."""
    nav = np.zeros(NAV_SHAPE, bool)
    nav[1, 4] = nav[5, 0] = True
    rows, cols = np.indices(SIG_SHAPE)
    sig = np.hypot(rows - 6, cols - 11) <= 1.5  # the direct beam
    return nav, sig


def _hyperspy_arrays(nav, sig):
    """The same masks as HyperSpy reads numpy arrays: a navigation mask in
    (x, y) order (transposed), a signal mask of ``signal_shape`` (raveled)."""
    return nav.T, sig.reshape(SIG_SHAPE[::-1])


@pytest.mark.parametrize("as_signal", [False, True], ids=["array", "signal"])
def test_masks_give_nan_like_hyperspy(signal, as_signal):
    nav, sig = _masks()
    if as_signal:
        nav_mask, sig_mask = hs.signals.BaseSignal(nav).T, hs.signals.Signal2D(sig)
    else:
        nav_mask, sig_mask = _hyperspy_arrays(nav, sig)
    run(signal, navigation_mask=nav_mask, signal_mask=sig_mask)
    lr = signal.learning_results
    np.testing.assert_array_equal(lr.navigation_mask, nav)
    np.testing.assert_array_equal(lr.signal_mask, sig)
    assert np.isnan(lr.loadings[nav.ravel()]).all()
    assert np.isfinite(lr.loadings[~nav.ravel()]).all()
    assert np.isnan(lr.factors[sig.ravel()]).all()
    assert np.isfinite(lr.factors[~sig.ravel()]).all()
    maps = np.asarray(signal.get_decomposition_loadings().data)
    assert np.isnan(maps[:, 1, 4]).all() and np.isfinite(maps[:, 4, 1]).all()
    assert json.loads(lr.cnmf_params)["data_shape"] == [
        N_NAV - 2,
        N_SIG - int(sig.sum()),
    ]


@pytest.mark.parametrize("nav_shape", [(5, 5), (6, 5)], ids=["square", "non-square"])
@pytest.mark.parametrize("kind", ["numpy", "signal", "dask"])
def test_same_masks_exclude_the_same_as_svd(nav_shape, kind, lazy):
    rng = np.random.default_rng(3)
    nav = rng.uniform(size=nav_shape) < 0.2
    sig = rng.uniform(size=SIG_SHAPE) < 0.1
    if kind == "signal":
        nav_arg, sig_arg = hs.signals.BaseSignal(nav).T, hs.signals.Signal2D(sig)
    else:
        nav_arg, sig_arg = _hyperspy_arrays(nav, sig)
        if kind == "dask":
            nav_arg, sig_arg = da.from_array(nav_arg), da.from_array(sig_arg)
    results = []
    for algorithm in ("SVD", "constrained_nmf"):
        s = make_signal(lazy=lazy, nav_shape=nav_shape)
        extra = FAST if algorithm == "constrained_nmf" else {"print_info": False}
        s.decomposition(
            algorithm=algorithm,
            output_dimension=2,
            navigation_mask=nav_arg,
            signal_mask=sig_arg,
            **extra,
        )
        lr = s.learning_results
        results.append(
            (np.isnan(lr.loadings).any(axis=1), np.isnan(lr.factors).any(axis=1))
        )
    (svd_nav, svd_sig), (ours_nav, ours_sig) = results
    np.testing.assert_array_equal(ours_nav, svd_nav)
    np.testing.assert_array_equal(ours_sig, svd_sig)
    np.testing.assert_array_equal(ours_nav, nav.ravel())


def test_masked_results_match_hyperspy_svd_convention(lazy):
    nav, sig = _masks()
    s = make_signal(lazy=lazy)
    svd = make_signal(lazy=lazy)
    nav_signal, sig_signal = hs.signals.BaseSignal(nav).T, hs.signals.Signal2D(sig)
    svd.decomposition(
        output_dimension=3,
        navigation_mask=nav_signal,
        signal_mask=sig_signal,
        print_info=False,
    )
    run(s, navigation_mask=nav_signal, signal_mask=sig_signal)
    a, b = svd.learning_results, s.learning_results
    np.testing.assert_array_equal(np.isnan(a.factors), np.isnan(b.factors))
    np.testing.assert_array_equal(np.isnan(a.loadings), np.isnan(b.loadings))
    # HyperSpy's non-lazy path stores the masks flat (it reshapes them while
    # the signal is unfolded); its lazy path and ours keep the array shape.
    np.testing.assert_array_equal(
        np.ravel(a.navigation_mask), b.navigation_mask.ravel()
    )
    np.testing.assert_array_equal(np.ravel(a.signal_mask), b.signal_mask.ravel())


@pytest.mark.parametrize(
    ("reproject", "lazy"),
    [("navigation", False), ("signal", False), ("both", False), ("both", True)],
)
def test_reproject_fills_masked_entries(reproject, lazy):
    nav, sig = _masks()
    s, plain = make_signal(lazy=lazy), make_signal()
    nav_arg, sig_arg = _hyperspy_arrays(nav, sig)
    run(plain, navigation_mask=nav_arg, signal_mask=sig_arg)
    run(s, navigation_mask=nav_arg, signal_mask=sig_arg, reproject=reproject)
    a, b = plain.learning_results, s.learning_results
    fill_nav = reproject in ("navigation", "both")
    fill_sig = reproject in ("signal", "both")
    assert np.isfinite(b.loadings).all() == fill_nav
    assert np.isfinite(b.factors).all() == fill_sig
    np.testing.assert_allclose(
        b.loadings[~nav.ravel()], a.loadings[~nav.ravel()], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        b.factors[~sig.ravel()], a.factors[~sig.ravel()], rtol=1e-9, atol=1e-12
    )
    if fill_nav:
        assert (b.loadings >= 0).all()
        data = make_data().reshape(N_NAV, N_SIG)[:, ~sig.ravel()]
        model = b.loadings @ b.factors[~sig.ravel()].T
        rel = np.linalg.norm(model[nav.ravel()] - data[nav.ravel()]) / np.linalg.norm(
            data[nav.ravel()]
        )
        assert rel < 0.2
    if fill_sig:
        assert (b.factors >= 0).all()
        assert b.factors[sig.ravel()].max() > 0  # the direct beam is bright


def test_pyxem_calibration_mask_is_used(lazy):
    _, sig = _masks()
    s = make_signal(lazy=lazy)
    s.calibration.mask = sig
    run(s)
    np.testing.assert_array_equal(s.learning_results.signal_mask, sig)


# -- Poisson noise normalization -------------------------------------------


def test_poissonian_noise_normalization(lazy):
    s = make_signal(lazy=lazy)
    before = np.array(s.data).copy()
    run(s, normalize_poissonian_noise=True)
    lr = s.learning_results
    np.testing.assert_array_equal(np.array(s.data), before)
    assert lr.poissonian_noise_normalized is True
    assert np.all(lr.factors >= 0) and np.all(lr.loadings >= 0)
    model = lr.loadings @ lr.factors.T
    data = before.reshape(N_NAV, N_SIG)
    assert np.linalg.norm(model - data) / np.linalg.norm(data) < 0.2
    if lazy:
        reference = make_signal()
        run(reference, normalize_poissonian_noise=True)
        np.testing.assert_allclose(
            lr.factors, reference.learning_results.factors, rtol=1e-6
        )


# -- save / load ------------------------------------------------------------


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_save_load_round_trip(lazy, tmp_path, ext):
    nav, sig = _masks()
    s = make_signal(lazy=lazy)
    run(s, navigation_mask=nav.T, signal_mask=hs.signals.Signal2D(sig))
    path = tmp_path / f"s.{ext}"
    s.save(path)
    t = hs.load(path)
    a, b = s.learning_results, t.learning_results
    assert b.decomposition_algorithm == "constrained_nmf"
    assert cnmf_keys(t) == sorted(CNMF_KEYS)
    for key in CNMF_KEYS:
        want, got = getattr(a, key), getattr(b, key)
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        else:
            assert got == want, key
    np.testing.assert_array_equal(b.factors, a.factors)
    np.testing.assert_array_equal(b.signal_mask, a.signal_mask)
    assert t.get_decomposition_factors().data.shape == (3, *SIG_SHAPE)


# -- dispatch ---------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Maximum number of iterations")
@pytest.mark.parametrize("algorithm", ["SVD", "NMF"])
def test_other_algorithms_pass_through_and_clear_cnmf_keys(signal, algorithm):
    run(signal)
    assert cnmf_keys(signal)
    kwargs = {"max_iter": 50} if algorithm == "NMF" else {}
    signal.decomposition(
        algorithm=algorithm, output_dimension=2, print_info=False, **kwargs
    )
    assert signal.learning_results.decomposition_algorithm == algorithm
    assert cnmf_keys(signal) == []


def test_unknown_algorithm_raises_hyperspy_error(signal):
    run(signal)
    with pytest.raises(ValueError, match="not recognised"):
        signal.decomposition(algorithm="constrained-nmf", output_dimension=2)
    assert signal.learning_results.decomposition_algorithm == "constrained_nmf"
    assert cnmf_keys(signal) == sorted(CNMF_KEYS)


def test_dispatch_is_idempotent_and_keeps_signature(lazy):
    from hyperspy._signals.lazy import LazySignal
    from hyperspy.learn._mva import MVA

    wrapped = MVA.__dict__["decomposition"], LazySignal.__dict__["decomposition"]
    dispatch.install()
    assert (
        MVA.__dict__["decomposition"],
        LazySignal.__dict__["decomposition"],
    ) == wrapped
    assert dispatch.is_installed()
    for method in wrapped:
        assert "constrained_nmf" in method.__doc__
        assert "svd_solver" in method.__doc__
    assert list(inspect.signature(MVA.decomposition).parameters)[:3] == [
        "self",
        "normalize_poissonian_noise",
        "algorithm",
    ]
    assert "get" in inspect.signature(LazySignal.decomposition).parameters
    try:
        dispatch.uninstall()
        assert not dispatch.is_installed()
        with pytest.raises(ValueError, match="not recognised"):
            make_signal(lazy=lazy).decomposition(
                algorithm="constrained_nmf", output_dimension=2
            )
    finally:
        dispatch.install()
    assert dispatch.is_installed()


def test_positional_arguments_bind_like_hyperspy(lazy):
    s = make_signal(lazy=lazy)
    # decomposition(normalize_poissonian_noise, algorithm, output_dimension)
    s.decomposition(False, "constrained_nmf", 2, **FAST)
    assert s.learning_results.output_dimension == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [("svd_solver", "full"), ("var_array", np.ones(3)), ("copy", True)],
)
def test_hyperspy_only_arguments_are_refused(name, value):
    # numpy only: LazySignal.decomposition has none of these arguments
    s = make_signal()
    with pytest.raises(
        ValueError, match=f"{name}=.*not used by algorithm='constrained_nmf'"
    ):
        run(s, **{name: value})


def test_lazy_only_arguments_are_refused():
    s = make_signal(lazy=True)
    with pytest.raises(ValueError, match="num_chunks=4 is not used"):
        run(s, num_chunks=4)


def test_nan_raises_unless_masked(lazy):
    s = make_signal()
    run(s, k=2, max_iter=3)
    s.data[2, 3, 4, 5] = np.nan
    s = as_lazy(s, lazy)
    before = snapshot(s)
    with pytest.raises(ValueError, match="NaN"):
        run(s)
    assert_unchanged(s, before)
    sig = np.zeros(SIG_SHAPE, bool)
    sig[4, 5] = True
    run(s, signal_mask=hs.signals.Signal2D(sig))
    assert np.isnan(s.learning_results.factors[4 * SIG_SHAPE[1] + 5]).all()
    assert np.isfinite(s.learning_results.loadings).all()


def test_negative_data_raise(lazy):
    s = make_signal(lazy=lazy)
    s.data[0, 0, 0, 0] = -1.0
    before = snapshot(s)
    with pytest.raises(ValueError, match="Negative values"):
        run(s)
    assert_unchanged(s, before)


def test_unsupported_signals_name_what_is_supported():
    spectra3 = hs.signals.Signal1D(np.ones((2, 3, 4, 10)))
    with pytest.raises(ValueError, match="1 or 2 navigation axes"):
        run(spectra3, k=2)
    volume = hs.signals.BaseSignal(np.ones((4, 5, 6, 7))).transpose(signal_axes=3)
    with pytest.raises(ValueError, match="1 or 2 signal axes"):
        run(volume, k=2)
    single = hs.signals.Signal2D(np.ones((8, 9)))
    with pytest.raises(ValueError, match="1 or 2 navigation axes"):
        run(single, k=2)


def test_line_scan_of_patterns(lazy):
    s = make_signal(lazy=lazy)
    line = s.inav[2, :]  # 6 positions along y
    assert line.axes_manager.navigation_dimension == 1
    run(line, k=2)
    assert line.learning_results.loadings.shape == (6, 2)
    assert line.get_decomposition_loadings().data.shape == (2, 6)


def test_spectrum_image_gets_geometry_free_defaults(lazy):
    rng = np.random.default_rng(1)
    s = hs.signals.Signal1D(rng.uniform(size=(4, 7, 30)))
    s = as_lazy(s, lazy)
    run(s, k=2)
    params = json.loads(s.learning_results.cnmf_params)
    assert params["factor_constraints"] == []
    assert params["loading_constraints"][0].startswith("GaussianSmoothing(")
    assert s.get_decomposition_factors().data.shape == (2, 30)


@pytest.mark.filterwarnings("ignore:X has 0 all-zero rows")
def test_integer_data_are_converted_on_a_copy(lazy):
    s = make_signal(lazy=lazy)
    s.data = (s.data * 100).astype(np.uint16)
    before = snapshot(s)
    run(s)
    assert s.data.dtype == np.uint16
    np.testing.assert_array_equal(np.array(s.data), before[0])
    # counts below 2**24 are exact in float32: half the memory of float64
    assert s.learning_results.factors.dtype == np.float32


def test_float32_stays_float32(lazy):
    s = make_signal(dtype=np.float32, lazy=lazy)
    run(s)
    assert s.learning_results.factors.dtype == np.float32


# -- interruption -----------------------------------------------------------


class Interrupt(Constraint):
    """Raises KeyboardInterrupt (as Ctrl-C would) at a given iteration."""

    def __init__(self, at=3):
        self.at = at

    def __call__(self, images, context):
        if context.iteration >= self.at:
            raise KeyboardInterrupt
        return images


@pytest.mark.parametrize("role", ["factor_constraints", "loading_constraints"])
def test_keyboard_interrupt_leaves_everything_as_it_was(lazy, role):
    s = make_signal(lazy=lazy)
    s.decomposition(output_dimension=2, print_info=False)  # previous SVD results
    before = snapshot(s)
    with pytest.raises(KeyboardInterrupt):
        run(s, **{role: [Interrupt()]})
    assert_unchanged(s, before)
    assert s.learning_results.decomposition_algorithm == "SVD"


def test_default_fit_of_large_patterns_bins_its_restarts_and_says_so(lazy, capsys):
    # 18 x 18 scan of 128 x 128 patterns, off-centre beam with a masked disc:
    # the sketch is used, so the restarts run on patterns binned 2 x 2
    s = make_signal(
        lazy=lazy, nav_shape=(18, 18), sig_shape=(128, 128), center=(60.0, 70.0)
    )
    mask = np.zeros((128, 128), bool)
    mask[55:66, 65:76] = True
    before = s.data.copy() if not lazy else None
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=3,
        n_init=2,
        max_iter=20,
        random_state=0,
        signal_mask=mask,
        show_progressbar=False,
    )
    params = json.loads(s.learning_results.cnmf_params)
    assert params["signal_binning"] == 2
    assert "sketch of patterns binned 2x2" in capsys.readouterr().out
    factors = s.learning_results.factors
    assert factors.shape == (128 * 128, 3)  # patterns at full resolution
    assert np.isnan(factors[mask.ravel()]).all()  # HyperSpy's masked pixels
    assert np.isfinite(factors[~mask.ravel()]).all()
    if before is not None:
        np.testing.assert_array_equal(s.data, before)
