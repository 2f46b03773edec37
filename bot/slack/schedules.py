"""Scheduled deploys in Slack: the announcement, the timer, the firing.

A schedule's message (with an Unschedule button) is posted in the channel;
its deploy runs in that message's thread. Where approval is required, the
approval request is that message, and approving it schedules the deploy
rather than starting it. Every bot process arms a timer for every pending
schedule (APScheduler, re-armed from the store at start); the store's
guarded status change makes exactly one of them fire it. A schedule whose
time passed before this process started was missed by every bot: it is
announced with a Run now button and waits for a person.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot import gate
from bot.gate import Refused
from bot.handler import BAD_INPUT, Caller, CommandHandler, FrontEnd
from bot.scheduling import replan
from bot.slack import blocks
from bot.slack.approvals import SlackApprovals, Timers
from bot.slack.blocks import slack_text
from bot.slack.front import SlackFrontEnd, remember_thread
from bot.slack.jobs import Jobs
from bot.slack.message import MessageRef
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from bot.wiring import Services
from strategies.cancel import CancelToken
from strategies.plan import DeployPlan
from strategies.records import NewJob, ScheduleRecord
from strategies.text import person

log = logging.getLogger(__name__)

UNSCHEDULE, CONFIRM = "shipbot_unschedule", "shipbot_confirm"


class SlackSchedules:
    """The ``ScheduleDesk`` of the Slack front end."""

    def __init__(
        self,
        *,
        services: Services,
        poster: Poster,
        jobs: Jobs,
        timers: Timers,
        approvals: SlackApprovals,
        runner: CommandHandler,
        owner: str,
    ) -> None:
        self._services, self._store = services, services.store
        self._poster, self._jobs, self._timers = poster, jobs, timers
        self._approvals, self._runner, self._owner = approvals, runner, owner

    # ScheduleDesk

    def scheduled(
        self, record: ScheduleRecord, plan: DeployPlan, caller: Caller, front: FrontEnd
    ) -> None:
        if record.status == "awaiting_approval":
            # The approval request is the schedule's message; approving it schedules.
            self._approvals.request(
                plan, caller, front, schedule=record, expires_at=record.schedule.run_at
            )
        else:
            message = self._poster.post(
                record.schedule.channel,
                _headline(record, plan),
                blocks=_schedule_blocks(record, plan),
            )
            message.when_posted(lambda ts: self._store.set_schedule_message(record.id, ts))
        self._arm(record)

    def unscheduled(self, record: ScheduleRecord, user: str) -> None:
        self._timers.cancel(_key(record.id))
        if record.approval_id is not None:
            self._approvals.expire(record.approval_id)
        self._close(record, f":wastebasket: unscheduled by {person(user)}: nothing was deployed")

    def thread(self, record: ScheduleRecord, front: FrontEnd) -> FrontEnd:
        return self._front(record) or front

    # Timers

    def resume(self, started: datetime) -> None:
        """Arm every pending schedule; one that fell due before this process started was
        missed by every bot, so it waits for a person."""
        for record in self._store.schedules(None, ("scheduled", "awaiting_approval")):
            if record.schedule.run_at < started:
                self._missed(record, "its time passed while no shipbot was running")
            else:
                self._arm(record)

    def adopt(self, started: datetime) -> None:
        """Arm every pending schedule this process has not armed (one made through
        another replica): every replica arms each; the store lets one fire it."""
        for record in self._store.schedules(None, ("scheduled", "awaiting_approval")):
            if record.schedule.run_at >= started and not self._timers.armed(_key(record.id)):
                self._arm(record)

    def _arm(self, record: ScheduleRecord) -> None:
        self._timers.at(_key(record.id), record.schedule.run_at, lambda: self.fire(record.id))

    def fire(self, schedule_id: int) -> None:
        record = self._store.get_schedule(schedule_id)
        if record is None:
            return
        if self._store.move_schedule(schedule_id, ("awaiting_approval",), "refused"):
            self._close(record, ":hourglass: not deployed: nobody approved it by its time")
            return
        if not self._store.move_schedule(schedule_id, ("scheduled",), "running"):
            return  # cancelled, or another bot process fired it
        try:
            plan, changes = replan(self._runner, record)
            if changes:
                self._store.move_schedule(schedule_id, ("running",), "missed")
                self._missed(
                    record, f"the plan changed since it was scheduled ({'; '.join(changes)})"
                )
                return
            request = record.schedule.request
            plan = gate.admit(plan, user=request.requested_by, operator=False)
        except (Refused, *BAD_INPUT) as exc:
            self._store.move_schedule(schedule_id, ("running",), "refused")
            self._close(record, f":no_entry_sign: not deployed: {exc}")
            return
        self._run(record, plan)

    def _run(self, record: ScheduleRecord, plan: DeployPlan) -> None:
        request = record.schedule.request
        job = NewJob(
            kind="deploy",
            app=request.app,
            requested_by=request.requested_by,
            channel=record.schedule.channel,
            text=f"/deploy {request.app} (scheduled #{record.id})",
            created_at=self._services.clock.now(),
            thread_ts=record.message_ts,
        )
        job_id = self._store.accept_job(job, owner=self._owner)
        front = self._front(record)

        def work(cancel: CancelToken) -> None:
            target = front or _Silent()
            self._runner.run_plan(plan, target, cancel)

        self._jobs.submit(
            work,
            job_id=job_id,
            not_run=lambda reason: self._close(
                record, f":warning: not run: {reason}; nothing was deployed"
            ),
        )

    # Messages

    def _missed(self, record: ScheduleRecord, why: str) -> None:
        if record.status != "missed":
            self._store.move_schedule(record.id, ("scheduled", "awaiting_approval"), "missed")
        app = record.schedule.request.app
        text = (
            f":warning: scheduled deploy #{record.id} of {app} was not run: {why}. "
            f"Run it now with the button or `/deploy {app} --confirm #{record.id}`, or "
            f"`/deploy unschedule {app} #{record.id}`."
        )
        buttons = _actions(
            _button("Run now", CONFIRM, str(record.id), "primary"),
            _button("Unschedule", UNSCHEDULE, str(record.id), "danger"),
        )
        self._say(record, text, [blocks.section(slack_text(text)), buttons])

    def _close(self, record: ScheduleRecord, outcome: str) -> None:
        """The outcome in the schedule's thread, and on its message instead of its buttons."""
        self._say(record, outcome)
        if record.message_ts:
            message = MessageRef.existing(record.schedule.channel, record.message_ts)
            self._poster.update(
                message,
                f"Scheduled deploy #{record.id}: {outcome}",
                blocks=[blocks.section(slack_text(f"Scheduled deploy #{record.id}: {outcome}"))],
            )

    def _say(self, record: ScheduleRecord, text: str, parts: list[Any] | None = None) -> None:
        channel = record.schedule.channel
        if not channel:
            log.info("scheduled deploy #%d: %s", record.id, text)
            return
        thread = MessageRef.existing(channel, record.message_ts) if record.message_ts else None
        self._poster.post(channel, slack_text(text), blocks=parts, thread=thread)

    def _front(self, record: ScheduleRecord) -> FrontEnd | None:
        channel = record.schedule.channel
        if not channel:
            return None
        parent = MessageRef.existing(channel, record.message_ts) if record.message_ts else None
        return SlackFrontEnd(
            say=lambda text: self._poster.post(channel, text, thread=parent),
            poster=self._poster,
            channel=channel,
            parent=parent,
            note=f":alarm_clock: scheduled deploy #{record.id}",
            on_parent=remember_thread(self._store),
            pictures=DeployPictures(self._store),
        )


