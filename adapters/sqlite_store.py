"""The embedded store: ``strategies.store.Store`` over one SQLite file.

Each concern has its own module (settings, deploys and their journal,
recovery, approvals, jobs); they share one connection and its
``BEGIN IMMEDIATE`` transactions through ``SqliteBase``.
"""

from __future__ import annotations

from adapters.sqlite_approvals import ApprovalTables
from adapters.sqlite_calendar import CalendarTables
from adapters.sqlite_deploys import DeployTables
from adapters.sqlite_settings import SettingsTables


class SqliteStore(SettingsTables, DeployTables, ApprovalTables, CalendarTables):
    """Settings, waits, deploys, locks, journal, approvals, events and jobs in SQLite."""
