"""`shoplake erp-sim`: a local PostgreSQL on 127.0.0.1 holding the generator's tables, like a shop's ERP.

The server is the distribution's PostgreSQL (Debian: `apt-get install postgresql`, binaries in
/usr/lib/postgresql/<version>/bin), run as a daemon of `pipelines/services.py` (pid and port in
`state/erp-sim.json`). Its data folder is a fresh temporary folder and its password is random; both
are kept, readable by the owner only, in `state/erp-sim.private.json`. `stop` deletes the folder:
the simulator starts from the generator's data every time.

Tables (database `erp`, schema `public`) carry the rows `shoplake generate` writes for the same
scale and seed, with the defects a typed database can hold (nulls in required columns, malformed
e-mails, order lines pointing at unknown orders or products; values a date or number column
cannot hold are their clean value instead, and duplicate keys are dropped by the primary key). Like
an ERP's, every table has an `updated_at` that a trigger sets on each update, and orders have a
`deleted_at` for soft deletes. `mutate` adds orders, moves statuses on and commits one transaction
late, so an incremental extract has something to find.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl

from .. import services
from ..errors import ShopLakeError
from ..lake import Lake
from ..services import HOST, ServiceSpec, ServiceState, ServiceStatus
from ..settings import Settings
from ..storage import write_json_atomic
from .batch import EXPORT_COLUMNS, TABLES, build_dataset

NAME = "erp-sim"
DATABASE = "erp"
USER = "shoplake"
URL_ENV = "SHOPLAKE_ERP_URL"  # what the shipped source (pipelines/contracts/sources/erp.yml) reads

# Column types of the simulated ERP: the export's columns (lower-cased) plus ERP bookkeeping.
SCHEMA: dict[str, dict[str, str]] = {
    "categories": {"category_id": "bigint primary key", "category_name": "text"},
    "products": {"product_id": "bigint primary key", "name": "text", "category_id": "bigint", "price": "numeric(12,2)"},
    "customers": {"customer_id": "bigint primary key", "name": "text", "email": "text", "signup_date": "date",
                  "country": "text", "channel": "text"},
    "orders": {"order_id": "bigint primary key", "customer_id": "bigint", "order_date": "date",
               "order_amount": "numeric(12,2)", "status": "text", "channel": "text",
               "created_at": "timestamptz not null default now()", "deleted_at": "timestamptz"},
    "order_items": {"order_item_id": "bigint primary key", "order_id": "bigint", "product_id": "bigint",
                    "quantity": "integer", "price": "numeric(12,2)"},
}  # fmt: skip
_POLARS = {"bigint": pl.Int64, "integer": pl.Int64, "numeric": pl.Float64, "date": pl.Date, "text": pl.String}

TOUCH_FUNCTION = """
create or replace function shoplake_touch() returns trigger language plpgsql as $$
begin new.updated_at := now(); return new; end $$
"""  # now() is the transaction's start: a long transaction commits rows with an older updated_at


# -- the server ------------------------------------------------------------------------------------


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (Debian's layout, else `initdb` on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ShopLakeError(
        "PostgreSQL server binaries not found (on Debian/Ubuntu: apt-get install postgresql; `make test` runs "
        ".ci/system-deps, which installs it)"
    )


def _os_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as Debian's `postgres` system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ShopLakeError("running as root, and there is no `postgres` system user to run PostgreSQL as") from None
    return "postgres"


def _run_as(user: str | None) -> dict[str, Any]:
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}


@dataclass(frozen=True)
class SimServer:
    """A running simulator: where it listens and how to log in (the password stays out of `repr`)."""

    state: ServiceState
    root: Path
    password: str

    def url(self, database: str = DATABASE, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{USER}:{secret}@{HOST}:{self.state.port}/{database}"

    def __repr__(self) -> str:
        return f"SimServer(port={self.state.port}, pid={self.state.pid}, root={str(self.root)!r})"


def _private(lake: Lake) -> dict[str, Any] | None:
    try:
        return json.loads(lake.service_private_file(NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_private(lake: Lake, payload: dict[str, Any]) -> None:
    path = write_json_atomic(lake.service_private_file(NAME), payload)
    path.chmod(0o600)


def _pg_ready(bindir: Path, port: int) -> bool:
    probe = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _spec(lake: Lake, bindir: Path, data: Path, user: str | None) -> ServiceSpec:
    def command(port: int) -> list[str]:
        return [
            str(bindir / "postgres"), "-D", str(data), "-c", f"listen_addresses={HOST}", "-p", str(port),
            "-c", f"unix_socket_directories={data.parent}", "-c", "timezone=UTC", "-c", "max_connections=40",
            # A simulator: durability is not the point, start and load speed are.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip

    return ServiceSpec(
        NAME, command, start_timeout_s=60.0, ready=lambda port: _pg_ready(bindir, port), cwd=data.parent,
        env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"}, port_setting="SHOPLAKE_ERP_SIM_PORT", user=user,
    )  # fmt: skip


def running(settings: Settings) -> SimServer | None:
    lake = Lake(settings.lake_dir)
    state = services.running(lake, NAME)
    private = _private(lake)
    if state is None or private is None:
        return None
    return SimServer(state, Path(private["root"]), private["password"])


def start_server(settings: Settings, *, port: int | None = None) -> tuple[SimServer, bool]:
    """An empty PostgreSQL with database `erp` on loopback (idempotent); returns (server, started_now)."""
    lake = Lake(settings.lake_dir).ensure()
    current = running(settings)
    if current is not None:
        return current, False
    bindir, user = pg_bindir(), _os_user()
    # Not under the lake: the postgres user must be able to reach the folder (pytest's tmp dirs are 0700).
    root = Path(tempfile.mkdtemp(prefix="shoplake-erp-sim-"))
    password = secrets.token_urlsafe(18)
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        if user:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        initdb = [
            str(bindir / "initdb"), "-D", str(root / "data"), "-U", USER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        ]  # fmt: skip
        done = subprocess.run(initdb, capture_output=True, text=True, check=False, cwd=root, **_run_as(user))
        pwfile.unlink()
        if done.returncode != 0:
            raise ShopLakeError(f"initdb failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        _write_private(lake, {"root": str(root), "password": password})
        state, _ = services.start(lake, _spec(lake, bindir, root / "data", user), port=port or settings.erp_sim_port)
    except BaseException:
        lake.service_private_file(NAME).unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = SimServer(state, root, password)
    with _connect(server.url("postgres"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {DATABASE}")
    return server, True


def stop(settings: Settings) -> bool:
    """Stop the simulator this lake started and delete its data folder; False when none was running."""
    lake = Lake(settings.lake_dir)
    state = services.running(lake, NAME)
    private = _private(lake)
    if state is not None and private is not None:
        data = Path(private["root"]) / "data"
        # A fast shutdown (SIGINT): SIGTERM would wait for connected clients to leave.
        subprocess.run([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"],
                       capture_output=True, check=False, **_run_as(_os_user()))  # fmt: skip
    stopped = services.stop(lake, NAME)
    if private is not None:
        shutil.rmtree(private["root"], ignore_errors=True)  # only the folder this lake recorded
        lake.service_private_file(NAME).unlink(missing_ok=True)
    return stopped is not None or state is not None


def status(settings: Settings) -> ServiceStatus:
    return services.status(Lake(settings.lake_dir), NAME)


# -- loading the generator's tables ----------------------------------------------------------------


@contextmanager
def _connect(url: str, *, autocommit: bool = False) -> Iterator[Any]:
    import adbc_driver_postgresql.dbapi as adbc

    conn = adbc.connect(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def erp_tables(scale: float, seed: int, now: dt.datetime | None = None) -> dict[str, pl.DataFrame]:
    """The generator's rows as an ERP's typed tables (see the module docstring), with `updated_at`.

    `updated_at` follows the business dates (an order was last touched on its order date), never
    later than `now`, so what `mutate` does later is always newer.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    ds = build_dataset(scale, seed)
    rng = np.random.default_rng(seed + 1)
    out: dict[str, pl.DataFrame] = {}
    for table in TABLES:
        columns = {name: name.lower() for name in EXPORT_COLUMNS[table].values()}  # export name -> ERP column
        export = ds.exports[table]
        key = next(iter(EXPORT_COLUMNS[table].values()))
        clean = ds.clean[table].rename(EXPORT_COLUMNS[table])
        export = export.unique(subset=[key], keep="first", maintain_order=True)
        export = export.with_columns(pl.col(key).cast(pl.Int64))
        clean = clean.with_columns(pl.col(key).cast(pl.Int64)).select(
            [pl.col(key)] + [pl.col(c).alias(f"{c}__clean") for c in clean.columns if c != key]
        )
        joined = export.join(clean, on=key, how="left")
        typed = []
        for export_name, db in columns.items():
            dtype = _POLARS[SCHEMA[table][db].split("(")[0].split()[0]]
            if export_name == key:
                typed.append(pl.col(key).alias(db))
                continue
            text = pl.col(export_name)
            parsed = text.str.to_date("%Y-%m-%d", strict=False) if dtype == pl.Date else text.cast(dtype, strict=False)
            clean_value = pl.col(f"{export_name}__clean").cast(dtype)
            # A value the column's type cannot hold (a date like 2025-13-45, "N/A" as an amount): the clean one.
            typed.append(pl.when(parsed.is_null() & text.is_not_null()).then(clean_value).otherwise(parsed).alias(db))
        out[table] = joined.select(typed)
    stamps = _updated_at(out, rng, now)
    return {table: frame.with_columns(stamps[table]) for table, frame in out.items()}


