"""The App Home tab over signed HTTP against a real ``shipbot serve``.

Opening Home publishes it (``views.publish`` in the Slack fake, checked like
Slack checks a view); an approver's Home carries the pending request with
working buttons; a stranger's shows nothing of the app; and a change made
elsewhere (a CLI lock) republishes the Homes that are open.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Run, WriteManifest, app_config
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake, view_of

CHANNEL, DEV, LEAD, EVE = "C0DEPLOYS", "U0DEV", "U0LEAD", "U0EVE"


def manifest(write_manifest: WriteManifest) -> None:
    shop = app_config(
        slack={"channel": CHANNEL},
        deployers=[DEV],
        approval={"required": True, "approvers": [LEAD], "timeout": "10m"},
    )
    blog = app_config(deployers=[EVE])
    hidden = app_config(deployers=[])  # no lists at all: shown to nobody
    write_manifest(apps={"shop": shop, "blog": blog, "hidden": hidden})


def publishes(calls: list[Call], user: str) -> list[dict[str, Any]]:
    return [
        view_of(c) for c in calls if c.method == "views.publish" and c.body.get("user_id") == user
    ]


def home_of(slack_fake: SlackFake, user: str, count: int = 1) -> dict[str, Any]:
    calls = slack_fake.wait_for(lambda cs: len(publishes(cs, user)) >= count, timeout=15)
    return publishes(calls, user)[-1]


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


def headers(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]


def approval(db: Path) -> tuple[str, str | None]:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status, decided_by FROM approvals").fetchone()
        return (str(row[0]), row[1])


def test_an_approvers_home_shows_the_request_and_its_approve_button_approves_once(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()
    assert server.sender.command("shop --ref v4", user=DEV).status == 200
    slack_fake.wait_for(lambda cs: any("needs approval" in str(c.body) for c in cs))

    assert server.sender.home_opened(LEAD).status == 200
    home = home_of(slack_fake, LEAD)

    assert headers(home) == ["shop"]
    assert "Waiting for approval:* deploy of shop @ v4 by <@U0DEV>" in text_of(home)
    (actions,) = [b for b in home["blocks"] if b["type"] == "actions"]
    buttons = {e["action_id"]: e["value"] for e in actions["elements"]}
    assert set(buttons) == {"shipbot_approve", "shipbot_reject"}

    first = server.sender.view_button("shipbot_approve", buttons["shipbot_approve"], user=LEAD)
    again = server.sender.view_button("shipbot_approve", buttons["shipbot_approve"], user=LEAD)

    assert (first.status, again.status) == (200, 200)
    calls = slack_fake.wait_for(
        lambda cs: any("succeeded" in str(c.body.get("text", "")) for c in cs), timeout=30
    )
    assert approval(server.db) == ("approved", LEAD)
    thread = [c for c in calls if c.method == "chat.postMessage" and c.body.get("thread_ts")]
    assert sum("approved by <@U0LEAD>" in str(c.body.get("text")) for c in thread) == 1
    with sqlite3.connect(server.db) as conn:
        assert conn.execute("SELECT count(*) FROM deploys").fetchone()[0] == 1
    # The approval and the deploy republish the open Home: the request is gone from it.
    settled = slack_fake.wait_for(
        lambda cs: (
            "Waiting for approval" not in text_of(publishes(cs, LEAD)[-1])
            and "succeeded" in text_of(publishes(cs, LEAD)[-1])
        ),
        timeout=15,
    )
    assert "deploy #1 @ v4 succeeded" in text_of(publishes(settled, LEAD)[-1])


def test_the_requester_may_withdraw_from_home_and_a_stranger_sees_nothing_of_the_app(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()
    server.sender.command("shop", user=DEV)
    slack_fake.wait_for(lambda cs: any("needs approval" in str(c.body) for c in cs))

    server.sender.home_opened(DEV)
    server.sender.home_opened(EVE)
    mine, strangers = home_of(slack_fake, DEV), home_of(slack_fake, EVE)

    assert headers(mine) == ["shop"]
    (actions,) = [b for b in mine["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Withdraw"]
    assert headers(strangers) == ["blog"]
    assert "shop" not in text_of(strangers) and "hidden" not in text_of(strangers)
    outsider = server.sender.view_button(
        "shipbot_approve", actions["elements"][0]["value"], user=EVE
    )
    assert outsider.status == 200
    slack_fake.wait_for(
        lambda cs: any(c.method == "chat.postEphemeral" and c.body.get("user") == EVE for c in cs)
    )
    assert approval(server.db) == ("pending", None)

    server.sender.view_button("shipbot_reject", actions["elements"][0]["value"], user=DEV)
    withdrawn = slack_fake.wait_for(
        lambda cs: "Waiting for approval" not in text_of(publishes(cs, DEV)[-1]), timeout=15
    )
    assert approval(server.db) == ("rejected", DEV)
    assert publishes(withdrawn, DEV)[-1]["type"] == "home"


def test_a_lock_from_the_cli_republishes_an_open_home(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake, shipbot: Run
) -> None:
    manifest(write_manifest)
    server = serve()
    server.sender.home_opened(DEV)
    before = home_of(slack_fake, DEV)
    assert "LOCKED" not in text_of(before)

    done = shipbot("--manifest", "manifest.yml", "--db", server.db, "lock", "shop", "disk full")

    assert done.returncode == 0, done.stderr
    calls = slack_fake.wait_for(lambda cs: "LOCKED" in text_of(publishes(cs, DEV)[-1]), timeout=10)
    assert "disk full" in text_of(publishes(calls, DEV)[-1])
    # Nobody else opened Home: nobody else was published to.
    assert {c.body["user_id"] for c in calls if c.method == "views.publish"} == {DEV}
