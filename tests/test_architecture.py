"""The import layers of docs/architecture.md hold: no part of `pipelines/` imports a part of its own or a higher layer.

The layers are read from the document's table, so the document and this check cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "pipelines"
DOC = REPO_ROOT / "docs" / "architecture.md"

# (importing module, imported module) -> why this upward import is allowed. Each must still occur.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("pipelines.stream.wiring", "pipelines.batch.contract"): (
        "the clickstream references customers and products: its customer_id/product_id take the key "
        "types their batch contracts declare (issue 12), read where the writer is wired"
    ),
}


@dataclass(frozen=True)
class Import:
    module: str  # importing module, e.g. pipelines.quality.checks
    target: str  # imported module, e.g. pipelines.warehouse.dbt
    file: Path
    line: int


def layers_from_doc(text: str) -> dict[str, int]:
    """part -> layer, from the `| layer | parts | ... |` table of the Layers section."""
    section = re.search(r"^## Layers.*?$(.*?)(?=^## )", text, flags=re.M | re.S)
    assert section, "docs/architecture.md has no `## Layers` section"
    layers: dict[str, int] = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if len(cells) >= 2 and cells[0].isdigit():
            for part in re.findall(r"`(\w+)`", cells[1]):
                assert part not in layers, f"{part} is in two layers"
                layers[part] = int(cells[0])
    assert layers, "the Layers table lists no parts"
    return layers


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PACKAGE) -> list[Import]:
    """Every `pipelines` import in a file, at any depth (function-level and TYPE_CHECKING ones too)."""
    module = module_name(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                targets = [f"{base}.{node.module}"] if node.module else [f"{base}.{a.name}" for a in node.names]
            elif node.module and node.module.split(".")[0] == "pipelines":
                targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "pipelines"]
        found += [Import(module, t, path, node.lineno) for t in targets]
    return found


def part_of(module: str) -> str:
    """The part a module belongs to: its folder under pipelines/, or the root module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pipelines"


def violations(imports: list[Import], layers: dict[str, int]) -> list[str]:
    problems = []
    for imp in imports:
        source, target = part_of(imp.module), part_of(imp.target)
        if source == target or target == "pipelines" or (imp.module, imp.target) in EXCEPTIONS:
            continue
        where = f"{imp.file.relative_to(REPO_ROOT)}:{imp.line}"
        if source not in layers or target not in layers:
            unknown = source if source not in layers else target
            problems.append(f"{where}: part `{unknown}` is in no layer of docs/architecture.md")
        elif layers[target] >= layers[source] and not (layers[source] == layers[target] == 1):
            problems.append(
                f"{where}: {imp.module} (layer {layers[source]}) imports {imp.target} (layer {layers[target]})"
            )
    return problems


@pytest.fixture(scope="module")
def all_imports() -> list[Import]:
    return [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in imports_of(path)]


def test_imports_follow_the_documented_layers(all_imports: list[Import]) -> None:
    problems = violations(all_imports, layers_from_doc(DOC.read_text(encoding="utf-8")))
    assert not problems, "imports that cross the layers of docs/architecture.md:\n" + "\n".join(problems)


def test_every_part_is_in_a_layer() -> None:
    layers = layers_from_doc(DOC.read_text(encoding="utf-8"))
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert not sorted(parts - set(layers)), f"parts missing from the Layers table: {sorted(parts - set(layers))}"


def test_exceptions_are_still_needed(all_imports: list[Import]) -> None:
    used = {(imp.module, imp.target) for imp in all_imports}
    assert not [pair for pair in EXCEPTIONS if pair not in used], "remove stale exceptions"


def test_the_check_catches_an_upward_import_and_an_unknown_part(tmp_path: Path) -> None:
    layers = {"lake": 1, "batch": 3, "warehouse": 4}
    upward = Import("pipelines.batch.ingest", "pipelines.warehouse.dbt", PACKAGE / "batch" / "ingest.py", 7)
    sideways = Import("pipelines.batch.ingest", "pipelines.newpart.x", PACKAGE / "batch" / "ingest.py", 8)
    downward = Import("pipelines.warehouse.dbt", "pipelines.batch.ledger", PACKAGE / "warehouse" / "dbt.py", 9)
    problems = violations([upward, sideways, downward], layers)
    assert problems == [
        "pipelines/batch/ingest.py:7: pipelines.batch.ingest (layer 3) imports pipelines.warehouse.dbt (layer 4)",
        "pipelines/batch/ingest.py:8: part `newpart` is in no layer of docs/architecture.md",
    ]
    # relative imports resolve to their part: `from ..warehouse import dbt` inside pipelines/batch/
    source = tmp_path / "pipelines" / "batch" / "mod.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from ..warehouse import dbt\n    from . import ledger\n")
    found = [(i.module, i.target, i.line) for i in imports_of(source, tmp_path / "pipelines")]
    assert found == [
        ("pipelines.batch.mod", "pipelines.warehouse", 2),
        ("pipelines.batch.mod", "pipelines.batch.ledger", 3),
    ]
