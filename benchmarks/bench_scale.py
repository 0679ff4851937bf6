"""Time and peak memory of a constrained NMF at real 4D-STEM sizes.

Run from the repository root::

    python benchmarks/bench_scale.py               # 128x128 scan of 256x256 uint16 (2.1 GB)
    python benchmarks/bench_scale.py --size 64     # 64x64 scan (0.5 GB), a quick run
    python benchmarks/bench_scale.py --size 256 --cases lazy-stream   # 8.6 GB
    python benchmarks/bench_scale.py --cases user lazy-user --repeat 3  # medians

The data are generated here, never downloaded: Poisson counts (uint16) of
six patterns (a direct beam, amorphous rings, Bragg spots) times smooth
maps, written chunk by chunk to a zspy file in a temporary folder. Each case
runs in its own subprocess, ``s.decomposition(algorithm="constrained_nmf",
output_dimension=6, random_state=0)`` with the defaults, and its peak resident memory (the
process and its children, polled with psutil) and wall time are measured:

- ``in-memory``: the counts as a numpy array (generated in the process), a
  ``Signal2D`` calibrated with the beam centre and no mask (the easy case);
- ``user``: the user's configuration, in memory: a pyxem
  ``ElectronDiffraction2D`` with its calibration (the beam centre, off the
  detector's middle) and the direct beam masked by ``s.calibration.mask``
  (a disc of radius 10 px), as a microscopist's scan arrives;
- ``user-unmasked``: the same signal without the mask (the mask's cost is
  ``user`` / ``user-unmasked``);
- ``lazy-user``: ``user`` loaded lazily from the zspy file;
- ``lazy``: ``hs.load(..., lazy=True)``, data that fit are loaded once;
- ``lazy-stream``: the same, streamed chunk by chunk (``stream=True``);
- ``user-stream``: ``lazy-user`` streamed (the mask's cost when streamed
  is ``user-stream`` / ``lazy-stream``);
- ``cluster``: ``lazy-stream`` under ``dask.distributed`` (LocalCluster,
  2 workers x 1 thread);
- ``read``: no fit, one pass that reads and decompresses every chunk (the
  floor of a streamed fit: ``lazy-stream`` counts the blocks it reads, and
  the table gives the streamed fit / that many reads);
- the peers, what a user would otherwise run on the ``user`` scan, with
  their defaults and the same k and mask: ``hs-lazy-nmf``, HyperSpy's
  ``decomposition(algorithm="NMF", signal_mask=...)`` on the lazy signal
  (scikit-learn's ``MiniBatchNMF``, one ``partial_fit`` pass and a
  projection pass), and ``sk-minibatch``, scikit-learn's ``MiniBatchNMF``
  on the unfolded in-memory counts of the kept pixels (as float32, which it
  needs).

Every fit is scored afterwards in the parent process (so that scoring
memory is not counted), on the kept pixels: the mean squared error against
the counts, and the recovery of the six simulated maps and patterns (the
worst map cosine and Pearson correlation, the worst pattern cosine, after
matching components to the truth).

With ``--repeat N`` every case runs N times, in rounds (each case once,
then each again, so that the machine's drift reaches every case), and the
table gives the median fit time with the range of the runs and the
highest peak RSS; the JSON keeps every run's fit time.

The table gives the ratios to the targets: lazy / in-memory time, peak
RSS / size of the raw data. Results go to
``benchmarks/results/bench_scale_<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 6
SIG = 256
CASES = (
    "in-memory",
    "user",
    "user-unmasked",
    "lazy-user",
    "lazy",
    "lazy-stream",
    "user-stream",
    "cluster",
    "read",
    "hs-lazy-nmf",
    "sk-minibatch",
)
#: The beam centre (row, col) px: off the detector's middle, as on a real
#: camera; every case is calibrated with it.
BEAM = (SIG / 2 + 6.5, SIG / 2 - 4.5)
#: Radius (px) of the direct-beam disc the user's configuration masks.
MASK_RADIUS = 10


def patterns(sig=SIG):
    """Six nonnegative diffraction patterns (float32, expected counts)."""
    v, u = np.mgrid[:sig, :sig].astype(np.float32)
    cv, cu = BEAM
    r = np.hypot(v - cv, u - cu)
    out = [200 * np.exp(-(r**2) / 8)]  # direct beam
    out += [2 * np.exp(-((r - rad) ** 2) / 30) + 0.2 for rad in (40, 70)]  # glasses
    for n, (a, rad) in enumerate(((0.3, 50), (1.1, 60), (0.7, 80))):  # crystals
        p = 0.1 * np.exp(-r / 60)
        for j in range(6):
            t = a + j * np.pi / 3
            p += 8 * np.exp(
                -((v - cv - rad * np.sin(t)) ** 2 + (u - cu - rad * np.cos(t)) ** 2) / 6
            )
        out.append(p * (1 + 0.1 * n))
    return np.stack(out).astype(np.float32)


def maps(nav, rows):
    """Smooth maps of the six components on scan rows ``rows`` (float32)."""
    y, x = np.mgrid[rows, :nav].astype(np.float32) / nav
    m = [np.ones_like(x)]
    m += [0.5 + 0.5 * np.cos(2 * np.pi * (x + s * y)) for s in (0.5, 1.0)]
    m += [
        np.exp(-((x - a) ** 2 + (y - b) ** 2) / 0.02)
        for a, b in ((0.3, 0.3), (0.7, 0.4), (0.5, 0.8))
    ]
    return np.stack(m).astype(np.float32)


def counts(nav, rows, seed=0):
    """Poisson counts of scan rows ``rows``: (n_rows, nav, SIG, SIG) uint16."""
    rng = np.random.default_rng([seed, rows.start])
    P = patterns().reshape(K, -1)
    lam = np.einsum("kyx,kp->yxp", maps(nav, rows), P)
    return rng.poisson(lam).astype(np.uint16).reshape(lam.shape[:2] + (SIG, SIG))


def in_memory(nav, band=8):
    data = np.empty((nav, nav, SIG, SIG), dtype=np.uint16)
    for start in range(0, nav, band):
        data[start : start + band] = counts(nav, slice(start, start + band))
    return data


def write_zspy(path, nav, band=8):
    import dask
    import dask.array as da
    import hyperspy.api as hs

    blocks = [
        da.from_delayed(
            dask.delayed(counts)(nav, slice(s, s + band)),
            shape=(band, nav, SIG, SIG),
            dtype=np.uint16,
        )
        for s in range(0, nav, band)
    ]
    s = hs.signals.Signal2D(da.concatenate(blocks)).as_lazy()
    s.data = s.data.rechunk((band, nav // 2, SIG, SIG))
    calibrate(s)
    with dask.config.set(scheduler="threads"):
        s.save(path, overwrite=True)


def calibrate(s):
    """Signal axes in 1/nm with the beam centre at :data:`BEAM`."""
    x_axis, y_axis = s.axes_manager.signal_axes
    for axis, centre in ((x_axis, BEAM[1]), (y_axis, BEAM[0])):
        axis.scale = 0.01
        axis.offset = -centre * 0.01
        axis.units = "1/nm"


def direct_beam_disc():
    """The user's signal mask: the direct beam, (SIG, SIG) bool."""
    rows, cols = np.indices((SIG, SIG))
    return np.hypot(rows - BEAM[0], cols - BEAM[1]) <= MASK_RADIUS


