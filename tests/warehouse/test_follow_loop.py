"""The follower's loop without Snowflake: what a cycle builds, and a failed build is retried next cycle."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.settings import Settings
from pipelines.warehouse import follow as follow_module
from pipelines.warehouse.follow import CycleReport, build_selection, follow
from pipelines.warehouse.promote import PromotionReport


def test_build_selection_names_the_sources_of_what_loaded() -> None:
    assert build_selection(["clickstream_events"]) == "source:clickstream.clickstream_events+"
    assert build_selection(["orders", "dq_results"]) == "source:results.dq_results+ source:shop.orders+"
    assert build_selection(["not_a_source"]) is None


def test_a_failed_build_is_built_again_by_the_next_cycle(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    outcomes = iter([(["clickstream_events"], False), ([], True), (["orders"], True), ([], None)])

    def fake_cycle(settings, target, *, cycle, build, rebuild, tables) -> CycleReport:
        calls.append(list(rebuild))
        built, success = next(outcomes)
        report = CycleReport(cycle=cycle, started_at=dt.datetime.now(dt.timezone.utc),
                             promotion=PromotionReport(target=target))  # fmt: skip
        report.built_tables = sorted({*built, *rebuild})
        report.dbt_success = success if report.built_tables else None
        return report

    monkeypatch.setattr(follow_module, "follow_cycle", fake_cycle)
    lines: list[str] = []
    report = follow(
        Settings(lake_dir=tmp_path), "snowsim", interval=0, max_cycles=4, log=lines.append,
        tables=["clickstream_events", "orders"],
    )  # fmt: skip
    # cycle 1 builds downstream of every followed table (a killed follower may have left marts unbuilt);
    # cycle 2 loads nothing new but builds cycle 1's failed selection again (and succeeds: cleared)
    assert calls == [["clickstream_events", "orders"], ["clickstream_events", "orders"], [], []]
    assert [c.ok for c in report.cycles] == [False, True, True, True]
    assert len(lines) == 5 and lines[0].startswith("following the lake into snowsim")


def test_a_new_follower_first_builds_downstream_of_every_source(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower killed during dbt kept no note of the build it owed: its restart builds everything once."""
    calls: list[list[str]] = []

    def fake_cycle(settings, target, *, cycle, build, rebuild, tables) -> CycleReport:
        calls.append(list(rebuild))
        report = CycleReport(cycle=cycle, started_at=dt.datetime.now(dt.timezone.utc),
                             promotion=PromotionReport(target=target))  # fmt: skip
        report.built_tables, report.dbt_success = sorted(rebuild), True
        return report

    monkeypatch.setattr(follow_module, "follow_cycle", fake_cycle)
    follow(Settings(lake_dir=tmp_path), "snowsim", interval=0, max_cycles=2, log=lambda _: None)
    assert set(calls[0]) == set(follow_module.source_of_tables()) and "clickstream_events" in calls[0]
    assert calls[1] == []


def test_a_cycle_builds_owed_tables_only_where_the_lake_has_them(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new follower owes every table, but clicks the stream has not committed yet have no RAW table: their
    models are not selected (the build would fail on the missing source) until their first load."""
    from pipelines.warehouse.promote import TablePromotion

    promotion = PromotionReport(target="snowsim")
    promotion.tables = [
        TablePromotion(table="clickstream_events", message="no Parquet files in the lake"),  # as promote_table
        TablePromotion(table="orders", lake_files=2, snowflake_rows=10),
        TablePromotion(table="customers", lake_files=1, loaded_rows=3, snowflake_rows=3),
    ]
    selections: list[str] = []

    class Result:
        success = True

        def summary(self) -> str:
            return "ok"

    monkeypatch.setattr(follow_module, "load_tables", lambda *a, **k: promotion)
    monkeypatch.setattr(follow_module, "invoke_dbt", lambda settings, args, **k: selections.append(args[2]) or Result())
    settings = Settings(lake_dir=tmp_path)
    report = follow_module.follow_cycle(settings, "snowsim", rebuild=["clickstream_events", "orders"])
    assert report.built_tables == ["customers", "orders"]
    assert selections == ["source:shop.customers+ source:shop.orders+"]
