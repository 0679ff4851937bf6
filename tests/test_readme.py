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


def _make_figures():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_figures", ROOT / "tools" / "make_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_figure_shown_is_drawn_by_make_figures():
    shown = set()
    written = sorted(
        page
        for page in (ROOT / "docs").rglob("*.rst")
        if not {"auto_examples", "_build"} & set(page.parts)  # built by Sphinx
    )
    for page in [ROOT / "README.md", *written]:
        shown |= set(re.findall(r"images/([\w.-]+\.png)", page.read_text()))
    assert shown, "no figure found in README/docs"
    assert shown <= set(_make_figures().FIGURES)


def test_figure_check_fails_on_stale_or_edited_figures(tmp_path, monkeypatch):
    mf = _make_figures()
    monkeypatch.setattr(mf, "IMAGES", tmp_path)
    monkeypatch.setattr(mf, "MANIFEST", tmp_path / "figures.json")
    assert "missing" in mf.problems()[0]
    figures = {}
    for name in mf.FIGURES:
        (tmp_path / name).write_bytes(name.encode())
        figures[name] = mf._sha256(name.encode())
    manifest = {"inputs_sha256": mf.inputs_fingerprint(), "figures": figures}
    (tmp_path / "figures.json").write_text(__import__("json").dumps(manifest))
    assert mf.problems() == []
    (tmp_path / "demo_components.png").write_bytes(b"edited")
    assert any("edited by hand" in p for p in mf.problems())
    manifest["inputs_sha256"] = "0" * 64  # drawn by other code
    (tmp_path / "figures.json").write_text(__import__("json").dumps(manifest))
    assert any("other code or parameters" in p for p in mf.problems())


def test_readme_tables_have_one_header():
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"(?:^\|.*\n)+", text, flags=re.M):
        headers = [line for line in block.splitlines() if line.startswith("|---")]
        assert len(headers) == 1, block[:200]
