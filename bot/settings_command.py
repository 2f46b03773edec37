"""``/settings set|get|list|unset|history``: an app's settings, and who changed them.

A change that changes something is recorded (old, new, who, when, where typed)
in the same transaction as the new value. The running Slack bot announces it in
the app's channel (``bot.slack.setting_news``), whichever front end made it:
the CLI needs no Slack token, and the message goes through the bot's poster.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING

from bot.exits import EXIT_OK
from strategies.cancel import CancelToken
from strategies.setting_changes import SettingChange, announce_channel, effect
from strategies.settings import SETTINGS, effective_settings, format_value, parse_setting, spec_for
from strategies.text import sentence

if TYPE_CHECKING:
    from bot.command_types import SettingsCommand
    from bot.handler import Caller, CommandHandler, FrontEnd

HISTORY_LINES = 20
BOT_KINDS = ("serve", "socket")
RECENT = timedelta(minutes=2)


def run(
    handler: CommandHandler,
    command: SettingsCommand,
    caller: Caller,
    front: FrontEnd,
    _: CancelToken | None,
) -> int:
    services = handler.services
    app = handler.app_or_default(command.app, caller)
    store, zone = services.store, services.manifest.app(app).zone
    if command.action == "list":
        stored, origins = store.get_settings(app), store.setting_origins(app)
        for key, spec in SETTINGS.items():
            front.reply(f"{_value_line(app, key, stored, origins.get(key), zone)}  — {spec.help}")
        return EXIT_OK
    if command.action == "history":
        front.reply("\n".join(history_lines(handler, app, command.key)))
        return EXIT_OK
    assert command.key is not None
    spec = spec_for(command.key)
    if command.action == "get":
        stored, origins = store.get_settings(app), store.setting_origins(app)
        front.reply(_value_line(app, command.key, stored, origins.get(command.key), zone))
        return EXIT_OK
    value = None
    if command.action == "set":
        assert command.value is not None
        value = parse_setting(command.key, command.value)
    change = store.change_setting(
        app,
        command.key,
        value,
        default=spec.default,
        by=caller.user,
        via=caller.via,
        channel=caller.channel,
        at=services.clock.now(),
    )
    if change is None:
        now = store.get_settings(app).get(command.key)
        shown = format_value(spec.default) + " (default)" if now is None else format_value(now)
        front.reply(f"{app}: {command.key} is already {shown}; nothing changed")
        return EXIT_OK
    values = effective_settings(store.get_settings(app))
    what = effect(app, services.manifest.app(app), command.key, change.new_value, values)
    was = format_value(change.old_value)
    done = (
        f"{command.key} = {format_value(value)} (was {was})"
        if value is not None
        else f"{command.key} unset, now {format_value(spec.default)} (default; was {was})"
    )
    front.reply(f"{app}: {done}. {sentence(what)}. {_where_announced(handler, app, caller)}.")
    return EXIT_OK


def history_lines(handler: CommandHandler, app: str, key: str | None) -> list[str]:
    if key is not None:
        spec_for(key)  # an unknown key is an error, not an empty history
    store, zone = handler.services.store, handler.services.manifest.app(app).zone
    changes = store.setting_history(app, key, HISTORY_LINES + 1)
    which = f"{app} {key}" if key else app
    if not changes:
        return [f"no setting of {which} was ever changed"]
    lines = [f"settings history of {which}, newest first:"]
    lines += [
        f"{change.when(zone)}  {change.key}  {change.values_text()}  by {change.who()}"
        for change in changes[:HISTORY_LINES]
    ]
    if len(changes) > HISTORY_LINES:
        lines.append(f"(the {HISTORY_LINES} newest; older changes are in the store)")
    return lines


def _where_announced(handler: CommandHandler, app: str, caller: Caller) -> str:
    channel = announce_channel(handler.services.manifest.app(app), caller.channel)
    if channel is None:
        return f"Not announced: {app} has no Slack channel (slack.channel in the manifest)"
    if caller.via == "slack":
        return f"Announced in <#{channel}>"
    services = handler.services
    now = services.clock.now()
    bots = [
        seen
        for seen in services.store.processes_seen(now - RECENT, now)
        if seen.alive and seen.kind in BOT_KINDS
    ]
    if bots:
        return f"The running bot announces it in channel {channel}"
    return f"No Slack bot runs on this store now: it is announced in {channel} when one starts"


def _value_line(
    app: str, key: str, stored: dict[str, object], origin: SettingChange | None, zone: tzinfo
) -> str:
    default = format_value(SETTINGS[key].default)
    if key not in stored:
        return f"{app}: {key} = {default} (default)"
    by = f"set by {origin.who()} on {origin.when(zone)}; " if origin else ""
    return f"{app}: {key} = {format_value(stored[key])} ({by}default {default})"
