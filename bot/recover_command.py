"""``/deploy recover APP``: after a deploy was interrupted (its process died), find
where each of its servers is and put back into the load balancer only those known
to be good; a server in doubt is left for a person, and said so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exits import EXIT_FAILED, EXIT_OK
from strategies import recovery
from strategies.cancel import CancelToken
from strategies.ports import LoadBalancerError

if TYPE_CHECKING:
    from bot.command_types import RecoverCommand
    from bot.handler import Caller, CommandHandler, FrontEnd


def run(
    handler: CommandHandler,
    command: RecoverCommand,
    caller: Caller,
    front: FrontEnd,
    cancel: CancelToken | None,
) -> int:
    name, store = command.app, handler.services.store
    app = handler.services.manifest.app(name)
    store.sweep_interrupted(handler.services.clock.now())
    running = store.running_deploy(name)
    if running is not None:
        front.error(
            f"refused: deploy #{running.id} of {name} is still running (by "
            f"{running.requested_by}); stop it with /deploy cancel {name}"
        )
        return EXIT_FAILED
    record = store.last_interrupted(name)
    if record is None:
        front.reply(f"nothing to recover for {name}: its last deploy was not interrupted")
        return EXIT_OK
    lb = handler.services.load_balancer(name)

    def lb_now(server: str) -> str:
        try:
            return lb.check(app.server(server)) or "unknown"
        except (LoadBalancerError, KeyError) as exc:
            return f"unknown ({exc})"

    found = recovery.assess(record, store.steps(record.id), lb_now)
    front.reply("\n".join(found.lines()))
    if not found.put_back:
        store.close_recovery(
            record.id,
            by=caller.user,
            at=handler.services.clock.now(),
            note="recovery: nothing "
            "to put back" + (f"; left for a person: {_names(found.left)}" if found.left else ""),
        )
        front.reply(f"{name}: lock released; nothing was changed")
        return EXIT_FAILED if found.left else EXIT_OK
    deploy_plan = recovery.recovery_plan(
        found,
        app,
        requested_by=caller.user,
        settings=store.get_settings(name),
        applied_waits=store.applied_waits(name),
    )
    code = handler.run_plan(deploy_plan, front, cancel)
    return EXIT_FAILED if found.left else code


def _names(items: tuple[recovery.RecoveryItem, ...]) -> str:
    return ", ".join(item.at_crash.server for item in items)
