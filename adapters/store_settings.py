"""Settings, sticky load-balancer waits and pinned host keys: what plans and
connections read before a deploy."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from adapters.sql_base import SqlStoreBase
from adapters.store_schema import parse_time, setting_change, time_text
from strategies.setting_changes import SettingChange, Via
from strategies.waits import AppliedWait, EffectiveWait


class SettingsTables(SqlStoreBase):
    def pinned_host_key(self, host: str) -> tuple[str, str, datetime] | None:
        row = self._row("SELECT * FROM host_keys WHERE host = ?", [host])
        return None if row is None else (row["key_type"], row["key"], parse_time(row["pinned_at"]))

    def pin_host_key(self, host: str, key_type: str, key: str, at: datetime) -> bool:
        cursor = self._execute(
            "INSERT INTO host_keys (host, key_type, key, pinned_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (host) DO NOTHING",
            [host, key_type, key, time_text(at)],
        )
        return bool(cursor.rowcount)

    def get_settings(self, app: str) -> dict[str, Any]:
        rows = self._rows("SELECT key, value FROM settings WHERE app = ? ORDER BY key", [app])
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def change_setting(
        self,
        app: str,
        key: str,
        value: Any | None,
        *,
        default: Any,
        by: str,
        via: Via,
        channel: str | None,
        at: datetime,
    ) -> SettingChange | None:
        with self._transaction():
            row = self._row("SELECT value FROM settings WHERE app = ? AND key = ?", [app, key])
            old = None if row is None else json.loads(row["value"])
            if value is None and old is None:
                return None  # unset, and it was not set
            if value is not None and (default if old is None else old) == value:
                return None  # set to the value it has
            if value is None:
                self._execute("DELETE FROM settings WHERE app = ? AND key = ?", [app, key])
            else:
                self._execute(
                    """INSERT INTO settings (app, key, value, updated_at, updated_by)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (app, key) DO UPDATE SET value = excluded.value,
                        updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
                    [app, key, json.dumps(value), time_text(at), by],
                )
            change = {
                "app": app,
                "key": key,
                "old": None if old is None else json.dumps(old),
                "new": None if value is None else json.dumps(value),
                "changed_by": by,
                "changed_at": time_text(at),
                "via": via,
                "channel": channel,
            }
            change_id = self._insert("setting_changes", change)
        return SettingChange(change_id, app, key, old, value, by, at, via, channel)

    def setting_history(self, app: str, key: str | None, limit: int) -> list[SettingChange]:
        which, params = ("", [app]) if key is None else (" AND key = ?", [app, key])
        rows = self._rows(
            f"SELECT * FROM setting_changes WHERE app = ?{which} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [setting_change(row) for row in rows]

    def setting_origins(self, app: str) -> dict[str, SettingChange]:
        rows = self._rows(
            """SELECT c.* FROM setting_changes c
            JOIN settings s ON s.app = c.app AND s.key = c.key
            WHERE c.app = ? AND c.id = (
                SELECT MAX(id) FROM setting_changes WHERE app = c.app AND key = c.key
            )""",
            [app],
        )
        return {row["key"]: setting_change(row) for row in rows}

    def unannounced_setting_changes(self, limit: int = 50) -> list[SettingChange]:
        rows = self._rows(
            "SELECT * FROM setting_changes WHERE announced_at IS NULL ORDER BY id LIMIT ?",
            [limit],
        )
        return [setting_change(row) for row in rows]

    def claim_setting_announcement(self, change_id: int, at: datetime) -> bool:
        cursor = self._execute(
            "UPDATE setting_changes SET announced_at = ? WHERE id = ? AND announced_at IS NULL",
            [time_text(at), change_id],
        )
        return cursor.rowcount == 1

    def applied_waits(self, app: str) -> dict[str, AppliedWait]:
        rows = self._rows("SELECT * FROM applied_waits WHERE app = ?", [app])
        return {
            row["key"]: AppliedWait(
                row["key"], row["seconds"], row["deploy_id"], parse_time(row["applied_at"])
            )
            for row in rows
        }

    def apply_waits(
        self, app: str, deploy_id: int, waits: Iterable[EffectiveWait], at: datetime
    ) -> None:
        with self._transaction():
            for wait in waits:
                if wait.change == "store":
                    self._execute(
                        """INSERT INTO applied_waits (app, key, seconds, deploy_id, applied_at)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (app, key) DO UPDATE SET seconds = excluded.seconds,
                            deploy_id = excluded.deploy_id, applied_at = excluded.applied_at""",
                        [app, wait.key, wait.seconds, deploy_id, time_text(at)],
                    )
                elif wait.change == "clear":
                    self._execute(
                        "DELETE FROM applied_waits WHERE app = ? AND key = ?", [app, wait.key]
                    )
