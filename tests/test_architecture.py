"""The package's shape, checked from its source: every import points down a layer (or stays in its own),
no module imports itself back through others, and no module grows past one job's size.

Layers, bottom to top: the root plumbing (paths, files, cli, runtime) < data < models < recommend < report
< stages. The seven scripts sit above them all and never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "moodpipe"
LAYERS = ["", "data", "models", "recommend", "report", "stages"]  # "" = the root plumbing
SCRIPTS = ["main", "mobilebert_project", "predict_sample", "generate_graphs", "lyrics_emotion", "recommend",
           "crawl_melon"]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """moodpipe.paths -> 0; moodpipe.models.heads -> 2; moodpipe.data -> 1."""
    parts = module.split(".")
    sub = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""
    return LAYERS.index(sub)


def imported_modules(path: Path) -> set[str]:
    """Every moodpipe module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("moodpipe")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moodpipe"):
            for alias in node.names:  # `from moodpipe.models import heads` imports moodpipe.models.heads
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).is_file() else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_layer_names_match_the_folders():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set(LAYERS) - {""}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_a_layer(module):
    up = [m for m in imported_modules(MODULES[module]) if layer_of(m) > layer_of(module)]
    assert not up, f"{module} (layer {LAYERS[layer_of(module)] or 'root'}) imports a layer above it: {up}"


def test_no_import_cycles():
    graph = {m: {i for i in imported_modules(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            assert state.get(n) != 1, f"import cycle: {' -> '.join(trail + [m, n])}"
            if n not in state:
                visit(n, trail + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_module_is_past_one_jobs_size():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_script_imports_another(script):
    tree = ast.parse((REPO / f"{script}.py").read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & set(SCRIPTS), f"{script}.py imports {names & set(SCRIPTS)}"


def test_layer_of_reads_the_folder():
    assert [layer_of(m) for m in ("moodpipe.paths", "moodpipe.data", "moodpipe.models.heads",
                                  "moodpipe.stages.pipeline")] == [0, 1, 2, 5]