def _updated_at(tables: dict[str, pl.DataFrame], rng: np.random.Generator, now: dt.datetime) -> dict[str, pl.Series]:
    cap = now.replace(microsecond=0) - dt.timedelta(minutes=1)

    def at(dates: pl.Series) -> pl.Series:
        seconds = rng.integers(8 * 3600, 22 * 3600, size=len(dates))
        stamps = dates.cast(pl.Datetime("us", "UTC")) + pl.Series(seconds * 1_000_000).cast(pl.Duration("us"))
        return stamps.clip(upper_bound=cap).fill_null(cap)

    orders = tables["orders"]
    order_stamp = at(orders["order_date"]).alias("updated_at")
    items = tables["order_items"].join(
        pl.DataFrame({"order_id": orders["order_id"], "updated_at": order_stamp}), on="order_id", how="left"
    )

    def fixed(days_ago: int, n: int) -> pl.Series:
        return pl.repeat(cap - dt.timedelta(days=days_ago), n, eager=True).cast(pl.Datetime("us", "UTC"))

    return {
        "categories": fixed(730, tables["categories"].height).alias("updated_at"),
        "products": fixed(400, tables["products"].height).alias("updated_at"),
        "customers": at(tables["customers"]["signup_date"]).alias("updated_at"),
        "orders": order_stamp,
        "order_items": items["updated_at"].fill_null(cap).alias("updated_at"),
    }


