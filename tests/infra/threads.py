"""What the end-to-end tests read of Slack while ``shipbot serve`` runs (the posts,
the parents, a thread's lines), and the HAProxy-fronted app they deploy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.infra.haproxy import HAProxyFleet, StartHAProxy
from tests.infra.shipbot_server import Serve, ShipbotServer
from tests.infra.slack import Call, SlackFake

CHANNEL = "C0DEPLOYS"
UP_STATE = (2, 0)  # HAProxy's (operational state, admin state) of a serving server


def posts(calls: list[Call], channel: str | None = None) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == "chat.postMessage" and (channel is None or c.body["channel"] == channel)
    ]


def parents(calls: list[Call], channel: str | None = None) -> list[Call]:
    return [c for c in posts(calls, channel) if not c.body.get("thread_ts")]


def in_thread(calls: list[Call], ts: str) -> list[str]:
    return [str(c.body.get("text", "")) for c in posts(calls) if c.body.get("thread_ts") == ts]


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def haproxy_app(fleet: HAProxyFleet, commands: list[str], **extra: Any) -> dict[str, Any]:
    """App shop on the HAProxy fleet's servers (local connection), bound to CHANNEL."""
    app = yaml.safe_load(yaml.safe_dump(fleet.manifest(commands).apps["shop"].model_dump()))
    app = {key: value for key, value in app.items() if value is not None}
    return app | {"slack": {"channel": CHANNEL}, "deployers": ["*"], **extra}


def write(workdir: Path, apps: dict[str, Any]) -> None:
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": apps}))


def states(fleet: HAProxyFleet) -> dict[str, tuple[int, int]]:
    return fleet.servers_state()


def killed_mid_deploy(
    workdir: Path, serve: Serve, slack_fake: SlackFake, start_haproxy: StartHAProxy
) -> tuple[HAProxyFleet, ShipbotServer, Call]:
    """A serial deploy of 3 HAProxy servers whose ``serve`` was SIGKILLed while web2 was
    out of rotation (waiting before its command), then started again: the fleet, the
    running server and the deploy's parent message."""
    fleet = start_haproxy(3)
    app = haproxy_app(fleet, ["touch ran"])
    app["load_balancer"]["configuration"]["wait_after_removing_servers"] = 3
    write(workdir, {"shop": app})
    server = serve()
    assert server.sender.command("shop --serial").status == 200
    wait_until(lambda: states(fleet)["web2"][1] & 1, "web2 to be in MAINT")
    server.kill()
    parent = parents(slack_fake.calls, CHANNEL)[0]
    server.start()
    return fleet, server, parent
