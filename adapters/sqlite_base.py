"""The connection every part of ``SqliteStore`` shares, and its transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from adapters.sqlite_schema import Row, migrate
from strategies.store import StoreError


class SqliteBase:
    """One SQLite file, shared by threads (one connection, serialized) and by processes.

    Every write that reads before it writes runs in ``BEGIN IMMEDIATE``, so two
    bot processes on the same file never both take an app's lock.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        try:
            _private_file(path)
            conn = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
            _enable_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            self._db = Database(conn)
            self._lock = threading.RLock()
            migrate(self._db)
            # A database we cannot write must fail here, not at the first deploy.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: cannot use the database ({_reason(exc)})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[None]:
        # IMMEDIATE takes the write lock before the first read: a deferred
        # transaction could read "no lock row" while another process adds one.
        # Reads use a plain BEGIN so a deploy and its servers come from one snapshot.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.rollback()
                raise

    def _execute(self, sql: str, params: list[Any] | dict[str, Any]) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        with self._lock:
            rowid = self._db.table(table).insert(row).last_pk
        assert isinstance(rowid, int)
        return rowid

    def _rows(self, sql: str, params: list[Any]) -> list[Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def _row(self, sql: str, params: list[Any]) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


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
