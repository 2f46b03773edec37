"""Rollback: where to, and the plan that returns servers there.

The *current* ref is that of the app's latest deploy that changed anything
(a refused one changed nothing). A ref *ran everywhere* once every server's
latest successful deploy was of that ref (a canary and its promotion count
together). ``/deploy rollback`` returns to the latest ref that ran everywhere
and is not the current one (or the ref or deploy named with ``--to``);
``deploy.auto_rollback`` returns the servers a failed rollout changed to the
latest ref that ran everywhere before it. Rollbacks run ``deploy.rollback_commands``
(default: the deploy commands) with ``SHIPBOT_ROLLBACK=1``, never migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from strategies.plan import DeployPlan, plan
from strategies.records import DeployRecord
from strategies.requests import DeployRequest, RequestError, StrategyName

CHANGED = ("succeeded", "failed", "cancelled", "interrupted", "paused")


def uniform_refs(history: Sequence[DeployRecord], servers: Sequence[str]) -> list[str]:
    """The refs the whole app ran, oldest first: after each deploy (a canary and its
    promotion count together), whenever every server last deployed well the same ref."""
    running: dict[str, str] = {}
    uniform: list[str] = []
    for record in sorted(history, key=lambda r: r.id):
        for server in record.servers:
            if server.status == "ok":
                running[server.server] = record.ref
        refs = {running.get(name) for name in servers}
        if len(refs) == 1 and None not in refs:
            (ref,) = refs
            if not uniform or uniform[-1] != ref:
                uniform.append(str(ref))
    return uniform


def current_ref(history: Sequence[DeployRecord]) -> str | None:
    return next((r.ref for r in history if r.status in CHANGED), None)


def last_good_ref(history: Sequence[DeployRecord], servers: Sequence[str]) -> str | None:
    """The ref the app ran before a new rollout: the latest every server ran."""
    uniform = uniform_refs(history, servers)
    return uniform[-1] if uniform else None


def rollback_target(history: Sequence[DeployRecord], servers: Sequence[str], to: str | None) -> str:
    """Where ``/deploy rollback [--to REF|#ID]`` goes; RequestError if nowhere."""
    if to is not None and to.startswith("#"):
        wanted = int(to[1:])
        record = next((r for r in history if r.id == wanted), None)
        if record is None:
            raise RequestError(f"--to {to}: no such deploy of this app")
        return record.ref
    if to is not None:
        return to
    current = current_ref(history)
    earlier = [ref for ref in uniform_refs(history, servers) if ref != current]
    if not earlier:
        raise RequestError(
            "nothing to roll back to: no earlier ref ran on every server (use --to REF)"
        )
    return earlier[-1]


def rollback_plan(rollout: DeployPlan, servers: Sequence[str]) -> DeployPlan | None:
    """Return ``servers`` of a failed ``rollout`` to its ``rollback_ref``; pure."""
    target = rollout.rollback_ref
    if target is None or not servers:
        return None
    strategy: StrategyName = "serial" if rollout.rollout.uses_load_balancer else "parallel"
    request = replace(
        rollout.request,
        strategy=strategy,
        ref=target,
        rollback_to=target,
        servers=tuple(servers),
        batch=None,
        canary=None,
        force=False,
    )
    settings = {"deploy.max_parallel": rollout.max_parallel}
    return replace(plan(request, rollout.app, settings), rollback_ref=None)


def as_rollback(request: DeployRequest, target: str) -> DeployRequest:
    return replace(request, ref=target, rollback_to=target)
