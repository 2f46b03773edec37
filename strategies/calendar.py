"""When an app may be deployed: weekly windows, dated freezes, ad hoc freezes.

``deploy.windows`` lists the weekly windows deploys are allowed in, in the
app's timezone (``mon-fri 09:00-17:00``, ``sat,sun 10:00-12:00``, ``daily
22:00-02:00`` — a window that ends before it starts runs past midnight). No
windows means always open. ``deploy.freezes`` and the freezes people set
(``/deploy freeze``) are dated periods when nothing may deploy, each with a
reason. A deploy is allowed when the time is inside a window and inside no
freeze; otherwise the gate says why and when it could run next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"(?P<days>daily|[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})"
)
HORIZON = timedelta(days=400)  # how far ahead "next allowed" is looked for


class CalendarError(ValueError):
    """A window or freeze that cannot be read; one line saying what is allowed."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    text: str

    @classmethod
    def parse(cls, text: str) -> Window:
        match = _WINDOW.fullmatch(text.strip().lower())
        if not match:
            raise CalendarError(
                f"{text!r} is not a window; write days and hours like 'mon-fri 09:00-17:00', "
                "'sat,sun 10:00-12:00' or 'daily 22:00-02:00'"
            )
        return cls(_days(match["days"]), _time(match["start"]), _time(match["end"]), text)

    def contains(self, local: datetime) -> bool:
        clock = local.time().replace(tzinfo=None)
        today = local.weekday()
        if self.start < self.end:
            return today in self.days and self.start <= clock < self.end
        # Past midnight: the evening part belongs to the day, the morning to the day before.
        return (today in self.days and clock >= self.start) or (
            (today - 1) % 7 in self.days and clock < self.end
        )

    def starts_after(self, local: datetime) -> Iterable[datetime]:
        """This window's openings after ``local``, for the next eight days."""
        for offset in range(0, 9):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() in self.days:
                opening = datetime.combine(day, self.start, local.tzinfo)
                if opening > local:
                    yield opening


def _days(text: str) -> frozenset[int]:
    if text == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CalendarError(f"{part!r}: days are {', '.join(DAYS)} (or daily)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise CalendarError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)


@dataclass(frozen=True)
class Freeze:
    start: datetime
    end: datetime
    reason: str
    by: str = ""  # who set it (ad hoc freezes); "" for the manifest's

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), zone)


@dataclass(frozen=True)
class GateState:
    """Whether a deploy may run at ``at``; if not, why and when it next could."""

    at: datetime
    allowed: bool
    reason: str  # "inside window mon-fri 09:00-17:00", "frozen until …: reason"
    next_allowed: datetime | None = None
    freeze: Freeze | None = None

    def line(self) -> str:
        if self.allowed:
            return f"deploy window: open ({self.reason})"
        when = f"; next allowed {_when(self.next_allowed)}" if self.next_allowed else ""
        return f"deploy window: CLOSED ({self.reason}){when}"


def _when(moment: datetime | None) -> str:
    return "never within a year" if moment is None else f"{moment:%a %Y-%m-%d %H:%M %Z}"


def gate(
    at: datetime, zone: tzinfo, windows: Sequence[Window], freezes: Sequence[Freeze]
) -> GateState:
    """The gate at ``at``: windows and freezes evaluated in ``zone``."""
    local = at.astimezone(zone)
    frozen = next((f for f in freezes if f.contains(local)), None)
    window = next((w for w in windows if w.contains(local)), None)
    if frozen is None and (window is not None or not windows):
        why = f"inside window {window.text}" if window else "no deploy windows set"
        return GateState(local, True, why)
    if frozen is not None:
        who = f", by {frozen.by}" if frozen.by else ""
        reason = f"frozen until {frozen.end:%Y-%m-%d %H:%M %Z}: {frozen.reason}{who}"
    else:
        reason = "outside the deploy windows " + ", ".join(w.text for w in windows)
    return GateState(local, False, reason, _next_allowed(local, windows, freezes), frozen)


def _next_allowed(
    local: datetime, windows: Sequence[Window], freezes: Sequence[Freeze]
) -> datetime | None:
    horizon = local + HORIZON
    moment = local
    for _ in range(2000):  # each step lands on a freeze's end or a window's opening
        frozen = next((f for f in freezes if f.contains(moment)), None)
        if frozen is not None:
            moment = frozen.end.astimezone(local.tzinfo)
        elif windows and not any(w.contains(moment) for w in windows):
            openings = [o for w in windows for o in w.starts_after(moment)]
            if not openings:
                return None
            moment = min(openings)
        else:
            return moment
        if moment > horizon:
            return None
    return None
