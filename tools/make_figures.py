"""Draw every figure that the README and the docs show, from the current code.

Usage, from the repository root::

    python tools/make_figures.py           # draw them all, write the manifest
    python tools/make_figures.py --check   # exit 1 if a committed figure is stale
    python tools/make_figures.py --smoke   # quick settings into a temporary
                                           # folder: the plumbing, no figures kept

The figures are those of ``python -m hyperspy_cnmf demo`` (the headline
``demo_components.png``) and ``python -m hyperspy_cnmf reproduce -k 4 6``
(paper Figs. 1, 6, 7, 9), with the package's defaults and seed 0, copied to
``docs/images/``. ``docs/images/figures.json`` records what drew them: a
fingerprint (SHA-256) of the parameters below, the package version and the
source of the package (``hyperspy_cnmf/**/*.py`` but the GUI), and the
SHA-256 of each PNG. ``--check`` (also run by ``tools/check_docs.py``)
fails when the code or the parameters have changed since, or when a PNG
is not the one recorded: then run this script again and commit the
figures with the manifest. The scores of the same run are written to
``docs/images/reproduce_scores.md`` (the README's tables).

Drawing everything takes a few minutes on 2 cores (the full ``reproduce``
settings at k = 4 and 6, and the full-size demo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MANIFEST = IMAGES / "figures.json"
PACKAGE = ROOT / "hyperspy_cnmf"

#: What is drawn, and how: every figure is a file that a command writes.
PARAMETERS = {
    "demo": {"n_components": 4, "quick": False, "seed": 0},
    "reproduce": {"n_components": [4, 6], "quick": False, "seed": 0},
    "realistic": {"random_state": 0, "doses": [3000, 100]},
}
#: docs/images/<name> <- (command, file that the command writes).
FIGURES = {
    "demo_components.png": ("demo", "components.png"),
    "reproduce_fig1_k4.png": ("reproduce", "k4/fig1_pca_nmf_constrained.png"),
    "reproduce_fig6_k4.png": ("reproduce", "k4/fig6_constraints.png"),
    "reproduce_fig7_k6.png": ("reproduce", "k6/fig7_convergence.png"),
    "reproduce_fig9_k6.png": ("reproduce", "k6/fig9_clustering.png"),
    "realistic_simulation.png": ("realistic", "realistic_simulation.png"),
}
SCORES = "reproduce_scores.md"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_files() -> list[Path]:
    """The package source that can change a figure (all but the GUI)."""
    return sorted(
        p
        for p in PACKAGE.rglob("*.py")
        if "gui" not in p.relative_to(PACKAGE).parts and "__pycache__" not in p.parts
    )


def package_version() -> str:
    text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def inputs_fingerprint() -> str:
    """SHA-256 of the parameters, the package version and its source."""
    digest = hashlib.sha256()
    digest.update(json.dumps(PARAMETERS, sort_keys=True).encode())
    digest.update(json.dumps(FIGURES, sort_keys=True).encode())
    digest.update(package_version().encode())
    for path in source_files():
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scipy", "scikit-learn", "matplotlib", "hyperspy", "pyxem"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            out[name] = None
    return out


def draw(workdir: Path, quick: bool = False) -> dict[str, Path]:
    """Run the commands into ``workdir``; return {docs name: drawn file}.

    ``quick``: the commands' ``--quick`` settings (a smoke test of this
    script; such figures are never committed)."""
    sys.path.insert(0, str(ROOT))
    import matplotlib

    matplotlib.use("Agg")
    from hyperspy_cnmf.__main__ import demo
    from hyperspy_cnmf.reproduction import reproduce

    demo(workdir / "demo", **{**PARAMETERS["demo"], "quick": quick})
    options = PARAMETERS["reproduce"]
    reproduce(
        workdir / "reproduce",
        tuple(options["n_components"]),
        quick=quick or options["quick"],
        seed=options["seed"],
    )
    draw_realistic(workdir / "realistic", **PARAMETERS["realistic"])
    return {
        name: workdir / command / produced
        for name, (command, produced) in FIGURES.items()
    }


def draw_realistic(folder: Path, random_state: int, doses) -> None:
    """The user guide's picture of the realistic simulation: true patterns
    (log scale), maps and grains, glass speckle at three positions, one
    minor-grain pattern at each dose, the direct-beam mask."""
    import matplotlib.pyplot as plt
    import numpy as np

    from hyperspy_cnmf.data.realistic import simulate_realistic_arrays

    folder.mkdir(parents=True, exist_ok=True)
    sim = simulate_realistic_arrays(random_state=random_state, keep_glass=True)
    minor = [
        simulate_realistic_arrays(random_state=random_state, dose=dose)
        for dose in doses
    ]
    k = len(sim.component_names)
    fig, axes = plt.subplots(3, k + 1, figsize=(2.1 * (k + 1), 6.6))

    def show(ax, image, title="", log=False, cmap="inferno"):
        image = np.asarray(image, dtype=np.float64)
        ax.imshow(
            np.log1p(image / max(image.max(), 1e-300) * 1e3) if log else image,
            cmap=cmap,
        )
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])

    for j, name in enumerate(sim.component_names):
        label = "glass (mean)" if j == 0 else name
        show(axes[0, j], sim.patterns[j], label, log=True)
        show(axes[1, j], sim.maps[j], cmap="viridis")
    axes[0, k].axis("off")
    show(axes[1, k], sim.labels, "grains", cmap="tab10")
    cols = sim.navigation_shape[1]
    grain = np.argwhere(sim.maps[-1] == sim.maps[-1].max())[0]
    for j, (r, c) in enumerate(((0, 0), (0, 1), (0, min(20, cols - 1)))):
        glass = sim.glass[r * cols + c]  # (n_nav, rows, cols)
        show(axes[2, j], glass, f"glass at ({r}, {c})", log=True)
    for j, (dose, counts) in enumerate(zip(doses, minor, strict=True), start=3):
        pattern = counts.data.reshape(-1, *sim.signal_shape)[grain[0] * cols + grain[1]]
        show(axes[2, j], pattern, f"minor grain, {dose}", True)
    show(axes[2, k], sim.mask, "mask", cmap="gray")
    fig.tight_layout()
    fig.savefig(folder / "realistic_simulation.png", dpi=90)
    plt.close(fig)


def make() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        drawn = draw(Path(tmp))
        figures = {}
        for name, path in drawn.items():
            shutil.copyfile(path, IMAGES / name)
            figures[name] = _sha256((IMAGES / name).read_bytes())
            print(f"wrote docs/images/{name}")
        shutil.copyfile(Path(tmp) / "reproduce" / "scores.md", IMAGES / SCORES)
        print(f"wrote docs/images/{SCORES}")
    manifest = {
        "command": "python tools/make_figures.py",
        "inputs_sha256": inputs_fingerprint(),
        "package_version": package_version(),
        "parameters": PARAMETERS,
        "libraries": _library_versions(),
        "figures": figures,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {MANIFEST.relative_to(ROOT)}")


def problems() -> list[str]:
    """Why the committed figures are not what this script would draw now."""
    fix = "run `python tools/make_figures.py` and commit docs/images"
    if not MANIFEST.is_file():
        return [f"the manifest {MANIFEST.name} is missing: {fix}"]
    manifest = json.loads(MANIFEST.read_text())
    found = []
    if manifest.get("inputs_sha256") != inputs_fingerprint():
        found.append(
            "the figures in docs/images were drawn by other code or parameters "
            f"(package {manifest.get('package_version')}; inputs "
            f"{str(manifest.get('inputs_sha256'))[:12]} != now "
            f"{inputs_fingerprint()[:12]}): {fix}"
        )
    recorded = manifest.get("figures", {})
    for name in FIGURES:
        path = IMAGES / name
        if name not in recorded:
            found.append(f"docs/images/{name} is not in the manifest: {fix}")
        elif not path.is_file():
            found.append(f"docs/images/{name} is missing: {fix}")
        elif _sha256(path.read_bytes()) != recorded[name]:
            found.append(
                f"docs/images/{name} is not the figure the manifest records "
                f"(edited by hand?): {fix}"
            )
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the committed figures are current",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run the commands with --quick settings in a temporary folder and "
        "check that every figure is drawn; docs/images is not touched",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            missing = [
                name
                for name, path in draw(Path(tmp), quick=True).items()
                if not path.is_file()
            ]
        for name in missing:
            print("NOT DRAWN:", name)
        print("smoke test:", "failed" if missing else "every figure drawn")
        return 1 if missing else 0
    if not args.check:
        make()
    found = problems()
    for problem in found:
        print("STALE:", problem)
    if args.check and not found:
        print("figures current: " + ", ".join(FIGURES))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
