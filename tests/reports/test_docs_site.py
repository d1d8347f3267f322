"""`shoplake docs`: dbt docs generate works, the site is served on loopback, the ERD is current."""

from __future__ import annotations

import json
import threading
import urllib.request

from pipelines.settings import REPO_ROOT
from pipelines.warehouse.docs import generate_docs, make_server
from pipelines.warehouse.erd import generated_block, render_mermaid, star_schema


def test_docs_generate_serve_and_erd_is_current(built_lake):
    site = generate_docs(built_lake.settings, target="dev", progress=False)
    catalog = json.loads((site / "catalog.json").read_text())
    for model in ("dim_customers", "fct_orders", "top_customers", "product_category_sales"):
        node = catalog["nodes"][f"model.shoplake.{model}"]
        assert node["columns"], f"{model} has no columns in the catalogue"
    static = (site / "static_index.html").read_text(encoding="utf-8")
    assert '"model.shoplake.fct_orders"' in static  # the single-file site embeds the manifest and catalogue

    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=10) as resp:
            assert resp.status == 200 and b"dbt" in resp.read().lower()
        with urllib.request.urlopen(f"http://{host}:{port}/manifest.json", timeout=10) as resp:
            assert "model.shoplake.fct_orders" in json.loads(resp.read())["nodes"]
    finally:
        server.shutdown()
        server.server_close()

    fresh = render_mermaid(star_schema(site))
    checked_in = generated_block((REPO_ROOT / "docs" / "erd.md").read_text())
    assert checked_in == fresh, "docs/erd.md is stale: run `shoplake docs --erd docs/erd.md`"
    assert "fct_orders ||--o{ fct_order_items" in fresh
