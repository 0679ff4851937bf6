"""Minor phases and low dose on the realistic simulation, method against method.

Run from the repository root::

    python benchmarks/bench_minor_phases.py            # 48x48x128x128, 3 seeds
    python benchmarks/bench_minor_phases.py --quick    # 24x24x64x64, 1 seed
    python benchmarks/bench_minor_phases.py --extra 'loss="poisson"'

On :func:`hyperspy_cnmf.data.realistic_4dstem` (multislice crystals in a
glass whose speckle differs at every position: Si [110] 30 %, Au [001] at
two rotations 10 % each, a 4 % Mg [0001] grain), at seeds that no test uses
(101, 102, 103) and doses of about 3000, 300 and 100 counts per pattern
outside the masked direct beam, with ``k`` one above the true number of
components (6), the same signal goes, in the same run, to

* ``defaults``: ``s.decomposition(algorithm="constrained_nmf",
  output_dimension=k, random_state=seed)`` after ``import hyperspy_cnmf``;
* ``paper``: the same with the paper's protocol, ``compression=None,
  prune_restarts=False, n_iter_no_change=None, pure_phases=False``;
* ``hs NMF``: HyperSpy's ``algorithm="NMF"`` (scikit-learn's NMF, its
  defaults);
* ``sk KL``: scikit-learn's ``NMF(beta_loss="kullback-leibler",
  solver="mu", max_iter=500)`` passed as the algorithm;
* one row per ``--extra`` keyword set, added to the defaults' call (e.g.
  ``--extra 'loss="poisson"'``).

Every call gets the direct-beam mask as ``signal_mask`` (the constrained
NMF would take it from ``s.calibration.mask`` anyway); HyperSpy's
decomposition refuses integer data for its own algorithms, so those two get
a float32 copy, the constrained NMF the uint16 counts. Scores, per true
component, from :func:`hyperspy_cnmf.scoring.score_decomposition` (Hungarian
matching on pattern cosine against the masked truth): map cosine, map
Pearson correlation and pattern cosine; ``minor``: the minor grain found
(its map's Pearson correlation >= 0.9); ``groups``: ``s.cluster_components()``
(defaults of the call) puts the matched components in exactly the true phase
grouping (rotations of one phase together, every other phase alone);
``worst phase r (merged)``: per true phase, the Pearson correlation of the
merged map of its cluster (every component in the cluster of the phase's
matched component, weighted by its counts) against the phase's true map
(summed over rotations), the worst phase, so that a phase split over two
components the clustering joins counts as found; ``worst rotation r
(clustered)``: the same per true component (a phase at one rotation), with
only the cluster's members that the clustering puts at the component's
rotation (within 5 degrees, mod 180;
:func:`hyperspy_cnmf.scoring.clustered_map_pearson`), so the two Au
rotations stay apart while a grain split over two components of one pattern
is joined; ``ARI``:
adjusted Rand index of all k cluster labels against the phase of each
component's best-matching truth; ``model/data``: the model's total counts
over the data's, outside the mask
(:func:`hyperspy_cnmf.scoring.model_count_ratio`); ``time``: the
decomposition's wall time (the machine may be shared: compare within a run).
A markdown table per dose (means over seeds; ``minor`` and ``groups`` as
counts) is printed and everything is written to
``benchmarks/results/bench_minor_phases.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

import hyperspy_cnmf  # noqa: F401  (registers algorithm="constrained_nmf")
from hyperspy_cnmf.data import FAST, realistic_4dstem
from hyperspy_cnmf.scoring import (
    clustered_map_pearson,
    model_count_ratio,
    score_decomposition,
)

SEEDS = (101, 102, 103)
DOSES = (3000.0, 300.0, 100.0)
FULL = {"navigation_shape": (48, 48), "signal_shape": (128, 128)}
MINOR_THRESHOLD = 0.9
QUIET = {"show_progressbar": False}  # no effect on the fit


def parse_extra(text):
    """``'loss="poisson", n_init=4'`` -> ``{"loss": "poisson", "n_init": 4}``."""
    call = ast.parse(f"f({text})", mode="eval").body
    if call.args:
        raise ValueError(f"--extra takes keyword=value pairs only, got {text!r}")
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def methods(extras):
    """(label, decomposition keyword arguments builder) for every method."""
    from sklearn.decomposition import NMF

    out = [
        ("defaults", lambda k, seed: {"algorithm": "constrained_nmf", **QUIET}),
        (
            "paper",
            lambda k, seed: {
                "algorithm": "constrained_nmf",
                **QUIET,
                "compression": None,
                "prune_restarts": False,
                "n_iter_no_change": None,
                "pure_phases": False,
            },
        ),
        ("hs NMF", lambda k, seed: {"algorithm": "NMF"}),
        (
            "sk KL",
            lambda k, seed: {
                "algorithm": NMF(
                    n_components=k,
                    beta_loss="kullback-leibler",
                    solver="mu",
                    max_iter=500,
                    random_state=seed,
                )
            },
        ),
    ]
    for text in extras:
        kwargs = parse_extra(text)
        out.append(
            (
                f"defaults + {text}",
                lambda k, seed, kw=kwargs: {
                    "algorithm": "constrained_nmf",
                    **QUIET,
                    **kw,
                },
            )
        )
    return out


def grouping(labels, matching, truth):
    """Whether the matched components are clustered as the true phases, and ARI."""
    from sklearn.metrics import adjusted_rand_score

    phase = np.asarray(truth["component_phase"])
    pairs = matching.pairs
    matched_labels = np.asarray(labels)[pairs[:, 0]]
    matched_phase = phase[pairs[:, 1]]
    same_label = matched_labels[:, None] == matched_labels[None, :]
    same_phase = matched_phase[:, None] == matched_phase[None, :]
    best_truth = np.argmax(matching.similarity, axis=1)
    ari = adjusted_rand_score(phase[best_truth], labels)
    return bool(np.array_equal(same_label, same_phase)), float(ari)


def phase_map_pearson(labels, loadings, factors, matching, truth):
    """Per true phase: Pearson correlation of its cluster's merged map (the
    model's counts per position of every component in the cluster of the
    phase's first matched component) against the phase's true map (the sum
    over its rotations). A phase split over two components that the
    clustering puts together is found at this level."""
    labels = np.asarray(labels)
    phase = np.asarray(truth["component_phase"])
    true_maps = np.asarray(truth["true_maps"], dtype=np.float64)
    true_maps = true_maps.reshape(len(true_maps), -1)
    found = matching.recovered_for_true
    weights = factors.reshape(len(factors), -1).sum(axis=1)
    out = []
    for p in dict.fromkeys(phase.tolist()):
        members = np.flatnonzero(phase == p)
        cluster = np.flatnonzero(labels == labels[found[members[0]]])
        merged = loadings[cluster].T @ weights[cluster]
        out.append(float(np.corrcoef(merged, true_maps[members].sum(axis=0))[0, 1]))
    return out


def run_one(s, label, kwargs, k, seed, truth):
    mask = np.asarray(truth["mask"], dtype=bool)
    s = s.deepcopy()
    if kwargs["algorithm"] != "constrained_nmf":
        s.change_dtype("float32")  # HyperSpy refuses integer data for its own
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(
            output_dimension=k,
            random_state=seed,
            signal_mask=mask,
            print_info=False,
            **kwargs,
        )
    seconds = time.perf_counter() - start
    lr = s.learning_results
    rows, cols = mask.shape
    factors = np.nan_to_num(np.asarray(lr.factors, dtype=np.float64)).T
    loadings = np.asarray(lr.loadings, dtype=np.float64).T
    nav = np.asarray(truth["true_maps"]).shape[1:]
    factors = factors.reshape(k, rows, cols)
    score = score_decomposition(factors, loadings.reshape((k,) + nav), truth)
    data_total = float(np.asarray(s.data)[..., ~mask].sum(dtype=np.float64))
    factors[:, mask] = 0
    ratio = model_count_ratio(factors, loadings, data_total)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clusters = s.cluster_components()
        groups_ok, ari = grouping(clusters.labels, score["matching"], truth)
        cluster_labels = clusters.labels.tolist()
        phase_r = phase_map_pearson(
            clusters.labels, loadings, factors, score["matching"], truth
        )
        rotation_r = clustered_map_pearson(
            loadings.reshape((k,) + nav),
            factors.reshape(k, -1).sum(axis=1),
            clusters.labels,
            clusters.rotation,
            truth["true_maps"],
            score["matching"],
        ).tolist()
    except Exception as exc:  # report, do not stop the benchmark
        groups_ok, ari, cluster_labels = False, float("nan"), repr(exc)
        phase_r = rotation_r = [float("nan")]
    minor = len(truth["component_names"]) - 1  # the last phase: the minor grain
    return {
        "method": label,
        "seed": seed,
        "seconds": seconds,
        "map_cosine": score["map_cosine"].tolist(),
        "map_pearson": score["map_pearson"].tolist(),
        "pattern_cosine": score["pattern_cosine"].tolist(),
        "minor_found": bool(score["map_pearson"][minor] >= MINOR_THRESHOLD),
        "groups_ok": groups_ok,
        "ari": ari,
        "cluster_labels": cluster_labels,
        "recovered_for_true": score["matching"].recovered_for_true.tolist(),
        "best_pattern_cosine": score["best_pattern_cosine"].tolist(),
        "model_count_ratio": ratio,
        "phase_map_pearson": phase_r,
        "rotation_map_pearson": rotation_r,
    }


def table(records, names, dose):
    """Markdown table of one dose: mean over seeds per method."""
    short = [n.replace("amorphous", "glass") for n in names]
    head = (
        "| method | "
        + " | ".join(f"{n} map cos / r / pat" for n in short)
        + " | minor | groups | ARI | worst phase r (merged) "
        + "| worst rotation r (clustered) | model/data "
        + "| time (s) |"
    )
    lines = [
        f"dose {dose:g} counts per pattern outside the direct beam",
        "",
        head,
        "|" + "---|" * (len(names) + 8),
    ]
    for method in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == method]
        mean = {
            key: np.nanmean([r[key] for r in rs], axis=0)
            for key in ("map_cosine", "map_pearson", "pattern_cosine")
        }
        cells = [
            f"{mean['map_cosine'][j]:.2f} / {mean['map_pearson'][j]:.2f} / "
            f"{mean['pattern_cosine'][j]:.2f}"
            for j in range(len(names))
        ]
        n = len(rs)
        lines.append(
            f"| {method} | "
            + " | ".join(cells)
            + f" | {sum(r['minor_found'] for r in rs)}/{n}"
            + f" | {sum(r['groups_ok'] for r in rs)}/{n}"
            + f" | {np.nanmean([r['ari'] for r in rs]):.2f}"
            + f" | {np.nanmean([min(r['phase_map_pearson']) for r in rs]):.2f}"
            + f" | {np.nanmean([min(r['rotation_map_pearson']) for r in rs]):.2f}"
            + f" | {np.mean([r['model_count_ratio'] for r in rs]):.3f}"
            + f" | {np.mean([r['seconds'] for r in rs]):.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="24x24x64x64, one seed (101)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--doses", type=float, nargs="+", help="override the doses")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="keyword set added to the defaults' call, e.g. 'loss=\"poisson\"'",
    )
    parser.add_argument(
        "--methods", nargs="+", help="run only these labels (e.g. defaults paper)"
    )
    args = parser.parse_args(argv)
    size = FAST if args.quick else FULL
    seeds = args.seeds or ((SEEDS[0],) if args.quick else SEEDS)
    doses = args.doses or DOSES
    chosen = [
        m for m in methods(args.extra) if not args.methods or m[0] in args.methods
    ]
    records, tables = [], []
    for dose in doses:
        per_dose = []
        for seed in seeds:
            start = time.perf_counter()
            s = realistic_4dstem(**size, dose=dose, random_state=seed)
            build = time.perf_counter() - start
            truth = s.metadata.Simulation.as_dictionary()
            k = len(truth["component_names"]) + 1
            for label, make in chosen:
                rec = run_one(s, label, make(k, seed), k, seed, truth)
                rec.update(dose=dose, k=k, build_seconds=build)
                per_dose.append(rec)
                print(
                    f"dose {dose:g} seed {seed} {label}: {rec['seconds']:.1f} s, "
                    f"maps r {np.round(rec['map_pearson'], 2).tolist()}, "
                    f"phases r (merged) "
                    f"{np.round(rec['phase_map_pearson'], 2).tolist()}, "
                    f"rotations r (clustered) "
                    f"{np.round(rec['rotation_map_pearson'], 2).tolist()}",
                    flush=True,
                )
        tables.append(table(per_dose, truth["component_names"], dose))
        records.extend(per_dose)
    print()
    print(
        f"Realistic simulation {size['navigation_shape']} x "
        f"{size['signal_shape']}, k = {k}, seeds {list(seeds)}; truth: "
        f"{truth['component_names']} (phase groups {truth['phase_groups']}, "
        f"area fractions {np.round(truth['fractions'], 3).tolist()})"
    )
    for t in tables:
        print()
        print(t)
    out = Path(__file__).with_name("results") / "bench_minor_phases.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "size": {k_: list(v) for k_, v in size.items()},
                "seeds": list(seeds),
                "doses": list(doses),
                "extras": args.extra,
                "machine": platform.platform(),
                "records": records,
            },
            indent=1,
        )
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
