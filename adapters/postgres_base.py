"""The PostgreSQL engine of the store, shared by several bot replicas.

Connections come from a psycopg-pool pool; a transaction keeps its connection
for the thread that opened it, so the shared table code nests transactions
as it does on SQLite.

Concurrency, and why this way: every *write* transaction first takes one
transaction-scoped advisory lock (``pg_advisory_xact_lock``), so write
transactions of every replica run one at a time, exactly like SQLite's
``BEGIN IMMEDIATE``. The table code is written once for both engines and its
read-then-write steps (take an app's lock if free, decide an approval if
still pending, claim an announcement, fire a schedule) are correct under one
writer at a time; on PostgreSQL they stay correct without a second copy of
the logic in ``FOR UPDATE`` dialect, and without serialization failures to
retry. Unique constraints (one lock row per app, one row per seen event or
request signature) back it up. A deploy bot writes tens of rows a second at
most; ``make bench`` measures what one lock costs. Reads take no lock and
run in a REPEATABLE READ snapshot, so a deploy and its servers agree.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.sql_base import Row, SqlStoreBase, insert_sql
from adapters.store_schema import Ddl
from adapters.store_schema import migrate as run_migrations
from strategies.store import StoreError

# Keys of the two advisory locks (any 64-bit numbers, fixed for all replicas).
WRITE_LOCK = 0x5348_4950_0001  # "SHIP" 1: one write transaction at a time
MIGRATE_LOCK = 0x5348_4950_0002  # "SHIP" 2: one migrating replica at a time
POOL_SIZE = 12  # HTTP threads + deploy workers + maintenance of one replica
WAIT = 30.0  # seconds to wait for a connection, as SQLite's busy timeout


def describe_url(url: str) -> str:
    """``user@host:port/dbname``, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparseable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@dataclass
class _Result:
    rowcount: int


class PostgresBase(SqlStoreBase):
    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = POOL_SIZE) -> None:
        self._where = describe_url(url)
        self._local = threading.local()
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        try:
            pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                timeout=WAIT,
                kwargs={"autocommit": True, "row_factory": dict_row},
                # A connection the server dropped (a restart, a failover) is
                # replaced before use instead of failing a deploy's journal write.
                check=ConnectionPool.check_connection,
                open=False,
                name="shipbot",
            )
            self._pool = pool
            # One plain connection first: its error says why (the pool's only times out).
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                ddl = _PostgresDdl(conn)  # type: ignore[arg-type]
                self.applied = run_migrations(ddl) if migrate else []
            pool.open(wait=True, timeout=10)
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            self.close()
            raise StoreError(f"{self._where}: cannot use the database ({_reason(exc)})") from None

    @property
    def where(self) -> str:
        return self._where

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def ping(self) -> None:
        """Raise if the server does not answer within a few seconds (for /healthz)."""
        assert self._pool is not None
        with self._pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1")

    def _has_table(self, name: str) -> bool:
        found = self._rows("SELECT to_regclass(?) IS NOT NULL AS found", [name])
        return bool(found[0]["found"])

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Row]]:
        current: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        assert self._pool is not None
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            if write and not self._local.writing:
                raise RuntimeError("a write transaction cannot join a read transaction")
            yield
            return
        assert self._pool is not None
        with self._pool.connection() as conn, conn.transaction():
            if write:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            else:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self._local.conn, self._local.writing = conn, write
            try:
                yield
            finally:
                self._local.conn = None

    def _execute(self, sql: str, params: Sequence[Any]) -> _Result:
        with self._connection() as conn:
            cursor = conn.execute(_dialect(sql), _params(params))
            return _Result(cursor.rowcount)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]:
        with self._connection() as conn:
            return conn.execute(_dialect(sql), _params(params)).fetchall()

    def _insert(self, table: str, row: Row) -> int:
        sql, params = insert_sql(table, row)
        with self._connection() as conn:
            found = conn.execute(_dialect(sql + " RETURNING id"), _params(params)).fetchone()
        assert found is not None
        return int(found["id"])

    def _insert_rows(self, table: str, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        sql, _ = insert_sql(table, rows[0])
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(_dialect(sql), [_params(list(row.values())) for row in rows])


class _PostgresDdl(Ddl):
    """Migrations under a session advisory lock, so replicas starting together
    apply each one once; types spelled as PostgreSQL spells them."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def begin(self) -> None:
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK])

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(_dialect(sql), _params(params))
            return cursor.fetchall() if cursor.description else []

    def translate(self, sql: str) -> str:
        return _ddl(sql)


_TYPES = [
    # A deploy number quoted in chat is never reused: identity columns never are.
    (
        re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    # Byte order, as SQLite compares: times are ISO text and sort as text.
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
]


def _ddl(sql: str) -> str:
    for pattern, spelled in _TYPES:
        sql = pattern.sub(spelled, sql)
    return sql


@functools.lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """``?`` placeholders as ``%s``, a literal ``%`` as ``%%``; quoted text kept."""
    out: list[str] = []
    quote = ""
    comment = False
    for char in sql:
        if comment:
            comment = char != "\n"
            out.append("%%" if char == "%" else char)
        elif quote:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "-" and out and out[-1] == "-":
            comment = True
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


def _params(params: Sequence[Any]) -> list[Any]:
    # Flags are INTEGER columns on both engines; PostgreSQL will not take a bool there.
    return [int(value) if isinstance(value, bool) else value for value in params]


def _reason(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).strip().splitlines()
    return text[0] if text else type(exc).__name__
