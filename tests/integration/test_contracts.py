"""Mart contracts are enforced: a build whose SQL does not give the declared types fails, by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pipelines.settings import REPO_ROOT, Settings
from pipelines.warehouse.dbt import invoke_dbt


def test_a_key_type_the_data_does_not_have_fails_the_mart(built_lake, tmp_path: Path) -> None:
    """Keys are typed by the `key_data_types` var alone: declaring string product ids on a lake of
    integer ids breaks the contract of every mart with a product_id, before anything is written."""
    root = tmp_path / "lake"
    shutil.copytree(built_lake.lake.root, root)
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
    keys = yaml.safe_load((REPO_ROOT / "transforms" / "dbt_project.yml").read_text())["vars"]["key_data_types"]
    select = ["--select", "dim_products", "dim_customers"]

    wrong = {"key_data_types": {**keys, "product_id": "varchar"}}
    failed = invoke_dbt(settings, ["run", *select], progress=False, extra_vars=wrong)
    assert not failed.success
    assert [(n.name, n.status) for n in failed.failed] == [("dim_products", "error")], failed.summary()
    message = failed.failed[0].message or ""
    assert "contract" in message.lower() and "product_id" in message, message

    right = invoke_dbt(settings, ["run", *select], progress=False, extra_vars={"key_data_types": keys})
    assert right.success, right.summary()
