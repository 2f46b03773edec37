"""Setting an app's setting in a test as a person would: through ``change_setting``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from strategies.setting_changes import SettingChange, Via
from strategies.settings import SETTINGS
from strategies.store import SettingsStore


def put_setting(
    store: SettingsStore,
    app: str,
    key: str,
    value: Any | None,
    *,
    by: str = "U0TEST",
    via: Via = "slack",
    channel: str | None = None,
    at: datetime | None = None,
) -> SettingChange | None:
    """``value`` None unsets the key; an unknown key has no default (None)."""
    spec = SETTINGS.get(key)
    return store.change_setting(
        app,
        key,
        value,
        default=spec.default if spec else None,
        by=by,
        via=via,
        channel=channel,
        at=at or datetime.now(UTC),
    )
