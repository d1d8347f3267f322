"""`shoplake` command line: one subcommand per job, each a thin call into a plain function."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import ShopLakeError
from .settings import get_settings

Handler = Callable[[argparse.Namespace], int]


END_DATE_HELP = "last day of the generated order history (default: yesterday, UTC); fix it for repeatable bytes"


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _cmd_generate(args: argparse.Namespace) -> int:
    from .generate.batch import generate_exports

    result = generate_exports(
        get_settings(), scale=args.scale, seed=args.seed, end_date=args.end_date, force=args.force
    )
    print(result.summary())
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from .batch.ingest import IngestAborted, ingest_all, reprocess

    settings, wait = get_settings(), not args.no_wait
    try:
        if args.reprocess:
            if args.table:
                raise ShopLakeError("--reprocess takes one table; leave out --table")
            report = reprocess(settings, args.reprocess, progress=not args.quiet, wait=wait)
        else:
            report = ingest_all(settings, tables=args.table or None, progress=not args.quiet, wait=wait)
    except IngestAborted as exc:  # the report of what did and did not land, then the error
        exc.report.print()
        print(f"shoplake ingest: error: {exc}", file=sys.stderr)
        return 1
    report.print()
    return 1 if report.failed_files else 0


def _cmd_contract(args: argparse.Namespace) -> int:
    from .batch.infer import infer_contract

    settings = get_settings()
    text = infer_contract(settings, args.file, table=args.table, sheet=args.sheet, sample_rows=args.rows)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"draft contract written to {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from .extract.run import extract

    report = extract(
        get_settings(), source=args.source, tables=args.table or None, full_refresh=args.full_refresh,
        progress=not args.quiet, wait=not args.no_wait,
    )  # fmt: skip
    report.print()
    return 0


def _cmd_erp_sim(args: argparse.Namespace) -> int:
    from .generate import erp_sim

    settings = get_settings()
    if args.action == "start":
        started = erp_sim.start(settings, scale=args.scale, seed=42 if args.seed is None else args.seed)
        print(started.summary())
        print(f'point the `erp` source at it: eval "$(shoplake erp-sim env)"  (sets {erp_sim.URL_ENV})')
    elif args.action == "stop":
        print("erp-sim: stopped, data deleted" if erp_sim.stop(settings) else "erp-sim: was not running")
    elif args.action == "status":
        status = erp_sim.status(settings)
        print(status.describe())
        return 0 if status.state is not None else 1
    elif args.action == "env":
        print(erp_sim.env_line(erp_sim.require(settings)))
    else:

        def holding(order_id: int, seconds: float) -> None:
            print(f"erp-sim: order {order_id} is written but its transaction commits in {seconds:g}s "
                  "(extract now, and again after it commits)", flush=True)  # fmt: skip

        mutation = erp_sim.mutate(
            erp_sim.require(settings).url(), new_orders=args.orders, updates=args.updates,
            soft_deletes=args.soft_deletes, late=args.late_commit_after >= 0,
            late_hold_s=max(args.late_commit_after, 0), seed=args.seed, on_hold=holding,
        )  # fmt: skip
        print(mutation.summary())
    return 0


def _cmd_transform(args: argparse.Namespace) -> int:
    from .warehouse.dbt import run_dbt_build

    result = run_dbt_build(
        get_settings(), select=args.select, full_refresh=args.full_refresh,
        command="shoplake transform", wait=not args.no_wait,
    )  # fmt: skip
    return 0 if result.success else 1


def _cmd_sql(args: argparse.Namespace) -> int:
    from .warehouse.query import format_result, run_query

    columns, rows = run_query(get_settings(), args.query)
    print(format_result(columns, rows, args.format))
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from .dashboard.server import run_dashboard

    return run_dashboard(get_settings(), port=args.port)


def _cmd_report(args: argparse.Namespace) -> int:
    from .reports.params import parse_assignments
    from .reports.runner import run_reports

    settings = get_settings()
    params = parse_assignments(args.param)
    run = run_reports(settings, args.names or None, target=args.target or settings.dbt_target, fmt=args.format,
                      params=params)  # fmt: skip
    print(run.summary())
    return 1 if run.failed else 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from .warehouse.docs import generate_docs, make_server

    settings = get_settings()
    site = generate_docs(settings, target=args.target)
    print(f"dbt docs site: {site / 'index.html'} (single file: {site / 'static_index.html'})")
    if args.erd:
        from .warehouse.erd import write_erd

        print(f"ERD written to {write_erd(site, args.erd)}")
    if not args.serve:
        return 0
    server = make_server(site, port=args.port)
    host, port = server.server_address[:2]
    print(f"serving dbt docs on http://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        get_settings(), scale=args.scale, seed=args.seed, click_events=args.click_events, end_date=args.end_date
    )


def _cmd_snowsim(args: argparse.Namespace) -> int:
    from .warehouse import snowsim

    settings = get_settings()
    if args.action == "start":
        state = snowsim.start(settings)
        print(f"snowsim: running (pid {state.pid}) on {state.address}; log {state.log}")
    elif args.action == "stop":
        print("snowsim: stopped" if snowsim.stop(settings) else "snowsim: was not running")
    else:
        status = snowsim.status(settings)
        print(status.describe())
        return 0 if status.state is not None else 1
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from .warehouse.promote import promote

    if args.snowpipe_ddl:
        from .warehouse.snowpipe import render

        print(render(get_settings(), args.table or None, args.sqs_arn))
        return 0
    if args.follow:
        from .warehouse.follow import follow

        followed = follow(
            get_settings(), args.target, interval=args.interval, build=not args.no_build, max_cycles=args.max_cycles,
            tables=args.table or None,
        )  # fmt: skip
        print(followed.render())
        return 0 if all(c.ok for c in followed.cycles[-1:]) else 1
    report = promote(
        get_settings(), args.target, tables=args.table or None,
        on_new_column="refuse" if args.refuse_new_columns else "add", build=not args.no_build,
    )  # fmt: skip
    print(report.render())
    return 0 if report.ok else 1


def _cmd_parity(args: argparse.Namespace) -> int:
    from .warehouse.parity import compare_marts

    report = compare_marts(get_settings(), args.target, precision=args.precision)
    print(report.render())
    return 0 if report.ok else 1


def _cmd_quality(args: argparse.Namespace) -> int:
    from .quality.checks import run_quality

    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    report = run_quality(get_settings(), as_of=as_of)
    print(report.render())
    return report.exit_code


def _cmd_forecast(args: argparse.Namespace) -> int:
    from .analytics.forecast import write_sales_forecast
    from .warehouse.dbt import publish_results

    settings = get_settings()
    print(write_sales_forecast(settings, horizon=args.horizon).summary())
    built = publish_results(settings, command="shoplake forecast")
    return 0 if built is None or built.success else 1


def _cmd_watch_clickstream(args: argparse.Namespace) -> int:
    import time

    from .alerts import AlertRouter
    from .lake import Lake
    from .quality.clickstream import ClickstreamMonitor, ClickstreamParams

    settings = get_settings()
    params = ClickstreamParams(
        window_s=args.window, baseline_windows=args.baseline_windows, lateness_s=args.lateness, time_column=args.by
    )
    monitor = ClickstreamMonitor(Lake.of(settings), AlertRouter.from_settings(settings), params)
    deadline = time.monotonic() + args.duration if args.duration else None
    print(
        f"watching {settings.lake_dir}/raw/clickstream_events ({args.window:g}s windows by {args.by}, "
        f"every {args.poll:g}s)",
        flush=True,
    )
    monitor.run(
        poll_s=args.poll,
        stop=lambda: deadline is not None and time.monotonic() >= deadline,
        on_alert=lambda o: print(f"ALERT [{o.alert.severity}] {o.alert.title} ({o.delivery})", flush=True),
    )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .flows.deployments import serve_deployments

    serve_deployments(get_settings())
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from .flows.server import run_server

    return run_server(get_settings())


def _cmd_broker(args: argparse.Namespace) -> int:
    from .stream.broker import broker_status, start_broker, stop_broker

    settings = get_settings()
    if args.action == "start":
        if settings.kafka_bootstrap_servers:
            print(f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}: no local broker needed")
            return 0
        state, started = start_broker(settings)
        what = "started" if started else "already running"
        print(f"local broker {what}: pid {state.pid}, {state.address}")
    elif args.action == "stop":
        stopped = stop_broker(settings)
        print(f"stopped local broker pid {stopped.pid}" if stopped else "no local broker running")
    else:
        print(broker_status(settings))
    return 0


def _cmd_simulate_clicks(args: argparse.Namespace) -> int:
    from .catalog import load_click_catalog
    from .lake import Lake
    from .stream.simulator import DropWindow, kafka_sender, simulate_clicks
    from .stream.wiring import clickstream_bootstrap

    settings = get_settings()
    if args.events is None and (args.rate is None or args.duration is None):
        raise ShopLakeError("give --events N, or --rate R with --duration D")
    bootstrap = clickstream_bootstrap(settings)
    catalog = load_click_catalog(Lake.of(settings), customers=args.customers, products=args.products)
    send, close = kafka_sender(bootstrap, settings.clickstream_topic)
    result = simulate_clicks(
        send,
        catalog,
        events=args.events,
        rate=args.rate,
        duration_s=args.duration,
        bad_rate=args.bad_rate,
        drop=DropWindow.parse(args.inject_drop) if args.inject_drop else None,
        seed=args.seed,
    )
    close()
    print(result.summary())
    return 0


def _cmd_stream(args: argparse.Namespace) -> int:
    from .stream.runtime import tune_for_stream_writer
    from .stream.wiring import event_contract, run_clickstream

    if args.schema:  # what producers must send: key types as the customers and products contracts declare
        print(json.dumps(event_contract(get_settings()).json_schema(), indent=2))
        return 0
    tune_for_stream_writer()  # this process does nothing else: tune GC and allocators for the writer
    stats = run_clickstream(get_settings(), "forever" if args.forever else "until-caught-up")
    print(stats.render())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoplake",
        description="ShopLake: local-first customer-analytics lakehouse (Parquet lake, DuckDB, dbt).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = add("generate", _cmd_generate, "Write synthetic ERP/CRM CSV exports into the landing area.")
    p.add_argument("--scale", type=float, default=None, help="1 = 100k customers, 1M orders (default: demo scale)")
    p.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    p.add_argument("--force", action="store_true", help="overwrite exports that already exist")
    p.add_argument("--end-date", type=_iso_date, default=None, metavar="YYYY-MM-DD", help=END_DATE_HELP)

    p = add("ingest", _cmd_ingest, "Validate landed exports against their contracts and write the raw lake.")
    p.add_argument("--table", action="append", help="only this table (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-wait", action="store_true", help="exit at once if another ingest holds the lock")
    p.add_argument(
        "--reprocess", metavar="TABLE", default=None,
        help="rebuild TABLE's raw and quarantine from the landed files its ledger names (after a contract change)",
    )  # fmt: skip

    p = add("contract", _cmd_contract, "Draft a contract for your own export: `shoplake contract infer FILE`.")
    p.add_argument("action", choices=["infer"], help="infer: print a draft contract YAML read from a sample of FILE")
    p.add_argument("file", type=Path, metavar="FILE", help="an export: CSV (or .gz), .xlsx, Parquet, JSON Lines")
    p.add_argument(
        "--table", default=None,
        help="table name; a shipped table (orders, customers, ...) maps your columns onto its canonical names",
    )  # fmt: skip
    p.add_argument("--sheet", default=None, help="xlsx: the sheet to read (default: the first)")
    p.add_argument("--rows", type=int, default=100_000, help="rows sampled (default 100000)")
    p.add_argument("-o", "--output", type=Path, default=None, help="write the YAML to this file instead of stdout")

    p = add(
        "extract", _cmd_extract,
        "Read the tables of configured databases (ERP) into the lake: contract checks, quarantine, ledger.",
    )  # fmt: skip
    p.add_argument("--source", default=None, help="only this source (a YAML file under sources/ beside the contracts)")
    p.add_argument("--table", action="append", help="only this table, by contract name (repeatable)")
    p.add_argument(
        "--full-refresh", action="store_true",
        help="read every row again and replace what the source landed before (reconciles deletes)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-wait", action="store_true", help="exit at once if an ingest or extract holds the lock")

    p = add("erp-sim", _cmd_erp_sim, "A local PostgreSQL ERP with the generator's tables, to extract from.")
    p.add_argument("action", choices=["start", "stop", "status", "env", "mutate"])
    p.add_argument("--scale", type=float, default=None, help="start: generator scale (default SHOPLAKE_DEMO_SCALE)")
    p.add_argument("--seed", type=int, default=None, help="start: generator seed (default 42); mutate: random seed")
    p.add_argument("--orders", type=int, default=20, help="mutate: new orders (default 20)")
    p.add_argument("--updates", type=int, default=20, help="mutate: orders whose status moves on (default 20)")
    p.add_argument("--soft-deletes", type=int, default=0, help="mutate: orders marked deleted (default 0)")
    p.add_argument(
        "--late-commit-after", type=float, default=0.0, metavar="SECONDS",
        help="mutate: one more order from a transaction that began first and commits SECONDS after the others "
        "(default 0; -1 = none)",
    )  # fmt: skip

    p = add("transform", _cmd_transform, "Run `dbt build` in-process and publish a snapshot for readers.")
    p.add_argument("--select", default=None, help="dbt selection (default: everything)")
    p.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    p.add_argument(
        "--no-wait", action="store_true",
        help="if another build holds the warehouse lock, exit 2 at once instead of waiting for it",
    )  # fmt: skip

    p = add(
        "sql", _cmd_sql,
        "Run one read statement (SELECT/WITH/SHOW/DESCRIBE) on the latest published snapshot, sandboxed.",
    )  # fmt: skip
    p.add_argument("query", help='SQL to run, e.g. "select * from top_customers limit 5"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = add("dashboard", _cmd_dashboard, "Start the Streamlit dashboard on 127.0.0.1 and print its URL.")
    p.add_argument("--port", type=int, default=None, help="port (default SHOPLAKE_DASHBOARD_PORT, 8501)")

    p = add("report", _cmd_report, "Run SQL reports from reports/ and write them, with an index, under the lake.")
    p.add_argument("names", nargs="*", metavar="NAME", help="reports to run (default: all in reports/)")
    p.add_argument("--target", choices=["dev", "prod", "snowsim"], default=None, help="default: DBT_TARGET")
    p.add_argument("--format", choices=["md", "csv", "html"], default="md")
    p.add_argument("--param", action="append", metavar="K=V", help="report parameter (repeatable), bound not formatted")

    p = add("docs", _cmd_docs, "Generate the dbt docs site under the lake; --serve shows it on 127.0.0.1.")
    p.add_argument("--serve", action="store_true", help="serve the site after generating it")
    p.add_argument("--port", type=int, default=8080, help="port for --serve (default 8080)")
    p.add_argument("--target", choices=["dev", "prod", "snowsim"], default=None, help="dbt target (default DBT_TARGET)")
    p.add_argument(
        "--erd", type=Path, metavar="FILE", help="also regenerate the Mermaid ERD block in FILE (docs/erd.md)"
    )

    p = add("demo", _cmd_demo, "Generate (if needed), ingest and transform, then print a summary.")
    p.add_argument("--scale", type=float, default=None, help="generator scale (default SHOPLAKE_DEMO_SCALE)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--click-events", type=int, default=60_000, help="simulated clickstream events (0 = none)")
    p.add_argument("--end-date", type=_iso_date, default=None, metavar="YYYY-MM-DD", help=END_DATE_HELP)

    p = add("snowsim", _cmd_snowsim, "Start, stop or show the local Snowflake emulator (fakesnow on loopback).")
    p.add_argument("action", choices=["start", "stop", "status"])

    targets = ["prod", "snowsim"]
    p = add("promote", _cmd_promote, "Load the lake's raw Parquet into Snowflake (PUT + COPY INTO), then dbt build.")
    p.add_argument("--target", choices=targets, default="prod", help="Snowflake target (default prod)")
    p.add_argument("--table", action="append", help="only this raw table (repeatable)")
    p.add_argument("--no-build", action="store_true", help="load only; skip `dbt build` on the target")
    p.add_argument(
        "--refuse-new-columns", action="store_true",
        help="refuse a table whose lake files have columns the Snowflake table lacks (default: add them, nullable)",
    )  # fmt: skip
    p.add_argument(
        "--follow", action="store_true",
        help="keep promoting: every --interval seconds load newly committed files, then dbt build only the models "
        "downstream of what loaded (clicks: fct_sessions, funnel_daily); SIGTERM/Ctrl-C stops after the cycle",
    )  # fmt: skip
    p.add_argument("--interval", type=float, default=15.0, help="with --follow: seconds between cycles (default 15)")
    p.add_argument("--max-cycles", type=int, default=None, help="with --follow: stop after N cycles (default: run)")
    p.add_argument(
        "--snowpipe-ddl", action="store_true",
        help="print the Snowpipe alternative to --follow for a lake on S3 (external stage, CREATE PIPE ... "
        "AUTO_INGEST per stream table, the bucket notification JSON) and exit; runs nothing",
    )  # fmt: skip
    p.add_argument("--sqs-arn", default=None, help="with --snowpipe-ddl: the pipes' notification_channel (SHOW PIPES)")

    p = add("parity", _cmd_parity, "Compare every mart of the DuckDB build with the Snowflake build.")
    p.add_argument("--target", choices=targets, default="prod", help="Snowflake target (default prod)")
    p.add_argument("--precision", type=int, default=6, help="decimal places floats are rounded to (default 6)")

    p = add("quality", _cmd_quality, "Run data-quality checks, record dq_results, raise alerts; exit 1 on errors.")
    p.add_argument("--as-of", default=None, help="day for the volume checks, YYYY-MM-DD (default: newest day)")

    p = add("forecast", _cmd_forecast, "Forecast daily revenue per category into the sales_forecast table.")
    p.add_argument("--horizon", type=int, default=14, help="days ahead (default 14)")

    p = add("watch-clickstream", _cmd_watch_clickstream, "Alert on sudden drops in clickstream events or conversion.")
    # Defaults = quality.clickstream.REALTIME, tuned on bench/alert_latency.py to alert within 10 s.
    p.add_argument("--window", type=float, default=10.0, help="window length in seconds (default 10)")
    p.add_argument("--baseline-windows", type=int, default=12, help="windows before it to compare with (default 12)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between checks (default 1)")
    p.add_argument("--lateness", type=float, default=1.0, help="windows end this long before now (default 1)")
    p.add_argument(
        "--by",
        choices=["ingested_at", "event_time"],
        default="ingested_at",
        help="count events by when they landed (default) or when they happened",
    )
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run)")

    add("serve", _cmd_serve, "Register the Prefect deployments (schedules from settings) and run their flows.")
    add("ui", _cmd_ui, "Start the local Prefect server and UI on 127.0.0.1 (state under the lake dir).")

    p = add("broker", _cmd_broker, "Start, stop or show the local Kafka-protocol broker (Tansu on loopback).")
    p.add_argument("action", choices=["start", "stop", "status"])

    p = add("simulate-clicks", _cmd_simulate_clicks, "Produce realistic clickstream sessions to the broker.")
    p.add_argument("--events", type=int, default=None, help="send exactly N events as fast as possible")
    p.add_argument("--rate", type=float, default=None, help="events per second (real time unless --events)")
    p.add_argument("--duration", type=float, default=None, help="seconds to run at --rate")
    p.add_argument("--bad-rate", type=float, default=0.0, help="share of malformed messages, e.g. 0.01")
    p.add_argument(
        "--inject-drop",
        default=None,
        metavar="AT:DURATION:FACTOR",
        help="from AT s for DURATION s, traffic and conversions fall by FACTOR (for anomaly tests)",
    )
    p.add_argument("--customers", type=int, default=10_000, help="customers when none are in the lake")
    p.add_argument("--products", type=int, default=1_000, help="products when none are in the lake")
    p.add_argument("--seed", type=int, default=None)

    p = add("stream", _cmd_stream, "Land clickstream events from the broker in the lake, exactly once.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--until-caught-up", action="store_true", help="stop at the end seen at start (default)")
    mode.add_argument("--forever", action="store_true", help="run until SIGTERM/SIGINT, flush, exit 0")
    mode.add_argument(
        "--schema", action="store_true",
        help="print the event JSON schema for the contracts in use (customer_id/product_id typed as their keys)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ShopLakeError as exc:
        print(f"shoplake {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"shoplake {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `shoplake sql ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
