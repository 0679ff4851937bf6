"""Hand-off of merged crystalline components to pyxem's orientation mapping.

A simulated scan with two crystalline phases whose lattices are those of two
simple structures seen down a zone axis (simple cubic [001]: a square
lattice; simple hexagonal [0001]: a hexagonal lattice), each at a known
in-plane rotation, is decomposed, clustered and merged; the merged
diffractions then go through pyxem's ``get_azimuthal_integral2d`` and
``get_orientation`` against a bank of both phases simulated by diffsims.
The phase and the in-plane rotation of each crystal must come back.

Angle conventions (checked on the noise-free true patterns below): the
simulator measures rotations from the column axis towards increasing row
(rows go down); pyxem measures them with y pointing up (pyxem issue #925),
and reports the rotation of its template, whose first-order spots sit at
the azimuth ``template_azimuth`` (0 deg for the cubic [001] template, 30 deg
for the hexagonal [0001] one). Hence ``simulator angle = -(rotation +
template_azimuth)`` modulo the lattice's rotational symmetry (90 or 60 deg).
Both lattices have a mirror line through a first-order spot, so a mirrored
match (factor -1) gives the same angle.
"""

import numpy as np
import pytest

pytest.importorskip("diffsims", reason="orientation mapping needs diffsims")
pytest.importorskip("orix", reason="orientation mapping needs orix")
pytest.importorskip("diffpy.structure", reason="the phases need diffpy.structure")

from diffpy.structure import Atom, Lattice, Structure  # noqa: E402
from diffsims.generators.simulation_generator import SimulationGenerator  # noqa: E402
from orix.crystal_map import Phase  # noqa: E402
from orix.quaternion import Rotation  # noqa: E402

import hyperspy_cnmf  # noqa: E402, F401
from hyperspy_cnmf.data import simulated_4dstem  # noqa: E402
from hyperspy_cnmf.data.simulated import crystalline_pattern  # noqa: E402
from hyperspy_cnmf.scoring import cosine_similarity_matrix  # noqa: E402

from .signals.synthetic import as_lazy  # noqa: E402

#: First-order reflection of both phases, 1/Å (a = 5 Å cubic; a = 2 / (sqrt(3) g)
#: hexagonal).
G_FIRST = 0.2
SIGNAL_SHAPE = (64, 64)
#: Detector calibration, 1/Å per pixel (0.2 1/nm, the simulator's default).
SCALE = 0.02
#: Lattice spacing in units of the detector half-width R, as the simulator takes it.
SPACING = G_FIRST / SCALE / (min(SIGNAL_SHAPE) / 2)
#: Phase index in the bank -> (simulator lattice, symmetry period, template azimuth).
BANK = {0: ("square", 90.0, 0.0), 1: ("hexagonal", 60.0, 30.0)}
TRUE_ROTATIONS = {"hexagonal": 17.0, "square": 28.0}
TOLERANCE_DEG = 2.0  # the polar images have 1 degree bins


def _bank():
    a_hex = 2.0 / (np.sqrt(3.0) * G_FIRST)
    cubic = Structure(
        [Atom("Au", [0, 0, 0])],
        Lattice(1 / G_FIRST, 1 / G_FIRST, 1 / G_FIRST, 90, 90, 90),
    )
    hexagonal = Structure(
        [Atom("Au", [0, 0, 0])], Lattice(a_hex, a_hex, 4.0, 90, 90, 120)
    )
    phases = [
        Phase("simple cubic", space_group=221, structure=cubic),
        Phase("simple hexagonal", space_group=191, structure=hexagonal),
    ]
    generator = SimulationGenerator(200, minimum_intensity=1e-4)
    # zone axes [001] and [0001] (the identity); pyxem searches the in-plane
    # rotation itself
    return generator.calculate_diffraction2d(
        phases,
        rotation=[Rotation.identity(), Rotation.identity()],
        reciprocal_radius=0.65,
        max_excitation_error=0.02,
        with_direct_beam=False,
    )


