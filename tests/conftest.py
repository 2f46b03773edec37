"""Shared fixtures: a fresh working directory, manifests and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.sqlite_store import SqliteStore
from bot.wiring import Services
from strategies.manifest import Manifest, parse_manifest

# Fixtures that start real components (sshd, HAProxy, moto, a Slack Web API fake).
pytest_plugins = [
    "tests.infra.sshd",
    "tests.infra.haproxy",
    "tests.infra.moto",
    "tests.infra.slack",
    "tests.infra.slack_socket",
    "tests.infra.shipbot_server",
    "tests.infra.postgres",
    "tests.infra.stores",
    "tests.infra.replicas",
]

COMMANDS = [
    'printf "%s %s %s\\n" "$SHIPBOT_APP" "$SHIPBOT_SERVER" "$SHIPBOT_REF" > RELEASE',
]


def app_config(
    *,
    servers: int = 3,
    commands: list[str] | None = None,
    wait_removing: float | None = 0.05,
    wait_adding: float | None = 0.05,
    migrations: bool = True,
    lb: str = "memory",
    root: str = "fleet",
    timeout: float = 30,
    **extra: Any,
) -> dict[str, Any]:
    waits: dict[str, float] = {}
    if wait_removing is not None:
        waits["wait_after_removing_servers"] = wait_removing
    if wait_adding is not None:
        waits["wait_after_adding_servers"] = wait_adding
    config: dict[str, Any] = {
        "deployers": ["*"],  # written out: a manifest without deployers lets nobody deploy
        "connection": {"type": "local", "root": root},
        "servers": [{"name": f"web{i}"} for i in range(1, servers + 1)],
        "deploy": {"commands": commands or COMMANDS, "timeout": timeout},
        "load_balancer": {"type": lb, "configuration": waits},
    }
    if migrations:
        config["migrations"] = {"command": 'echo "$SHIPBOT_REF" >> MIGRATED', "server": "web1"}
    config.update(extra)
    return config


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory: fleet, database and manifest live here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHIPBOT_MANIFEST", raising=False)
    monkeypatch.delenv("SHIPBOT_DB", raising=False)
    return tmp_path


WriteManifest = Callable[..., Path]


@pytest.fixture
def write_manifest(workdir: Path) -> WriteManifest:
    """Write ``manifest.yml`` with one app ``shop`` (or ``apps=...``)."""

    def write(apps: dict[str, Any] | None = None, **config: Any) -> Path:
        path = workdir / "manifest.yml"
        path.write_text(yaml.safe_dump({"apps": apps or {"shop": app_config(**config)}}))
        return path

    return write


def manifest_from(**config: Any) -> Manifest:
    return parse_manifest(yaml.safe_dump({"apps": {"shop": app_config(**config)}}))


@pytest.fixture
def services(workdir: Path) -> Callable[..., Services]:
    def build(manifest: Manifest | None = None, **config: Any) -> Services:
        return Services(
            manifest=manifest or manifest_from(**config),
            store=SqliteStore(workdir / "shipbot.db"),
            poll_interval=0.01,
        )

    return build


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def shipbot(workdir: Path) -> Run:
    """Run the real ``shipbot`` CLI in a subprocess, in ``workdir``."""

    def run(
        *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPBOT_")}
        env["COLUMNS"] = "200"
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=workdir,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    return run


def fleet_file(workdir: Path, server: str, name: str = "RELEASE", app: str = "shop") -> Path:
    return workdir / "fleet" / app / server / name
