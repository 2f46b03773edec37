"""When a scheduled deploy runs: ``--in 30m``, ``--at 18:00`` (today, or tomorrow
if that time has passed) or ``--at 2026-12-02T18:00`` (a full ISO date-time),
in the app's timezone unless ``--tz`` names another."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from strategies.requests import DeployRequest, RequestError

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
LONGEST = timedelta(days=366)


def run_time(request: DeployRequest, now: datetime, zone: ZoneInfo) -> datetime:
    """The moment ``request`` (scheduled with --at or --in) should run; RequestError if
    it cannot be read or is not in the coming year."""
    if request.after is not None:
        return now + timedelta(seconds=request.after)
    assert request.at is not None
    if request.tz:
        try:
            zone = ZoneInfo(request.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise RequestError(
                f"--tz {request.tz!r} is not a timezone (like UTC or Europe/Paris)"
            ) from None
    when = _at(request.at, now, zone)
    if when <= now:
        raise RequestError(f"--at {request.at!r} is in the past ({when:%Y-%m-%d %H:%M %Z})")
    if when - now > LONGEST:
        raise RequestError(f"--at {request.at!r} is more than a year away")
    return when


def _at(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    local_now = now.astimezone(zone)
    clock = _CLOCK.fullmatch(text.strip())
    if clock:
        hours, minutes = int(clock[1]), int(clock[2])
        if hours > 23 or minutes > 59:
            raise RequestError(f"--at {text!r} is not a time of day (00:00 to 23:59)")
        when = local_now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        return when if when > local_now else when + timedelta(days=1)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RequestError(
            f"--at {text!r}: give a time like 18:00 or a date-time like 2026-12-02T18:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)
