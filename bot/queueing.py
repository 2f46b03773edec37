"""``--queue``: a deploy that waits for the running deploy (or a lock) to end
instead of being refused, then runs with a fresh plan.

In Slack the queue is rows in the store, run in order by the bot's
housekeeping (``bot.slack.queue``); in a terminal the command itself waits.
Either way it gives up after ``deploy.queue_timeout`` (default 1 h).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot import gate
from bot.exits import EXIT_FAILED, EXIT_OK
from strategies.cancel import CancelToken
from strategies.durations import format_duration
from strategies.plan import DeployPlan
from strategies.text import person

if TYPE_CHECKING:
    from bot.handler import Caller, CommandHandler, FrontEnd

POLL = 1.0


def busy(handler: CommandHandler, app: str) -> str | None:
    """What holds ``app`` now (a deploy, a recovery lock, a person's lock), or None."""
    store, now = handler.services.store, handler.services.clock.now()
    running = store.running_deploy(app)
    if running is not None:
        return f"deploy #{running.id} by {person(running.requested_by)}"
    if store.recovery_lock(app) is not None:
        return "a recovery lock"
    canary = store.canary_lock(app)
    if canary is not None:
        return f"a canary waiting for Promote or Abort (deploy #{canary})"
    lock = next((h for h in store.holds(app, now) if h.kind == "lock"), None)
    return None if lock is None else f"a lock by {person(lock.by)} ({lock.reason})"


def queue(
    handler: CommandHandler,
    plan: DeployPlan,
    caller: Caller,
    front: FrontEnd,
    cancel: CancelToken | None,
) -> int:
    holder = busy(handler, plan.app_name)
    if holder is None:
        return handler.start(plan, caller, front, cancel)
    services = handler.services
    now = services.clock.now()
    timeout = plan.app.deploy.queue_timeout
    if handler.queue_in_store:
        waiting = services.store.queued(plan.app_name)
        services.store.enqueue(
            plan.request, caller.channel or "", now, now + timedelta(seconds=timeout)
        )
        front.reply(
            f"queued: {plan.app_name} is held by {holder}; this deploy runs when it is free "
            f"(place {len(waiting) + 1}; gives up after {format_duration(timeout)})"
        )
        return EXIT_OK
    front.reply(
        f"waiting: {plan.app_name} is held by {holder} (at most {format_duration(timeout)})"
    )
    deadline = time.monotonic() + timeout
    while busy(handler, plan.app_name) is not None:
        if time.monotonic() > deadline or (cancel is not None and cancel.requested()):
            front.error(f"gave up waiting for {plan.app_name}; nothing was deployed")
            return EXIT_FAILED
        services.clock.sleep(POLL, cancel.cancel_event if cancel else None)
    fresh = gate.admit(
        handler.plan_for(replace(plan.request, queue=False), caller),
        user=caller.user,
        operator=caller.operator,
    )
    front.reply(f"{plan.app_name} is free: starting the queued deploy")
    return handler.start(fresh, caller, front, cancel)
