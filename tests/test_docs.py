"""Docs honesty: the README lists every setting and subcommand; the ERD's entities are real models.

README format checked here: a `## Configuration` section whose Markdown table has `` `ENV_VAR` `` names
in its first column, and each subcommand mentioned as `shoplake <cmd>` somewhere in the README.
"""

from __future__ import annotations

import argparse
import re

import yaml

from pipelines.cli import build_parser
from pipelines.settings import ENV_VARS, REPO_ROOT

README = REPO_ROOT / "README.md"
ERD = REPO_ROOT / "docs" / "erd.md"
MODELS = REPO_ROOT / "transforms" / "models"


def _configuration_table_names(text: str) -> set[str]:
    match = re.search(r"^## Configuration\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "README.md has no `## Configuration` section"
    names = set()
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if cells and (name := re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])):
            names.add(name.group(1))
    return names


def _subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert actions, "the CLI has no subcommands"
    return set(actions[0].choices)


def test_every_env_var_is_in_the_readme_configuration_table():
    documented = _configuration_table_names(README.read_text(encoding="utf-8"))
    missing = sorted(set(ENV_VARS) - documented)
    assert not missing, f"README.md configuration table lacks {missing}"


def test_every_subcommand_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    missing = sorted(cmd for cmd in _subcommands() if not re.search(rf"shoplake {re.escape(cmd)}\b", text))
    assert not missing, f"README.md never mentions {', '.join(f'shoplake {c}' for c in missing)}"


def _model_yaml() -> tuple[set[str], dict[str, dict]]:
    """Model names (from .sql files) and the YAML entry of each documented model."""
    names = {p.stem for p in MODELS.rglob("*.sql")}
    documented = {}
    for path in MODELS.rglob("_*__models.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            documented[model["name"]] = model
    return names, documented


def _tests_on(model: dict, column: str) -> list:
    col = next((c for c in model.get("columns", []) if c["name"] == column), None)
    return (col or {}).get("data_tests", []) if col else []


def test_erd_entities_and_keys_exist_as_models():
    text = ERD.read_text(encoding="utf-8")
    diagram = re.search(r"```mermaid\s*\nerDiagram\n(.*?)```", text, flags=re.S)
    assert diagram, "docs/erd.md has no Mermaid erDiagram"
    body = diagram.group(1)
    entities = dict(re.findall(r"^\s*(\w+) \{\n(.*?)^\s*\}", body, flags=re.M | re.S))
    assert len(entities) >= 4
    names, documented = _model_yaml()
    for entity, attributes in entities.items():
        assert entity in names, f"ERD entity {entity} is not a dbt model"
        assert entity in documented, f"ERD entity {entity} has no YAML entry"
        for column, keys in re.findall(r"^\s*\w+ (\w+) (PK|FK|PK,FK)\s*$", attributes, flags=re.M):
            tests = _tests_on(documented[entity], column)
            assert tests, f"ERD key {entity}.{column} is not a tested column of the model"
            if "PK" in keys:
                assert {"unique", "not_null"} <= {t for t in tests if isinstance(t, str)}, f"{entity}.{column}"
    relationships = re.findall(r'^\s*(\w+) \|\|--o\{ (\w+) : "(\w+)"', body, flags=re.M)
    assert relationships, "ERD has no relationships"
    for parent, child, column in relationships:
        refs = [t["relationships"]["arguments"]["to"] for t in _tests_on(documented[child], column)
                if isinstance(t, dict) and "relationships" in t]  # fmt: skip
        assert f"ref('{parent}')" in refs, f"ERD line {parent} -> {child}.{column} has no relationships test"
