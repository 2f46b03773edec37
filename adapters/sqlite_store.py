"""The embedded store: ``strategies.store.Store`` over one SQLite file.

Each concern has its own module (``adapters/store_*.py``, shared with the
PostgreSQL store); ``SqliteBase`` gives them one connection and its
``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

from adapters.sqlite_base import SqliteBase
from adapters.store_approvals import ApprovalTables
from adapters.store_calendar import CalendarTables
from adapters.store_deploys import DeployTables
from adapters.store_settings import SettingsTables


class SqliteStore(SqliteBase, SettingsTables, DeployTables, ApprovalTables, CalendarTables):
    """Settings, waits, deploys, locks, journal, approvals, events and jobs in SQLite."""
