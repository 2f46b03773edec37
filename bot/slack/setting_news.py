"""Every change of an app's setting, told to the team in the app's channel.

Whichever front end made the change (Slack, the console chat, the CLI on
another machine), it waits in the store until a running bot claims it and
posts it through the bot's poster (rate limits, retries, order per channel).
Claimed first, so several replicas announce it once. A change made while no
bot ran is announced when one starts, with the time it was made.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import Protocol

from bot.slack.blocks import escape, mention
from bot.slack.posters import Poster
from strategies.manifest import Manifest
from strategies.ports import Clock
from strategies.setting_changes import SettingChange, announce_channel, effect
from strategies.settings import SETTINGS, effective_settings
from strategies.store import SettingsStore
from strategies.text import sentence

log = logging.getLogger(__name__)

_FRONTS = {"console": " (console chat)", "cli": " (local operator, terminal)"}
LATE = timedelta(minutes=1)  # a change older than this is announced with its time


class SettingNewsStore(SettingsStore, Protocol):
    """What announcing setting changes needs of the store."""


class SettingNews:
    def __init__(
        self, *, store: SettingNewsStore, poster: Poster, manifest: Manifest, clock: Clock
    ) -> None:
        self._store, self._poster = store, poster
        self._manifest, self._clock = manifest, clock

    def tick(self) -> None:
        """Announce the changes nobody announced yet (each claimed first)."""
        for change in self._store.unannounced_setting_changes():
            app = self._manifest.apps.get(change.app)
            channel = announce_channel(app, change.channel) if app else change.channel
            if not self._store.claim_setting_announcement(change.id, self._clock.now()):
                continue  # another bot process took it
            if channel is None:
                log.info("setting change #%d of %s: no channel to tell", change.id, change.app)
                continue
            self._poster.post(channel, self.text(change))

    def text(self, change: SettingChange) -> str:
        app = self._manifest.apps.get(change.app)
        who = mention(change.by) + _FRONTS.get(change.via, "")
        late = ""
        if self._clock.now() - change.at > LATE:
            late = f" at {change.when(app.zone if app else UTC)}"
        text = (
            f":gear: {who} changed *{escape(change.app)}* `{change.key}`{late}: "
            f"`{escape(change.values_text())}`"
        )
        if app is not None and change.key in SETTINGS:  # (a newer replica's key: no forecast)
            values = effective_settings(self._store.get_settings(change.app))
            values[change.key] = change.new_value
            said = effect(change.app, app, change.key, change.new_value, values)
            text += f". {escape(sentence(said))}."
        return text
