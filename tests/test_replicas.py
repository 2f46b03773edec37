"""Several ``shipbot serve`` replicas on one PostgreSQL, behind HAProxy: one
deploy per app however requests spread, an approval decided once, an expiry
fired once, and a replica's death announced and recovered by another."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from adapters.sql_base import SqlStoreBase
from adapters.stores import open_store
from tests.conftest import app_config, fleet_file
from tests.infra.haproxy import StartHAProxy
from tests.infra.replicas import StartReplicas
from tests.infra.slack import Call, SlackFake
from tests.infra.stores import table_rows
from tests.infra.threads import (
    CHANNEL,
    UP_STATE,
    haproxy_app,
    in_thread,
    parents,
    states,
    wait_until,
    write,
)

LEAD = "U0LEAD"


def deploys(db: str) -> list[dict[str, Any]]:
    return table_rows(db, "SELECT id, requested_by, status FROM deploys ORDER BY id")


def table_rows_with(db: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    store = cast(SqlStoreBase, open_store(db))
    try:
        return store._rows(sql, list(params))
    finally:
        store.close()


def texts(calls: list[Call]) -> list[str]:
    """Every text the bot said: posts, updates, ephemerals and response_url replies."""
    return [str(c.body.get("text", "")) for c in calls if c.method != "reactions.add"]


def test_twenty_deploys_at_once_across_two_replicas_run_exactly_one(
    workdir: Path, slack_fake: SlackFake, start_replicas: StartReplicas
) -> None:
    app = app_config(servers=2, commands=["sleep 2"], migrations=False)
    write(workdir, {"shop": app | {"slack": {"channel": CHANNEL}, "deployers": ["*"]}})
    replicas = start_replicas(2)
    users = [f"U{n:02d}" for n in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(
                lambda user: replicas.sender.command(
                    "shop --parallel", user=user, response_url=slack_fake.response_url(user)
                ),
                users,
            )
        )

    assert {answer.status for answer in answers} == {200}
    spread = replicas.requests_per_replica()
    assert spread["a"] >= 5 and spread["b"] >= 5, spread  # both took a share
    wait_until(
        lambda: deploys(replicas.db)[-1:] and deploys(replicas.db)[-1]["status"] != "running",
        "the deploy to end",
        60,
    )
    (deploy,) = deploys(replicas.db)
    assert deploy["status"] == "succeeded"
    winner = deploy["requested_by"]
    # Every other request was refused, naming who holds the lock: in its ack, or
    # (when it passed the ack before the lock was taken) in a reply of its own.
    refusals = [a.json.get("text", "") for a in answers if "refused" in a.json.get("text", "")]
    refusals += [t for t in texts(slack_fake.calls) if t.startswith("refused")]
    assert len(refusals) == 19, refusals
    assert all(winner in text for text in refusals), refusals


def needing_approval(workdir: Path, timeout: str) -> None:
    app = app_config(servers=2, commands=["touch ran"], migrations=False)
    approval = {"required": True, "approvers": [LEAD], "timeout": timeout}
    write(workdir, {"shop": app | {"slack": {"channel": CHANNEL}, "approval": approval}})


def ask(replicas: Any, bot: Any, slack_fake: SlackFake) -> tuple[int, str]:
    """``/deploy shop`` through replica ``bot``: the approval's id and message ts."""
    answer = bot.sender.command("shop", response_url=slack_fake.response_url("ask"))
    assert answer.json["text"].startswith("shop needs approval"), answer.json

    def posted() -> list[dict[str, Any]]:
        rows = table_rows(replicas.db, "SELECT id, message_ts FROM approvals")
        return [row for row in rows if row["message_ts"]]

    wait_until(posted, "the approval request to be posted")
    (row,) = posted()
    return int(row["id"]), str(row["message_ts"])


