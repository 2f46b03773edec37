"""Scheduled deploys (``--at`` / ``--in``), for every front end.

The plan (and the approval, where the app requires one) is made when the
deploy is scheduled; the schedule is a row in the store. A running bot
(``serve`` or ``socket``) fires it at its time, once across every bot
process: the plan is made again and runs only if it is the same, inside the
deploy windows (or with the override given when it was scheduled). A deploy
whose time passed while no bot was running is not run late: it is announced
and waits for ``/deploy APP --confirm #ID``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.exits import EXIT_FAILED, EXIT_OK
from bot.gate import Refused
from strategies.durations import format_duration
from strategies.plan import DeployPlan
from strategies.plan_facts import facts_text, plan_changes
from strategies.records import NewSchedule, ScheduleRecord, ScheduleStatus
from strategies.text import person
from strategies.when import run_time

if TYPE_CHECKING:
    from bot.handler import Caller, CommandHandler, FrontEnd

PENDING: tuple[ScheduleStatus, ...] = ("scheduled", "awaiting_approval", "missed")


class ScheduleDesk(Protocol):
    """What a front end with a running bot (Slack) adds to a schedule: its message,
    its approval request, its timer, and the thread its deploy runs in."""

    def scheduled(
        self, record: ScheduleRecord, plan: DeployPlan, caller: Caller, front: FrontEnd
    ) -> None: ...

    def unscheduled(self, record: ScheduleRecord, user: str) -> None: ...

    def thread(self, record: ScheduleRecord, front: FrontEnd) -> FrontEnd: ...


def schedule(handler: CommandHandler, plan: DeployPlan, caller: Caller, front: FrontEnd) -> int:
    services = handler.services
    now = services.clock.now()
    when = run_time(plan.request, now, plan.app.zone)
    needs_approval = plan.app.approval.required and not (caller.operator and caller.skip_approval)
    if needs_approval and handler.schedules is None:
        front.error(
            f"refused: {plan.app_name} requires approval: schedule it in Slack "
            f"(the local operator may override: --skip-approval)"
        )
        return EXIT_FAILED
    new = NewSchedule(plan.request, caller.channel or _channel(plan), when, now, facts_text(plan))
    status: ScheduleStatus = "awaiting_approval" if needs_approval else "scheduled"
    schedule_id = services.store.create_schedule(new, status=status, approval_id=None)
    record = services.store.get_schedule(schedule_id)
    assert record is not None
    local = f"{when.astimezone(plan.app.zone):%a %Y-%m-%d %H:%M:%S %Z}"
    front.reply(
        f"deploy of {plan.app_name} scheduled as #{schedule_id} for {local} "
        f"(in {format_duration((when - now).total_seconds())}), {plan.strategy}"
        + (", once approved" if needs_approval else "")
        + f"; cancel with /deploy unschedule {plan.app_name} #{schedule_id}"
    )
    if handler.schedules is not None:
        handler.schedules.scheduled(record, plan, caller, front)
    elif not services.store.live_bots(now):
        front.reply(
            "note: no shipbot serve or socket is running: the deploy runs when one is; "
            "if its time has passed by then, it waits for --confirm"
        )
    return EXIT_OK


def _channel(plan: DeployPlan) -> str:
    return plan.app.slack.channel if plan.app.slack else ""


def unschedule(handler: CommandHandler, app: str, schedule_id: int, user: str) -> str:
    store = handler.services.store
    record = store.get_schedule(schedule_id)
    if record is None or record.schedule.request.app != app:
        raise Refused(f"refused: {app} has no scheduled deploy #{schedule_id}")
    if not store.move_schedule(schedule_id, PENDING, "cancelled", by=user):
        raise Refused(f"refused: scheduled deploy #{schedule_id} is {record.status}, not pending")
    if handler.schedules is not None:
        handler.schedules.unscheduled(record, user)
    return f"scheduled deploy #{schedule_id} of {app} cancelled by {person(user)}"


def replan(handler: CommandHandler, record: ScheduleRecord) -> tuple[DeployPlan, list[str]]:
    """The schedule's deploy planned now, and how it differs from the plan made then."""
    from bot.handler import Caller

    request = record.schedule.request
    plan = handler.plan_for(request, Caller(request.requested_by, record.schedule.channel))
    return plan, plan_changes(record.schedule.plan_facts, plan)


def confirm(
    handler: CommandHandler, app: str, schedule_id: int, caller: Caller, front: FrontEnd
) -> DeployPlan:
    """A person runs a missed schedule now: freshly planned, as they see it now."""
    store = handler.services.store
    record = store.get_schedule(schedule_id)
    if record is None or record.schedule.request.app != app:
        raise Refused(f"refused: {app} has no scheduled deploy #{schedule_id}")
    if not store.move_schedule(schedule_id, ("missed",), "running", by=caller.user):
        raise Refused(
            f"refused: scheduled deploy #{schedule_id} is {record.status}: only one whose "
            "time passed (or whose plan changed) waits for --confirm"
        )
    plan, _ = replan(handler, record)
    return plan