class _Silent:
    """A deploy with no channel to show it in (scheduled from a terminal, no binding)."""

    def reply(self, text: str) -> None:
        log.info("%s", text)

    def error(self, text: str) -> None:
        log.warning("%s", text)

    def deploy_listeners(self, plan: DeployPlan) -> list[Any]:
        return []


def _key(schedule_id: int) -> str:
    return f"schedule-{schedule_id}"


def _headline(record: ScheduleRecord, plan: DeployPlan) -> str:
    when = record.schedule.run_at.astimezone(plan.app.zone)
    return (
        f"Deploy of {plan.app_name} @ {plan.ref} scheduled for {when:%a %Y-%m-%d %H:%M:%S %Z} "
        f"by {person(record.schedule.request.requested_by)} (#{record.id})"
    )


def _schedule_blocks(record: ScheduleRecord, plan: DeployPlan) -> list[dict[str, Any]]:
    head = blocks.section(f":alarm_clock: *{slack_text(_headline(record, plan))}*")
    unschedule = _actions(_button("Unschedule", UNSCHEDULE, str(record.id), "danger"))
    return [head, *blocks.fit(blocks.plan_blocks(plan))[:47], unschedule]


def _actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": "shipbot_schedule", "elements": list(elements)}


def _button(text: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "style": style,
    }
