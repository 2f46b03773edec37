"""Deploys in time, through the real ``shipbot serve`` and the real CLI: schedules
that survive a restart, missed schedules that wait for a person, deploy windows
with overrides, locks with a reason, and the queue."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Run, app_config
from tests.infra.shipbot_server import Serve, ShipbotServer
from tests.infra.slack import Call, SlackFake

CHANNEL, DEV, LEAD = "C0DEPLOYS", "U0DEV", "U0LEAD"
STAMP = 'date +%s.%N >> "$SHIPBOT_SERVER.ran"'


def write(workdir: Path, **config: Any) -> None:
    app = app_config(servers=1, migrations=False, slack={"channel": CHANNEL}, **config)
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))


def ran_at(workdir: Path, server: str = "web1") -> list[float]:
    path = workdir / "fleet" / "shop" / server / f"{server}.ran"
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def top_level(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method == "chat.postMessage" and not c.body.get("thread_ts")]


def in_thread(calls: list[Call], ts: str) -> list[str]:
    return [
        str(c.body.get("text"))
        for c in calls
        if c.method == "chat.postMessage" and c.body.get("thread_ts") == ts
    ]


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_deploy_in_3s_runs_once_on_time_across_a_restart_in_its_own_thread(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    write(workdir, commands=[STAMP])
    server = serve()

    answer = server.sender.command("shop --in 3s")
    asked = time.time()
    assert "scheduled as #1 for " in answer.json["text"] and "(in 3.0s)" in answer.json["text"]
    calls = slack_fake.wait_for(lambda cs: bool(top_level(cs)))
    announcement = top_level(calls)[0]
    assert "scheduled for" in announcement.body["text"]
    assert "shipbot_unschedule" in str(announcement.body["blocks"])
    server.restart()  # before the 3 s are up

    wait_until(lambda: ran_at(workdir), "the scheduled deploy to run")
    time.sleep(1.5)  # long enough for a second run, if there were one
    (stamp,) = ran_at(workdir)
    ((run_at,),) = rows(server.db, "SELECT run_at FROM schedules")
    due = datetime.fromisoformat(run_at).timestamp()
    assert abs(stamp - due) <= 1.0, (stamp, due)
    assert 2.0 <= stamp - asked <= 4.5
    calls = slack_fake.wait_for(
        lambda cs: any("succeeded" in t for t in in_thread(cs, announcement.ts))
    )
    assert rows(server.db, "SELECT status FROM schedules") == [("running",)]
    assert rows(server.db, "SELECT count(*) FROM deploys") == [(1,)]


def test_a_schedule_missed_while_no_bot_ran_waits_for_a_person(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    write(workdir, commands=[STAMP])
    server = serve()
    server.sender.command("shop --in 2s")
    slack_fake.wait_for(lambda cs: bool(top_level(cs)))
    assert server.stop() == 0
    time.sleep(2.5)
    server.start()

    calls = slack_fake.wait_for(
        lambda cs: any("was not run: its time passed" in str(c.body.get("text")) for c in cs)
    )
    (notice,) = [c for c in calls if "was not run: its time passed" in str(c.body.get("text"))]
    assert "--confirm #1" in notice.body["text"] and "shipbot_confirm" in str(notice.body["blocks"])
    time.sleep(1.0)
    assert ran_at(workdir) == []  # not run silently late

    parent = top_level(calls)[0]
    server.sender.button("shipbot_confirm", "1", user=DEV, channel=CHANNEL, ts=parent.ts)

    wait_until(lambda: ran_at(workdir), "the confirmed deploy")
    slack_fake.wait_for(lambda cs: any("succeeded" in t for t in in_thread(cs, parent.ts)))
    assert rows(server.db, "SELECT status, decided_by FROM schedules") == [("running", DEV)]


def window_elsewhere() -> str:
    """A daily one-minute window six hours from now: closed now, whatever the hour."""
    start = datetime.now(UTC) + timedelta(hours=6)
    return f"daily {start:%H:%M}-{start + timedelta(minutes=1):%H:%M}"


def test_outside_the_windows_only_an_overrider_deploys_and_history_says_so(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    window = window_elsewhere()
    app = app_config(servers=1, migrations=False, slack={"channel": CHANNEL})
    app["deploy"]["windows"] = [window]
    app["approval"] = {"approvers": [LEAD]}
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))
    server = serve()

    refused = server.sender.command("shop", user=DEV).json["text"]
    not_theirs = server.sender.command('shop --override "hotfix"', user=DEV).json["text"]
    allowed = server.sender.command('shop --override "hotfix for INC-42"', user=LEAD)

    assert refused.startswith(f"refused: shop: outside the deploy windows {window}; next allowed ")
    assert not_theirs == "refused: <@U0DEV> may not override the deploy windows of shop " + (
        "(approvers: <@U0LEAD>)"
    )
    assert allowed.json["text"] == "Planning deploy of shop (serial)…"
    calls = slack_fake.wait_for(lambda cs: any("succeeded" in str(c.body) for c in cs))
    parent = top_level(calls)[0]
    assert "OVERRIDE of the deploy window: hotfix for INC-42" in str(parent.body["blocks"])
    history = server.sender.command("history shop").json["text"]
    assert "override of the deploy window: hotfix for INC-42 (by <@U0LEAD>)" in history
    assert rows(server.db, "SELECT requested_by, override FROM deploys") == [
        (LEAD, "hotfix for INC-42 (by <@U0LEAD>)")
    ]


def test_a_lock_refuses_with_its_reason_until_unlocked_or_expired(
    workdir: Path, serve: Serve
) -> None:
    write(workdir, commands=[STAMP])
    server = serve()

    locked = server.sender.command('lock shop "investigating 500s"').json["text"]
    refused = server.sender.command("shop").json["text"]
    status = server.sender.command("status shop").json["text"]
    unlocked = server.sender.command("unlock shop").json["text"]
    after = server.sender.command("shop").json["text"]

    assert locked == "shop locked by <@U0DEV>: investigating 500s"
    assert refused == "refused: shop is held by a lock by <@U0DEV> (investigating 500s)"
    assert "LOCKED by <@U0DEV> since " in status and "investigating 500s" in status
    assert unlocked.startswith("shop unlocked by <@U0DEV>")
    assert after == "Planning deploy of shop (serial)…"
    wait_until(
        lambda: rows(server.db, "SELECT status FROM deploys") == [("succeeded",)],
        "the deploy after unlock",
    )

    server.sender.command('lock shop for 1s "a moment"')
    assert server.sender.command("shop").json["text"].startswith("refused: shop is held by a lock")
    time.sleep(1.2)
    assert server.sender.command("shop").json["text"] == "Planning deploy of shop (serial)…"
    wait_until(lambda: len(ran_at(workdir)) == 2, "the deploy after the lock expired")


def test_two_queued_deploys_run_one_after_the_other_each_in_its_own_thread(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    write(workdir, commands=["sleep 1.5", STAMP])
    server = serve()
    assert server.sender.command("shop", user=DEV).json["text"].startswith("Planning")
    wait_until(lambda: rows(server.db, "SELECT count(*) FROM deploys") == [(1,)], "deploy #1")

    first = server.sender.command("shop --queue", user="U0ANN").json["text"]
    second = server.sender.command("shop --queue", user="U0BOB").json["text"]

    assert first.startswith("queued: shop is held by deploy #1 by <@U0DEV>") and "place 1" in first
    assert "place 2" in second
    status = server.sender.command("status shop").json["text"]
    assert "queued 1: by <@U0ANN>" in status and "queued 2: by <@U0BOB>" in status
    wait_until(
        lambda: rows(server.db, "SELECT status FROM deploys") == [("succeeded",)] * 3,
        "three deploys",
        timeout=60,
    )
    deploys = rows(server.db, "SELECT requested_by, started_at, finished_at, status FROM deploys")
    assert [d[0] for d in deploys] == [DEV, "U0ANN", "U0BOB"]
    assert all(d[3] == "succeeded" for d in deploys)
    for before, after in itertools.pairwise(deploys):
        assert before[2] <= after[1]  # one after the other, never together

    def parents_of(calls: list[Call]) -> list[Call]:
        return [c for c in top_level(calls) if str(c.body["text"]).startswith("Deploy #")]

    calls = slack_fake.wait_for(lambda cs: len(parents_of(cs)) >= 3)
    parents = parents_of(calls)
    assert len({c.ts for c in parents}) == 3, [str(c.body["text"])[:80] for c in top_level(calls)]
    announced = [str(c.body["text"]) for c in top_level(calls) if "queued deploy" in str(c.body)]
    assert any("U0ANN" in a and "starting the queued deploy" in a for a in announced)


def test_the_terminal_waits_in_the_queue_and_schedules_need_a_bot(
    workdir: Path, shipbot: Run
) -> None:
    write(workdir, commands=["sleep 2", STAMP])
    first = subprocess.Popen(
        [sys.executable, "-m", "bot", "deploy", "shop"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    db = workdir / ".shipbot" / "shipbot.db"

    def holding() -> bool:
        try:
            return rows(db, "SELECT status FROM deploys") == [("running",)]
        except sqlite3.OperationalError:  # not created yet
            return False

    wait_until(holding, "the first deploy to hold the app")
    queued = shipbot("deploy", "shop", "--queue")
    first.wait(timeout=30)

    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert "waiting: shop is held by deploy #1" in queued.stdout
    assert "shop is free: starting the queued deploy" in queued.stdout
    assert len(ran_at(workdir)) == 2
    scheduled = shipbot("deploy", "shop", "--in", "1h")
    assert "scheduled as #1" in scheduled.stdout
    assert "no shipbot serve or socket is running" in scheduled.stdout
    assert "scheduled #1 for " in shipbot("status", "shop").stdout


def test_approval_of_a_scheduled_deploy_schedules_it(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    app = app_config(servers=1, migrations=False, slack={"channel": CHANNEL}, commands=[STAMP])
    app["approval"] = {"required": True, "approvers": [LEAD]}
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))
    server: ShipbotServer = serve()

    answer = server.sender.command("shop --in 4s", user=DEV).json["text"]
    assert "scheduled as #1" in answer and "once approved" in answer
    calls = slack_fake.wait_for(lambda cs: any("shipbot_approve" in str(c.body) for c in cs))
    request = top_level(calls)[0]
    wait_until(
        lambda: rows(server.db, "SELECT message_ts FROM schedules") == [(request.ts,)],
        "the schedule to know its message",
    )
    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=request.ts)
    slack_fake.wait_for(lambda cs: any("runs " in t for t in in_thread(cs, request.ts)))
    assert ran_at(workdir) == []  # approved, but not before its time

    wait_until(lambda: ran_at(workdir), "the approved schedule to run")
    slack_fake.wait_for(lambda cs: any("succeeded" in t for t in in_thread(cs, request.ts)))