def as_user_signal(s, masked=True):
    """``s`` as a microscopist's scan: a pyxem ElectronDiffraction2D with
    its calibration and (``masked``) the direct beam in
    ``s.calibration.mask``."""
    import pyxem as pxm

    lazy, eager = (
        pxm.signals.LazyElectronDiffraction2D,
        pxm.signals.ElectronDiffraction2D,
    )
    s = (lazy if s._lazy else eager)(s.data)
    calibrate(s)
    s.calibration.center = [BEAM[1], BEAM[0]]  # pyxem's (x, y)
    if masked:
        s.calibration.mask = direct_beam_disc()
    return s


def run_minibatch(size):
    """scikit-learn's MiniBatchNMF, its defaults, on the kept pixels."""
    from sklearn.decomposition import MiniBatchNMF

    kept = ~direct_beam_disc().ravel()
    X = in_memory(size).reshape(size * size, -1)[:, kept].astype(np.float32)
    model = MiniBatchNMF(n_components=K, random_state=0)
    loadings = model.fit_transform(X)
    factors = np.zeros((SIG * SIG, K), np.float32)
    factors[kept] = model.components_.T
    return loadings, factors


def score(loadings, factors, size, band=8):
    """MSE over the kept pixels against the counts, and the recovery of the
    simulated maps and patterns (components matched to the truth by map
    cosine): ``{"mse", "map_cos_min", "map_r_min", "pattern_cos_min"}``.
    The direct beam (the first truth component) lies under the mask: it is
    not recoverable there and is left out of the recovery."""
    from scipy.optimize import linear_sum_assignment

    kept = ~direct_beam_disc().ravel()
    L = np.nan_to_num(np.asarray(loadings, np.float64))
    F = np.nan_to_num(np.asarray(factors, np.float64))[kept]
    sse = 0.0
    for start in range(0, size, band):
        rows = slice(start, min(size, start + band))
        X = counts(size, rows).reshape(-1, SIG * SIG)[:, kept].astype(np.float64)
        part = L[start * size : rows.stop * size]
        sse += float(((X - part @ F.T) ** 2).sum())
    truth_maps = maps(size, slice(0, size)).reshape(K, -1)[1:].astype(np.float64)
    truth_patterns = patterns().reshape(K, -1)[1:, kept].astype(np.float64)

    def cosines(A, B):  # rows of A against rows of B
        A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)
        B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-300)
        return A @ B.T

    map_cos = cosines(truth_maps, L.T)
    truth, found = linear_sum_assignment(-map_cos)
    centred = cosines(
        truth_maps - truth_maps.mean(axis=1, keepdims=True),
        L.T - L.T.mean(axis=1, keepdims=True),
    )
    pattern_cos = cosines(truth_patterns, F.T)
    return {
        "mse": sse / (L.shape[0] * F.shape[0]),
        "map_cos_min": float(map_cos[truth, found].min()),
        "map_r_min": float(centred[truth, found].min()),
        "pattern_cos_min": float(pattern_cos[truth, found].min()),
    }


