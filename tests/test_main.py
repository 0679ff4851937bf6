"""The command line: help a user can read, the right program name, the demo."""

import re
import sys

import matplotlib
import pytest

from hyperspy_cnmf import __main__ as cli

matplotlib.use("Agg")

COMMANDS = ["demo", "reproduce"]


def _help(capsys, argv, prog=None):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"], prog=prog)
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["demo"], ["reproduce"]])
def test_help_is_plain_text(capsys, argv):
    text = _help(capsys, argv)
    # No reST markup: double back-quotes, roles, or directive syntax.
    assert "``" not in text
    assert not re.search(r":(func|class|mod|meth):", text)
    assert "usage: python -m hyperspy_cnmf" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command):
    parser = cli.build_parser()
    (subparsers,) = [a for a in parser._actions if a.dest == "command"]
    sub = subparsers.choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"
    assert {"--output", "--seed", "--quick"} <= {
        option for action in sub._actions for option in action.option_strings
    }


@pytest.mark.parametrize(
    ("argv0", "prog"),
    [
        ("/venv/bin/hyperspy-cnmf", "hyperspy-cnmf"),
        ("C:\\venv\\Scripts\\hyperspy-cnmf.exe", "hyperspy-cnmf"),
        ("/src/hyperspy_cnmf/__main__.py", "python -m hyperspy_cnmf"),
    ],
)
def test_program_name_is_the_one_typed(monkeypatch, capsys, argv0, prog):
    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setattr(cli.os.path, "basename", lambda p: re.split(r"[\\/]", p)[-1])
    text = _help(capsys, [])
    assert f"usage: {prog} " in text
    assert f"{prog} demo --quick" in text


def test_demo_writes_its_figures(tmp_path, monkeypatch, capsys):
    import hyperspy_cnmf.data

    simulate = hyperspy_cnmf.data.simulated_4dstem

    def small(navigation_shape, seed=0):  # the demo's data, scaled down
        return simulate((6, 6), (24, 24), area_size=2, seed=seed)

    monkeypatch.setattr(hyperspy_cnmf.data, "simulated_4dstem", small)
    assert cli.main(["demo", "--quick", "-k", "2", "--output", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["components.png", "convergence.png"]
    assert "wrote" in capsys.readouterr().out


def _small_demo(monkeypatch):
    import hyperspy_cnmf.data

    simulate = hyperspy_cnmf.data.simulated_4dstem

    def small(navigation_shape, seed=0):
        return simulate((6, 6), (24, 24), area_size=2, seed=seed)

    monkeypatch.setattr(hyperspy_cnmf.data, "simulated_4dstem", small)


def test_demo_with_one_component(tmp_path, monkeypatch):
    """k = 1 plots (HyperSpy returns a single component without a
    navigation axis; issue 19)."""
    _small_demo(monkeypatch)
    assert cli.main(["demo", "--quick", "-k", "1", "--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "components.png",
        "convergence.png",
    ]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["demo", "-k", "0"], "'0' is not a number of components"),
        (["demo", "-k", "two"], "'two' is not a number of components"),
        (["reproduce", "-k", "4", "-3"], "'-3' is not a number of components"),
        (["demo", "--seed", "-1"], "'-1' is not a seed"),
        (["reproduce", "--seed", "4294967296"], "is not a seed"),
    ],
)
def test_bad_arguments_are_reported_by_argparse(tmp_path, capsys, argv, match):
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--output", str(output)])
    assert exit_.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not output.exists()  # no empty folder left behind


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--output", str(target)])
    assert exit_.value.code == 2
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep"


def test_no_write_through_a_planted_link(tmp_path, monkeypatch, capsys):
    _small_demo(monkeypatch)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    output = tmp_path / "out"
    output.mkdir()
    (output / "components.png").symlink_to(outside)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--quick", "--output", str(output)])
    assert exit_.value.code == 2
    assert "symbolic link" in capsys.readouterr().err
    assert outside.read_text() == "keep"


def test_reproduce_refuses_a_linked_folder(tmp_path):
    from hyperspy_cnmf.reproduction import refuse_link, reproduce

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    output = tmp_path / "out"
    output.mkdir()
    (output / "k4").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(FileExistsError, match="symbolic link"):
        refuse_link(output / "k4")
    with pytest.raises(FileExistsError, match="symbolic link"):
        reproduce(
            output,
            [4],
            quick=True,
            progress=False,
            simulation=dict(navigation_shape=(6, 6), signal_shape=(24, 24)),
        )
    assert list(elsewhere.iterdir()) == []
