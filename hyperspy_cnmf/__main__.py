"""Command line of hyperspy_cnmf: ``hyperspy-cnmf {demo,reproduce}``.

Also run as ``python -m hyperspy_cnmf``. ``demo`` decomposes the simulated
data set; ``reproduce`` compares PCA, primitive NMF and constrained NMF on it
(paper Figs. 1, 6, 7).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hyperspy_cnmf.core.estimator import ConstrainedNMF

# The fit's defaults, from the estimator that declares them
_DEFAULTS = ConstrainedNMF().get_params()

DESCRIPTION = """\
Physics-constrained NMF of 4D-STEM data (Kimoto et al., Sci. Rep. 2025) on
the package's simulated data set: no download, no input files.

  demo       generate the simulated 4D-STEM data, run
             s.decomposition(algorithm="constrained_nmf", ...) and save the
             factors with their maps and the convergence history as PNG files
  reproduce  run PCA, primitive NMFs and the constrained NMFs on the same data
             and save the paper's Figs. 1, 6 and 7 and a score table
             (scores.md) per number of components

Options of each command: "%(prog)s demo --help",
"%(prog)s reproduce --help".
"""

EPILOG = """\
examples:
  %(prog)s demo --quick
  %(prog)s reproduce -k 4 6 --output cnmf_output
"""

PROG_MODULE = "python -m hyperspy_cnmf"
OUTPUT_HELP = "folder for the results (created if missing; default: %(default)s)"
SEED_HELP = (
    "seed of the simulated Poisson noise and of the random initialisation "
    "(default: %(default)s)"
)


def _save(fig, path: Path) -> Path:
    from hyperspy_cnmf.reproduction import refuse_link

    fig.savefig(refuse_link(path), dpi=110)
    return path


def _components(text: str) -> int:
    """argparse type of -k: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of components (a positive integer)"
        )
    return value


def _seed(text: str) -> int:
    """argparse type of --seed: an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed (an integer from 0 to 4294967295)"
        )
    return value


def _output(text: str) -> Path:
    """argparse type of --output: a folder (made if missing), not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text!r} exists and is not a folder; give a folder for the figures"
        )
    return path


def demo(
    output: Path, n_components: int = 4, quick: bool = False, seed: int = 0
) -> list[Path]:
    """Decompose the simulated data set and save the figures in ``output``.

    Writes ``components.png`` (factors above their maps, calibrated, with
    colour bars; :func:`hyperspy_cnmf.plotting.decomposition.plot_factors_and_maps`)
    and ``convergence.png``; returns their paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
    from hyperspy_cnmf.data import simulated_4dstem
    from hyperspy_cnmf.plotting.convergence import plot_convergence
    from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps
    from hyperspy_cnmf.reproduction import refuse_link
    from hyperspy_cnmf.signals.results import fit_history

    for name in ("components.png", "convergence.png"):  # before any work
        refuse_link(output / name)
    output.mkdir(parents=True, exist_ok=True)
    shape = (24, 24) if quick else (36, 36)
    s = simulated_4dstem(navigation_shape=shape, seed=seed)
    print(f"Simulated data: {s}")
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=n_components,
        n_init=3 if quick else _DEFAULTS["n_init"],
        max_iter=100 if quick else _DEFAULTS["max_iter"],
        compression="auto",
        random_state=seed,
        show_progressbar=True,
    )
    fig = plot_factors_and_maps(
        s, title=f"Constrained NMF of {s.metadata.General.title}"
    )
    written = [_save(fig, output / "components.png")]
    plt.close(fig)
    written.append(
        _save(
            plot_convergence(fit_history(s.learning_results)),
            output / "convergence.png",
        )
    )
    return written


def _prog() -> str:
    """The name the user typed: ``hyperspy-cnmf`` for the installed script,
    else ``python -m hyperspy_cnmf``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "hyperspy-cnmf" if name.startswith("hyperspy-cnmf") else PROG_MODULE


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (``prog`` default: the name the user typed)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog or _prog(),
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_demo = sub.add_parser(
        "demo",
        help="decompose the simulated data, save PNG figures",
        description="Generate the simulated 4D-STEM data set (36 x 36 probe "
        "positions, 128 x 128 detector pixels), decompose it with the "
        f"constrained NMF ({_DEFAULTS['n_init']} restarts, "
        f"{_DEFAULTS['max_iter']} iterations) and save "
        "components.png and convergence.png in the output folder.",
    )
    p_demo.add_argument(
        "--output",
        type=_output,
        default=Path("cnmf_output"),
        metavar="DIR",
        help=OUTPUT_HELP,
    )
    p_demo.add_argument(
        "-k",
        "--n-components",
        type=_components,
        default=4,
        metavar="K",
        help="number of components (default: %(default)s)",
    )
    p_demo.add_argument(
        "--quick",
        action="store_true",
        help="24 x 24 scan, 3 restarts of 100 iterations (seconds, not minutes)",
    )
    p_demo.add_argument("--seed", type=_seed, default=0, help=SEED_HELP)
    p_rep = sub.add_parser(
        "reproduce",
        help="compare PCA, primitive and constrained NMF on the simulated data "
        "(paper Figs. 1, 6, 7); save PNG figures and scores.md",
        description="Run PCA, scikit-learn's NMF, MU and ALS NMF without "
        "constraints, and the ALS with each constraint and both, on the "
        "simulated data; save the paper's Figs. 1, 6 and 7 and scores.md "
        "(scores against the known truth) in the output folder.",
    )
    p_rep.add_argument(
        "--output",
        type=_output,
        default=Path("cnmf_output"),
        metavar="DIR",
        help=OUTPUT_HELP,
    )
    p_rep.add_argument(
        "-k",
        "--k",
        "--n-components",
        dest="n_components",
        type=_components,
        nargs="+",
        default=[4],
        metavar="K",
        help="number(s) of components, e.g. -k 4 6 (default: 4)",
    )
    p_rep.add_argument(
        "--quick", action="store_true", help="fewer restarts and iterations"
    )
    p_rep.add_argument("--seed", type=_seed, default=0, help=SEED_HELP)
    return parser


def main(argv=None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except FileExistsError as error:  # a link in the output folder
        parser.error(str(error))


def _run(args) -> int:
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
    sys.exit(main(prog=PROG_MODULE))
