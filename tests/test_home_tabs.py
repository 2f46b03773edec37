"""HomeTabs: which opened Homes are republished, and how often."""

from __future__ import annotations

from typing import Any

from bot.slack.home_tabs import HomeTabs


class Marks:
    def __init__(self) -> None:
        self.mark = "a"

    def change_mark(self) -> str:
        return self.mark


class Services:
    def __init__(self) -> None:
        self.store = Marks()


class Client:
    def __init__(self) -> None:
        self.published: list[str] = []

    def views_publish(self, *, user_id: str, view: dict[str, Any]) -> None:
        self.published.append(user_id)


def tabs(monkeypatch: Any, **options: Any) -> tuple[HomeTabs, Client, Services, list[float]]:
    monkeypatch.setattr("bot.slack.home_tabs.home_view", lambda services, user: {"type": "home"})
    client, services, now = Client(), Services(), [100.0]
    home = HomeTabs(
        client=client,  # type: ignore[arg-type]
        services=services,  # type: ignore[arg-type]
        monotonic=lambda: now[0],
        **options,
    )
    return home, client, services, now


def test_a_change_republishes_each_open_home_once_per_second_at_most(monkeypatch: Any) -> None:
    home, client, services, now = tabs(monkeypatch)
    home.opened("U1")
    home.opened("U2")
    home.tick()
    assert client.published == ["U1", "U2"]  # nothing changed since they opened

    services.store.mark = "b"
    home.tick()  # within a second of their publish: held back, not lost
    assert client.published == ["U1", "U2"]
    now[0] += 0.5
    services.store.mark = "c"
    home.tick()
    assert client.published == ["U1", "U2"]
    now[0] += 0.6
    home.tick()
    home.tick()
    assert sorted(client.published[2:]) == ["U1", "U2"]  # a burst of changes: one publish


def test_homes_not_opened_recently_are_forgotten(monkeypatch: Any) -> None:
    home, client, services, now = tabs(monkeypatch, window=60, max_users=2)
    home.opened("U1")
    home.opened("U2")
    home.opened("U3")  # over max_users: the oldest (U1) is no longer followed
    now[0] += 30
    services.store.mark = "b"
    home.tick()
    assert sorted(client.published[3:]) == ["U2", "U3"]
    now[0] += 61
    services.store.mark = "c"
    home.tick()
    assert client.published[5:] == []
