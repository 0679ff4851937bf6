"""What a user waits for: the default constrained NMF against scikit-learn's NMF.

Run from the repository root::

    python benchmarks/bench_default.py              # the three cases below
    python benchmarks/bench_default.py --accuracy   # also the exact protocol
    python benchmarks/bench_default.py --quick      # a smoke run

For each case the same masked float32 matrix goes to

1. ``sklearn.decomposition.NMF(n_components=k, max_iter=500)`` (the
   baseline, its other defaults, ``tol=1e-4`` included), and
2. ``ConstrainedNMF(k, geometry=...)`` with every default: the paper's two
   constraints, 10 restarts of 500 iterations, ``compression="auto"``
   (sketch, then 30 exact iterations), successive halving of the restarts
   and the pure-phase step,

measured in the same process; the figure is their ratio. The default call's
time is broken down into the sketch, the iterations on it, the constraints
(inside those iterations), the exact polishing and the pure-phase step.
With ``--accuracy`` the paper's exact protocol (``compression=None,
prune_restarts=False, n_iter_no_change=None``) runs from the same start: its final MSE, the kept
restart and the time, against the default call's.

Cases: the paper's experiment (58 x 58 scan, 128 x 128 detector with the
direct beam masked, k = 30), the paper's simulation size (36 x 36, k = 30)
and the experiment at k = 6. Results are printed as a markdown table and
written to ``benchmarks/results/bench_default.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from bench_solver import masked_problem

from hyperspy_cnmf.core import ConstrainedNMF, constraints, solver

CASES = {
    "experiment 58x58x128x128, k=30": ((58, 58), (128, 128), 30),
    "simulation 36x36x128x128, k=30": ((36, 36), (128, 128), 30),
    "experiment 58x58x128x128, k=6": ((58, 58), (128, 128), 6),
}
QUICK = {"quick 24x24x64x64, k=10": ((24, 24), (64, 64), 10)}


class Timer:
    """Accumulated seconds per named part."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def part(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + (
                time.perf_counter() - start
            )


def _wrap(owner, name, timer, part, method=False):
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        with timer.part(part):
            return original(*args, **kwargs)

    setattr(owner, name, timed)
    return original


@contextmanager
def instrumented(timer):
    """Time the parts of a fit by wrapping the solver's steps."""
    originals = {}
    originals["sketch"] = _wrap(solver, "sketch", timer, "sketch")
    originals["separate_phases"] = _wrap(
        solver, "separate_phases", timer, "pure phases"
    )
    for cls in (constraints.RadialContinuity, constraints.GaussianSmoothing):
        originals[cls] = _wrap(cls, "__call__", timer, "constraints")
    run = solver._State.run

    def run_timed(self, n_iter, **keywords):
        first = keywords.get("first_iteration", 0)
        part = "iterations" if first == 0 else "exact polishing"
        with timer.part(part):
            return run(self, n_iter, **keywords)

    solver._State.run = run_timed
    try:
        yield
    finally:
        solver.sketch = originals["sketch"]
        solver.separate_phases = originals["separate_phases"]
        for cls in (constraints.RadialContinuity, constraints.GaussianSmoothing):
            cls.__call__ = originals[cls]
        solver._State.run = run


def sklearn_seconds(X, k):
    from sklearn.decomposition import NMF

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        NMF(n_components=k, max_iter=500).fit(X)
    return time.perf_counter() - start


def default_fit(X, geometry, k, **params):
    timer = Timer()
    model = ConstrainedNMF(k, geometry=geometry, random_state=0, **params)
    with instrumented(timer):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        total = time.perf_counter() - start
    return total, timer.seconds, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problem")
    parser.add_argument(
        "--accuracy", action="store_true", help="also run the exact protocol"
    )
    args = parser.parse_args(argv)
    cases = QUICK if args.quick else CASES
    rows, record = [], []
    for name, (nav, sig, k) in cases.items():
        X, geometry = masked_problem(nav, sig)
        baseline = sklearn_seconds(X, k)
        total, parts, model = default_fit(X, geometry, k)
        entry = {
            "case": name,
            "sklearn_s": baseline,
            "default_s": total,
            "ratio": total / baseline,
            "parts_s": parts,
            "mse": model.mse_,
            "compression_rank": model.compression_rank_,
            "best_restart": model.best_restart_,
        }
        rows.append((name, "sklearn NMF(k, max_iter=500) (s)", baseline, "baseline"))
        rows.append((name, "default ConstrainedNMF (s)", total, total / baseline))
        for part in (
            "sketch",
            "iterations",
            "constraints",
            "exact polishing",
            "pure phases",
        ):
            if part in parts:
                rows.append((name, f"  of which {part} (s)", parts[part], "-"))
        if args.accuracy:
            exact_total, _, exact = default_fit(
                X,
                geometry,
                k,
                compression=None,
                prune_restarts=False,
                n_iter_no_change=None,
            )
            entry.update(
                exact_s=exact_total,
                exact_mse=exact.mse_,
                exact_best_restart=exact.best_restart_,
            )
            rows.append(
                (
                    name,
                    "paper's exact protocol (s)",
                    exact_total,
                    exact_total / baseline,
                )
            )
            rows.append(
                (
                    name,
                    "final MSE default / exact protocol",
                    model.mse_ / exact.mse_,
                    "ratio",
                )
            )
            rows.append(
                (
                    name,
                    "kept restart default / exact protocol",
                    f"{model.best_restart_} / {exact.best_restart_}",
                    "-",
                )
            )
        record.append(entry)
        print(f"{name}: default {total:.1f} s, sklearn {baseline:.1f} s", flush=True)

    print("\n| case | measurement | value | ratio to sklearn |\n|---|---|---|---|")
    for case, what, value, ratio in rows:
        value_text = value if isinstance(value, str) else f"{value:.4g}"
        ratio_text = ratio if isinstance(ratio, str) else f"{ratio:.3f}"
        print(f"| {case} | {what} | {value_text} | {ratio_text} |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_default.json").write_text(
        json.dumps(
            {"machine": platform.platform(), "cases": record}, indent=2, default=float
        )
    )


if __name__ == "__main__":
    main()
