"""The SQLite engine of the store: one file, shared by threads (one connection,
serialized) and by processes (``BEGIN IMMEDIATE``, WAL)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.sql_base import Row, SqlStoreBase, insert_sql
from adapters.store_schema import Ddl
from adapters.store_schema import migrate as run_migrations
from strategies.store import StoreError


class SqliteBase(SqlStoreBase):
    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            _private_file(path)
            conn = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
            _enable_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            self.applied = run_migrations(_SqliteDdl(conn)) if migrate else []
            # A database we cannot write must fail here, not at the first deploy.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: cannot use the database ({_reason(exc)})") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[None]:
        # IMMEDIATE takes the write lock before the first read: a deferred
        # transaction could read "no lock row" while another process adds one.
        # Reads use a plain BEGIN so a deploy and its servers come from one snapshot.
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            self._depth = 1
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    @contextmanager
    def _lazy_transaction(self) -> Iterator[None]:
        # WAL with synchronous=NORMAL: the commit is not fsynced, yet it survives the
        # process dying (it is in the OS's cache) and the next FULL commit's fsync of
        # the WAL makes it durable too. About 3 ms saved per journal write here.
        with self._lock:
            if self._depth:
                with self._transaction():
                    yield
                return
            self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._transaction():
                    yield
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, list(params))

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]:
        with self._lock:
            cursor = self._conn.execute(sql, list(params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def _has_table(self, name: str) -> bool:
        found = self._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return bool(found)

    def _insert(self, table: str, row: Row) -> int:
        sql, params = insert_sql(table, row)
        with self._lock:
            cursor = self._conn.execute(sql, params)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _insert_rows(self, table: str, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        sql, _ = insert_sql(table, rows[0])
        with self._lock:
            self._conn.executemany(sql, [list(row.values()) for row in rows])


class _SqliteDdl(Ddl):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, list(params)).fetchall()


def _private_file(path: Path) -> None:
    """The directory 0700 if we create it, the file 0600: it holds output tails
    and approvals. SQLite gives its -wal and -shm files the file's mode."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "not a database" in text:
        return "it is not a shipbot database, or it is corrupt"
    if "readonly" in text or "read-only" in text:
        return "it is read-only"
    return text


def _enable_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    # Switching a new file to WAL needs an exclusive lock and SQLite answers
    # "database is locked" at once, without the busy handler, when another
    # process is doing the same: retry for a while instead of failing.
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
