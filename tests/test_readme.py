"""The README's commands are what CI runs, and they point at real entry points."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_ci_runs_the_readme_test_command_verbatim():
    commands = readme_commands()
    test_commands = [c for c in commands if "pytest" in c]
    assert len(test_commands) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_commands[0] in ci_lines


def test_main_command_names_an_existing_subcommand():
    from hyperspy_cnmf.__main__ import main

    main_command = next(c for c in readme_commands() if "python -m hyperspy_cnmf" in c)
    subcommand = main_command.split("python -m hyperspy_cnmf", 1)[1].split()[0]
    try:
        main([subcommand, "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
