"""Speed of the example data and of the diffraction similarity.

Run from the repository root::

    python benchmarks/bench_components.py

Each time is reported with a baseline measured in the same run:

* the default simulation (36x36 scan, 128x128 detector, Poisson noise for
  1e4 electrons per pattern) against numpy's ``Generator.poisson`` on the
  same expected counts (the noise alone);
* the diffraction similarity of k = 30 patterns of 128x128 (all pairs, with
  rotations) against one 2D FFT of the same stack.
"""

from __future__ import annotations

import time

import numpy as np

from hyperspy_cnmf.core.similarity import diffraction_similarity
from hyperspy_cnmf.data import simulate_4dstem_arrays


def best_of(function, repeat=3):
    """Shortest wall time of ``repeat`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    rows = []
    sim = simulate_4dstem_arrays(dose=None)
    expected = (sim.data * 1e4).astype(np.float32)
    rng = np.random.default_rng(0)
    noise = best_of(lambda: rng.poisson(expected))
    simulation = best_of(simulate_4dstem_arrays)
    rows.append(("numpy poisson on the expected counts (s)", noise, "baseline"))
    rows.append(("simulate_4dstem_arrays() (s)", simulation, simulation / noise))

    stack = np.random.default_rng(1).random((30, 128, 128))
    fft = best_of(lambda: np.fft.fft2(stack))
    similarity = best_of(lambda: diffraction_similarity(stack))
    rows.append(("2D FFT of 30 patterns 128x128 (s)", fft, "baseline"))
    rows.append(("diffraction_similarity, k=30 (s)", similarity, similarity / fft))

    print("| measurement | value | ratio |\n|---|---|---|")
    for name, value, ratio in rows:
        ratio_text = ratio if isinstance(ratio, str) else f"{ratio:.2f}"
        print(f"| {name} | {value:.4g} | {ratio_text} |")


if __name__ == "__main__":
    main()