def run_case(case, size, path):
    """One case in this process; prints a JSON line with the fit's time."""
    import hyperspy.api as hs

    import hyperspy_cnmf  # noqa: F401

    options = {
        "output_dimension": K,
        "print_info": False,
        "show_progressbar": False,
        "random_state": 0,  # the same starts in every case and run
    }
    client = None
    if case == "read":
        data = hs.load(path, lazy=True).data
        start = time.perf_counter()
        data.sum(dtype=np.uint64).compute()
        print(json.dumps({"fit_s": time.perf_counter() - start}))
        return
    if case == "sk-minibatch":
        start = time.perf_counter()
        loadings, factors = run_minibatch(size)
        elapsed = time.perf_counter() - start
        np.savez(path + f".{case}.npz", loadings=loadings, factors=factors)
        print(json.dumps({"fit_s": elapsed}))
        return
    if case in ("in-memory", "user", "user-unmasked"):
        s = hs.signals.Signal2D(in_memory(size))
        calibrate(s)
        if case != "in-memory":
            s = as_user_signal(s, masked=case == "user")
    elif case in ("lazy-user", "user-stream", "hs-lazy-nmf"):
        s = as_user_signal(hs.load(path, lazy=True))
        if case == "user-stream":
            options["stream"] = True
    else:
        if case == "cluster":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                memory_limit="1.5GiB",
                dashboard_address=None,
            )
            client = Client(cluster)
        s = hs.load(path, lazy=True)
        if case in ("lazy-stream", "cluster"):
            options["stream"] = True
    reads = []
    if case in ("lazy-stream", "user-stream"):  # count the blocks read here
        source = s.data
        s.data = source.map_blocks(
            lambda block: reads.append(1) or block,
            meta=np.empty((0,) * source.ndim, source.dtype),
        )
    algorithm = "constrained_nmf"
    if case == "hs-lazy-nmf":
        algorithm = "NMF"
        for key in ("random_state", "show_progressbar"):  # not HyperSpy's here
            options.pop(key)
        options["signal_mask"] = direct_beam_disc()
        s.change_dtype("float32")  # HyperSpy decomposes floats only (lazy: no copy)
    start = time.perf_counter()
    s.decomposition(algorithm=algorithm, **options)
    report = {"fit_s": time.perf_counter() - start}
    lr = s.learning_results
    np.savez(path + f".{case}.npz", loadings=lr.loadings, factors=lr.factors)
    if algorithm == "constrained_nmf":  # its MSE is scored by the parent
        report.update(
            streamed=json.loads(lr.cnmf_params).get("streamed"),
            n_exact_iter=int(np.sum(lr.cnmf_exact_history)),
            passes=len(reads) / s.data.npartitions if reads else None,
        )
    print(json.dumps(report))
    if client is not None:
        client.close()
        cluster.close()


