"""Settings, sticky load-balancer waits and pinned host keys: what plans and
connections read before a deploy."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from adapters.sql_base import SqlStoreBase
from adapters.store_schema import parse_time, time_text
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

    def set_setting(self, app: str, key: str, value: Any, *, by: str) -> None:
        self._execute(
            """INSERT INTO settings (app, key, value, updated_at, updated_by)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (app, key) DO UPDATE SET value = excluded.value,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
            [app, key, json.dumps(value), time_text(datetime.now(UTC)), by],
        )

    def unset_setting(self, app: str, key: str) -> bool:
        cursor = self._execute("DELETE FROM settings WHERE app = ? AND key = ?", [app, key])
        return cursor.rowcount > 0

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
