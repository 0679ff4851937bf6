"""Bounded memory at scale: no copy of the data, lazy data loaded once or
streamed block by block (chunks split along the signal axes, no rechunk),
the same result under dask.distributed, and a clear error when memory
runs short."""

import contextlib
import json
import tracemalloc

import hyperspy.api as hs
import numpy as np
import pytest

import hyperspy_cnmf  # noqa: F401  (enables the algorithm name)
from hyperspy_cnmf.core import memory
from hyperspy_cnmf.core.solver import POISSON_ITER_STREAMED

from .synthetic import NAV_SHAPE, SIG_SHAPE, calibrate, make_data

FIT = dict(n_init=2, max_iter=12, n_exact_iter=3, compression=6, random_state=0)


def counts(nav_shape=NAV_SHAPE, sig_shape=SIG_SHAPE):
    data = make_data(nav_shape=nav_shape, sig_shape=sig_shape)
    return np.random.default_rng(1).poisson(40 * data).astype(np.uint16)


def calibrated_signal(data, chunks=None):
    s = calibrate(hs.signals.Signal2D(data))
    if chunks is not None:
        s = s.as_lazy()
        s.data = s.data.rechunk(chunks)
    return s


def fit(s, **kwargs):
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=3,
        print_info=False,
        **{**FIT, **kwargs},
    )
    return s.learning_results


def masks():
    nav = np.zeros(NAV_SHAPE[::-1], bool)  # HyperSpy's (x, y) order
    nav[1, 2] = True
    sig = np.zeros(SIG_SHAPE, bool)
    sig[:2] = True
    return {"navigation_mask": nav, "signal_mask": hs.signals.Signal2D(sig)}


@pytest.mark.parametrize("poisson", [False, True])
def test_streamed_blocks_split_along_signal_axes_give_the_in_memory_result(poisson):
    data = counts()
    options = dict(masks(), normalize_poissonian_noise=poisson)
    reference = fit(calibrated_signal(data), **options)
    lazy = calibrated_signal(data, chunks=(4, 2, 5, 7))  # every axis split
    streamed = fit(lazy, stream=True, **options)
    assert json.loads(streamed.cnmf_params)["streamed"] is True
    np.testing.assert_allclose(
        streamed.factors, reference.factors, rtol=1e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        streamed.loadings, reference.loadings, rtol=1e-3, atol=1e-3
    )
    assert streamed.cnmf_mse == pytest.approx(reference.cnmf_mse, rel=1e-4)


def test_lazy_data_that_fit_are_loaded_once_in_their_own_dtype():
    s = calibrated_signal(counts(), chunks=(2, -1, 8, 10))
    reads = []
    source = s.data
    s.data = source.map_blocks(lambda b: reads.append(b.shape) or b, dtype=source.dtype)
    lr = fit(s)
    assert not json.loads(lr.cnmf_params)["streamed"]
    assert len([r for r in reads if 0 not in r]) == source.npartitions  # once each
    assert s.data.dtype == np.uint16 and s._lazy


@pytest.mark.parametrize("scheduler", ["threads", "sync", "processes"])
def test_lazy_data_load_into_one_array_on_every_scheduler(scheduler, monkeypatch):
    """In this process the chunks are stored in place; elsewhere (a process
    pool here, dask.distributed in ``test_distributed_...``) band by band:
    the same array, in the data's dtype, either way."""
    import importlib

    import dask
    import dask.array as da

    # the module (the package exports a function of the same name)
    module = importlib.import_module("hyperspy_cnmf.signals.decomposition")
    data = counts()
    lazy = da.from_array(data, chunks=(2, 3, 8, 10))
    in_place = []
    writes = module._writes_in_place
    monkeypatch.setattr(
        module, "_writes_in_place", lambda a: in_place.append(writes(a)) or in_place[-1]
    )
    with dask.config.set(scheduler=scheduler):
        loaded = module._load(lazy)
    assert in_place == [scheduler != "processes"]
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, data)


def test_streaming_is_chosen_when_the_data_would_take_too_much_memory(monkeypatch):
    import importlib

    decomposition = importlib.import_module("hyperspy_cnmf.signals.decomposition")
    monkeypatch.setattr(decomposition, "available_memory", lambda: 1000)
    lr = fit(calibrated_signal(counts(), chunks=(3, -1, -1, -1)))
    params = json.loads(lr.cnmf_params)
    assert params["streamed"] and params["n_exact_iter"] == 3  # given: kept
    options = {k: v for k, v in FIT.items() if k != "n_exact_iter"}
    options["n_iter_no_change"] = None  # every "auto" iteration runs
    s = calibrated_signal(counts(), chunks=(3, -1, -1, -1))
    s.decomposition(
        algorithm="constrained_nmf", output_dimension=3, print_info=False, **options
    )
    exact = s.learning_results.cnmf_exact_history
    # "auto": fewer passes when streamed (counts: the Poisson polish's)
    assert json.loads(s.learning_results.cnmf_params)["loss"] == "poisson"
    assert exact.sum() == POISSON_ITER_STREAMED


