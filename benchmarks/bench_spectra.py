"""Constrained NMF on EDS and EELS spectrum images against HyperSpy's NMF and
espm's SmoothNMF, scored against the ground truth.

Data sets (none of them written for this package except the third):

* ``espm-particles``: espm's EDS generator (``espm.models.
  generate_modular_phases``, ``espm.weights.generate_weights("sphere")``,
  ``espm.datasets.base.generate_spim_sample``) with the phases of espm's
  built-in "particles" data set (a matrix and two particles), 200 kV,
  0.2-10.2 keV at 10 eV, 48 x 48 positions, 500 counts per position,
  Poisson noise; truth: espm's ``GW`` (spectra) and ``H`` (maps);
* ``exspy-EELS_MnFe``: exspy's ``exspy.data.EELS_MnFe`` line scan (Mn and Fe
  L2,3 edges on a power-law background, uniform noise), 64 positions; truth:
  the Mn and the Fe edges, each on the background (plus the noise's mean),
  re-evaluated from the components exspy builds them from, and exspy's
  Mn/Fe fractions (they sum to 1), k = 2;
* ``sim-EELS``: :func:`hyperspy_cnmf.data.simulated_spectrum_image`
  ("EELS": O K, Mn L2,3, Fe L2,3 on a shared power law; 32 x 32 x 600,
  2000 counts per position, Poisson), the example of issue 21.

Methods: ``cnmf``: ``s.decomposition(algorithm="constrained_nmf",
output_dimension=k)`` with every setting at its default on the exspy
signal type (SpectralContinuity, 3x3 map smoothing and the host floors
taken out of the maps; ``random_state`` only); ``cnmf-nospec``: the same
with ``factor_constraints=[]``; ``cnmf-nofloors``: with
``pure_phases=False`` (the floors left in); ``cnmf-counts``: the
defaults on the same whole numbers stored as integers, as a detector
records counts (the float arrays of espm and of the simulation are all
whole numbers, so ``cnmf`` already fits them as counts: the Poisson
likelihood, the kept restart of least deviance and ``scan_binning``; this
row checks that the storage type changes nothing); ``cnmf-exspy``: those
counts in exspy's
class, with its defaults (``EDSTEMSpectrum.decomposition`` passes
``normalize_poissonian_noise=True``); ``hs-NMF``:
``s.decomposition(algorithm="NMF", output_dimension=k)`` (scikit-learn's
NMF, HyperSpy's defaults); ``espm``: ``espm.estimators.SmoothNMF(
n_components=k, lambda_L=2, shape_2d=scan)`` (KL loss, Laplacian map
smoothing, as in espm's examples; no physics model ``G``) on the 2D scans.

Scores, after matching components to the truth by their spectra (Hungarian
on the cosine): the worst spectrum cosine, the worst map cosine and the
worst map Pearson r over the components (centred: the map's shape, blind
to a constant floor under a particle's map, which the cosine sees), and
the deepest dip of a component below its true spectrum (fitted spectrum
scaled to the truth by least squares), in units of the Poisson noise of
the truth's fraction-weighted mean spectrum: how many noise standard
deviations the component falls below the truth.

Run (needs espm and exspy, in a separate environment: espm pins
``hyperspy==2.2.0`` and this package needs HyperSpy 2.5, so install espm
without its pins, then the dependencies it uses)::

    python -m venv venv-spectra && . venv-spectra/bin/activate
    pip install -e . exspy intervaltree tqdm prettytable
    pip install --no-deps espm
    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python benchmarks/bench_spectra.py --seeds 0 1 2

Prints a Markdown table (mean and worst over the seeds).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment


def _unit(a):
    a = np.nan_to_num(np.asarray(a, dtype=float))
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)


def _pearson(a, b):
    """Pearson r of every row of ``a`` with every row of ``b``."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return _unit(a) @ _unit(b).T


