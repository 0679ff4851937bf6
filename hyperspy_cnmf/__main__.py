"""Command line: ``python -m hyperspy_cnmf {demo,reproduce} --output DIR``.

``demo`` generates the package's simulated 4D-STEM data (no download), runs
``s.decomposition(algorithm="constrained_nmf", ...)`` and writes the factor,
loading and convergence figures as PNG files.

``reproduce`` runs PCA, primitive NMFs and the constrained NMFs on the same
simulated data (:func:`hyperspy_cnmf.reproduction.reproduce`) and writes the
paper's Figs. 1, 6 and 7 and a markdown score table per ``k``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def demo(
    output: Path, n_components: int = 4, quick: bool = False, seed: int = 0
) -> list[Path]:
    """Decompose the simulated data set and save the figures in ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import hyperspy.api as hs
    import matplotlib.pyplot as plt

    import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
    from hyperspy_cnmf.data import simulated_4dstem
    from hyperspy_cnmf.plotting.convergence import plot_convergence

    output.mkdir(parents=True, exist_ok=True)
    shape = (24, 24) if quick else (36, 36)
    s = simulated_4dstem(navigation_shape=shape, seed=seed)
    print(f"Simulated data: {s}")
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=n_components,
        n_init=3 if quick else 10,
        max_iter=100 if quick else 500,
        compression="auto",
        random_state=seed,
        show_progressbar=True,
    )
    written = []
    factors = s.get_decomposition_factors()
    loadings = s.get_decomposition_loadings()
    for name, signal in (("factors", factors), ("loadings", loadings)):
        hs.plot.plot_images(
            signal, cmap="viridis", axes_decor="off", scalebar=None, label=None
        )
        fig = plt.gcf()
        fig.suptitle(f"constrained NMF {name}")
        written.append(_save(fig, output / f"decomposition_{name}.png"))
        plt.close(fig)
    written.append(_save(plot_convergence(s), output / "convergence.png"))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hyperspy_cnmf", description=__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser(
        "demo", help="decompose the simulated data, save PNG figures"
    )
    p_demo.add_argument("--output", type=Path, default=Path("cnmf_output"))
    p_demo.add_argument("-k", "--n-components", type=int, default=4)
    p_demo.add_argument("--quick", action="store_true", help="smaller, faster run")
    p_demo.add_argument("--seed", type=int, default=0)
    p_rep = sub.add_parser(
        "reproduce",
        help="compare PCA, primitive and constrained NMF on the simulated data "
        "(paper Figs. 1, 6, 7); save PNG figures and scores.md",
    )
    p_rep.add_argument("--output", type=Path, default=Path("cnmf_output"))
    p_rep.add_argument(
        "-k",
        "--k",
        "--n-components",
        dest="n_components",
        type=int,
        nargs="+",
        default=[4],
        help="number(s) of components, e.g. -k 4 6 (default 4)",
    )
    p_rep.add_argument(
        "--quick", action="store_true", help="fewer restarts and iterations"
    )
    p_rep.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        for path in demo(args.output, args.n_components, args.quick, args.seed):
            print(f"wrote {path}")
    elif args.command == "reproduce":
        import matplotlib

        matplotlib.use("Agg")
        from hyperspy_cnmf.reproduction import reproduce

        paths = reproduce(
            args.output, args.n_components, quick=args.quick, seed=args.seed
        )
        for path in paths:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