def test_an_approval_delivered_to_both_replicas_at_once_is_approved_and_deployed_once(
    workdir: Path, slack_fake: SlackFake, start_replicas: StartReplicas
) -> None:
    needing_approval(workdir, "10m")
    replicas = start_replicas(2)
    a, b = replicas.bots
    _, ts = ask(replicas, a, slack_fake)

    # The approver's reaction reaches B, and Slack's retry of it reaches A, at once.
    def deliver(bot: Any, retry: int | None) -> int:
        answer = bot.sender.reaction(
            "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvOnce", retry=retry
        )
        return int(answer.status)

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(deliver, [b, a], [None, 1]))

    assert statuses == [200, 200]
    wait_until(
        lambda: any("succeeded" in t for t in in_thread(slack_fake.calls, ts)), "the deploy", 30
    )
    assert [row["status"] for row in deploys(replicas.db)] == ["succeeded"]
    thread = in_thread(slack_fake.calls, ts)
    assert sum("approved by <@U0LEAD>" in text for text in thread) == 1, thread
    (row,) = table_rows(replicas.db, "SELECT status, decided_by FROM approvals")
    assert (row["status"], row["decided_by"]) == ("approved", LEAD)
    assert fleet_file(workdir, "web1", "ran").exists()


def test_an_expiry_armed_by_both_replicas_fires_once(
    workdir: Path, slack_fake: SlackFake, start_replicas: StartReplicas
) -> None:
    needing_approval(workdir, "3s")
    replicas = start_replicas(2)
    a, _ = replicas.bots
    _, ts = ask(replicas, a, slack_fake)

    wait_until(lambda: in_thread(slack_fake.calls, ts), "the expiry notice", 20)
    # Give both replicas' timers and sweeps their chance to fire it a second time.
    (approval,) = table_rows(replicas.db, "SELECT expires_at FROM approvals")
    swept = "SELECT count(*) AS n FROM processes WHERE heartbeat_at > ?"
    wait_until(
        lambda: table_rows_with(replicas.db, swept, approval["expires_at"])[0]["n"] == 2,
        "both replicas to sweep after the expiry",
        15,
    )
    time.sleep(0.5)

    assert in_thread(slack_fake.calls, ts) == [":hourglass: expired: nobody approved within 3.0s"]
    (row,) = table_rows(replicas.db, "SELECT status, decided_by FROM approvals")
    assert (row["status"], row["decided_by"]) == ("expired", "shipbot")
    assert deploys(replicas.db) == []


def test_a_replica_killed_mid_deploy_is_announced_by_another_which_recovers_it(
    workdir: Path, slack_fake: SlackFake, start_replicas: StartReplicas, start_haproxy: StartHAProxy
) -> None:
    fleet = start_haproxy(3)
    app = haproxy_app(fleet, ["echo deployed >> ran"])
    app["load_balancer"]["configuration"]["wait_after_removing_servers"] = 3
    write(workdir, {"shop": app})
    # A runs as if on another machine: B can tell it died only by its lease.
    lease = 3
    replicas = start_replicas(2, isolated=("a",), env={"SHIPBOT_LEASE_SECONDS": str(lease)})
    a, b = replicas.bots

    assert a.sender.command("shop --serial").status == 200
    wait_until(lambda: states(fleet)["web2"][1] & 1, "web2 to be out of the load balancer")
    a.kill()
    killed = time.monotonic()
    parent = parents(slack_fake.calls, CHANNEL)[0]

    calls = slack_fake.wait_for(
        lambda cs: any("interrupted" in t for t in in_thread(cs, parent.ts)), timeout=30
    )
    noticed = time.monotonic() - killed
    # The bound: the lease runs out, then B's next sweep (every 5 s) finds it.
    assert noticed <= lease + 5 + 2, noticed
    (notice,) = [t for t in in_thread(calls, parent.ts) if "interrupted" in t]
    assert "out of the load balancer: web2 (known good)" in notice, notice
    assert "run /deploy recover shop" in notice
    assert states(fleet)["web2"][1] & 1  # still out: only recovery puts it back

    answer = b.sender.command("recover shop")
    assert answer.status == 200 and "Recovering shop" in answer.json["text"], answer.json
    wait_until(lambda: set(states(fleet).values()) == {UP_STATE}, "every server to be UP", 30)
    # Nothing deployed twice: web1 once, web2 (whose command never started) not at all.
    root = fleet.directory / "fleet" / "shop"
    assert (root / "web1" / "ran").read_text() == "deployed\n"
    assert not (root / "web2" / "ran").exists()
    (deploy, recovery) = deploys(replicas.db)
    assert deploy["status"] == "interrupted" and recovery["id"] > deploy["id"]
    notices = [t for t in in_thread(slack_fake.calls, parent.ts) if "interrupted" in t]
    assert len(notices) == 1
