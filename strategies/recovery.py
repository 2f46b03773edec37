"""Recovery of an interrupted deploy: put back what is known good, say what is not.

The journal says where each server was when the deploy's process died
(``strategies.journal``); the load balancer says where it is now. A server
that is out and known good (none of its commands had started, or all had
finished well) goes back into rotation with the app's own wait. Anything
else is reported with what to do. Recovery never runs a deploy command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from strategies.journal import ServerAtCrash, read_journal
from strategies.manifest import App
from strategies.plan import DeployPlan, Step, plan
from strategies.records import DeployRecord, StepRecord
from strategies.requests import DeployRequest
from strategies.waits import AppliedWait

# What the load balancer reports of a server now: "drained", "serving"... or
# "unknown" (with the reason, when asking failed).
LbNow = Callable[[str], str]


@dataclass(frozen=True)
class RecoveryItem:
    at_crash: ServerAtCrash
    now: str  # what the load balancer reports now ("drained", "serving", an error...)
    action: str  # what recovery does, or what a person should do

    @property
    def line(self) -> str:
        return f"{self.at_crash.describe()}; now {self.now}: {self.action}"


@dataclass(frozen=True)
class Recovery:
    deploy: DeployRecord
    put_back: tuple[RecoveryItem, ...]
    left: tuple[RecoveryItem, ...]  # still out, or unknown: for a person
    fine: tuple[RecoveryItem, ...]  # nothing to do

    def lines(self) -> list[str]:
        head = f"Recovery of deploy #{self.deploy.id} of {self.deploy.app} ({self.deploy.summary})"
        items = [*self.put_back, *self.left, *self.fine]
        return [head, *(f"  {item.line}" for item in items)]


def assess(record: DeployRecord, steps: list[StepRecord], lb_now: LbNow) -> Recovery:
    """Sort the interrupted deploy's servers into put back / left for a person / fine."""
    put_back: list[RecoveryItem] = []
    left: list[RecoveryItem] = []
    fine: list[RecoveryItem] = []
    for server in read_journal(record.servers, steps):
        if not server.left_out:
            if server.commands in ("running", "between commands", "failed"):
                fix = (
                    f"in rotation, but redeploy it (/deploy {record.app} --servers {server.server})"
                )
                left.append(RecoveryItem(server, "in the load balancer", fix))
            continue
        now = answer = lb_now(server.server)
        if answer in ("serving", "starting"):
            fine.append(RecoveryItem(server, now, "already back in rotation; nothing to do"))
        elif answer in ("drained", "draining") and server.known_good:
            put_back.append(RecoveryItem(server, now, "putting it back"))
        elif answer in ("drained", "draining"):
            fix = (
                f"left out: check it, then redeploy it (/deploy {record.app} --servers "
                f"{server.server}) or put it back by hand"
            )
            left.append(RecoveryItem(server, now, fix))
        else:
            left.append(
                RecoveryItem(server, now, "the load balancer cannot say where it is: check by hand")
            )
    return Recovery(record, tuple(put_back), tuple(left), tuple(fine))


def recovery_plan(
    recovery: Recovery,
    app: App,
    *,
    requested_by: str,
    settings: Mapping[str, Any],
    applied_waits: Mapping[str, AppliedWait],
) -> DeployPlan:
    """A serial plan that only adds the known-good servers back, with the app's wait."""
    record = recovery.deploy
    names = tuple(item.at_crash.server for item in recovery.put_back)
    request = DeployRequest(record.app, requested_by, strategy="serial", servers=names)
    base = plan(request, app, settings, applied_waits)
    steps = (
        Step("lb_add", "add to load balancer"),
        Step("wait_added", "wait after adding", seconds=base.wait_after_adding.seconds),
    )
    return replace(
        base,
        servers=tuple(replace(s, steps=steps) for s in base.servers),
        reason=f"recovery of deploy #{record.id}: put back {', '.join(names)}",
        ref=record.ref,
        migrations_server=None,
        warnings=(),
        recovers=record.id,
    )
