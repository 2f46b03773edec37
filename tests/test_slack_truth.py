"""Messages stay true when another process changes what they show: a real
``shipbot serve`` (signed HTTP in, the Slack Web API fake out) and the real CLI
on the same SQLite database."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Run, WriteManifest, app_config
from tests.infra.haproxy import StartHAProxy
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake
from tests.infra.threads import (
    CHANNEL,
    UP_STATE,
    in_thread,
    killed_mid_deploy,
    parents,
    states,
)

DEV, LEAD = "U0DEV", "U0LEAD"


def updates(calls: list[Call], ts: str) -> list[str]:
    return [
        str(c.body.get("text", "")) + str(c.body.get("blocks", ""))
        for c in calls
        if c.method == "chat.update" and c.body.get("ts") == ts
    ]


def quiet(slack_fake: SlackFake, seconds: float = 3.0) -> list[Call]:
    """The chat.update calls made while nothing changed for ``seconds``."""
    before = len(slack_fake.calls)
    time.sleep(seconds)
    return [c for c in slack_fake.calls[before:] if c.method == "chat.update"]


def test_a_recovery_from_the_terminal_updates_the_interrupted_deploys_parent(
    workdir: Path, serve: Serve, slack_fake: SlackFake, start_haproxy: StartHAProxy, shipbot: Run
) -> None:
    fleet, server, parent = killed_mid_deploy(workdir, serve, slack_fake, start_haproxy)
    slack_fake.wait_for(
        lambda cs: any("interrupted" in t for t in in_thread(cs, parent.ts)), timeout=20
    )
    assert any("run /deploy recover shop" in u for u in updates(slack_fake.calls, parent.ts))

    done = shipbot("--manifest", "manifest.yml", "--db", server.db, "recover", "shop")

    assert done.returncode == 0, done.stdout + done.stderr
    calls = slack_fake.wait_for(
        lambda cs: any("succeeded" in u for u in updates(cs, parent.ts)), timeout=10
    )
    final = updates(calls, parent.ts)[-1]
    assert "recovery #2 by " in final
    assert "put back into the load balancer: web2" in final
    assert "run /deploy recover" not in final  # done: the hint is gone
    assert set(states(fleet).values()) == {UP_STATE}
    # Nothing posted for it: the parent was updated, the thread left alone.
    assert not any("recovery #2" in t for t in in_thread(calls, parent.ts))
    assert quiet(slack_fake) == []


def test_a_cancel_from_the_terminal_shows_on_the_slack_deploys_parent(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake, shipbot: Run
) -> None:
    shop = app_config(commands=["sleep 1"], migrations=False, slack={"channel": CHANNEL})
    write_manifest(apps={"shop": shop})
    server = serve()
    assert server.sender.command("shop --serial").status == 200
    calls = slack_fake.wait_for(lambda cs: bool(parents(cs, CHANNEL)))
    parent = parents(calls, CHANNEL)[0]

    done = shipbot("--manifest", "manifest.yml", "--db", server.db, "cancel", "shop")

    assert done.returncode == 0, done.stdout + done.stderr
    calls = slack_fake.wait_for(
        lambda cs: any("cancelled" in u for u in updates(cs, parent.ts)), timeout=15
    )
    assert "Cancel" not in updates(calls, parent.ts)[-1]  # no button on a finished deploy
    assert quiet(slack_fake) == []


def test_an_approval_withdrawn_on_another_replica_closes_the_request_once(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    shop = app_config(
        slack={"channel": CHANNEL},
        deployers=[DEV],
        approval={"required": True, "approvers": [LEAD], "timeout": "10m"},
    )
    write_manifest(apps={"shop": shop})
    first = serve()
    second = serve(name="serve2", db=first.db)
    assert first.sender.command("shop --ref v4", user=DEV).status == 200
    calls = slack_fake.wait_for(lambda cs: any("needs approval" in str(c.body) for c in cs))
    (request,) = [c for c in parents(calls, CHANNEL) if "needs approval" in str(c.body)]

    answer = second.sender.reaction("x", user=DEV, channel=CHANNEL, ts=request.ts)

    assert answer.status == 200
    calls = slack_fake.wait_for(
        lambda cs: any("rejected by <@U0DEV>" in u for u in updates(cs, request.ts))
    )
    assert quiet(slack_fake) == []
    assert len(updates(slack_fake.calls, request.ts)) == 1  # neither replica said it twice
