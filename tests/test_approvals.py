"""Approvals end to end over HTTP: the request message, reactions, buttons,
expiry and restarts of a real ``shipbot serve`` process."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import WriteManifest, fleet_file
from tests.infra.shipbot_server import Serve, ShipbotServer
from tests.infra.slack import Call, SlackFake
from tests.infra.threads import CHANNEL, in_thread, posts

DEV, LEAD, EVE, BOT = "U0DEV", "U0LEAD", "U0EVE", "U0SHIPBOT"


def needs_approval(write_manifest: WriteManifest, timeout: str = "10m") -> None:
    write_manifest(
        slack={"channel": CHANNEL},
        approval={"required": True, "approvers": [LEAD], "timeout": timeout},
    )


def approval_row(db: Path, approval_id: int) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM approvals WHERE id = ?", [approval_id]).fetchone())


def deploys(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT requested_by, status FROM deploys ORDER BY id").fetchall()


def ask(server: ShipbotServer, fake: SlackFake, user: str = DEV) -> tuple[int, str]:
    """``/deploy shop`` by ``user``: the approval's id and its request message's ts."""
    before = len(fake.calls_to("chat.postMessage"))
    answered = len(fake.calls_to("response_url"))
    answer = server.sender.command("shop", user=user, response_url=fake.response_url("ask"))
    assert answer.json["text"] == "shop needs approval: asking <@U0LEAD> (serial)…"
    fake.wait_for(lambda calls: len(posts(calls)) > before)
    request = posts(fake.calls)[before]
    (buttons,) = [b for b in request.body["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]] == ["shipbot_approve", "shipbot_reject"]
    approval_id = int(buttons["elements"][0]["value"])
    # Slack shows the request's ts to whoever reacts; here the bot's database tells it.
    ts = poll(lambda: approval_row(server.db, approval_id)["message_ts"])
    fake.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) > answered)
    return approval_id, ts


def poll(value: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = value()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"nothing after {timeout}s")


def succeeded_in(calls: list[Call], ts: str) -> bool:
    return any("succeeded" in text for text in in_thread(calls, ts))


def ephemerals(calls: list[Call], user: str) -> list[str]:
    return [
        str(c.body["text"])
        for c in calls
        if c.method == "chat.postEphemeral" and c.body["user"] == user
    ]


def test_an_approvers_reaction_starts_the_deploy_and_nobody_elses_does(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest)
    server = serve()
    approval_id, ts = ask(server, slack_fake)

    server.sender.reaction("white_check_mark", user=DEV, channel=CHANNEL, ts=ts)
    server.sender.reaction("+1", user=EVE, channel=CHANNEL, ts=ts)
    server.sender.reaction("white_check_mark", user=BOT, channel=CHANNEL, ts=ts)
    server.sender.reaction("tada", user=LEAD, channel=CHANNEL, ts=ts)
    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts="1.000001")

    calls = slack_fake.wait_for(lambda cs: bool(ephemerals(cs, DEV) and ephemerals(cs, EVE)))
    assert ephemerals(calls, DEV) == [
        "refused: <@U0DEV> requested this deploy of shop and cannot approve it; "
        "ask an approver (<@U0LEAD>)"
    ]
    assert ephemerals(calls, EVE) == [
        "refused: <@U0EVE> may not approve deploys of shop (approvers: <@U0LEAD>); nothing changed"
    ]
    assert approval_row(server.db, approval_id)["status"] == "pending"
    assert deploys(server.db) == []

    # The approver's reaction, and Slack's retry of the very same event.
    first = server.sender.reaction(
        "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvA"
    )
    retry = server.sender.reaction(
        "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvA", retry=1
    )

    assert (first.status, retry.status) == (200, 200)
    calls = slack_fake.wait_for(lambda cs: succeeded_in(cs, ts), 30)
    thread = in_thread(calls, ts)
    assert thread[0] == ":white_check_mark: approved by <@U0LEAD>: deploying"
    assert sum("approved by" in text for text in thread) == 1
    assert deploys(server.db) == [(DEV, "succeeded")]
    row = approval_row(server.db, approval_id)
    assert (row["status"], row["decided_by"]) == ("approved", LEAD)
    # The request message became the deploy's parent: no new top-level message.
    assert len([c for c in posts(calls) if not c.body.get("thread_ts")]) == 1
    # ... and keeps saying who approved it, under the progress bar.
    calls = slack_fake.wait_for(
        lambda cs: any(
            c.method == "chat.update" and c.body["ts"] == ts and "succeeded" in c.body["text"]
            for c in cs
        )
    )
    (last,) = [c for c in calls if c.method == "chat.update" and "succeeded" in c.body["text"]]
    assert "approved by <@U0LEAD>" in json.dumps(last.body["blocks"])
    assert fleet_file(workdir, "web3").read_text() == "shop web3 main\n"
    # Only the requester and the non-approver were told anything; the rest was ignored.
    assert {c.body["user"] for c in calls if c.method == "chat.postEphemeral"} == {DEV, EVE}


def test_a_cross_rejects_and_nothing_is_deployed(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest)
    server = serve()
    approval_id, ts = ask(server, slack_fake)

    server.sender.reaction("x", user=LEAD, channel=CHANNEL, ts=ts)

    calls = slack_fake.wait_for(lambda cs: bool(in_thread(cs, ts)))
    assert in_thread(calls, ts) == [":x: rejected by <@U0LEAD>: nothing was deployed"]
    calls = slack_fake.wait_for(lambda cs: any(c.method == "chat.update" for c in cs))
    (update,) = [c for c in calls if c.method == "chat.update"]
    assert update.body["ts"] == ts
    assert "rejected by <@U0LEAD>" in update.body["text"]
    assert all(block["type"] != "actions" for block in update.body["blocks"])
    assert approval_row(server.db, approval_id)["status"] == "rejected"
    # A late approval of a rejected request changes nothing (and tells nobody anything);
    # the click after it is answered, so the reactions have been handled by then.
    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)
    server.sender.reaction("white_check_mark", user=DEV, channel=CHANNEL, ts=ts)
    server.sender.button("shipbot_approve", str(approval_id), user=LEAD, channel=CHANNEL, ts=ts)
    calls = slack_fake.wait_for(lambda cs: bool(ephemerals(cs, LEAD)))
    assert ephemerals(calls, LEAD) == ["this request was already rejected by <@U0LEAD>"]
    assert ephemerals(calls, DEV) == []
    assert deploys(server.db) == []
    assert not (workdir / "fleet").exists()


def test_the_approve_and_reject_buttons_decide_like_reactions(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest)
    server = serve()
    rejected_id, rejected_ts = ask(server, slack_fake)

    def click(action: str, approval_id: int, ts: str, user: str) -> None:
        answer = server.sender.button(action, str(approval_id), user=user, channel=CHANNEL, ts=ts)
        assert answer.status == 200

    click("shipbot_reject", rejected_id, rejected_ts, EVE)
    click("shipbot_reject", rejected_id, rejected_ts, LEAD)
    slack_fake.wait_for(lambda cs: bool(in_thread(cs, rejected_ts)))
    assert approval_row(server.db, rejected_id)["status"] == "rejected"

    approved_id, approved_ts = ask(server, slack_fake)
    click("shipbot_approve", approved_id, approved_ts, DEV)
    slack_fake.wait_for(lambda cs: bool(ephemerals(cs, DEV)))
    assert approval_row(server.db, approved_id)["status"] == "pending"
    click("shipbot_approve", approved_id, approved_ts, LEAD)

    calls = slack_fake.wait_for(lambda cs: succeeded_in(cs, approved_ts), 30)
    assert in_thread(calls, rejected_ts) == [":x: rejected by <@U0LEAD>: nothing was deployed"]
    assert ephemerals(calls, EVE)[0].startswith("refused: <@U0EVE> may not reject deploys of shop")
    assert ephemerals(calls, DEV)[0].startswith("refused: <@U0DEV> requested this deploy")
    assert deploys(server.db) == [(DEV, "succeeded")]
    # A second click on a decided request is answered, and changes nothing.
    click("shipbot_approve", approved_id, approved_ts, LEAD)
    calls = slack_fake.wait_for(lambda cs: bool(ephemerals(cs, LEAD)))
    assert ephemerals(calls, LEAD) == ["this request was already approved by <@U0LEAD>"]
    assert deploys(server.db) == [(DEV, "succeeded")]


def test_an_unanswered_request_expires_with_a_notice_in_its_thread(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest, timeout="2s")
    server = serve()
    approval_id, ts = ask(server, slack_fake)

    calls = slack_fake.wait_for(lambda cs: bool(in_thread(cs, ts)), timeout=20)

    assert in_thread(calls, ts) == [":hourglass: expired: nobody approved within 2.0s"]
    row = approval_row(server.db, approval_id)
    assert (row["status"], row["decided_by"]) == ("expired", "shipbot")
    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)
    update = slack_fake.wait_for(lambda cs: any(c.method == "chat.update" for c in cs))
    assert "expired" in next(c for c in update if c.method == "chat.update").body["text"]
    assert deploys(server.db) == []


def test_a_restart_between_request_and_approval_loses_nothing(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest)
    server = serve()
    _, ts = ask(server, slack_fake)

    server.restart()
    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)

    calls = slack_fake.wait_for(lambda cs: succeeded_in(cs, ts), 30)
    assert in_thread(calls, ts)[0] == ":white_check_mark: approved by <@U0LEAD>: deploying"
    assert deploys(server.db) == [(DEV, "succeeded")]
    assert fleet_file(workdir, "web1").read_text() == "shop web1 main\n"


def test_requests_still_expire_after_a_restart_and_while_the_bot_was_down(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest, timeout="3s")
    server = serve()
    rescheduled_id, rescheduled_ts = ask(server, slack_fake)
    server.restart()  # its timer is re-armed from the database
    slack_fake.wait_for(lambda cs: bool(in_thread(cs, rescheduled_ts)), timeout=20)

    missed_id, missed_ts = ask(server, slack_fake)
    assert server.stop() == 0
    expires = datetime.fromisoformat(approval_row(server.db, missed_id)["expires_at"])
    poll(lambda: datetime.now(expires.tzinfo) > expires)
    server.start()  # already due: expired at start

    calls = slack_fake.wait_for(lambda cs: bool(in_thread(cs, missed_ts)), timeout=20)
    for approval_id, ts in ((rescheduled_id, rescheduled_ts), (missed_id, missed_ts)):
        assert in_thread(calls, ts) == [":hourglass: expired: nobody approved within 3.0s"]
        assert approval_row(server.db, approval_id)["status"] == "expired"
    assert deploys(server.db) == []


def test_answers_fall_back_to_chat_post_ephemeral_when_the_response_url_fails(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    needs_approval(write_manifest)
    server = serve()

    answer = server.sender.command("shop", user=DEV, response_url="http://127.0.0.1:9/gone")

    assert answer.json["text"] == "shop needs approval: asking <@U0LEAD> (serial)…"
    calls = slack_fake.wait_for(lambda cs: bool(ephemerals(cs, DEV)))
    assert ephemerals(calls, DEV) == [
        f"approval requested from <@U0LEAD>: the request is in <#{CHANNEL}>"
    ]
    assert len(posts(calls)) == 1  # the request message itself
    assert "Traceback" not in server.logs


def test_an_approved_deploy_that_cannot_start_says_why_in_its_thread(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(
        slack={"channel": CHANNEL},
        approval={"required": True, "approvers": [LEAD], "timeout": "10m"},
        connection={"type": "ssh", "user": "deploy", "key_file": str(workdir / "gone")},
    )
    server = serve()
    approval_id, ts = ask(server, slack_fake)

    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)

    calls = slack_fake.wait_for(lambda cs: any("cannot deploy" in t for t in in_thread(cs, ts)))
    assert in_thread(calls, ts)[-1] == (
        f"error: cannot deploy after approval: apps.shop.connection.key_file: "
        f"{workdir / 'gone'}: no such file"
    )
    assert approval_row(server.db, approval_id)["status"] == "approved"
    assert deploys(server.db) == []
    assert "Traceback" not in server.logs