def _to_inverse_angstrom(signal):
    """Copy of ``signal`` with its 1/nm detector axes in 1/Å (diffsims' unit)."""
    out = signal.deepcopy()
    for ax in out.axes_manager.signal_axes:
        assert ax.units == "1/nm"
        ax.scale, ax.offset, ax.units = ax.scale / 10, ax.offset / 10, "1/Å"
    return out


def _orientation(diffractions, bank):
    polar = _to_inverse_angstrom(diffractions).get_azimuthal_integral2d(
        npt=64, npt_azim=360, mean=True, inplace=False, show_progressbar=False
    )
    return polar.get_orientation(bank, n_best=1, show_progressbar=False).data[:, 0]


def _simulator_angle(rotation, phase):
    _, period, template_azimuth = BANK[phase]
    return (-(rotation + template_azimuth)) % period


def _angle_error(a, b, period):
    d = (a - b) % period
    return min(d, period - d)


@pytest.fixture(scope="module")
def bank():
    return _bank()


def _simulated():
    return simulated_4dstem(
        navigation_shape=(24, 24),
        signal_shape=SIGNAL_SHAPE,
        reciprocal_scale=SCALE * 10,
        lattices=(("hexagonal", SPACING), ("square", SPACING)),
        rotations=(TRUE_ROTATIONS["hexagonal"], TRUE_ROTATIONS["square"]),
        crystallinity=(0.5, 0.2),
        seed=5,
    )


def _merged(s):
    """Decompose, cluster and merge ``s``; return it and the diffractions."""
    s.decomposition(
        algorithm="constrained_nmf",
        output_dimension=4,
        n_init=2,
        max_iter=100,
        random_state=0,
        print_info=False,
        show_progressbar=False,
    )
    s.cluster_components()
    diffractions, _ = s.get_cluster_components()
    return s, diffractions


@pytest.fixture(scope="module")
def merged():
    return _merged(_simulated())


def test_lazy_signal_gives_the_same_merged_diffractions(merged):
    """The chain on the lazy twin of the signal (the one shared lazy case of
    this module: the fit is its slow part) hands off the same patterns."""
    _, diffractions = merged
    s, lazy_diffractions = _merged(as_lazy(_simulated()))
    assert s._lazy and not lazy_diffractions._lazy
    np.testing.assert_allclose(
        lazy_diffractions.data, diffractions.data, rtol=1e-5, atol=1e-9
    )


def test_conventions_on_true_patterns(bank):
    """pyxem finds the phase and angle of noise-free simulator patterns."""
    from pyxem.signals import ElectronDiffraction2D

    cases = [(kind, angle) for kind in ("square", "hexagonal") for angle in (-20, 40)]
    patterns = [
        crystalline_pattern(SIGNAL_SHAPE, kind, SPACING, angle)[0]
        for kind, angle in cases
    ]
    s = ElectronDiffraction2D(np.stack(patterns).astype(np.float32))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = SCALE * 10, "1/nm"
    s.calibration.center = None
    for (kind, angle), (index, _, rotation, _) in zip(
        cases, _orientation(s, bank), strict=True
    ):
        phase = int(index)
        assert BANK[phase][0] == kind
        found = _simulator_angle(rotation, phase)
        assert _angle_error(found, angle, BANK[phase][1]) <= TOLERANCE_DEG


