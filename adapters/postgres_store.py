"""The shared store: ``strategies.store.Store`` on a PostgreSQL server, so that
several bot replicas see one set of locks, approvals, schedules and history.

The tables' code is the SQLite store's (``adapters/store_*.py``);
``PostgresBase`` gives it pooled connections and serialized write transactions.
"""

from __future__ import annotations

from adapters.postgres_base import PostgresBase
from adapters.store_tables import StoreTables


class PostgresStore(PostgresBase, StoreTables):
    """Settings, waits, deploys, locks, journal, approvals, events and jobs in PostgreSQL."""
