"""``/deploy lock``, ``unlock``, ``freeze``, ``unfreeze``: what people set to stop deploys.

A lock stops every deploy of the app until it is unlocked or expires; a
freeze does the same but, like the manifest's freezes, an overrider may
deploy through it with ``--override "reason"``. Both say who set them, when,
why and until when. ``unfreeze`` lifts what people set, not the manifest's
dated freezes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.command_types import FreezeCommand, LockCommand, UnfreezeCommand, UnlockCommand
from bot.grammar import UsageError
from bot.wiring import Services
from strategies.calendar import day_start
from strategies.manifest import App
from strategies.records import Hold
from strategies.text import person


def lock(services: Services, command: LockCommand, user: str) -> str:
    app, now = services.manifest.app(command.app), services.clock.now()
    until = now + timedelta(seconds=command.seconds) if command.seconds else None
    reason = command.reason or "no reason given"
    services.store.set_hold(Hold(command.app, "lock", user, reason, now, until))
    return f"{command.app} locked by {person(user)}{_until(until, app)}: {reason}"


def unlock(services: Services, command: UnlockCommand, user: str) -> str:
    services.manifest.app(command.app)
    lifted = services.store.clear_hold(command.app, "lock")
    if lifted is None or not lifted.active(services.clock.now()):
        return f"{command.app} was not locked"
    return (
        f"{command.app} unlocked by {person(user)} (locked by {person(lifted.by)}: {lifted.reason})"
    )


def freeze(services: Services, command: FreezeCommand, user: str) -> str:
    app, now = services.manifest.app(command.app), services.clock.now()
    if command.seconds is not None:
        until = now + timedelta(seconds=command.seconds)
    else:
        assert command.until is not None
        until = _date(command.until, app, now)
    reason = command.reason or "no reason given"
    services.store.set_hold(Hold(command.app, "freeze", user, reason, now, until))
    return f"{command.app} frozen by {person(user)}{_until(until, app)}: {reason}"


def unfreeze(services: Services, command: UnfreezeCommand, user: str) -> str:
    app = services.manifest.app(command.app)
    lifted = services.store.clear_hold(command.app, "freeze")
    kept = (
        f"; the manifest's freezes still apply ({len(app.deploy.freezes)})"
        if (app.deploy.freezes)
        else ""
    )
    if lifted is None or not lifted.active(services.clock.now()):
        return f"{command.app} was not frozen by anyone{kept}"
    return f"{command.app} unfrozen by {person(user)}{kept}"


def _until(until: datetime | None, app: App) -> str:
    return "" if until is None else f" until {until.astimezone(app.zone):%Y-%m-%d %H:%M %Z}"


def _date(text: str, app: App, now: datetime) -> datetime:
    """``until 2026-12-28``: midnight at the start of that day, in the app's timezone."""
    try:
        when = day_start(datetime.strptime(text, "%Y-%m-%d").date(), app.zone)
    except ValueError:
        raise UsageError(f"until {text!r}: expected a date like 2026-12-28") from None
    if when <= now:
        raise UsageError(f"until {text!r} is not in the future")
    return when
