"""What the end-to-end tests read of Slack while ``shipbot serve`` runs (the posts,
the parents, a thread's lines), and the HAProxy-fronted app they deploy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.infra.haproxy import HAProxyFleet
from tests.infra.slack import Call

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