def summarise(case_runs):
    """One case's runs as one result: the median fit and wall times (the
    runs' fit times in ``fit_s_runs``), the highest peak RSS; a failed run
    is reported as the case's result. The scores are the first run's (the
    fit is seeded: every run gives the same)."""
    failed = [r for r in case_runs if "failed" in r]
    if failed:
        return failed[0]
    result = dict(case_runs[0])
    result["fit_s"] = float(np.median([r["fit_s"] for r in case_runs]))
    result["wall_s"] = float(np.median([r["wall_s"] for r in case_runs]))
    result["peak_rss"] = max(r["peak_rss"] for r in case_runs)
    result["fit_s_runs"] = [r["fit_s"] for r in case_runs]
    return result


def fit_cell(result):
    """The fit time, with the range of the runs where there were several."""
    runs = result.get("fit_s_runs", [])
    if len(runs) < 2:
        return f"{result['fit_s']:.1f}"
    return f"{result['fit_s']:.1f} ({min(runs):.1f}-{max(runs):.1f})"


def measure(case, size, path):
    """Run one case in a subprocess; its wall time and peak RSS (tree)."""
    import psutil

    cmd = [sys.executable, __file__, "--run", case, "--size", str(size), "--path", path]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    parent, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode:
        return {"case": case, "failed": proc.returncode, "wall_s": wall}
    result = {"case": case, "wall_s": wall, "peak_rss": peak, **json.loads(out[-1])}
    fitted = path + f".{case}.npz"
    if os.path.exists(fitted):
        with np.load(fitted) as fit:
            result.update(score(fit["loadings"], fit["factors"], size))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="scan side (128, 256)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each case; the table gives the median and the range",
    )
    parser.add_argument("--run", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run_case(args.run, args.size, args.path)

    raw = args.size**2 * SIG**2 * 2
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "counts.zspy")
        in_process = ("in-memory", "user", "user-unmasked", "sk-minibatch")
        if any(c not in in_process for c in args.cases):
            start = time.perf_counter()
            write_zspy(path, args.size)
            print(
                f"wrote {raw / 1e9:.2f} GB zspy in {time.perf_counter() - start:.0f} s"
            )
        runs = {case: [] for case in args.cases}
        for _ in range(args.repeat):  # rounds of every case: drift hits all
            for case in args.cases:
                runs[case].append(measure(case, args.size, path))
                print(runs[case][-1], flush=True)
        results = [summarise(case_runs) for case_runs in runs.values()]

    base = next(
        (r["fit_s"] for r in results if r["case"] == "in-memory" and "fit_s" in r), None
    )
    print(
        f"\n{args.size}x{args.size} scan of {SIG}x{SIG} uint16 ({raw / 1e9:.2f} GB), "
        f"k={K}, defaults, {os.cpu_count()} CPUs\n"
    )
    print(
        "| case | fit (s) | wall (s) | / in-memory fit | peak RSS (GB) | RSS / data "
        "| MSE (kept pixels) | map cos / r min | pattern cos min |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "failed" in r:
            print(
                f"| {r['case']} | failed ({r['failed']}) | {r['wall_s']:.0f} "
                "| | | | | | |"
            )
            continue
        ratio = f"{r['fit_s'] / base:.2f}" if base else ""
        scores = (
            f"{r['mse']:.5g} | {r['map_cos_min']:.3f} / {r['map_r_min']:.3f} "
            f"| {r['pattern_cos_min']:.3f}"
            if "map_cos_min" in r
            else "| |"
        )
        print(
            f"| {r['case']} | {fit_cell(r)} | {r['wall_s']:.0f} | {ratio} | "
            f"{r['peak_rss'] / 1e9:.2f} | {r['peak_rss'] / raw:.2f} | {scores} |"
        )
    fits = {r["case"]: r["fit_s"] for r in results if "fit_s" in r}
    if "user" in fits and "user-unmasked" in fits:
        print(
            f"\nthe direct-beam mask costs {fits['user'] / fits['user-unmasked']:.2f}x "
            "(user / user-unmasked, in memory; target <= 1.1)"
        )
    if "user-stream" in fits and "lazy-stream" in fits:
        print(
            f"streamed: {fits['user-stream'] / fits['lazy-stream']:.2f}x "
            "(user-stream / lazy-stream; target <= 1.1)"
        )
    read = next((r["fit_s"] for r in results if r["case"] == "read"), None)
    for r in results:
        if read and r.get("passes"):
            passes = r["passes"]
            print(
                f"\n{r['case']}: {passes:g} passes over the data; fit / "
                f"({passes:g} x one read of {read:.1f} s) = "
                f"{r['fit_s'] / (passes * read):.2f}"
            )
    out = Path(__file__).parent / "results" / f"bench_scale_{args.size}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "size": args.size,
                "raw_bytes": raw,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
