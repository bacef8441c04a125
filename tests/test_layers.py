"""The layers point only down (docs/ARCHITECTURE.md, "Map"): a module imports modules of its
own layer or of a lower one, never of a higher one. Read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "dedup", "model", "eval", "beam_jobs")

# Highest layer first; a module belongs to the first layer one of whose prefixes it starts with.
TOP, BEAM, STAGE, FOUNDATION = 3, 2, 1, 0
LAYERS = (
    (TOP, ("pipeline.cli", "pipeline.commands", "pipeline.demo", "pipeline.funnel",
           "pipeline.funnel_format", "pipeline.logconf")),
    (FOUNDATION, ("pipeline.io",)),
    (BEAM, ("beam_jobs",)),
    (STAGE, ("pipeline", "dedup", "model", "eval")),
)  # fmt: skip


def layer_of(module: str) -> int:
    for layer, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    raise AssertionError(f"{module} is in no layer")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names imported anywhere in the file (function-level imports included)."""
    names: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))  # fmt: skip
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def _known(name: str, modules: set[str]) -> str | None:
    """The module an imported name refers to (``from pipeline.io import shards`` -> the
    submodule; ``from model.train import train`` -> model.train)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def upward_imports(sources: dict[str, Path]) -> list[str]:
    """Every import of a higher layer among ``sources`` (module name -> file)."""
    upward = []
    for here, path in sources.items():
        for name in imports_of(path, here):
            target = _known(name, set(sources))
            if target and layer_of(target) > layer_of(here):
                upward.append(f"{here} (layer {layer_of(here)}) imports {target} "
                              f"(layer {layer_of(target)})")  # fmt: skip
    return sorted(set(upward))


def repo_sources() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def test_no_module_imports_a_higher_layer():
    assert not (upward := upward_imports(repo_sources())), "\n".join(upward)


def test_the_check_catches_an_import_inside_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from beam_jobs.links_job import run_links\n")
    sources = repo_sources() | {"dedup.probe": probe}
    assert [u for u in upward_imports(sources) if u.startswith("dedup.probe")] == [
        "dedup.probe (layer 1) imports beam_jobs.links_job (layer 2)"
    ]