def create_tables(url: str) -> None:
    """The ERP schema: tables, the `updated_at` trigger, an index on each cursor column."""
    with _connect(url) as conn, conn.cursor() as cur:
        cur.execute(TOUCH_FUNCTION)
        for table, columns in SCHEMA.items():
            body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
            cur.execute(f"CREATE TABLE {table} ({body}, updated_at timestamptz not null default now())")
            cur.execute(f"CREATE INDEX {table}_updated_at ON {table} (updated_at)")
            cur.execute(
                f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION shoplake_touch()"
            )
        conn.commit()


def load_tables(url: str, tables: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Bulk-load frames into the ERP tables (ADBC's binary COPY into a scratch table, then one INSERT)."""
    rows = {}
    with _connect(url) as conn, conn.cursor() as cur:
        for table, frame in tables.items():
            scratch = f"shoplake_load_{table}"
            cur.adbc_ingest(scratch, frame.to_arrow(), mode="create", temporary=True)
            names = ", ".join(frame.columns)
            cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch}")
            cur.execute(f"DROP TABLE {scratch}")
            rows[table] = frame.height
        conn.commit()
        cur.execute("ANALYZE")
    return rows


def start(settings: Settings, *, scale: float | None = None, seed: int = 42, port: int | None = None) -> SimStart:
    """`shoplake erp-sim start`: the server, loaded with the generator's tables (once per start)."""
    server, started = start_server(settings, port=port)
    if not started:
        return SimStart(server, {}, started=False)
    try:
        url = server.url()
        create_tables(url)
        loaded = load_tables(url, erp_tables(settings.demo_scale if scale is None else scale, seed))
    except BaseException:
        stop(settings)
        raise
    return SimStart(server, loaded, started=True)


@dataclass(frozen=True)
class SimStart:
    server: SimServer
    rows: dict[str, int]
    started: bool

    def summary(self) -> str:
        where = f"{HOST}:{self.server.state.port}, database {DATABASE}"
        if not self.started:
            return f"erp-sim: already running (pid {self.server.state.pid}) on {where}"
        loaded = ", ".join(f"{t}={n:,}" for t, n in self.rows.items())
        return f"erp-sim: PostgreSQL running (pid {self.server.state.pid}) on {where}; loaded {loaded}"


def require(settings: Settings) -> SimServer:
    server = running(settings)
    if server is None:
        raise ShopLakeError(f"no erp-sim is running for lake {settings.lake_dir}; run `shoplake erp-sim start`")
    return server


def env_line(server: SimServer) -> str:
    """The shell line that points the shipped `erp` source at the simulator."""
    return f"export {URL_ENV}='{server.url()}'"


# -- changes, as an ERP makes them -----------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    new_orders: list[int]
    updated_orders: list[int]
    late_order: int | None
    soft_deleted: list[int]

    def summary(self) -> str:
        parts = [
            f"{len(self.new_orders)} new order(s) with their lines",
            f"{len(self.updated_orders)} status change(s)",
        ]
        if self.soft_deleted:
            parts.append(f"{len(self.soft_deleted)} soft delete(s)")
        if self.late_order is not None:
            parts.append(f"order {self.late_order} committed late")
        return "erp-sim: " + ", ".join(parts)


NEXT_STATUS = {"shipped": "completed", "completed": "returned"}


def mutate(
    url: str,
    *,
    new_orders: int = 20,
    updates: int = 20,
    soft_deletes: int = 0,
    late: bool = True,
    late_hold_s: float = 0.0,
    seed: int | None = None,
    on_hold: Any = None,
) -> Mutation:
    """New orders (with lines), status changes and soft deletes, committed together; then, if `late`, one
    more order from a transaction that began before them and commits after them (`late_hold_s` later):
    its `updated_at` is older than theirs, so a cursor without lookback would never see it.
    """
    rng = np.random.default_rng(seed)
    import adbc_driver_postgresql.dbapi as adbc

    late_conn = adbc.connect(url) if late else None
    try:
        late_id = None
        if late_conn is not None:
            with late_conn.cursor() as cur:
                cur.execute("SELECT now()")  # the transaction starts here: its rows' updated_at is this instant
                cur.fetchall()
            time.sleep(0.05)
        with _connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(order_id), 0), (SELECT coalesce(max(order_item_id), 0) FROM order_items)"
                        " FROM orders")  # fmt: skip
            max_order, max_item = cur.fetchone()
            cur.execute("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 1000")
            customers = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT product_id, price FROM products WHERE price IS NOT NULL ORDER BY product_id LIMIT 500")
            products = cur.fetchall()
            ids = list(range(max_order + 1, max_order + 1 + new_orders))
            item_id = max_item
            for order_id in ids:
                item_id = _insert_order(cur, rng, order_id, item_id, customers, products)
            cur.execute(
                "SELECT order_id FROM orders WHERE status IN ('shipped', 'completed') AND deleted_at IS NULL "
                f"AND order_id <= {max_order} ORDER BY order_id DESC LIMIT {max(updates * 5, 1)}"
            )
            candidates = [r[0] for r in cur.fetchall()]
            chosen = sorted(rng.choice(candidates, size=min(updates, len(candidates)), replace=False).tolist())
            for order_id in chosen:
                cur.execute(
                    "UPDATE orders SET status = CASE status WHEN 'shipped' THEN 'completed' ELSE 'returned' END "
                    f"WHERE order_id = {int(order_id)}"
                )
            deleted = [int(i) for i in candidates if i not in chosen][:soft_deletes]
            for order_id in deleted:
                cur.execute(f"UPDATE orders SET deleted_at = now() WHERE order_id = {order_id}")
            conn.commit()
        if late_conn is not None:
            with late_conn.cursor() as cur:
                late_id = max_order + new_orders + 1
                _insert_order(cur, rng, late_id, item_id + 10, customers, products)
                if late_hold_s > 0:
                    if on_hold is not None:
                        on_hold(late_id, late_hold_s)
                    time.sleep(late_hold_s)
            late_conn.commit()
        return Mutation(ids, [int(i) for i in chosen], late_id, deleted)
    finally:
        if late_conn is not None:
            late_conn.close()


