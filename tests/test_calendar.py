"""Deploy windows, freezes and --at times, on fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from strategies.calendar import CalendarError, Freeze, Window, gate
from strategies.requests import DeployRequest, RequestError
from strategies.when import run_time

PARIS = ZoneInfo("Europe/Paris")
WORKDAYS = [Window.parse("mon-fri 09:00-17:00")]
# 2026-12-04 is a Friday.
FRIDAY_NOON = datetime(2026, 12, 4, 12, 0, tzinfo=PARIS)


def test_inside_a_window_the_gate_is_open() -> None:
    state = gate(FRIDAY_NOON, PARIS, WORKDAYS, [])
    assert state.allowed and state.reason == "inside window mon-fri 09:00-17:00"


def test_friday_evening_waits_for_monday_morning() -> None:
    state = gate(FRIDAY_NOON.replace(hour=18), PARIS, WORKDAYS, [])
    assert not state.allowed
    assert state.next_allowed == datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
    assert "next allowed Mon 2026-12-07 09:00 CET" in state.line()


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    nights = [Window.parse("fri 22:00-02:00")]
    assert gate(datetime(2026, 12, 5, 1, 30, tzinfo=PARIS), PARIS, nights, []).allowed  # Sat 01:30
    assert not gate(datetime(2026, 12, 6, 1, 30, tzinfo=PARIS), PARIS, nights, []).allowed


def test_a_freeze_inside_a_window_closes_it_until_the_freeze_ends_in_a_window() -> None:
    holidays = Freeze(
        datetime(2026, 12, 24, tzinfo=PARIS), datetime(2026, 12, 28, tzinfo=PARIS), "holidays"
    )
    state = gate(datetime(2026, 12, 24, 10, tzinfo=PARIS), PARIS, WORKDAYS, [holidays])
    assert not state.allowed and state.freeze is holidays
    assert "frozen until 2026-12-28 00:00 CET: holidays" in state.reason
    assert state.next_allowed == datetime(2026, 12, 28, 9, 0, tzinfo=PARIS)  # Monday 09:00


def test_no_windows_means_always_open_except_in_freezes() -> None:
    assert gate(FRIDAY_NOON.replace(hour=3), PARIS, [], []).allowed
    freeze = Freeze(FRIDAY_NOON - timedelta(hours=1), FRIDAY_NOON + timedelta(hours=2), "x")
    state = gate(FRIDAY_NOON, PARIS, [], [freeze])
    assert not state.allowed and state.next_allowed == freeze.end


def test_windows_are_read_in_the_apps_timezone() -> None:
    # 08:30 UTC is 09:30 in Paris: open there, not in UTC.
    at = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    assert gate(at, PARIS, WORKDAYS, []).allowed
    assert not gate(at, ZoneInfo("UTC"), WORKDAYS, []).allowed


@pytest.mark.parametrize("bad", ["weekdays 9-5", "mon-fri 25:00-26:00", "monday 09:00-10:00", ""])
def test_a_bad_window_says_how_to_write_one(bad: str) -> None:
    with pytest.raises(CalendarError, match=r"mon-fri 09:00-17:00|days are|time of day"):
        Window.parse(bad)


def when(**fields: object) -> datetime:
    return run_time(DeployRequest("shop", "U0", **fields), FRIDAY_NOON, PARIS)  # type: ignore[arg-type]


def test_at_a_time_today_or_tomorrow_if_it_has_passed() -> None:
    assert when(at="18:00") == datetime(2026, 12, 4, 18, 0, tzinfo=PARIS)
    assert when(at="09:15") == datetime(2026, 12, 5, 9, 15, tzinfo=PARIS)


def test_at_an_iso_time_in_the_apps_zone_or_another() -> None:
    assert when(at="2026-12-10T08:00") == datetime(2026, 12, 10, 8, 0, tzinfo=PARIS)
    assert when(at="2026-12-10T08:00", tz="UTC") == datetime(2026, 12, 10, 8, 0, tzinfo=UTC)
    assert when(after=1800.0) == FRIDAY_NOON + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"at": "2026-12-01T08:00"}, "is in the past"),
        ({"at": "2028-01-01T08:00"}, "more than a year away"),
        ({"at": "25:00"}, "not a time of day"),
        ({"at": "teatime"}, "give a time like 18:00"),
        ({"at": "18:00", "tz": "Mars/Olympus"}, "is not a timezone"),
    ],
)
def test_a_bad_at_is_one_line(fields: dict[str, object], said: str) -> None:
    with pytest.raises(RequestError, match=said):
        when(**fields)
