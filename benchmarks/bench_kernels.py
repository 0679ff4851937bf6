"""The fused count kernels against cast + BLAS, on the same data in one run.

Run from the repository root::

    python benchmarks/bench_kernels.py            # 4096 x 65536 uint16 (0.5 GB)
    python benchmarks/bench_kernels.py --rows 1024

An exact pass of the fit is ``X^T L`` and ``X F`` with a thin ``L``, ``F``
(k columns). For integer counts, :class:`~hyperspy_cnmf.core.data.BlockData`
either casts each block of rows to float32 and calls BLAS, or hands the raw
counts to the numba kernels of :mod:`hyperspy_cnmf.core.kernels`. This
times both routes through ``BlockData`` (the kernels are switched off by
``MAX_COLUMNS = 0``) for several k, and prints the ratio kernel / BLAS: the
measurement behind ``kernels.MAX_COLUMNS``. Results go to
``benchmarks/results/bench_kernels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
from bench_components import best_of  # its warm-up call compiles the kernels

from hyperspy_cnmf.core import kernels
from hyperspy_cnmf.core.data import BlockData

COLUMNS = (6, 12, 24, 32, 56)


def pass_times(data, k, rng):
    """Seconds of ``X^T L`` and of ``X F`` with k columns."""
    n_rows, n_cols = data.shape
    L = rng.random((n_rows, k), dtype=np.float32)
    F = rng.random((n_cols, k), dtype=np.float32)
    return best_of(lambda: data.XtL(L)), best_of(lambda: data.XF(F))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096, help="probe positions")
    parser.add_argument("--pixels", type=int, default=256**2, help="detector pixels")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.poisson(3, (args.rows, args.pixels)).astype(np.uint16)
    data = BlockData(X)
    limit = kernels.MAX_COLUMNS
    results = []
    print(f"{args.rows} x {args.pixels} uint16, {os.cpu_count()} CPUs\n")
    print("| k | cast + BLAS XtL, XF (s) | kernels XtL, XF (s) | kernels / BLAS |")
    print("|---|---|---|---|")
    for k in COLUMNS:
        kernels.MAX_COLUMNS = 0
        blas = pass_times(data, k, rng)
        kernels.MAX_COLUMNS = 10**9
        fused = pass_times(data, k, rng)
        kernels.MAX_COLUMNS = limit
        ratio = sum(fused) / sum(blas)
        results.append({"k": k, "blas_s": blas, "kernels_s": fused, "ratio": ratio})
        print(
            f"| {k} | {blas[0]:.3f}, {blas[1]:.3f} | {fused[0]:.3f}, {fused[1]:.3f} "
            f"| {ratio:.2f} |",
            flush=True,
        )
    print(f"\nkernels.MAX_COLUMNS = {limit}")
    out = Path(__file__).parent / "results" / "bench_kernels.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "shape": [args.rows, args.pixels],
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "max_columns": limit,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
