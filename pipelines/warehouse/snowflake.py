"""Connections to Snowflake targets (`prod` from SNOWFLAKE_* settings, `snowsim` = local fakesnow).

Every failure becomes a one-line `ShopLakeError` naming the setting to fix; messages are built
from our own words and non-secret settings only, never from the password or key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings

TARGETS = ("prod", "snowsim")
RAW_SCHEMA = "RAW"
SNOWSIM_DATABASE = "SHOPLAKE"
SNOWSIM_SCHEMA = "ANALYTICS"


@dataclass(frozen=True)
class Target:
    """Resolved connection settings for one Snowflake target."""

    name: str
    account: str
    user: str
    database: str
    schema: str
    warehouse: str | None
    role: str | None
    host: str | None
    port: int | None
    protocol: str | None
    login_timeout: int
    secret: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def endpoint(self) -> str:
        host = self.host or f"{self.account}.snowflakecomputing.com"
        return f"{self.protocol or 'https'}://{host}:{self.port or 443}"

    @property
    def is_emulator(self) -> bool:
        return self.name == "snowsim"


def resolve_target(settings: Settings, target: str) -> Target:
    """Validate the settings a target needs, without connecting."""
    if target not in TARGETS:
        raise ShopLakeError(f"unknown Snowflake target {target!r}; use one of {', '.join(TARGETS)}")
    if target == "snowsim":
        from .snowsim import running_port

        port = running_port(Lake.of(settings))
        return Target(
            name="snowsim", account="fakesnow", user="shoplake", database=SNOWSIM_DATABASE, schema=SNOWSIM_SCHEMA,
            warehouse=None, role=None, host="127.0.0.1", port=port, protocol="http", login_timeout=10,
            secret={"password": "snowsim"},
        )  # fmt: skip
    sf = settings.snowflake
    required = {"SNOWFLAKE_ACCOUNT": sf.account, "SNOWFLAKE_USER": sf.user, "SNOWFLAKE_WAREHOUSE": sf.warehouse,
                "SNOWFLAKE_DATABASE": sf.database}  # fmt: skip
    for name, value in required.items():
        if not value:
            raise ShopLakeError(f"{name} is not set (needed for --target prod); see docs/snowflake.md")
    secret: dict[str, Any] = {}
    if sf.private_key_path:
        secret["private_key"] = _load_private_key(Path(sf.private_key_path).expanduser())
    elif sf.password:
        secret["password"] = sf.password
    else:
        raise ShopLakeError("set SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH (needed for --target prod)")
    port = sf.port or ""
    if port and not port.isdigit():
        raise ShopLakeError(f"SNOWFLAKE_PORT must be a number, got {port!r}")
    protocol = (sf.protocol or "").lower() or None
    if protocol not in (None, "http", "https"):
        raise ShopLakeError(f"SNOWFLAKE_PROTOCOL must be http or https, got {protocol!r}")
    timeout = sf.login_timeout or "30"
    if not timeout.isdigit():
        raise ShopLakeError(f"SNOWFLAKE_LOGIN_TIMEOUT must be a whole number of seconds, got {timeout!r}")
    return Target(
        name="prod", account=sf.account, user=sf.user, database=sf.database, schema=sf.schema or "ANALYTICS",
        warehouse=sf.warehouse, role=sf.role or None, host=sf.host or None, port=int(port) if port else None,
        protocol=protocol, login_timeout=int(timeout), secret=secret,
    )  # fmt: skip


def _load_private_key(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if not path.is_file():
        raise ShopLakeError(f"SNOWFLAKE_PRIVATE_KEY_PATH: no file at {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise ShopLakeError(
            f"SNOWFLAKE_PRIVATE_KEY_PATH: {path} is not an unencrypted PEM private key"
        ) from None  # no chaining: the parser's message may quote key material
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def connect(target: Target, *, paramstyle: str | None = None):
    """Open a connector session on `target`, or raise a one-line error naming the setting to fix.

    The session uses the target's database and, when it exists already, its model schema.
    """
    import snowflake.connector
    from snowflake.connector import errors as sf_errors

    kwargs: dict[str, Any] = {
        "account": target.account, "user": target.user, "login_timeout": target.login_timeout,
        "network_timeout": max(target.login_timeout, 60), "client_session_keep_alive": False,
        **target.secret,
    }  # fmt: skip
    if paramstyle:
        kwargs["paramstyle"] = paramstyle
    for key in ("host", "port", "protocol", "role"):
        if getattr(target, key):
            kwargs[key] = getattr(target, key)
    try:
        con = snowflake.connector.connect(**kwargs)
    except sf_errors.DatabaseError as exc:
        raise _login_error(target, exc) from None  # the connector's text may echo request details
    except Exception as exc:  # sockets, TLS, DNS: the connector does not wrap them all
        raise ShopLakeError(
            f"cannot reach Snowflake at {target.endpoint} ({type(exc).__name__}); check {_where(target)}"
        ) from None
    try:
        _use(con, target)
    except BaseException:
        con.close()
        raise
    return con


def _where(target: Target) -> str:
    if target.is_emulator:
        return "that `shoplake snowsim status` shows a running server"
    return "SNOWFLAKE_ACCOUNT / SNOWFLAKE_HOST / SNOWFLAKE_PORT / SNOWFLAKE_PROTOCOL"


def _login_error(target: Target, exc: Exception) -> ShopLakeError:
    errno = getattr(exc, "errno", None)
    text = str(getattr(exc, "msg", "") or "").lower()
    auth = "SNOWFLAKE_PRIVATE_KEY_PATH" if "private_key" in target.secret else "SNOWFLAKE_PASSWORD"
    if errno in (390100, 390144, 390186, 394304, 250001) and ("incorrect" in text or "jwt" in text):
        return ShopLakeError(f"Snowflake rejected the login of SNOWFLAKE_USER={target.user}: check {auth}")
    if errno in (390101, 390102) or "not authorized to use role" in text or ("role" in text and "exist" in text):
        return ShopLakeError(f"Snowflake refused role {target.role!r}: check SNOWFLAKE_ROLE")
    if errno == 250003 or "failed to connect" in text or "could not connect" in text or "timed out" in text:
        return ShopLakeError(f"cannot reach Snowflake at {target.endpoint}; check {_where(target)}")
    if "incorrect username or password" in text:
        return ShopLakeError(f"Snowflake rejected the login of SNOWFLAKE_USER={target.user}: check {auth}")
    return ShopLakeError(
        f"Snowflake login failed (error {errno}) at {target.endpoint} as SNOWFLAKE_USER={target.user}; "
        f"check {auth} and {_where(target)}"
    )


def _use(con, target: Target) -> None:
    """Select warehouse and database; the RAW schema is created by promotion when missing."""
    from snowflake.connector import errors as sf_errors

    cur = con.cursor()
    if target.warehouse and not target.is_emulator:
        try:
            cur.execute(f"use warehouse {_ident(target.warehouse)}")
        except sf_errors.ProgrammingError:
            raise ShopLakeError(
                f"warehouse {target.warehouse!r} does not exist or this role may not use it: check SNOWFLAKE_WAREHOUSE"
            ) from None
    try:
        if target.is_emulator:
            cur.execute(f"create database if not exists {target.database}")
        cur.execute(f"use database {_ident(target.database)}")
    except sf_errors.ProgrammingError:
        raise ShopLakeError(
            f"database {target.database!r} does not exist or is not authorised: check SNOWFLAKE_DATABASE"
        ) from None
    # The model schema may not exist yet: promotion creates RAW itself and `dbt build` creates it.
    with contextlib.suppress(sf_errors.ProgrammingError):
        cur.execute(f"use schema {_ident(target.schema)}")


def _ident(name: str) -> str:
    """Unquoted when it is a plain identifier (Snowflake upper-cases it), quoted otherwise."""
    if name.replace("_", "").isalnum() and not name[0].isdigit():
        return name
    return '"' + name.replace('"', '""') + '"'


def quote(name: str) -> str:
    return _ident(name)
