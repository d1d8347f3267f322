"""The dbt project's own rules, read from its files: contracted and described marts, keys typed by
configuration, shared descriptions written once, no layer reading a layer above it, no copies of
dbt's materializations."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml

from pipelines.settings import REPO_ROOT

PROJECT = REPO_ROOT / "transforms"
MODELS = PROJECT / "models"
CONTRACTS = REPO_ROOT / "pipelines" / "contracts"
LAYERS = {"staging": 0, "intermediate": 1, "marts": 2}
KEY_TYPE = "{{{{ var('key_data_types')['{}'] }}}}"
# contract column type -> the SQL type a key of that type has in the warehouse (both targets)
SQL_KEY_TYPES = {"bigint": "bigint", "string": "varchar"}


def _project() -> dict:
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text(encoding="utf-8"))


def _model_files() -> dict[str, Path]:
    return {p.stem: p for p in MODELS.rglob("*.sql")}


def _yaml_models() -> dict[str, tuple[Path, dict]]:
    out = {}
    for path in MODELS.rglob("_*__models.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            out[model["name"]] = (path, model)
    return out


def _marts() -> dict[str, dict]:
    documented = _yaml_models()
    marts = {name: path for name, path in _model_files().items() if "marts" in path.relative_to(MODELS).parts}
    assert marts, "no models under models/marts"
    missing = sorted(set(marts) - set(documented))
    assert not missing, f"marts without a YAML entry: {missing}"
    return {name: documented[name][1] for name in marts}


def test_one_models_yaml_per_folder_next_to_its_models() -> None:
    for name, (path, _) in _yaml_models().items():
        model = _model_files().get(name)
        assert model is not None, f"{path} documents {name}, which has no .sql file"
        assert model.parent == path.parent, f"{name} is documented in {path}, not in its own folder"
        assert path.name == f"_{path.parent.name}__models.yml"
    folders = [p.parent for p in MODELS.rglob("_*__models.yml")]
    assert len(folders) == len(set(folders)), "a folder has more than one models YAML"


def test_every_mart_has_an_enforced_contract_with_typed_described_columns() -> None:
    marts_config = _project()["models"]["shoplake"]["marts"]
    assert marts_config["+contract"] == {"enforced": True}
    for name, model in _marts().items():
        assert (model.get("config") or {}).get("contract", {}).get("enforced", True), f"{name} opts out"
        assert "contract" not in _model_files()[name].read_text(encoding="utf-8"), f"{name} configures its contract"
        columns = model.get("columns") or []
        assert columns, f"{name} declares no columns"
        for column in columns:
            assert str(column.get("data_type") or "").strip(), f"{name}.{column['name']} has no data_type"
            assert str(column.get("description") or "").strip(), f"{name}.{column['name']} has no description"


def test_key_columns_take_their_type_from_the_key_data_types_var() -> None:
    keys = _project()["vars"]["key_data_types"]
    seen = set()
    for name, model in _marts().items():
        for column in model["columns"]:
            if column["name"] in keys:
                seen.add(column["name"])
                assert column["data_type"] == KEY_TYPE.format(column["name"]), f"{name}.{column['name']}"
    assert seen == set(keys), f"keys never used in a mart: {set(keys) - seen}"


def test_key_type_defaults_equal_the_shipped_contracts() -> None:
    """dbt_project.yml's defaults are what pipelines/contracts declare (a shop's own contracts pass theirs)."""
    keys = _project()["vars"]["key_data_types"]
    declared: dict[str, set[str]] = defaultdict(set)
    for path in CONTRACTS.glob("*.yml"):
        for column in yaml.safe_load(path.read_text(encoding="utf-8"))["columns"]:
            if column["name"] in keys:
                declared[column["name"]].add(SQL_KEY_TYPES[column["type"]])
    assert set(declared) == set(keys)
    assert {key: {sql_type} for key, sql_type in keys.items()} == dict(declared)


def _doc_blocks() -> set[str]:
    names = set()
    for path in MODELS.rglob("*.md"):
        names |= set(re.findall(r"{%-?\s*docs\s+(\w+)\s*-?%}", path.read_text(encoding="utf-8")))
    return names


def test_columns_shared_by_marts_are_described_once_in_doc_blocks() -> None:
    blocks = _doc_blocks()
    descriptions: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, model in _marts().items():
        for column in model["columns"]:
            descriptions[column["name"]].append((name, column["description"]))
    for column, uses in descriptions.items():
        for model, text in uses:
            for block in re.findall(r"doc\('(\w+)'\)", text):
                assert block in blocks, f"{model}.{column} refers to a missing doc block {block!r}"
        if len(uses) > 1:
            inline = [model for model, text in uses if "{{ doc(" not in text]
            assert not inline, f"{column} is in {len(uses)} marts but described inline in {inline}"


def _refs(sql: str) -> set[str]:
    return set(re.findall(r"ref\(\s*'(\w+)'\s*\)", sql))


def test_no_model_reads_a_layer_above_its_own() -> None:
    files = _model_files()
    layer = {name: LAYERS[path.relative_to(MODELS).parts[0]] for name, path in files.items()}
    for name, path in files.items():
        for ref in _refs(path.read_text(encoding="utf-8")):
            assert layer[ref] <= layer[name], f"{name} ({path.parent.name}) reads {ref}, a layer above it"
    for path in MODELS.rglob("_*__models.yml"):
        for unit in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests", []):
            for given in unit["given"]:
                ref = _refs(given["input"])
                assert not ref or layer[ref.pop()] <= layer[unit["model"]], f"unit test {unit['name']}"


def test_no_copy_of_a_dbt_materialization() -> None:
    """Overriding dbt's materializations breaks on upgrade; dispatched macros are the supported hook."""
    for path in (PROJECT / "macros").rglob("*.sql"):
        assert "materialization" not in re.sub(r"{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S), path