def test_integer_counts_are_never_copied_or_converted(monkeypatch):
    from hyperspy_cnmf.core import data as data_module

    monkeypatch.setattr(data_module, "BLOCK_BYTES", 2**20)  # blocks << data
    data = counts(nav_shape=(64, 64), sig_shape=(32, 32))  # 8 MiB of uint16
    before = data.copy()
    s = calibrated_signal(data)
    tracemalloc.start()
    fit(s, factor_constraints=[], loading_constraints=[], pure_phases=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.75 * data.nbytes  # a float32 copy alone would be 2x
    assert s.data is data and s.data.dtype == np.uint16
    np.testing.assert_array_equal(s.data, before)


def test_not_enough_memory_is_a_clear_error_and_nothing_is_stored(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10_000)
    s = calibrated_signal(counts())
    with pytest.raises(MemoryError, match=r"needs about .*(lazy|n_init)"):
        fit(s)
    assert s.learning_results.factors is None


@contextlib.contextmanager
def local_cluster(distributed):
    """Two single-thread worker processes with a memory limit, and a client."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit="500MiB",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        yield


def test_distributed_cluster_gives_the_threaded_result():
    distributed = pytest.importorskip("distributed")
    data = counts()
    threaded = fit(
        calibrated_signal(data, chunks=(3, 2, 8, -1)), stream=True, **masks()
    )
    with local_cluster(distributed):
        s = calibrated_signal(data, chunks=(3, 2, 8, -1))
        on_cluster = fit(s, stream=True, **masks())
        loaded = fit(
            calibrated_signal(data, chunks=(3, 2, 8, -1)), stream=False, **masks()
        )
    for result in (on_cluster, loaded):
        np.testing.assert_allclose(
            result.factors, threaded.factors, rtol=1e-4, atol=1e-6
        )
        assert result.cnmf_mse == pytest.approx(threaded.cnmf_mse, rel=1e-5)


def _fail_at_read(block, folder, at, how):
    """Identity on a block that, at the ``at``-th block read of the fit
    (counted across processes by files in ``folder``), either kills its
    worker process once or raises an OSError from then on."""
    import os
    import tempfile

    os.close(tempfile.mkstemp(dir=folder, prefix="read-")[0])
    reads = sum(name.startswith("read-") for name in os.listdir(folder))
    if reads >= at:
        if how == "raise":
            raise OSError("the detector file went away")
        try:  # only the first process to get here dies
            os.close(os.open(os.path.join(folder, "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return block
        os._exit(1)
    return block


def make_faulty(s, folder, how):
    """``s`` (lazy) with a fault in the third pass over its data: mid-fit,
    after the checks."""
    at = 2 * s.data.npartitions + 1
    s.data = s.data.map_blocks(  # meta given: no call while building the graph
        _fail_at_read, folder, at, how, meta=np.empty((0,) * 4, s.data.dtype)
    )
    return s


def test_a_worker_lost_mid_fit_is_replaced_and_the_result_is_unchanged(tmp_path):
    distributed = pytest.importorskip("distributed")
    data = counts()
    threaded = fit(calibrated_signal(data, chunks=(3, 2, 8, -1)), stream=True)
    with local_cluster(distributed):
        s = make_faulty(
            calibrated_signal(data, chunks=(3, 2, 8, -1)), str(tmp_path), "kill"
        )
        on_cluster = fit(s, stream=True)
    assert (tmp_path / "killed").exists()  # a worker did die mid-fit
    np.testing.assert_allclose(
        on_cluster.factors, threaded.factors, rtol=1e-4, atol=1e-6
    )
    assert on_cluster.cnmf_mse == pytest.approx(threaded.cnmf_mse, rel=1e-5)


def test_a_read_failing_mid_fit_raises_and_keeps_the_previous_results(tmp_path):
    s = calibrated_signal(counts(), chunks=(3, 2, 8, -1))
    previous = fit(s, stream=True, n_init=1)
    before = (previous.factors.copy(), previous.cnmf_params)
    make_faulty(s, str(tmp_path), "raise")
    with pytest.raises(OSError, match="went away"):
        fit(s, stream=True)
    np.testing.assert_array_equal(s.learning_results.factors, before[0])
    assert s.learning_results.cnmf_params == before[1]
