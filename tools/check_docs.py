"""Build the documentation and check the pages a reader sees.

Usage, from the repository root (after ``pip install -e ".[docs]"``)::

    python tools/check_docs.py [--output docs/_build/html] [--no-build]

1. ``python -m sphinx -W -b html docs OUTPUT`` (every warning is an error;
   the gallery examples run);
2. no gallery page shows the same image twice (byte-identical PNGs);
3. no page has an empty "Section Navigation" sidebar;
4. no API summary line ends cut at an abbreviation ("Sci.", "Fig.", ...);
5. the figures in ``docs/images`` (README and docs) are what
   ``python tools/make_figures.py`` draws from the current code and
   parameters (its manifest, ``docs/images/figures.json``).

``--figures-only`` runs check 5 alone (no build).

Exits 1 with a list of the problems found.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_figures  # noqa: E402  (tools/make_figures.py)


def build(output: Path) -> None:
    command = [sys.executable, "-m", "sphinx", "-W", "-b", "html", "docs", str(output)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def duplicate_images(output: Path) -> list[str]:
    problems = []
    for page in sorted((output / "auto_examples").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        by_hash = defaultdict(list)
        for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', html):
            if "thumb" in src:
                continue
            path = (page.parent / src).resolve()
            if path.is_file():
                by_hash[hashlib.sha256(path.read_bytes()).hexdigest()].append(src)
        problems += [
            f"{page.name}: the same figure {len(srcs)} times: {', '.join(srcs)}"
            for srcs in by_hash.values()
            if len(set(srcs)) > 1
        ]
    return problems


def empty_sidebars(output: Path) -> list[str]:
    problems = []
    for page in sorted(output.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        match = re.search(
            r'<nav class="bd-docs-nav bd-links"(.*?)</nav>', html, flags=re.S
        )
        if match and "<li" not in match.group(1):
            problems.append(f"{page.relative_to(output)}: empty Section Navigation")
    return problems


def cut_summaries(output: Path) -> list[str]:
    html = (output / "api.html").read_text(encoding="utf-8")
    problems = []
    for row in re.findall(r"<tr class=\"row-(?:odd|even)\">(.*?)</tr>", html, re.S):
        text = re.sub(r"<[^>]+>", "", row).split()
        line = " ".join(text)
        if re.search(r"\b(Sci|Rep|Fig|Figs|eq|eqs|al)\.$", line) or line.count(
            "("
        ) > line.count(")"):
            problems.append(f"api.html: summary cut: {line}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs/_build/html")
    parser.add_argument(
        "--no-build", action="store_true", help="check an existing build only"
    )
    parser.add_argument(
        "--figures-only",
        action="store_true",
        help="only check that docs/images is current (tools/make_figures.py)",
    )
    args = parser.parse_args(argv)
    if args.figures_only:
        problems = make_figures.problems()
        for problem in problems:
            print("PROBLEM:", problem)
        print(f"{len(problems)} problem(s) in docs/images")
        return 1 if problems else 0
    if not args.no_build:
        build(args.output)
    problems = (
        duplicate_images(args.output)
        + empty_sidebars(args.output)
        + cut_summaries(args.output)
        + make_figures.problems()
    )
    for problem in problems:
        print("PROBLEM:", problem)
    print(f"{len(problems)} problem(s) in {args.output}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
