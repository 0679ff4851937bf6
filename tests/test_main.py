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
