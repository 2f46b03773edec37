"""What every part of a SQL store uses: transactions, statements, rows.

The tables' code (``adapters/store_*.py``) is written once against this
interface, with ``?`` placeholders and SQL both engines speak; ``SqliteBase``
and ``PostgresBase`` implement it. A *write* transaction is serialized against
every other write transaction of every process sharing the database (SQLite's
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so a read-then-write such as
taking an app's lock can never interleave with another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = dict[str, Any]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...


class SqlStoreBase(ABC):
    @abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractContextManager[None]:
        """Statements inside run in one transaction (re-entrant: an inner one joins)."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any]) -> Cursor:
        """Run one statement; ``?`` placeholders."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]: ...

    @abstractmethod
    def _insert(self, table: str, row: Row) -> int:
        """Insert ``row``; the new row's ``id``."""

    @abstractmethod
    def _insert_rows(self, table: str, rows: Iterable[Row]) -> None:
        """Insert rows of a table without an ``id`` column."""

    @abstractmethod
    def _has_table(self, name: str) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def _row(self, sql: str, params: Sequence[Any]) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


def insert_sql(table: str, row: Row) -> tuple[str, list[Any]]:
    """``INSERT INTO table (a, b) VALUES (?, ?)`` for ``row`` (column names are ours)."""
    columns = list(row)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(row.values())
