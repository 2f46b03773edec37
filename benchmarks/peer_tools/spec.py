"""The spec every peer tool script reads, and the line it prints per server."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class Spec:
    servers: list[Server]
    user: str
    key: str
    known_hosts: str
    commands: list[str]
    per_command: bool  # a new connection for each command (else one per server)
    timeout: float


def load(argv: list[str] | None = None) -> Spec:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit(f"usage: {sys.argv[0]} SPEC.json")
    with open(args[0]) as file:
        data: dict[str, Any] = json.load(file)
    data["servers"] = [Server(**s) for s in data["servers"]]
    return Spec(**data)


_PRINTING = threading.Lock()  # one whole line at a time, whatever thread reports


def report(name: str, ok: bool, out: str) -> None:
    line = json.dumps({"name": name, "ok": ok, "out": out.strip()}) + "\n"
    with _PRINTING:
        sys.stdout.write(line)
        sys.stdout.flush()
