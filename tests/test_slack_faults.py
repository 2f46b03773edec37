"""Faults while ``shipbot serve`` runs: a kill mid-deploy, a stop with deploys
queued, and the Cancel button. The real process, signed HTTP in, the Slack
Web API fake out; HAProxy and real app servers where servers move."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.conftest import app_config
from tests.infra.haproxy import StartHAProxy
from tests.infra.shipbot_server import Serve
from tests.infra.slack import SlackFake
from tests.infra.threads import (
    CHANNEL,
    UP_STATE,
    haproxy_app,
    in_thread,
    killed_mid_deploy,
    parents,
    posts,
    states,
    wait_until,
    write,
)


def test_a_deploy_killed_with_serve_is_announced_in_its_thread_and_recovered(
    workdir: Path, serve: Serve, slack_fake: SlackFake, start_haproxy: StartHAProxy
) -> None:
    fleet, server, parent = killed_mid_deploy(workdir, serve, slack_fake, start_haproxy)

    calls = slack_fake.wait_for(
        lambda cs: any("interrupted" in t for t in in_thread(cs, parent.ts)), timeout=20
    )
    (notice,) = [t for t in in_thread(calls, parent.ts) if "interrupted" in t]
    assert "out of the load balancer: web2 (known good)" in notice
    assert "run /deploy recover shop" in notice
    assert any(
        c.method == "chat.update"
        and c.body.get("ts") == parent.ts
        and "interrupted" in c.body["text"]
        for c in calls
    )
    assert states(fleet)["web2"][1] & 1  # still out: only recovery puts it back

    answer = server.sender.command("recover shop")
    assert answer.status == 200 and "Recovering shop" in answer.json["text"]
    calls = slack_fake.wait_for(
        lambda cs: any("putting it back" in str(c.body.get("text")) for c in posts(cs, CHANNEL))
    )
    wait_until(lambda: set(states(fleet).values()) == {UP_STATE}, "every server to be UP")
    assert not (fleet.directory / "fleet" / "shop" / "web2" / "ran").exists()
    # The restart announced once; a second restart does not say it again.
    server.restart()
    time.sleep(0.5)
    notices = [t for t in in_thread(slack_fake.calls, parent.ts) if "interrupted" in t]
    assert len(notices) == 1


def three_apps(workdir: Path, seconds: float) -> None:
    apps = {}
    for name in ("shop", "blog", "wiki"):
        config = app_config(
            servers=1, commands=[f"sleep {seconds}"], migrations=False, root=f"fleet-{name}"
        )
        apps[name] = config | {"slack": {"channel": f"C0{name.upper()}"}, "deployers": ["*"]}
    write(workdir, apps)


def job_statuses(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT app, status FROM jobs ORDER BY id").fetchall()


def test_sigterm_with_deploys_queued_runs_or_announces_every_one(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    three_apps(workdir, seconds=2)
    server = serve("--workers", "1")
    for app in ("shop", "blog", "wiki"):
        answer = server.sender.command(app, channel=f"C0{app.upper()}")
        assert answer.json["text"] == f"Planning deploy of {app} (serial)…"
    slack_fake.wait_for(lambda cs: bool(parents(cs, "C0SHOP")))

    assert server.stop() == 0

    calls = slack_fake.calls
    shop = [str(c.body.get("text")) for c in posts(calls, "C0SHOP")]
    # The running deploy ends its thread: cancelled softly at a step boundary, or
    # finished if its one server was past the last one.
    ends = ("Deploy #1 of shop succeeded", "Deploy #1 of shop cancelled")
    assert any(text.startswith(ends) for text in shop), shop
    for app in ("blog", "wiki"):
        (said,) = [str(c.body.get("text")) for c in posts(calls, f"C0{app.upper()}")]
        assert f"`/deploy {app}`" in said
        assert "was not run: the bot was stopped before it started" in said
        assert "Nothing was changed" in said
    assert job_statuses(server.db) == [("shop", "done"), ("blog", "not_run"), ("wiki", "not_run")]


def test_a_crash_with_deploys_queued_is_announced_by_the_next_start(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    three_apps(workdir, seconds=5)
    server = serve("--workers", "1")
    for app in ("shop", "blog", "wiki"):
        assert server.sender.command(app, channel=f"C0{app.upper()}").status == 200
    slack_fake.wait_for(lambda cs: bool(parents(cs, "C0SHOP")))

    server.kill()
    server.start()

    calls = slack_fake.wait_for(
        lambda cs: (
            all(posts(cs, f"C0{app}") for app in ("BLOG", "WIKI"))
            and any("interrupted" in str(c.body.get("text")) for c in posts(cs, "C0SHOP"))
        ),
        timeout=20,
    )
    for app in ("blog", "wiki"):
        (said,) = [str(c.body.get("text")) for c in posts(calls, f"C0{app.upper()}")]
        assert "was not run: the bot process that accepted it stopped before it started" in said
    assert [status for _, status in job_statuses(server.db)] == ["started", "not_run", "not_run"]


def test_the_cancel_button_stops_after_the_current_server_with_the_same_rights(
    workdir: Path, serve: Serve, slack_fake: SlackFake, start_haproxy: StartHAProxy
) -> None:
    fleet = start_haproxy(4)
    write(
        workdir, {"shop": haproxy_app(fleet, ["touch started && sleep 1.5"], deployers=["U0DEV"])}
    )
    server = serve()
    assert server.sender.command("shop --serial", user="U0DEV").status == 200
    started = fleet.directory / "fleet" / "shop" / "web2" / "started"
    wait_until(started.exists, "web2 to start deploying")
    parent = parents(slack_fake.calls, CHANNEL)[0]
    (button,) = [
        element
        for update in slack_fake.calls_to("chat.update")
        if update.body.get("ts") == parent.ts
        for block in update.body.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ][-1:]
    assert button["action_id"] == "shipbot_cancel" and button["value"] == "1"

    refused = server.sender.button(
        "shipbot_cancel", button["value"], user="U0EVE", channel=CHANNEL, ts=parent.ts
    )
    accepted = server.sender.button(
        "shipbot_cancel", button["value"], user="U0DEV", channel=CHANNEL, ts=parent.ts
    )

    assert refused.status == 200 and accepted.status == 200
    calls = slack_fake.wait_for(
        lambda cs: any("Deploy #1 of shop cancelled" in t for t in in_thread(cs, parent.ts)),
        timeout=30,
    )
    (refusal,) = [c for c in calls if c.method == "chat.postEphemeral"]
    assert refusal.body["user"] == "U0EVE"
    assert "refused: <@U0EVE> may not cancel deploys of shop" in refusal.body["text"]
    thread = in_thread(calls, parent.ts)
    assert any("<@U0DEV>: cancel requested for deploy #1" in t for t in thread)
    root = fleet.directory / "fleet" / "shop"
    assert [(root / n / "started").exists() for n in fleet.servers] == [True, True, False, False]
    assert set(states(fleet).values()) == {UP_STATE}  # web2 finished and went back
    final = next(c for c in posts(calls) if "cancelled" in str(c.body.get("text")))
    table = str(final.body["blocks"])
    assert "2 ok, 2 untouched" in table
    assert "web2    ok" in table and table.count("untouched (the deploy was cancelled)") == 2