def _insert_order(
    cur: Any, rng: np.random.Generator, order_id: int, item_id: int, customers: list, products: list
) -> int:
    """One order and 1-3 lines, inside the caller's transaction; returns the last order_item_id used."""
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        product_id, price = products[int(rng.integers(len(products)))]
        item_id += 1
        lines.append((item_id, int(product_id), int(rng.integers(1, 3)), float(price)))
    amount = round(sum(q * p for _, _, q, p in lines), 2)
    customer = int(customers[int(rng.integers(len(customers)))])
    channel = ["web", "mobile", "marketplace"][int(rng.integers(3))]
    cur.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, order_amount, status, channel) "
        f"VALUES ({order_id}, {customer}, current_date, {amount}, 'completed', '{channel}')"
    )
    values = ", ".join(f"({i}, {order_id}, {p}, {q}, {price})" for i, p, q, price in lines)
    cur.execute(f"INSERT INTO order_items (order_item_id, order_id, product_id, quantity, price) VALUES {values}")
    return item_id


__all__ = [
    "DATABASE", "NAME", "URL_ENV", "Mutation", "SimServer", "SimStart", "create_tables", "env_line", "erp_tables",
    "load_tables", "mutate", "pg_bindir", "require", "running", "start", "start_server", "status", "stop",
]  # fmt: skip
