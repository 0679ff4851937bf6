"""Compute the multislice CBED library of :mod:`hyperspy_cnmf.data.realistic`.

Run once, in an environment that has abTEM (it is not a dependency of the
package; the package and its tests only read the result)::

    python -m venv /tmp/venv-abtem && /tmp/venv-abtem/bin/pip install abtem
    /tmp/venv-abtem/bin/python tools/make_realistic_library.py

It writes ``hyperspy_cnmf/data/realistic_library.npz``: for each crystal
phase, the convergent-beam electron diffraction (CBED) pattern of a probe
at one position in the crystal, averaged over frozen-phonon configurations
(so thermal diffuse scattering, TDS, is in it), resampled onto a common
square grid of ``LIBRARY_SCALE`` mrad per pixel centred on the optical axis,
stored as float16 (unit sum over the stored grid). Takes a few minutes on
two cores.

Physics: 200 kV, convergence semi-angle ``SEMIANGLE`` mrad, Lobato
potentials with infinite projection, slices of 2 A, ``NUM_CONFIGS``
Einstein-model frozen phonons (isotropic rms displacement per element).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import abtem
import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from scipy.ndimage import map_coordinates

ENERGY = 200e3  # eV
SEMIANGLE = 3.5  # mrad, convergence semi-angle
LIBRARY_SCALE = 0.625  # mrad per pixel of the stored grid
LIBRARY_HALF_WIDTH = 120.0  # mrad: the stored grid is +-120 mrad
SAMPLING = 0.06  # A, potential sampling (antialiased to 139 mrad at 200 kV)
EXTENT = 30.0  # A, lateral cell: angular sampling lambda / EXTENT = 0.84 mrad
SLICE = 2.0  # A
NUM_CONFIGS = 6


def _oriented(atoms: Atoms, normal) -> Atoms:
    """The crystal with the zone axis ``normal`` along z, orthogonal cell."""
    cell = surface(atoms, tuple(normal), 1, periodic=True)
    return abtem.orthogonalize_cell(cell)


def phases():
    """(name, zone axis, atoms with z along the beam, thickness A, rms u A)."""
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    au = bulk("Au", "fcc", a=4.078, cubic=True)
    mg = bulk("Mg", "hcp", a=3.209, c=5.211)
    return [
        ("Si", "[110]", _oriented(si, (1, 1, 0)), 200.0, {"Si": 0.076}),
        ("Au", "[001]", au, 100.0, {"Au": 0.086}),
        ("Mg", "[0001]", abtem.orthogonalize_cell(mg), 200.0, {"Mg": 0.12}),
    ]


def cbed(atoms: Atoms, thickness: float, sigmas, num_configs: int, extent: float):
    """Mean CBED pattern over frozen phonons, as (pattern, mrad per pixel)."""
    cell = np.diag(atoms.cell)
    reps = [max(1, int(round(extent / cell[0]))), max(1, int(round(extent / cell[1])))]
    reps.append(max(1, int(round(thickness / cell[2]))))
    crystal = atoms * tuple(reps)
    frozen = abtem.FrozenPhonons(
        crystal, num_configs=num_configs, sigmas=sigmas, seed=1
    )
    potential = abtem.Potential(frozen, sampling=SAMPLING, slice_thickness=SLICE)
    probe = abtem.Probe(energy=ENERGY, semiangle_cutoff=SEMIANGLE)
    probe.grid.match(potential)
    ext = potential.extent
    position = (ext[0] / 2 + 0.3, ext[1] / 2 + 0.2)  # between columns
    exit_waves = probe.multislice(potential, scan=[position])
    patterns = exit_waves.diffraction_patterns(max_angle="cutoff", block_direct=False)
    pattern = patterns.mean(0) if num_configs > 1 else patterns
    pattern = pattern.compute()
    arr = np.asarray(pattern.array).reshape(pattern.array.shape[-2:])
    sampling = pattern.angular_sampling  # mrad per pixel (x, y)
    return arr, sampling


def resample(arr, sampling):
    """Onto the library grid (mrad per px = LIBRARY_SCALE), centred, unit sum."""
    n = int(round(2 * LIBRARY_HALF_WIDTH / LIBRARY_SCALE))
    axis = (np.arange(n) - (n - 1) / 2) * LIBRARY_SCALE
    # abTEM's diffraction patterns: fftshifted, zero angle at index size // 2
    ci = arr.shape[0] // 2
    cj = arr.shape[1] // 2
    rows = axis[:, None] / sampling[0] + ci
    cols = axis[None, :] / sampling[1] + cj
    rows, cols = np.broadcast_arrays(rows, cols)
    density = arr / (sampling[0] * sampling[1])
    out = map_coordinates(density, [rows, cols], order=1, mode="constant")
    out = np.clip(out, 0, None)
    return out / out.sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 config, thin, small")
    parser.add_argument(
        "--out",
        default=str(
            Path(__file__).resolve().parents[1]
            / "hyperspy_cnmf"
            / "data"
            / "realistic_library.npz"
        ),
    )
    args = parser.parse_args(argv)
    num_configs = 1 if args.quick else NUM_CONFIGS
    extent = 20.0 if args.quick else EXTENT
    names, axes, patterns, thick = [], [], [], []
    for name, zone, atoms, thickness, sigmas in phases():
        if args.quick:
            thickness = 40.0
        t0 = time.perf_counter()
        arr, sampling = cbed(atoms, thickness, sigmas, num_configs, extent)
        pattern = resample(arr, sampling)
        print(
            f"{name} {zone}: {arr.shape} at {sampling[0]:.3f} mrad/px, "
            f"{thickness:.0f} A, {time.perf_counter() - t0:.1f} s"
        )
        names.append(name)
        axes.append(zone)
        patterns.append(pattern)
        thick.append(thickness)
    stack = np.stack(patterns)
    # float16 keeps ~3 significant digits; scale so the faint TDS stays normal
    scale = np.float64(stack.max(axis=(1, 2), keepdims=True))
    np.savez_compressed(
        args.out,
        patterns=(stack / scale).astype(np.float16),
        scale=scale.ravel(),
        names=np.array(names),
        zone_axes=np.array(axes),
        thickness=np.array(thick),
        mrad_per_px=np.float64(LIBRARY_SCALE),
        semiangle=np.float64(SEMIANGLE),
        energy=np.float64(ENERGY),
        num_configs=np.int64(num_configs),
        abtem_version=np.array(abtem.__version__),
    )
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
