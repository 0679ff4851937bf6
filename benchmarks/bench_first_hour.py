"""The sizes a user starts with: the default call against HyperSpy's NMF.

Run from the repository root::

    python benchmarks/bench_first_hour.py           # the grid below, and the CLI
    python benchmarks/bench_first_hour.py --quick   # two cells, no CLI

For each cell of the grid (scan 24 x 24 to 58 x 58 of 128 x 128 patterns,
the package's simulation ``simulated_4dstem``, k = 4 to 30) the same signal
goes, in the same process, to

1. ``s.decomposition(algorithm="NMF", output_dimension=k)``: HyperSpy's
   NMF (scikit-learn's, its defaults), the baseline, and
2. ``s.decomposition(algorithm="constrained_nmf", output_dimension=k)``
   with every default.

The figure is their time ratio, beside the recovery of each (the worst
true component's map Pearson correlation and the worst crystal pattern's
cosine, :func:`hyperspy_cnmf.scoring.score_decomposition`). Without
``--quick`` the two commands of the README's first steps are also timed, in
subprocesses: ``python -m hyperspy_cnmf demo --quick`` and
``python -m hyperspy_cnmf reproduce --quick``. Results are printed as a
markdown table and written to ``benchmarks/results/bench_first_hour.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from hyperspy_cnmf.data import simulated_4dstem
from hyperspy_cnmf.scoring import score_decomposition

GRID = [(n, k) for n in (24, 36, 58) for k in (4, 10, 30)]
QUICK = [(24, 4), (36, 10)]
COMMANDS = {
    "demo --quick": [sys.executable, "-m", "hyperspy_cnmf", "demo", "--quick"],
    "reproduce --quick": [
        sys.executable,
        "-m",
        "hyperspy_cnmf",
        "reproduce",
        "--quick",
    ],
}


def _scores(s, k):
    """Worst map Pearson and worst crystal pattern cosine to the truth."""
    lr = s.learning_results
    n_rows, n_cols = s.axes_manager.navigation_shape[::-1]
    truth = s.metadata.Simulation.as_dictionary()
    scores = score_decomposition(
        lr.factors.T.reshape(k, *s.axes_manager.signal_shape[::-1]),
        lr.loadings.T.reshape(k, n_rows, n_cols),
        truth,
    )
    return float(np.nanmin(scores["map_pearson"])), float(
        scores["crystal_pattern_cosine"]
    )


def _timed_fit(s, k, algorithm):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(
            algorithm=algorithm,
            output_dimension=k,
            print_info=False,
            **(
                {"random_state": 0, "show_progressbar": False}
                if algorithm == "constrained_nmf"
                else {}
            ),
        )
    seconds = time.perf_counter() - start
    return seconds, *_scores(s, k)


def measure_cell(n, k):
    s = simulated_4dstem((n, n), (128, 128), seed=1)
    hs = _timed_fit(s, k, "NMF")
    ours = _timed_fit(s, k, "constrained_nmf")
    return {
        "scan": n,
        "k": k,
        "hyperspy_nmf_s": hs[0],
        "default_s": ours[0],
        "ratio": ours[0] / hs[0],
        "hyperspy_nmf_map_pearson_min": hs[1],
        "default_map_pearson_min": ours[1],
        "hyperspy_nmf_pattern_cosine_min": hs[2],
        "default_pattern_cosine_min": ours[2],
    }


def command_seconds(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def table(cells, commands):
    lines = [
        "| scan | k | HyperSpy NMF (s) | default (s) | ratio "
        "| worst map Pearson (HS / ours) | worst crystal pattern (HS / ours) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c['scan']}x{c['scan']} | {c['k']} | {c['hyperspy_nmf_s']:.1f} "
            f"| {c['default_s']:.1f} | {c['ratio']:.2f} "
            f"| {c['hyperspy_nmf_map_pearson_min']:.3f} / "
            f"{c['default_map_pearson_min']:.3f} "
            f"| {c['hyperspy_nmf_pattern_cosine_min']:.3f} / "
            f"{c['default_pattern_cosine_min']:.3f} |"
        )
    for name, seconds in commands.items():
        lines.append(f"| `{name}` | | | {seconds:.1f} | | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small cells")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    cells = []
    for n, k in QUICK if args.quick else GRID:
        cells.append(measure_cell(n, k))
        c = cells[-1]
        print(
            f"{n}x{n}, k={k}: default {c['default_s']:.1f} s, "
            f"HyperSpy NMF {c['hyperspy_nmf_s']:.1f} s",
            flush=True,
        )
    commands = {}
    if not args.quick:
        commands = {name: command_seconds(cmd) for name, cmd in COMMANDS.items()}
    print(table(cells, commands))
    out = Path(__file__).parent / "results" / "bench_first_hour.json"
    out.parent.mkdir(exist_ok=True)
    record = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cells": cells,
        "commands_s": commands,
    }
    out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