def score(spectra, maps, true_spectra, true_maps, expected):
    """Worst spectrum cosine, worst map cosine, worst map Pearson r (the
    shape; a constant floor shows in the cosine only), deepest dip (noise
    std)."""
    cos_s = _unit(true_spectra) @ _unit(spectra).T
    rows, cols = linear_sum_assignment(-cos_s)
    true_maps = true_maps.reshape(len(true_maps), -1)
    maps = np.nan_to_num(maps.reshape(len(maps), -1))
    cos_m = _unit(true_maps) @ _unit(maps).T
    r_m = _pearson(true_maps, maps)
    dips = []
    for r, c in zip(rows, cols, strict=True):
        t, f = true_spectra[r], np.nan_to_num(spectra[c])
        a = float(t @ f) / max(float(f @ f), 1e-300)
        weight = true_maps[r]
        noise = np.sqrt(np.maximum(weight @ expected, 1e-12)) / weight.sum()
        dips.append(float(np.max((t - a * f) / noise)))
    return (
        float(cos_s[rows, cols].min()),
        float(cos_m[rows, cols].min()),
        float(r_m[rows, cols].min()),
        float(max(dips)),
    )


# -- data sets ---------------------------------------------------------------


def espm_particles(seed, shape=(48, 48)):
    import hyperspy.api as hs
    from espm.datasets.base import generate_spim_sample
    from espm.datasets.built_in_EDXS_datasets import (
        particles_misc_dict,
        particles_phases_dict,
    )
    from espm.models.generate_EDXS_phases import generate_modular_phases
    from espm.weights.generate_weights import generate_weights

    phases_dict = dict(particles_phases_dict)
    model_params = dict(phases_dict["model_params"], e_size=1000)
    phases_dict["model_params"] = model_params
    misc = dict(particles_misc_dict, shape_2d=list(shape))
    with contextlib.redirect_stdout(io.StringIO()):
        phases = generate_modular_phases(**phases_dict)
        weights = generate_weights(
            "sphere", list(shape), n_phases=3, seed=seed, radius=shape[0] // 5
        )
        sample = generate_spim_sample(phases, weights, model_params, misc, seed=seed)
    data = np.asarray(sample["X"], dtype=float)  # (rows, cols, E)
    s = hs.signals.Signal1D(data)
    axis = s.axes_manager.signal_axes[0]
    axis.units, axis.name = "keV", "Energy"
    axis.offset, axis.scale = model_params["e_offset"], model_params["e_scale"]
    s.metadata.Signal.signal_type = "EDS_TEM"
    truth_spectra = np.asarray(sample["GW"], float)  # (k, E)
    truth_maps = np.moveaxis(np.asarray(sample["H"], float), -1, 0)  # (k, r, c)
    expected = np.asarray(sample["Xdot"], float).reshape(-1, data.shape[-1])
    return s, truth_spectra, truth_maps, expected, 3


def exspy_eels_mnfe(seed, n=64):
    import exspy
    import hyperspy.api as hs
    from scipy import interpolate

    with contextlib.redirect_stdout(io.StringIO()):
        s = exspy.data.EELS_MnFe(navigation_shape=(n,), random_state=seed)
    x = s.axes_manager.signal_axes[0].axis
    c = exspy.components
    g = hs.model.components1D.Gaussian
    mn = sum(
        comp.function(x)
        for comp in (
            c.EELSArctan(A=1, k=0.2, x0=640),
            g(A=150, centre=640, sigma=4),
            g(A=75, centre=655, sigma=4),
        )
    )
    fe = sum(
        comp.function(x)
        for comp in (
            c.EELSArctan(A=1, k=0.2, x0=708),
            g(A=150, centre=708, sigma=4),
            g(A=50, centre=730, sigma=3),
        )
    )
    background = hs.model.components1D.PowerLaw(A=10e8, r=2.9, origin=0).function(x)
    background = background + 0.35  # the mean of exspy's uniform(0, 0.7) noise
    frac_mn = interpolate.interp1d(np.arange(5), [1, 1, 0.75, 0.5, 0])(
        np.linspace(0, 4, n)
    )
    frac_fe = 1 - frac_mn
    # Mn + Fe = 1 everywhere: the background is part of both phases (with
    # a third, constant, background map the truth would not be identifiable)
    truth_spectra = np.array([mn + background, fe + background])
    truth_maps = np.array([frac_mn, frac_fe])
    expected = truth_maps.T @ truth_spectra
    s.data = np.clip(s.data, 0, None)
    return s, truth_spectra, truth_maps, expected, 2


