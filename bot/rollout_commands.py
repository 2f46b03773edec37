"""``/deploy rollback``, ``promote`` and ``abort``: the commands that end a rollout
another way than it started, and the lock a rollback leaves.

After any rollback (asked for, an aborted canary, or ``deploy.auto_rollback``)
the app is locked with the reason until someone unlocks it: whatever made the
new version fail is still there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.gate import Refused, admit
from strategies.cancel import CancelToken
from strategies.plan import DeployPlan
from strategies.records import DeployRecord, Hold
from strategies.requests import DeployRequest
from strategies.results import DeployResult
from strategies.rollback import current_ref, last_good_ref, rollback_target
from strategies.text import person

if TYPE_CHECKING:
    from bot.command_types import AbortCommand, PromoteCommand, RollbackCommand
    from bot.handler import Caller, CommandHandler, FrontEnd


def rollback(
    handler: CommandHandler,
    command: RollbackCommand,
    caller: Caller,
    front: FrontEnd,
    cancel: CancelToken | None,
) -> int:
    app = handler.services.manifest.app(command.app)
    history = handler.services.store.history(command.app, 200)
    target = rollback_target(history, [s.name for s in app.servers], command.to)
    request = DeployRequest(command.app, caller.user, ref=target, rollback_to=target)
    plan = handler.admitted_plan(request, caller)
    front.reply(f"rolling back {command.app} from {current_ref(history)} to {target}")
    return handler.start(plan, caller, front, cancel)


def _paused(handler: CommandHandler, app: str) -> DeployRecord:
    store = handler.services.store
    deploy_id = store.canary_lock(app)
    record = store.get_deploy(deploy_id) if deploy_id is not None else None
    if record is None:
        raise Refused(f"refused: no canary of {app} is waiting for Promote or Abort")
    return record


def promote(
    handler: CommandHandler,
    command: PromoteCommand,
    caller: Caller,
    front: FrontEnd,
    cancel: CancelToken | None,
) -> int:
    record = _paused(handler, command.app)
    app = handler.services.manifest.app(command.app)
    bake = app.deploy.canary.bake if app.deploy.canary else 0.0
    ready = (record.finished_at or record.started_at) + timedelta(seconds=bake)
    if handler.services.clock.now() < ready:
        until = f"{ready.astimezone(app.zone):%H:%M:%S %Z}"
        raise Refused(
            f"refused: the canary of {command.app} bakes until {until} "
            "(deploy.canary.bake); Promote is accepted from then"
        )
    waiting = tuple(s.server for s in record.servers if s.status == "waiting")
    base = record.request or DeployRequest(command.app, ref=record.ref)
    request = replace(
        base,
        requested_by=caller.user,
        canary=None,
        strategy="batch" if app.deploy.batch_size else "serial",
        servers=waiting,
        ref=record.ref,
    )
    plan = replace(handler.plan_for(request, caller), continues=record.id)
    plan = admit(plan, user=caller.user, operator=caller.operator)
    front.reply(f"promoting the canary #{record.id} of {command.app}: {', '.join(waiting)} next")
    return handler.run_plan(plan, front, cancel)


def abort(
    handler: CommandHandler,
    command: AbortCommand,
    caller: Caller,
    front: FrontEnd,
    cancel: CancelToken | None,
    *,
    why: str = "",
) -> int:
    record = _paused(handler, command.app)
    app = handler.services.manifest.app(command.app)
    history = [r for r in handler.services.store.history(command.app, 200) if r.id != record.id]
    target = last_good_ref(history, [s.name for s in app.servers])
    if target is None:
        raise Refused(f"refused: nothing to roll the canary of {command.app} back to")
    canaries = tuple(s.server for s in record.servers if s.status in ("ok", "failed"))
    request = DeployRequest(
        command.app,
        caller.user,
        ref=target,
        rollback_to=target,
        servers=canaries,
        strategy="serial",
    )
    plan = replace(handler.plan_for(request, caller), continues=record.id)
    front.reply(
        f"aborting the canary #{record.id} of {command.app}{why}: rolling {', '.join(canaries)} "
        f"back to {target}"
    )
    return handler.run_plan(plan, front, cancel)


def lock_after_rollback(
    handler: CommandHandler, plan: DeployPlan, result: DeployResult, before: str | None
) -> str | None:
    """After any rollback, lock the app with why; the line to say, or None."""
    auto = [o for o in result.outcomes if o.rolled_back]
    if plan.request.rollback_to is None and not auto:
        return None
    who = person(plan.request.requested_by)
    if plan.request.rollback_to is not None:
        reason = f"rolled back from {before} to {plan.request.rollback_to} by {who}"
    else:
        reason = (
            f"deploy #{result.deploy_id} of {plan.ref} failed and was rolled back "
            f"(deploy.auto_rollback) on {', '.join(o.server for o in auto)}"
        )
    now = handler.services.clock.now()
    handler.services.store.set_hold(Hold(plan.app_name, "lock", "shipbot", reason, now, None))
    return f"{plan.app_name} is locked: {reason}; /deploy unlock {plan.app_name} once it is fixed"
