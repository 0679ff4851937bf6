"""The package's layers: core <- adapter <- surfaces, no cycles, core alone.

* ``core/`` is array code: it imports nothing of HyperSpy, pyxem,
  rosettasciio or matplotlib, and nothing of the package outside ``core/``;
* ``signals/`` (the adapter) imports the core and itself;
* ``plotting/``, ``scoring`` and ``data/`` take arrays: they import the core,
  never the adapter;
* the surfaces (GUI, CLI, reproduction, the package ``__init__``) may import
  anything, and nothing imports them back;
* no module imports, directly or through others, itself (module-level and
  function-level imports alike).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hyperspy_cnmf"
THIRD_PARTY_FORBIDDEN_IN_CORE = ("hyperspy", "pyxem", "rsciio", "matplotlib")

# layer -> the package layers it may import
ALLOWED = {
    "core": {"core"},
    "signals": {"core", "signals"},
    "plotting": {"core", "plotting"},
    "scoring": {"core"},
    "data": {"core", "data"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_imports(path: Path):
    """Absolute names of everything ``path`` imports, resolving relative imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module
            for alias in node.names:  # "from . import x" may name a module
                yield f"{module}.{alias.name}"


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph():
    edges = {}
    for name, path in MODULES.items():
        targets = {m for m in package_imports(path) if m in MODULES and m != name}
        edges[name] = targets
    return edges


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("name", sorted(MODULES), ids=str)
def test_module_imports_only_lower_layers(name):
    allowed = ALLOWED.get(layer(name))
    if allowed is None:  # a surface
        return
    bad = sorted(t for t in graph()[name] if layer(t) not in allowed)
    assert not bad, f"{name} ({layer(name)}) imports {bad}"


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name
)
def test_core_imports_no_hyperspy_pyxem_or_matplotlib(path):
    bad = [
        m
        for m in package_imports(path)
        if m.split(".")[0] in THIRD_PARTY_FORBIDDEN_IN_CORE
    ]
    assert not bad, f"{path.name} imports {bad}"


def test_no_import_cycles():
    edges = graph()
    state = {}  # name -> "visiting" | "done"

    def visit(node, stack):
        state[node] = "visiting"
        for target in sorted(edges[node]):
            if state.get(target) == "visiting":
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_layer_rules_see_real_imports():
    """The graph is not empty by mistake: known edges are found."""
    edges = graph()
    assert "hyperspy_cnmf.core.solver" in edges["hyperspy_cnmf.core.estimator"]
    assert (
        "hyperspy_cnmf.core.estimator" in edges["hyperspy_cnmf.signals.decomposition"]
    )


BLOCKED_RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # import fails, importlib.util.find_spec gives None
import numpy as np
import hyperspy_cnmf
from hyperspy_cnmf.core import ConstrainedNMF, Geometry, constrained_nmf
assert not hasattr(hyperspy_cnmf, "decomposition"), "signal layer loaded"
rng = np.random.default_rng(0)
X = rng.uniform(size=(6 * 5, 12 * 12))
geometry = Geometry(signal_shape=(12, 12), navigation_shape=(6, 5))
model = ConstrainedNMF(2, geometry=geometry, n_init=2, max_iter=5, random_state=0)
maps = model.fit_transform(X)
print(sorted(type(c).__name__ for c in model.factor_constraints_ + model.loading_constraints_))
print(constrained_nmf(X, 2, n_init=1, max_iter=3).factors.shape)
print(sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m]))
"""


def test_package_imports_and_fits_without_hyperspy_pyxem_rsciio():
    blocked = ["hyperspy", "pyxem", "rsciio", "matplotlib", "traits"]
    script = BLOCKED_RUN.format(blocked=blocked)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "['GaussianSmoothing', 'RadialContinuity']"
    assert lines[1] == "(144, 2)"
    assert lines[2] == "[]"