def sim_eels(seed, shape=(32, 32)):
    from hyperspy_cnmf.data import simulated_spectrum_image

    s = simulated_spectrum_image("EELS", shape, random_state=seed)
    sim = s.metadata.Simulation
    expected = np.tensordot(sim.maps, sim.spectra, axes=(0, 0)).reshape(
        -1, sim.spectra.shape[1]
    )
    return s, np.asarray(sim.spectra), np.asarray(sim.maps), expected, 3


DATASETS = {
    "espm-particles": espm_particles,
    "exspy-EELS_MnFe": exspy_eels_mnfe,
    "sim-EELS": sim_eels,
}

# -- methods -------------------------------------------------------------------


def run_cnmf(s, k, seed, **kwargs):
    import hyperspy_cnmf  # noqa: F401

    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=k,
        random_state=seed,
        print_info=False,
        show_progressbar=False,
        **kwargs,
    )
    lr = s.learning_results
    return lr.factors.T, lr.loadings.T


def as_counts(s):
    """``s`` with its data as integers where they are whole numbers (espm's
    and the simulation's float arrays), as a detector records counts."""
    data = np.asarray(s.data)
    if np.array_equal(data, np.round(data)):
        s = s.deepcopy()
        s.data = data.astype(np.int64)
    return s


def run_cnmf_counts(s, k, seed):
    return run_cnmf(as_counts(s), k, seed)


def run_cnmf_exspy(s, k, seed):
    """The counts in exspy's own class (``EDSTEMSpectrum``, ``EELSSpectrum``)
    with its defaults: ``EDSTEMSpectrum.decomposition`` passes
    ``normalize_poissonian_noise=True`` and a vacuum mask."""
    s = as_counts(s)
    s.set_signal_type(s.metadata.Signal.signal_type)
    return run_cnmf(s, k, seed)


def run_hs_nmf(s, k, seed):
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(
            algorithm="NMF", output_dimension=k, random_state=seed, print_info=False
        )
    lr = s.learning_results
    return lr.factors.T, lr.loadings.T


def run_espm(s, k, seed):
    from espm.estimators import SmoothNMF

    nav = s.axes_manager.navigation_shape[::-1]
    X = np.asarray(s.data, float).reshape(-1, s.data.shape[-1]).T  # (E, pixels)
    shape_2d = nav if len(nav) == 2 else None
    estimator = SmoothNMF(
        n_components=k,
        lambda_L=2.0 if shape_2d else 0.0,
        shape_2d=shape_2d,
        random_state=seed,
        verbose=0,
    )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spectra = estimator.fit_transform(X)  # (E, k)
    return spectra.T, estimator.H_


METHODS = {
    "cnmf": lambda s, k, seed: run_cnmf(s, k, seed),
    "cnmf-nospec": lambda s, k, seed: run_cnmf(s, k, seed, factor_constraints=[]),
    "cnmf-nofloors": lambda s, k, seed: run_cnmf(s, k, seed, pure_phases=False),
    "cnmf-counts": run_cnmf_counts,
    "cnmf-exspy": run_cnmf_exspy,
    "hs-NMF": run_hs_nmf,
    "espm": run_espm,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args(argv)
    rows = []
    for name in args.datasets:
        for method in args.methods:
            results = []
            for seed in args.seeds:
                s, spectra, maps, expected, k = DATASETS[name](seed)
                start = time.perf_counter()
                factors, loadings = METHODS[method](s, k, seed)
                elapsed = time.perf_counter() - start
                results.append(
                    (*score(factors, loadings, spectra, maps, expected), elapsed)
                )
                print(f"# {name} {method} seed {seed}: {results[-1]}", flush=True)
            r = np.array(results)
            rows.append(
                f"| {name} | {method} | {r[:, 0].mean():.3f} ({r[:, 0].min():.3f}) "
                f"| {r[:, 1].mean():.3f} ({r[:, 1].min():.3f}) "
                f"| {r[:, 2].mean():.3f} ({r[:, 2].min():.3f}) "
                f"| {r[:, 3].mean():.1f} ({r[:, 3].max():.1f}) "
                f"| {r[:, 4].mean():.1f} |"
            )
    print(
        "\n| data | method | worst spectrum cosine, mean (worst) "
        "| worst map cosine, mean (worst) | worst map Pearson r, mean (worst) "
        "| deepest dip / noise std, mean (worst) | time (s) |"
        "\n|---|---|---|---|---|---|---|"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
