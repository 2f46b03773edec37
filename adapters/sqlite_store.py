"""The embedded store: ``strategies.store.Store`` over one SQLite file.

Each concern has its own module (``adapters/store_*.py``, shared with the
PostgreSQL store); ``SqliteBase`` gives them one connection and its
``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

from adapters.sqlite_base import SqliteBase
from adapters.store_tables import StoreTables


class SqliteStore(SqliteBase, StoreTables):
    """Settings, waits, deploys, locks, journal, approvals, events and jobs in SQLite."""
