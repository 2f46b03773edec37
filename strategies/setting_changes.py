"""A change of an app's setting, as the store keeps it and people read it.

Every ``set`` and ``unset`` that changes something becomes one ``SettingChange``
(who, which app and key, old and new value, when, from which front end). The
team is told of it in the app's channel; plans say which change set the value
they follow; ``/settings history`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from strategies.manifest import App
from strategies.settings import SETTINGS, format_value
from strategies.text import person

# Where a change was typed. "carried over": a value set before history was kept,
# copied from the settings table by the migration that added history.
Via = Literal["slack", "console", "cli", "carried over"]


@dataclass(frozen=True)
class SettingChange:
    """``old`` / ``new``: the stored value, None when the key was / is not set (its default)."""

    id: int
    app: str
    key: str
    old: Any | None
    new: Any | None
    by: str
    at: datetime
    via: Via
    channel: str | None = None  # where it was typed (Slack, or the console's --channel)

    @property
    def old_value(self) -> Any:
        return _effective(self.key, self.old)

    @property
    def new_value(self) -> Any:
        return _effective(self.key, self.new)

    def values_text(self) -> str:
        """``false → true``; ``(default)`` marks a value that is not set."""
        return f"{_shown(self.key, self.old)} → {_shown(self.key, self.new)}"

    def who(self) -> str:
        """The person, and the front end where it is not Slack."""
        where = {"console": " in the console chat", "cli": " from the terminal"}.get(self.via, "")
        return f"{person(self.by)}{where}"

    def when(self, zone: tzinfo) -> str:
        return f"{self.at.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _effective(key: str, stored: Any | None) -> Any:
    spec = SETTINGS.get(key)  # None: a key this shipbot no longer knows, kept in history
    return (spec.default if spec else None) if stored is None else stored


def _shown(key: str, stored: Any | None) -> str:
    if stored is not None:
        return format_value(stored)
    spec = SETTINGS.get(key)
    return f"{format_value(spec.default)} (default)" if spec else "(not set)"


def origin_text(
    key: str, value: Any, *, stored: bool, change: SettingChange | None, zone: tzinfo
) -> str:
    """``setting deploy.parallel is true (set by <@U0ALICE> on 2026-12-03 14:02 UTC)``;
    ``stored``: the app has a value for ``key`` (else it is the default)."""
    shown = f"setting {key} is {format_value(value)}"
    if not stored:
        return f"{shown} (default)"
    if change is None or change.new is None:
        return shown  # no history of it (a plan made without the store)
    return f"{shown} (set by {change.who()} on {change.when(zone)})"


def announce_channel(app: App, typed_in: str | None) -> str | None:
    """Where a change of the app's settings is announced: its bound channel, else where
    it was typed; None: nowhere (typed in a terminal, and no channel bound)."""
    return app.slack.channel if app.slack else typed_in


def effect(app_name: str, app: App, key: str, value: Any, settings: dict[str, Any]) -> str:
    """What ``key = value`` changes for the next deploys of the app, in a sentence.

    ``settings``: the app's other effective settings, which the sentence may depend on.
    """
    if key == "deploy.parallel":
        if value:
            return f"next deploys of {app_name} run in parallel unless --serial"
        if app.deploy.canary is not None:
            servers = app.deploy.canary.servers
            how = f"start with a canary of {servers} (deploy.canary in the manifest)"
        elif app.deploy.batch_size is not None:
            how = "run in batches (deploy.batch_size in the manifest)"
        else:
            how = "run serially (one server at a time)"
        return f"next deploys of {app_name} {how} unless --parallel"
    if key == "deploy.max_parallel":
        width = "every server at once" if not value else f"at most {value} servers at once"
        unless = "" if settings.get("deploy.parallel") else " (deploys are serial now: --parallel)"
        return f"next parallel deploys of {app_name} run {width}{unless}"
    raise KeyError(key)  # every key in SETTINGS has its sentence here