def test_merged_components_give_phase_and_rotation(merged, bank):
    s, diffractions = merged
    truth = s.metadata.Simulation
    true_patterns = np.asarray(truth.true_patterns)
    cosine = cosine_similarity_matrix(np.nan_to_num(diffractions.data), true_patterns)
    result = _orientation(diffractions, bank)
    amorphous = int(cosine[:, 0].argmax())
    for c, kind in enumerate(("hexagonal", "square"), start=1):
        cluster = int(cosine[:, c].argmax())
        assert cluster != amorphous
        assert cosine[cluster, c] > 0.95
        index, correlation, rotation, _ = result[cluster]
        phase = int(index)
        assert BANK[phase][0] == kind
        found = _simulator_angle(rotation, phase)
        assert _angle_error(found, TRUE_ROTATIONS[kind], BANK[phase][1]) <= (
            TOLERANCE_DEG
        )
        # a crystal matches its template better than the amorphous rings do
        assert correlation > 2 * result[amorphous, 1]


# -- the helper: match_orientations / orientation_ready --------------------------


def _pattern_signal(patterns, units="1/nm"):
    from pyxem.signals import ElectronDiffraction2D

    s = ElectronDiffraction2D(np.stack(patterns).astype(np.float32))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = SCALE * (10 if units == "1/nm" else 1), units
    s.calibration.center = None
    return s


@pytest.mark.parametrize("units", ["1/nm", "1/Å"])
def test_match_orientations_angles_and_handedness(bank, units):
    """The helper returns the simulator's angle at several angles, for both
    a pattern and its mirror image (the other handedness: angle -> -angle),
    in both output conventions, with no hand-written bookkeeping."""
    from hyperspy_cnmf.signals.orientation import match_orientations

    angles = (-20.0, 13.0, 40.0)
    cases = [
        (kind, angle, mirrored)
        for kind in ("square", "hexagonal")
        for angle in angles
        for mirrored in (False, True)
    ]
    patterns = []
    for kind, angle, mirrored in cases:
        pattern = crystalline_pattern(SIGNAL_SHAPE, kind, SPACING, angle)[0]
        # a left-right mirror (x -> -x about the middle) turns angle into
        # 180 - angle, i.e. -angle modulo the lattice's symmetry
        patterns.append(pattern[:, ::-1] if mirrored else pattern)
    s = _pattern_signal(patterns, units)
    before = s.axes_manager.signal_axes[0].scale
    image = match_orientations(s, bank)
    pyxem_frame = match_orientations(s, bank, handedness="pyxem")
    assert s.axes_manager.signal_axes[0].scale == before  # the signal untouched
    for i, (kind, angle, mirrored) in enumerate(cases):
        phase = int(image.template[i])
        assert BANK[phase][0] == kind
        period = BANK[phase][1]
        assert image.period[i] == period
        expected = -angle if mirrored else angle
        assert _angle_error(image.angle[i], expected, period) <= TOLERANCE_DEG
        assert _angle_error(pyxem_frame.angle[i], -expected, period) <= TOLERANCE_DEG
        # the hand-written bookkeeping it replaces
        manual = _simulator_angle(image.rotation[i], phase)
        assert _angle_error(image.angle[i], manual, period) <= 1e-6


def test_orientation_ready_refuses_what_it_cannot_hand_off():
    from pyxem.signals import ElectronDiffraction2D

    from hyperspy_cnmf.signals.orientation import orientation_ready, template_symmetry

    s = ElectronDiffraction2D(np.ones((2, 16, 16), dtype=np.float32))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.2, "1/nm"
    with pytest.raises(ValueError, match=r"s\.calibration\.center = None"):
        orientation_ready(s)
    s.calibration.center = None
    s.axes_manager.signal_axes[0].units = "px"
    with pytest.raises(ValueError, match="not a reciprocal length"):
        orientation_ready(s)
    # symmetry of a template read from its spots
    theta = np.deg2rad([30.0, 90.0, 150.0, 210.0, 270.0, 330.0])
    azimuth, period = template_symmetry(np.full(6, 0.2), theta, np.ones(6))
    assert period == 60.0 and azimuth % 60.0 == pytest.approx(30.0)
    azimuth, period = template_symmetry([0.2, 0.2], np.deg2rad([10.0, 190.0]), [1, 1])
    assert period == 180.0
