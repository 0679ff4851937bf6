"""
Hand-off to pyxem's orientation mapping
=======================================

The merged crystalline components of a constrained NMF are clean
single-crystal diffractions, free of the amorphous rings: exactly what
template matching wants. This example takes them through pyxem's orientation
mapping (``get_azimuthal_integral2d`` then ``get_orientation``) against a
bank of two phases simulated with diffsims, and recovers the phase and the
in-plane rotation of each crystal.

The scan is the package's simulation with two crystalline phases whose
lattices are those of two simple structures seen down a zone axis: a square
lattice (simple cubic, a = 5 Å, [001]) at 28 degrees and a hexagonal lattice
(simple hexagonal, first reflection at 0.2 1/Å, [0001]) at 17 degrees.
"""

# sphinx_gallery_thumbnail_number = 2

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np
from diffpy.structure import Atom, Lattice, Structure
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.crystal_map import Phase
from orix.quaternion import Rotation

import hyperspy_cnmf  # noqa: F401  (enables algorithm="constrained_nmf")
from hyperspy_cnmf.data import simulated_4dstem
from hyperspy_cnmf.plotting.decomposition import plot_factors_and_maps

# %%
# A scan with two known crystals
# ------------------------------
# Both phases have their first reflection at g = 0.2 1/Å. The detector is
# calibrated at 0.2 1/nm = 0.02 1/Å per pixel, so g is 10 pixels, i.e.
# 10/32 of the detector half-width (the unit the simulator takes).

g_first = 0.2  # 1/Å
scale = 0.02  # 1/Å per pixel
spacing = g_first / scale / 32
true_rotation = {"hexagonal": 17.0, "square": 28.0}

s = simulated_4dstem(
    navigation_shape=(24, 24),
    signal_shape=(64, 64),
    reciprocal_scale=10 * scale,  # 1/nm per pixel
    lattices=(("hexagonal", spacing), ("square", spacing)),
    rotations=(true_rotation["hexagonal"], true_rotation["square"]),
    crystallinity=(0.5, 0.2),
    seed=5,
)
print(s.metadata.Simulation.component_names)

# %%
# Decompose, cluster, merge
# -------------------------
# One component more than there are phases: NMF splits the amorphous matrix
# in two, and the clustering merges it back. ``get_cluster_components``
# returns the merged diffractions as an ``ElectronDiffraction2D`` with the
# detector calibration and beam centre of ``s``.

s.decomposition(
    algorithm="constrained_nmf",
    output_dimension=4,
    n_init=2,
    max_iter=100,
    random_state=0,
    print_info=False,
    show_progressbar=False,
)
print(s.cluster_components())
diffractions, maps = s.get_cluster_components()
fig = plot_factors_and_maps(s, title="Constrained NMF factors and maps")

# %%
# A bank of simulated templates
# -----------------------------
# diffsims simulates the kinematical diffraction of each phase (an orix
# ``Phase`` built from a diffpy ``Structure``) at a set of orientations. Here
# one orientation per phase, the zone axis [001] / [0001]: pyxem's
# ``get_orientation`` searches the in-plane rotation itself. A real bank
# would sample the fundamental sector, e.g.
# ``orix.sampling.get_sample_reduced_fundamental(resolution=1,
# point_group=phase.point_group)``.

a_hex = 2 / (np.sqrt(3) * g_first)
phases = [
    Phase(
        "simple cubic",
        space_group=221,
        structure=Structure([Atom("Au", [0, 0, 0])], Lattice(5, 5, 5, 90, 90, 90)),
    ),
    Phase(
        "simple hexagonal",
        space_group=191,
        structure=Structure(
            [Atom("Au", [0, 0, 0])], Lattice(a_hex, a_hex, 4, 90, 90, 120)
        ),
    ),
]
bank = SimulationGenerator(200, minimum_intensity=1e-4).calculate_diffraction2d(
    phases,
    rotation=[Rotation.identity(), Rotation.identity()],
    reciprocal_radius=0.65,
    max_excitation_error=0.02,
    with_direct_beam=False,
)

# %%
# Orientation mapping of the merged components
# --------------------------------------------
# ``diffractions.match_orientations(bank)`` does the bookkeeping: it converts
# the detector axes from 1/nm to diffsims' 1/Å (the beam centre, an offset,
# scales with them), resamples the patterns on a polar grid about the
# calibrated centre with 1 degree azimuthal bins
# (``diffractions.get_orientation_ready()``, which ``get_orientation(bank)``
# takes), runs pyxem's template matching and turns pyxem's template rotation
# (y up, pyxem issue #925) into the in-plane angle of each crystal: the
# direction of the template's reference spot from the x axis, clockwise on
# screen (``handedness="image"``, as images are drawn and as the simulator
# takes ``rotations``), modulo the template's rotational symmetry. The
# amorphous cluster matches no template well (low correlation): a threshold
# on the correlation tells crystals from the rest.

match = diffractions.match_orientations(bank)
template = {0: "square", 1: "hexagonal"}
for c in range(len(match.template)):
    i = int(match.template[c])
    line = (
        f"cluster {c}: {phases[i].name:16s} correlation {match.correlation[c]:.3f}, "
        f"in-plane angle {match.angle[c]:4.1f} deg (mod {match.period[c]:.0f})"
    )
    if match.correlation[c] > 0.3:
        line += f", true {true_rotation[template[i]]:.0f} deg"
    else:
        line += " (not a crystal)"
    print(line)
result = np.stack(
    [match.template, match.correlation, match.rotation, match.mirror], axis=1
)  # pyxem's own columns: index, correlation, rotation, mirror

# %%
# The matched templates over the merged diffractions
# --------------------------------------------------
# Each template spot at (r, theta) in pyxem's frame, rotated by the found
# angle, lands at column ``cx + r cos / scale`` and row ``cy - r sin / scale``
# (y up). The crystalline clusters have their spots under the template; the
# amorphous one has none.

r_t, theta_t, intensity_t = bank.polar_flatten_simulations()
cx, cy = diffractions.calibration.center
n = len(result)
fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), layout="constrained")
for c, ax in enumerate(axes):
    index, correlation, rotation, mirror = result[c]
    i = int(index)
    keep = intensity_t[i] > 0
    phi = mirror * theta_t[i][keep] + np.deg2rad(rotation)
    cols = cx + r_t[i][keep] * np.cos(phi) / scale
    rows = cy - r_t[i][keep] * np.sin(phi) / scale
    ax.imshow(np.sqrt(np.clip(np.nan_to_num(diffractions.data[c]), 0, None)))
    ax.scatter(cols, rows, s=60, facecolors="none", edgecolors="w", linewidths=0.8)
    ax.set_xlim(-0.5, 63.5)
    ax.set_ylim(63.5, -0.5)
    ax.set_title(f"cluster {c}: {phases[i].name}\ncorrelation {correlation:.2f}")
    ax.set_axis_off()

# %%
# The summed maps of the clusters say where each crystal is; together with
# the orientation found for each cluster they make a phase and orientation
# map of the scan without matching every (mixed, noisy) pattern.

axes = hs.plot.plot_images(
    maps,
    label=[f"cluster {c}" for c in range(n)],
    cmap="viridis",
    colorbar="multi",
    axes_decor="off",
    scalebar="all",
    suptitle="Summed maps of the clusters",
    tight_layout=True,
)
