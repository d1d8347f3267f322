"""Event contract, simulator realism and broker lifecycle (fast; the broker test starts its own)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines.lake import Lake, StreamFileId
from pipelines.settings import Settings
from pipelines.stream.broker import incarnation, running_broker, start_broker, stop_broker
from pipelines.stream.contract import EVENT_TYPES, SHIPPED, EventContract, json_schema, parse_messages
from pipelines.stream.simulator import Catalog, DropWindow, SessionGenerator, catalog_from, encode, simulate_clicks

GOOD = {
    "event_id": "e1",
    "event_type": "add_to_cart",
    "event_time": "2025-03-01T10:15:00.5+01:00",
    "session_id": "s1",
    "anonymous_id": "a1",
    "customer_id": None,
    "product_id": 7,
}


def _msg(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_json_schema_file_matches_the_enforced_contract() -> None:
    schema = json_schema()
    assert tuple(schema["properties"]["event_type"]["enum"]) == EVENT_TYPES
    assert schema["additionalProperties"] is True


def test_unknown_fields_are_kept_and_times_normalised_to_utc() -> None:
    parsed = parse_messages([_msg(), _msg(event_id="e2", app_version="3.2", ab={"arm": "b"})])
    assert parsed.rejected == []
    extra = parsed.events.get_column("extra").to_list()
    assert extra[0] is None and json.loads(extra[1]) == {"ab": {"arm": "b"}, "app_version": "3.2"}
    assert parsed.events.get_column("event_time").to_list()[0] == datetime(2025, 3, 1, 9, 15, 0, 500000, timezone.utc)
    z = parse_messages([_msg(event_time="2025-03-01T10:15:00Z")])
    assert z.rejected == [] and z.events.height == 1


def test_contract_breaches_are_rejected_with_reasons() -> None:
    batch = [
        _msg(),
        b"{not json",
        _msg(event_type="teleport"),
        _msg(event_time="2025-03-01T10:15:00"),
        _msg(product_id=None),
        _msg(event_type="purchase", product_id=None),
        _msg(customer_id="42"),
        _msg(event_id=""),
        b"[]",
    ]
    parsed = parse_messages(batch)
    assert parsed.events.get_column("row").to_list() == [0]
    reasons = dict(parsed.rejected)
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2].startswith("unknown event_type")
    assert "ISO-8601" in reasons[3]
    assert reasons[4] == "product_id required for add_to_cart"
    assert reasons[5] == "order_id required for purchase"
    assert reasons[6] == "customer_id must be an integer"
    assert reasons[7] == "missing event_id"
    assert "list" in reasons[8]


def test_simulated_sessions_follow_a_funnel_and_buyers_are_logged_in() -> None:
    gen = SessionGenerator(Catalog.synthetic(2_000, 300), seed=5)
    df = gen.chunk(60_000, datetime.now(timezone.utc))
    counts = dict(df.group_by("event_type").len().iter_rows())
    assert counts["page_view"] > counts["product_view"] > counts["add_to_cart"]
    assert counts["add_to_cart"] > counts["checkout_start"] > counts["purchase"] > 0
    purchases = df.filter(pl.col("event_type") == "purchase")
    assert purchases.get_column("customer_id").null_count() == 0
    assert purchases.get_column("order_id").n_unique() == purchases.height
    # Anonymous visitors who log in later: sessions with both null and known customer_id.
    per_session = df.group_by("session_id").agg(
        pl.col("customer_id").null_count().alias("anon"), pl.col("customer_id").count().alias("known")
    )
    assert per_session.filter((pl.col("anon") > 0) & (pl.col("known") > 0)).height > 0
    # Popular products are viewed far more often than the long tail.
    views = df.filter(pl.col("event_type") == "product_view").get_column("product_id").value_counts(sort=True)
    assert views.get_column("count")[0] > 20 * views.get_column("count")[-1]
    payloads, _ = encode(df.head(100))
    assert parse_messages(payloads).rejected == []


def test_inject_drop_lowers_traffic_inside_the_window() -> None:
    frames: list[pl.DataFrame] = []
    simulate_clicks(
        lambda payloads, _keys: frames.append(parse_messages(payloads).events),
        Catalog.synthetic(500, 100),
        events=40_000,
        rate=100.0,  # 400 simulated seconds
        drop=DropWindow.parse("100:100:4"),
        seed=2,
    )
    # Simulated time ends now: 37,500 events at 100/s plus a 100 s window at a quarter of the rate.
    # A session is placed at its last event (earlier events of a session lead up to it).
    ends = pl.concat(frames).group_by("session_id").agg(pl.col("event_time").max()).get_column("event_time")
    before_end = (ends.max() - ends).dt.total_seconds()  # type: ignore[operator]
    inside = ((before_end > 285) & (before_end <= 365)).sum()
    normal = ((before_end > 100) & (before_end <= 180)).sum()
    assert inside < normal / 2


def test_local_broker_start_is_idempotent_and_names_its_incarnation(tmp_path: Path) -> None:
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path / "lake")})
    first, started = start_broker(settings)
    try:
        again, started_again = start_broker(settings)
        assert started and not started_again and again.pid == first.pid
        assert incarnation(again) == incarnation(first) == f"{int(first.started_at * 1000):x}"
    finally:
        assert stop_broker(settings) == first
    assert running_broker(Lake(settings.lake_dir)) is None and stop_broker(settings) is None


def test_stream_file_identity_round_trips() -> None:
    file_id = StreamFileId("clickstream.events", 3, 10, 99)
    assert StreamFileId.parse(file_id.name) == file_id
    assert StreamFileId.parse("_empty") is None


# -- key types follow the batch contracts (issue 12) ---------------------------------------------------

STRING_KEYS = EventContract(customer_id="string", product_id="string")


def test_the_schema_file_is_the_contract_for_the_shipped_integer_keys() -> None:
    assert EventContract() == SHIPPED and SHIPPED.json_schema() == json_schema()
    schema = STRING_KEYS.json_schema()
    assert schema["properties"]["customer_id"]["type"] == ["string", "null"]
    assert schema["properties"]["product_id"]["type"] == ["string", "null"]
    then = next(rule["then"] for rule in schema["allOf"] if "product_id" in rule["then"].get("properties", {}))
    assert then["properties"]["product_id"]["type"] == "string"
    assert json_schema()["properties"]["customer_id"]["type"] == ["integer", "null"]  # the file is unchanged


def test_the_event_contract_takes_the_key_types_of_the_customers_and_products_contracts(tmp_path: Path) -> None:
    import yaml

    from pipelines.batch.contract import CONTRACTS_DIR, load_contracts

    assert EventContract.for_contracts(load_contracts(CONTRACTS_DIR)) == SHIPPED
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text())
        for column in raw["columns"]:
            if raw["table"] == "customers" and column["name"] == "customer_id":
                column["type"] = "string"
        (tmp_path / path.name).write_text(yaml.safe_dump(raw))
    events = EventContract.for_contracts(load_contracts(tmp_path))
    assert events == EventContract(customer_id="string", product_id="bigint")
    assert events.columns["customer_id"] == pl.String and events.columns["product_id"] == pl.Int64


def test_string_keys_parse_and_integers_are_refused_for_them() -> None:
    batch = [
        _msg(customer_id="K-10007", product_id="GH-3004"),
        _msg(event_id="e2", customer_id=10007, product_id="GH-3004"),
        _msg(event_id="e3", product_id=7),
        _msg(event_id="e4", product_id=""),
        _msg(event_id="e5", event_type="page_view", customer_id=None, product_id=None),
    ]
    parsed = parse_messages(batch, STRING_KEYS)
    assert parsed.events.select("customer_id", "product_id").rows() == [("K-10007", "GH-3004"), (None, None)]
    assert parsed.events.schema["customer_id"] == pl.String
    reasons = dict(parsed.rejected)
    assert reasons == {1: "customer_id must be a string", 2: "product_id must be a string",
                       3: "product_id required for add_to_cart"}  # fmt: skip
    # The shipped (integer) contract refuses the string ids.
    assert dict(parse_messages(batch[:1]).rejected) == {0: "customer_id must be an integer"}


def test_the_simulator_sends_the_ids_the_lake_holds() -> None:
    customers = pl.DataFrame({"customer_id": ["K-1", "K-2", "K-3"]})
    products = pl.DataFrame({"product_id": ["GH-1", "GH-2"], "category_id": ["WG-10", "WG-20"]})
    frame = SessionGenerator(catalog_from(customers, products), seed=4).chunk(3_000, datetime.now(timezone.utc))
    assert set(frame["customer_id"].drop_nulls()) <= {"K-1", "K-2", "K-3"}
    assert set(frame["product_id"].drop_nulls()) == {"GH-1", "GH-2"}
    payloads, _ = encode(frame)
    assert parse_messages(payloads, STRING_KEYS).rejected == []
    # An empty lake whose contracts type the keys as strings: synthetic ids, as strings.
    empty = catalog_from(customers.clear(), products.clear(), customers_n=50, products_n=10)
    synthetic = SessionGenerator(empty, seed=4).chunk(500, datetime.now(timezone.utc))
    assert synthetic.schema["customer_id"] == pl.String and synthetic.schema["product_id"] == pl.String
    assert parse_messages(encode(synthetic)[0], STRING_KEYS).rejected == []
