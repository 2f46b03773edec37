"""Reading a dead deploy's journal: where each server was when its process died.

Every step's start and end is journalled as it happens, and each server's
planned steps are recorded when the deploy begins, so after a crash the
journal says, per server, whether it is out of the load balancer and whether
its commands had not started, were running, or had all finished. A server is
*known good* when none of its commands had started or all had finished well:
putting it back into rotation serves code that was serving, or that deployed
completely. Anything else needs a person to look.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from strategies.plan import COMMAND_KINDS
from strategies.records import ServerRecord, StepRecord

JournalLb = Literal["in", "out", "unknown", "n/a"]
Commands = Literal["not started", "running", "between commands", "failed", "finished"]


@dataclass(frozen=True)
class ServerAtCrash:
    server: str
    lb: JournalLb
    commands: Commands
    running: str = ""  # the label of the step that was running, if any

    @property
    def known_good(self) -> bool:
        return self.commands in ("not started", "finished")

    @property
    def left_out(self) -> bool:
        return self.lb in ("out", "unknown")

    def describe(self) -> str:
        """``web2: out of the load balancer; no command had started``."""
        where = {
            "in": "in the load balancer",
            "out": "out of the load balancer",
            "unknown": "load balancer state unknown",
            "n/a": "",
        }[self.lb]
        what = {
            "not started": "no command had started",
            "running": f"`{self.running}` was running",
            "between commands": "stopped between two commands",
            "failed": "a command had failed",
            "finished": "its commands had all finished",
        }[self.commands]
        return f"{self.server}: " + "; ".join(part for part in (where, what) if part)


def read_journal(
    servers: Sequence[ServerRecord], steps: Iterable[StepRecord]
) -> list[ServerAtCrash]:
    """Each server of a deploy as its journal leaves it, in deploy order."""
    by_server: dict[str, list[StepRecord]] = {}
    for step in steps:
        by_server.setdefault(step.server, []).append(step)
    return [_one(record, by_server.get(record.server, [])) for record in servers]


def _one(record: ServerRecord, steps: list[StepRecord]) -> ServerAtCrash:
    planned = record.planned
    lb_steps = [kind for kind in planned if kind in ("lb_remove", "lb_add")]
    lb: JournalLb = "n/a" if not lb_steps else "in" if lb_steps[0] == "lb_remove" else "out"
    started = finished = 0
    running = ""
    failed = False
    for step in steps:
        if step.kind == "lb_remove":
            lb = "out" if step.status == "ok" else "unknown"
        elif step.kind == "lb_add":
            lb = "in" if step.status == "ok" else "unknown"
        elif step.kind in COMMAND_KINDS:
            started += 1
            if step.status == "running":
                running = step.label
            elif step.status == "failed":
                failed = True
            else:
                finished += 1
    total = sum(1 for kind in planned if kind in COMMAND_KINDS)
    commands: Commands
    if running:
        commands = "running"
    elif failed:
        commands = "failed"
    elif started == 0:
        commands = "not started"
    elif finished >= total:
        commands = "finished"
    else:
        commands = "between commands"
    return ServerAtCrash(record.server, lb, commands, running)
