"""The numerical core stays plain array code: no HyperSpy or pyxem import."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "hyperspy_cnmf" / "core"
FORBIDDEN = ("hyperspy", "pyxem", "rsciio", "matplotlib")


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_hyperspy(path):
    bad = [m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.name} imports {bad}"


def test_core_runs_with_hyperspy_unimportable(tmp_path):
    """Load the core modules as a stand-alone package with HyperSpy blocked."""
    script = f"""
import importlib.util, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {FORBIDDEN!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
spec = importlib.util.spec_from_file_location(
    "core", {str(CORE / "__init__.py")!r}, submodule_search_locations=[{str(CORE)!r}]
)
core = importlib.util.module_from_spec(spec)
sys.modules["core"] = core
spec.loader.exec_module(core)
import numpy as np
X = np.random.default_rng(0).uniform(size=(20, 12))
print(core.ConstrainedNMF(2, n_init=1, max_iter=5).fit(X).components_.shape)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "(2, 12)" in out.stdout
