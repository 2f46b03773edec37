"""Setting changes in process: what a change says it changes, where and how often it
is announced (a real SQLite store, a recording poster), and the plan's origin line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from adapters.sqlite_store import SqliteStore
from bot.slack.message import MessageRef
from bot.slack.setting_news import SettingNews
from strategies.manifest import Manifest, parse_manifest
from strategies.plan import plan
from strategies.requests import DeployRequest
from strategies.setting_changes import SettingChange, effect
from strategies.settings import SETTINGS
from tests.conftest import app_config, manifest_from
from tests.infra.settings import put_setting

NOW = datetime(2026, 12, 3, 13, 2, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class RecordingPoster:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def post(self, channel: str, text: str, **_: Any) -> MessageRef:
        self.posts.append((channel, text))
        return MessageRef.existing(channel, f"{len(self.posts)}.0")


def manifest(**apps: dict[str, Any]) -> Manifest:
    return parse_manifest(yaml.safe_dump({"apps": apps}))


def news_for(
    store: SqliteStore, shown: Manifest, clock: Clock
) -> tuple[SettingNews, RecordingPoster]:
    poster = RecordingPoster()
    return SettingNews(store=store, poster=poster, manifest=shown, clock=clock), poster


def test_every_setting_says_what_it_changes_for_the_next_deploys() -> None:
    plain = manifest_from().app("shop")
    batched = manifest_from(deploy={"commands": ["true"], "batch_size": [2]}).app("shop")
    canary = manifest_from(deploy={"commands": ["true"], "canary": {"servers": 1}}).app("shop")
    for key, spec in SETTINGS.items():  # a new key without its sentence fails here
        assert effect("shop", plain, key, spec.default, {}).startswith("next ")

    assert effect("shop", plain, "deploy.parallel", False, {}) == (
        "next deploys of shop run serially (one server at a time) unless --parallel"
    )
    assert "run in batches (deploy.batch_size" in effect(
        "shop", batched, "deploy.parallel", False, {}
    )
    assert "start with a canary of 1" in effect("shop", canary, "deploy.parallel", False, {})
    assert effect("shop", plain, "deploy.max_parallel", 0, {"deploy.parallel": True}) == (
        "next parallel deploys of shop run every server at once"
    )
    assert effect("shop", plain, "deploy.max_parallel", 5, {"deploy.parallel": False}) == (
        "next parallel deploys of shop run at most 5 servers at once (deploys are serial now: "
        "--parallel)"
    )


def test_the_plan_names_who_set_the_strategy_in_the_apps_timezone() -> None:
    shop = manifest_from(timezone="Europe/Paris").app("shop")
    change = SettingChange(7, "shop", "deploy.parallel", None, True, "U0ALICE", NOW, "slack")
    request = DeployRequest(app="shop", requested_by="U0BOB")

    made = plan(request, shop, {"deploy.parallel": True}, {}, {"deploy.parallel": change})
    by_terminal = plan(
        request,
        shop,
        {"deploy.parallel": True},
        {},
        {
            "deploy.parallel": SettingChange(
                8, "shop", "deploy.parallel", False, True, "root", NOW, "cli"
            )
        },
    )

    assert made.reason == (
        "setting deploy.parallel is true (set by <@U0ALICE> on 2026-12-03 14:02 CET)"
    )
    assert "(set by root from the terminal on 2026-12-03 14:02 CET)" in by_terminal.reason
    assert plan(request, shop, {}, {}, {}).reason == "setting deploy.parallel is false (default)"


def test_a_change_is_announced_once_by_any_number_of_bots(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "shipbot.db")
    shown = manifest(shop=app_config(slack={"channel": "C0SHOP"}))
    clock = Clock(NOW)
    one, one_posts = news_for(store, shown, clock)
    two, two_posts = news_for(store, shown, clock)
    put_setting(store, "shop", "deploy.parallel", True, by="U0ALICE", channel="C0ELSE", at=NOW)

    one.tick(), two.tick(), one.tick()

    assert one_posts.posts + two_posts.posts == [
        (
            "C0SHOP",  # the bound channel, not where it was typed
            ":gear: <@U0ALICE> changed *shop* `deploy.parallel`: `false (default) → true`. "
            "Next deploys of shop run in parallel unless --serial.",
        )
    ]


def test_where_no_channel_is_bound_it_is_told_where_it_was_typed_or_nowhere(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "shipbot.db")
    clock = Clock(NOW)
    news, poster = news_for(store, manifest(shop=app_config()), clock)
    put_setting(store, "shop", "deploy.parallel", True, channel="C0TYPED", at=NOW)
    put_setting(store, "shop", "deploy.parallel", None, by="root", via="cli", at=NOW)

    news.tick()

    assert [channel for channel, _ in poster.posts] == ["C0TYPED"]
    assert store.unannounced_setting_changes() == []  # the terminal's: nowhere to tell, done


def test_a_change_made_while_no_bot_ran_is_announced_with_its_time(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "shipbot.db")
    shown = manifest(shop=app_config(slack={"channel": "C0SHOP"}, timezone="Europe/Paris"))
    put_setting(store, "shop", "deploy.max_parallel", 2, by="root", via="cli", at=NOW)
    put_setting(store, "gone", "deploy.parallel", True, by="root", via="cli", channel="C0", at=NOW)
    news, poster = news_for(store, shown, Clock(NOW + timedelta(hours=3)))

    news.tick()

    assert poster.posts == [
        (
            "C0SHOP",
            ":gear: root (local operator, terminal) changed *shop* `deploy.max_parallel` at "
            "2026-12-03 14:02 CET: `0 (default) → 2`. Next parallel deploys of shop run at most "
            "2 servers at once (deploys are serial now: --parallel).",
        ),
        # An app no longer in this bot's manifest: where it was typed, without a forecast.
        (
            "C0",
            ":gear: root (local operator, terminal) changed *gone* `deploy.parallel` at "
            "2026-12-03 13:02 UTC: `false (default) → true`",
        ),
    ]


def test_history_of_a_key_this_shipbot_no_longer_knows_still_reads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "shipbot.db")
    put_setting(store, "shop", "deploy.retired", 5, at=NOW)
    put_setting(store, "shop", "deploy.retired", None, at=NOW)

    (unset, first) = store.setting_history("shop", None, 10)

    assert (first.values_text(), unset.values_text()) == ("(not set) → 5", "5 → (not set)")
