"""Every table of the store, written once over ``SqlStoreBase`` for both engines."""

from __future__ import annotations

from adapters.store_approvals import ApprovalTables
from adapters.store_calendar import CalendarTables
from adapters.store_changes import ChangeTables
from adapters.store_deploys import DeployTables
from adapters.store_messages import MessageTables
from adapters.store_ops import OpsTables
from adapters.store_settings import SettingsTables


class StoreTables(
    SettingsTables,
    DeployTables,
    ApprovalTables,
    CalendarTables,
    OpsTables,
    ChangeTables,
    MessageTables,
):
    """Settings, waits, deploys, locks, journal, approvals, events, jobs; schema and processes."""
