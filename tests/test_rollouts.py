"""Safer rollouts against real HAProxy and real app servers: batches with a floor,
the health gate, auto rollback, rollback, and a canary driven from Slack."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.sqlite_store import SqliteStore
from bot.console import ConsoleFrontEnd
from bot.handler import Caller, CommandHandler
from bot.wiring import Services
from strategies.manifest import parse_manifest
from tests.infra.haproxy import HAProxyFleet, StartHAProxy
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake

MAINT, DRAIN = 1, 8
CHANNEL = "C0DEPLOYS"
UNHEALTHY_V2_ON_WEB2 = 'test "$SHIPBOT_SERVER" != web2 || test "$SHIPBOT_REF" != v2'


def shop(fleet: HAProxyFleet, **deploy: Any) -> dict[str, Any]:
    """App shop on the fleet: each deploy restarts a real app server at $SHIPBOT_REF."""
    app = yaml.safe_load(
        yaml.safe_dump(fleet.manifest([fleet.restart_command(pause=0.2)]).apps["shop"].model_dump())
    )
    app = {key: value for key, value in app.items() if value is not None}
    app["deploy"] = {k: v for k, v in app["deploy"].items() if v not in (None, (), [], {})}
    app["deploy"].update(deploy)
    app["load_balancer"] = {k: v for k, v in app["load_balancer"].items() if v is not None}
    return app


def console(workdir: Path, app: dict[str, Any]) -> tuple[CommandHandler, list[str]]:
    manifest = parse_manifest(yaml.safe_dump({"apps": {"shop": app}}))
    services = Services(manifest=manifest, store=SqliteStore(workdir / "db"), poll_interval=0.02)
    return CommandHandler(services), []


def type_(handler: CommandHandler, shown: list[str], line: str) -> int:
    return handler.handle_text(line, Caller("U0LEAD", operator=True), ConsoleFrontEnd(shown.append))


def served(fleet: HAProxyFleet) -> dict[str, str]:
    """What each app server answers, straight (not through HAProxy)."""
    import urllib.request

    answers = {}
    for name in fleet.servers:
        port = (fleet.directory / f"{name}.port").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                answers[name] = answer.read().decode().split()[1]
        except OSError:
            answers[name] = "down"  # restarting
    return answers


class OutSampler:
    """The most servers HAProxy had out of rotation at once, sampled every 50 ms."""

    def __init__(self, fleet: HAProxyFleet) -> None:
        self.fleet, self.most, self.stop = fleet, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OutSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        while not self.stop.is_set():
            out = [s for s in self.fleet.servers_state().values() if s[1] & (MAINT | DRAIN)]
            self.most = max(self.most, len(out))
            time.sleep(0.05)


def test_batches_of_two_never_take_more_than_two_out_and_a_floor_refuses_early(
    start_haproxy: StartHAProxy, workdir: Path
) -> None:
    fleet = start_haproxy(6)
    handler, shown = console(workdir, shop(fleet))

    with OutSampler(fleet) as sampler:
        code = type_(handler, shown, "/deploy shop --batch 2 --ref v2")

    assert code == 0, "\n".join(shown)
    assert sampler.most == 2, sampler.most
    assert set(served(fleet).values()) == {"v2"}
    assert any("6 servers in 3 batches (2, 2, 2)" in line for line in shown)
    assert any("per batch x 3 batches" in line for line in shown)
    handler, shown = console(workdir, shop(fleet, min_healthy=5))
    assert type_(handler, shown, "/deploy shop --batch 2 --ref v3") == 2
    assert any(
        "--batch 2 would take 2 of 6 servers out at once, leaving 4 serving, below "
        "deploy.min_healthy 5" in line
        for line in shown
    ), shown
    assert set(served(fleet).values()) == {"v2"}  # refused before anything changed


@pytest.mark.parametrize("auto_rollback", [False, True])
def test_a_failing_health_check_keeps_the_server_out_and_auto_rollback_returns_to_v1(
    start_haproxy: StartHAProxy, workdir: Path, auto_rollback: bool
) -> None:
    fleet = start_haproxy(3)
    check = {"command": UNHEALTHY_V2_ON_WEB2, "timeout": 1, "interval": 0.2}
    app = shop(fleet, health_check=check, auto_rollback=auto_rollback)
    handler, shown = console(workdir, app)
    assert type_(handler, shown, "/deploy shop --serial --ref v1") == 0
    shown.clear()

    code = type_(handler, shown, "/deploy shop --serial --ref v2")

    text = "\n".join(shown)
    assert code == 1
    assert "web1: healthy after" in text
    assert "web2: FAILED health check" in text and "not healthy within 1s; last answer: " in text
    assert "exit 1" in text
    assert "web3: untouched (web2 failed)" in text
    if not auto_rollback:
        assert fleet.servers_state()["web2"][1] & MAINT  # not added back
        assert served(fleet) == {"web1": "v2", "web2": "v2", "web3": "v1"}
        return
    assert served(fleet) == {"web1": "v1", "web2": "v1", "web3": "v1"}
    assert "rolled back to v1" in text
    fleet.wait_until_up(*fleet.servers)  # web2 is healthy again on v1, and back
    assert "shop is locked: deploy #2 of v2 failed and was rolled back" in text
    shown.clear()
    assert type_(handler, shown, "/deploy shop --ref v3") == 1
    assert "refused: shop is locked by shipbot" in "\n".join(shown)


def test_rollback_returns_every_server_to_the_previous_ref_and_locks_the_app(
    start_haproxy: StartHAProxy, workdir: Path
) -> None:
    fleet = start_haproxy(3)
    app = shop(fleet, rollback_commands=[fleet.restart_command(pause=0.1)])
    handler, shown = console(workdir, app)
    assert type_(handler, shown, "/deploy shop --ref v1") == 0
    assert type_(handler, shown, "/deploy shop --ref v2") == 0
    assert set(served(fleet).values()) == {"v2"}
    shown.clear()

    assert type_(handler, shown, "/deploy rollback shop") == 0

    assert set(served(fleet).values()) == {"v1"}
    text = "\n".join(shown)
    assert "rolling back shop from v2 to v1" in text
    assert "ROLLBACK to v1" in text
    assert "shop is locked: rolled back from v2 to v1 by <@U0LEAD>" in text
    shown.clear()
    type_(handler, shown, "/deploy history shop")
    assert "ROLLBACK to v1 (serial)" in "\n".join(shown)
    shown.clear()
    assert type_(handler, shown, "/deploy shop --ref v3") == 1
    assert "rolled back from v2 to v1" in "\n".join(shown)
    assert type_(handler, shown, "/deploy unlock shop") == 0
    assert type_(handler, shown, "/deploy shop --ref v3") == 0


# The canary, from Slack.


def canary_app(fleet: HAProxyFleet) -> dict[str, Any]:
    app = shop(fleet)
    app["slack"] = {"channel": CHANNEL}
    app["deployers"] = ["U0DEV"]
    return app


def buttons_of(calls: list[Call], ts: str) -> list[str]:
    found = []
    for call in calls:
        if call.method == "chat.update" and call.body.get("ts") == ts:
            found = [
                e["action_id"]
                for b in call.body.get("blocks", [])
                if b.get("type") == "actions"
                for e in b["elements"]
            ]
    return found


def all_serve(fleet: HAProxyFleet, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while set(served(fleet).values()) != {version}:
        assert time.monotonic() < deadline, served(fleet)
        time.sleep(0.2)


def wait_idle(server: Any) -> None:
    """Until no deploy of shop runs (the last one may still be settling)."""
    import sqlite3

    deadline = time.monotonic() + 30
    while True:
        with sqlite3.connect(server.db) as conn:
            running = conn.execute("SELECT count(*) FROM locks WHERE kind = 'deploy'").fetchone()
        if running == (0,):
            return
        assert time.monotonic() < deadline
        time.sleep(0.1)


def paused_canary(server: Any, fake: SlackFake, fleet: HAProxyFleet, ref: str) -> Call:
    """Start ``--canary 1`` at ``ref``; its parent message, once it shows Promote/Abort."""

    def parent_of(calls: list[Call]) -> list[Call]:
        return [
            c
            for c in calls
            if c.method == "chat.postMessage"
            and not c.body.get("thread_ts")
            and f"of shop @ {ref}, canary" in str(c.body.get("text"))
        ]

    answer = server.sender.command(f"shop --canary 1 --ref {ref}", user="U0DEV")
    assert answer.json["text"].startswith("Planning deploy of shop (canary)"), answer.json
    (parent,) = parent_of(fake.wait_for(lambda cs: bool(parent_of(cs)), timeout=30))
    fake.wait_for(
        lambda cs: buttons_of(cs, parent.ts) == ["shipbot_promote", "shipbot_abort"], timeout=30
    )
    return parent


def test_a_canary_waits_then_promote_continues_abort_rolls_back_and_a_restart_keeps_it(
    start_haproxy: StartHAProxy, workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    fleet = start_haproxy(4)
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": canary_app(fleet)}}))
    server = serve()
    assert server.sender.command("shop --ref v1", user="U0DEV").status == 200
    slack_fake.wait_for(lambda cs: any("succeeded" in str(c.body.get("text")) for c in cs), 60)
    assert set(served(fleet).values()) == {"v1"}

    # 1. Promote continues the deploy to the other three.
    parent = paused_canary(server, slack_fake, fleet, "v2")
    assert served(fleet) == {"web1": "v2", "web2": "v1", "web3": "v1", "web4": "v1"}
    refused = server.sender.command("shop --ref v9", user="U0DEV").json["text"]
    assert "canary waiting for Promote or Abort" in refused
    server.sender.button("shipbot_promote", "2", user="U0DEV", channel=CHANNEL, ts=parent.ts)
    all_serve(fleet, "v2")
    wait_idle(server)

    # 2. Abort rolls the canary back (and locks the app).
    parent = paused_canary(server, slack_fake, fleet, "v3")
    assert served(fleet)["web1"] == "v3"
    server.sender.button("shipbot_abort", "4", user="U0DEV", channel=CHANNEL, ts=parent.ts)
    slack_fake.wait_for(
        lambda cs: any(
            "is locked: rolled back from v3 to v2" in str(c.body.get("text")) for c in cs
        ),
        timeout=60,
    )
    assert set(served(fleet).values()) == {"v2"}
    unlocked = server.sender.command("unlock shop", user="U0DEV").json["text"]
    assert unlocked.startswith("shop unlocked"), unlocked

    # 3. A restart of serve while paused: the canary still waits, Promote still works.
    parent = paused_canary(server, slack_fake, fleet, "v4")
    server.restart()
    status = server.sender.command("status shop", user="U0DEV").json["text"]
    assert "paused" in status or "canary" in status
    server.sender.button("shipbot_promote", "6", user="U0DEV", channel=CHANNEL, ts=parent.ts)
    all_serve(fleet, "v4")
