"""Speed of the constrained NMF at the paper's experimental size.

Run from the repository root::

    python benchmarks/bench_solver.py            # 58x58 scan, 128x128 detector, k=30
    python benchmarks/bench_solver.py --quick    # a smaller problem, for a smoke run

Every figure is reported as a ratio against a baseline measured in the same
run on the same data, so the numbers travel between machines:

1. seconds per iteration for all ``n_init`` restarts together, exact and on
   the compressed sketch, and their ratio; the cost of one exact iteration
   with 10 restarts against 10 separate single-restart iterations (batching
   must not multiply passes over X);
2. linear scaling: time per iteration on half the scan against the full scan;
3. accuracy of compression: final MSE of the sketch plus exact polishing
   against exact ALS from the same start (must be within 0.1 %);
4. the headline: one full constrained fit (n_init=10, max_iter=500, both
   domain constraints, compression="auto"; tol=0, all 500 iterations as in
   the paper, and tol=1e-4) against one run of
   ``sklearn.decomposition.NMF(n_components=30, max_iter=500)`` (its other
   defaults, tol=1e-4 included) on the same masked matrix.

Results are printed as a markdown table and written to
``benchmarks/results/bench_solver.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from hyperspy_cnmf.core import (
    GaussianSmoothing,
    Geometry,
    RadialContinuity,
    constrained_nmf,
)
from hyperspy_cnmf.data import simulate_4dstem_arrays


def masked_problem(navigation_shape, signal_shape, beam_radius=6):
    """Simulated data with a direct beam, unfolded with the beam masked."""
    sim = simulate_4dstem_arrays(
        navigation_shape=navigation_shape,
        signal_shape=signal_shape,
        direct_beam=True,
        seed=0,
    )
    rows, cols = np.indices(signal_shape)
    center = ((signal_shape[0] - 1) / 2, (signal_shape[1] - 1) / 2)
    mask = np.hypot(rows - center[0], cols - center[1]) <= beam_radius
    X = sim.data.reshape(int(np.prod(navigation_shape)), -1)[:, ~mask.ravel()]
    geometry = Geometry(
        signal_shape, navigation_shape, center=center[::-1], signal_mask=mask
    )  # Geometry takes (x, y)
    return np.ascontiguousarray(X, dtype=np.float32), geometry


def constraints():
    return dict(
        factor_constraints=[RadialContinuity()],
        loading_constraints=[GaussianSmoothing()],
    )


def seconds_per_iteration(X, geometry, k, n_init, n_iter=4, **kwargs):
    """Wall time of one iteration, without the fit's fixed costs.

    The difference between a fit of ``n_iter`` iterations and one of a single
    iteration, divided by ``n_iter - 1``: validation, the sketch (when
    compressing) and the final exact error cancel out.
    """

    def timed(max_iter):
        start = time.perf_counter()
        result = constrained_nmf(
            X,
            k,
            geometry=geometry,
            n_init=n_init,
            max_iter=max_iter,
            random_state=0,
            **kwargs,
        )
        return time.perf_counter() - start, result

    timed(1)  # warm-up: operators, caches
    one, _ = timed(1)
    many, result = timed(n_iter)
    return (many - one) / (n_iter - 1), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small problem (smoke run)"
    )
    parser.add_argument(
        "--skip-full", action="store_true", help="skip the 500-iteration fits"
    )
    args = parser.parse_args(argv)
    nav, sig, k = ((24, 24), (64, 64), 10) if args.quick else ((58, 58), (128, 128), 30)
    n_init, max_iter = 10, 500
    X, geometry = masked_problem(nav, sig)
    print(f"data {X.shape} {X.dtype}, k={k}, n_init={n_init}")
    rows = []

    # 1. per-iteration cost, all restarts together
    exact_it, _ = seconds_per_iteration(X, geometry, k, n_init, **constraints())
    sketch_it, sketch_result = seconds_per_iteration(
        X, geometry, k, n_init, compression="auto", n_exact_iter=0, **constraints()
    )
    single_it, _ = seconds_per_iteration(X, geometry, k, 1, **constraints())
    rows += [
        ("exact ALS iteration, 10 restarts (s)", exact_it, "baseline"),
        ("compressed iteration, 10 restarts (s)", sketch_it, sketch_it / exact_it),
        ("exact iteration, 1 restart (s)", single_it, single_it / exact_it),
        ("10 batched restarts / 10 x 1 restart", exact_it / (10 * single_it), "ratio"),
    ]
    print(f"sketch rank: {sketch_result.compression_rank}")

    # 2. linear scaling in the number of probe positions
    half = X.shape[0] // 2
    half_geometry = Geometry(
        geometry.signal_shape,
        (half,),
        center=geometry.center,
        signal_mask=geometry.signal_mask,
    )
    half_it, _ = seconds_per_iteration(
        X[:half], half_geometry, k, n_init, factor_constraints=[RadialContinuity()]
    )
    full_it, _ = seconds_per_iteration(
        X,
        Geometry(
            geometry.signal_shape,
            (X.shape[0],),
            center=geometry.center,
            signal_mask=geometry.signal_mask,
        ),
        k,
        n_init,
        factor_constraints=[RadialContinuity()],
    )
    rows.append(
        ("iteration on full / half scan (linear: 2)", full_it / half_it, "ratio")
    )

    # 3. compression accuracy from the same start (one restart)
    exact = constrained_nmf(
        X, k, geometry=geometry, n_init=1, max_iter=100, random_state=1, **constraints()
    )
    compressed = constrained_nmf(
        X,
        k,
        geometry=geometry,
        n_init=1,
        max_iter=100,
        random_state=1,
        compression="auto",
        n_exact_iter=30,
        **constraints(),
    )
    rows.append(
        (
            "final MSE compressed / exact (same start)",
            compressed.mse / exact.mse,
            "ratio",
        )
    )

    # 4. headline: full constrained fit against one scikit-learn NMF run
    if not args.skip_full:
        from sklearn.decomposition import NMF

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            NMF(n_components=k, max_iter=max_iter).fit(X)
        sklearn_time = time.perf_counter() - start
        rows.append(("sklearn NMF(k, max_iter=500) (s)", sklearn_time, "baseline"))
        for tol in (0.0, 1e-4):
            start = time.perf_counter()
            full = constrained_nmf(
                X,
                k,
                geometry=geometry,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                random_state=0,
                compression="auto",
                **constraints(),
            )
            full_time = time.perf_counter() - start
            rows.append(
                (
                    f"constrained fit, 10 restarts, max_iter 500, tol={tol:g} (s)",
                    full_time,
                    full_time / sklearn_time,
                )
            )
            print(f"full fit tol={tol:g}: {full.n_iter} iterations, mse {full.mse:.6g}")

    print("\n| measurement | value | ratio |\n|---|---|---|")
    for name, value, ratio in rows:
        ratio_text = ratio if isinstance(ratio, str) else f"{ratio:.3f}"
        print(f"| {name} | {value:.4g} | {ratio_text} |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    record = {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "data_shape": list(X.shape),
        "k": k,
        "rows": [[n, v, r if isinstance(r, str) else float(r)] for n, v, r in rows],
    }
    (out / "bench_solver.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
