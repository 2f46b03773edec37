"""Deploys that need an approver: the request message, decisions, expiry.

The store is the source of truth: a request is a row before its message is
posted, a decision is an atomic change of that row (so a double click, a
retried event or a second bot process cannot decide twice), and expiry timers
are rebuilt from the pending rows when the bot starts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from bot import authz, gate
from bot.commands import DeployCommand
from bot.gate import Refused
from bot.handler import BAD_INPUT, BadInput, Caller, CommandHandler, FrontEnd
from bot.slack import blocks
from bot.slack.announce import SlackAnnouncer
from bot.slack.blocks import slack_text
from bot.slack.front import SlackFrontEnd, remember_thread
from bot.slack.jobs import Jobs
from bot.slack.message import MessageRef
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from bot.wiring import Services
from strategies.cancel import CancelToken
from strategies.durations import format_duration
from strategies.plan import DeployPlan
from strategies.plan_facts import facts_text, plan_changes
from strategies.records import (
    ApprovalRecord,
    ApprovalStatus,
    NewApproval,
    NewJob,
    ScheduleRecord,
)
from strategies.requests import StrategyName, request_from_json, request_json

APPROVE, REJECT = "shipbot_approve", "shipbot_reject"
SYSTEM = "shipbot"  # decided_by of an expiry
MAX_PENDING = 3  # requests one person may have waiting for one app


class Timers(Protocol):
    def at(self, key: str, when: datetime, action: Callable[[], None]) -> None: ...

    def cancel(self, key: str) -> None: ...

    def armed(self, key: str) -> bool: ...


class SlackApprovals:
    """The ``ApprovalDesk`` of the Slack front end."""

    def __init__(
        self,
        *,
        services: Services,
        poster: Poster,
        jobs: Jobs,
        timers: Timers,
        runner: CommandHandler,
        announcer: SlackAnnouncer,
        owner: str,
    ) -> None:
        self._services = services
        self._store = services.store
        self._poster = poster
        self._jobs = jobs
        self._timers = timers
        # Approved deploys were authorized when requested: the runner has no approval desk.
        self._runner = runner
        self._announcer = announcer
        self._owner = owner  # this bot process, which accepts the approved deploy's job
        # Answers to the requester go over the response_url (HTTP): never on a
        # worker, never on the poster's thread.
        self._replies = ThreadPoolExecutor(max_workers=2, thread_name_prefix="approval-reply")

    def refusal(self, plan: DeployPlan, user: str) -> str | None:
        """Why ``user`` may not ask for another approval of ``plan``'s app now, or None."""
        waiting = [
            r
            for r in self._store.pending_approvals()
            if r.request.app == plan.app_name and r.request.requested_by == user
        ]
        if len(waiting) < MAX_PENDING:
            return None
        return (
            f"refused: {authz.mention(user)} already has {len(waiting)} deploys of "
            f"{plan.app_name} waiting for approval; withdraw one (react :x:) or wait"
        )

    def request(
        self,
        plan: DeployPlan,
        caller: Caller,
        front: FrontEnd,
        *,
        schedule: ScheduleRecord | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Record the request and queue its message; nothing here waits for Slack, so a
        pending request holds no worker. For a ``schedule``, approving it schedules the
        deploy (it runs at its time), and the request is the schedule's message."""
        if caller.channel is None:
            raise BadInput(f"{plan.app_name} requires approval: request it in a Slack channel")
        refused = self.refusal(plan, caller.user)
        if refused:
            front.error(refused)
            return
        now = self._services.clock.now()
        expires = expires_at or now + timedelta(seconds=plan.app.approval.timeout)
        request = plan.request
        approval_id = self._store.create_approval(
            NewApproval(
                app=plan.app_name,
                requested_by=caller.user,
                strategy=plan.strategy,
                ref=request.ref,
                servers=request.servers,
                channel=caller.channel,
                created_at=now,
                expires_at=expires,
                plan_facts=facts_text(plan),
                force=request.force,
                request_json=request_json(replace(request, strategy=plan.strategy)),
            )
        )
        message = self._poster.post(
            caller.channel,
            f"Deploy of {plan.app_name} @ {plan.ref} by {authz.mention(caller.user)} "
            "needs approval",
            blocks=_request_blocks(plan, approval_id, caller.user, expires),
        )
        channel = caller.channel
        if schedule is not None:
            self._store.set_schedule_approval(schedule.id, approval_id)

        def posted(ts: str) -> None:
            self._store.set_approval_message(approval_id, ts)
            if schedule is not None:
                self._store.set_schedule_message(schedule.id, ts)
            self._schedule(approval_id, expires)
            self._replies.submit(
                front.reply,
                f"approval requested from {_approvers(plan)}: the request is in <#{channel}>",
            )

        def never_posted() -> None:
            # Nobody can see the request, so nobody can approve it: close it now.
            self._store.decide_approval(approval_id, "rejected", by=SYSTEM, at=now)
            self._replies.submit(
                front.error, "error: the approval request could not be posted; nothing changed"
            )

        message.when_posted(posted, never_posted)

    def resume(self) -> None:
        """Re-arm every pending approval after a start; expire those already due, and
        close those whose message a stopped bot never posted."""
        now = self._services.clock.now()
        for record in self._store.pending_approvals():
            if record.message_ts is None:
                if self._store.decide_approval(record.id, "rejected", by=SYSTEM, at=now):
                    request = record.request
                    self._poster.post(
                        request.channel,
                        f":warning: {authz.mention(request.requested_by)}: your request to "
                        f"deploy {request.app} was never posted (the bot stopped first); "
                        f"nothing was deployed: request it again with `/deploy {request.app}`",
                    )
            elif record.request.expires_at <= now:
                self.expire(record.id)
            else:
                self._schedule(record.id, record.request.expires_at)

    def adopt(self) -> None:
        """Arm the expiry of every pending approval this process has not armed: one
        another replica requested (it may die before its timer fires). Every replica
        arms every expiry; the store lets exactly one of them expire it and announce."""
        for record in self._store.pending_approvals():
            if record.message_ts is not None and not self._timers.armed(str(record.id)):
                self._schedule(record.id, record.request.expires_at)

    def decide_message(self, channel: str, ts: str, user: str, *, approving: bool) -> None:
        """A reaction on a message; anything but a pending request is ignored."""
        record = self._store.approval_for_message(channel, ts)
        if record is not None and record.status == "pending":
            self.decide(record.id, user, approving=approving)

    def decide(self, approval_id: int, user: str, *, approving: bool) -> None:
        """An approver's decision; anyone else gets an ephemeral one-liner and nothing changes."""
        record = self._store.get_approval(approval_id)
        if record is None or record.message_ts is None:
            return
        channel, name = record.request.channel, record.request.app
        if record.status != "pending":
            self._tell_decided(record, user)
            return
        app = self._services.manifest.apps.get(name)
        refused = (
            f"refused: {name} is no longer in the manifest"
            if app is None
            else authz.approval_refusal(
                name, app, user=user, requester=record.request.requested_by, approving=approving
            )
        )
        if refused:
            self._poster.ephemeral(channel, user, slack_text(refused))
            return
        now = self._services.clock.now()
        assert app is not None
        lost = authz.refusal(
            self._services.manifest, DeployCommand(name), user=record.request.requested_by
        )
        if approving and lost:
            # The requester lost the right to deploy since asking: nobody may grant it.
            if self._store.decide_approval(approval_id, "rejected", by=SYSTEM, at=now):
                self._timers.cancel(str(approval_id))
                why = lost.removeprefix("refused: ").replace(" may not ", " may no longer ", 1)
                self._close(record, f":no_entry_sign: not deployed: {why}")
            return
        scheduled = self._store.schedule_for_approval(approval_id)
        if scheduled is not None:
            self._decide_schedule(record, scheduled, user, approving=approving)
            return
        job: NewJob | None = None
        if approving:
            # The approval and the deploy job it starts are one transaction: a crash
            # right after cannot leave an approved request that nobody deploys.
            job = NewJob(
                kind="approved",
                app=name,
                requested_by=record.request.requested_by,
                channel=channel,
                text=f"/deploy {name}",
                created_at=now,
                approval_id=approval_id,
                thread_ts=record.message_ts,
            )
            job_id = self._store.approve_into_job(
                approval_id, by=user, at=now, job=job, owner=self._owner
            )
            decided = job_id is not None
        else:
            decided = self._store.decide_approval(approval_id, "rejected", by=user, at=now)
        if not decided:
            # Another click, reaction or bot process decided a moment earlier.
            self._tell_decided(self._store.get_approval(approval_id) or record, user)
            return
        self._timers.cancel(str(approval_id))
        outcome = (
            f":white_check_mark: approved by {authz.mention(user)}: deploying"
            if approving
            else f":x: rejected by {authz.mention(user)}: nothing was deployed"
        )
        self._close(record, outcome)
        if job is not None and job_id is not None:
            approved = job
            self._jobs.submit(
                lambda cancel: self._deploy(record, user, cancel),
                job_id=job_id,
                not_run=lambda reason: self._announcer.job_not_run(approved, reason),
            )

    def _tell_decided(self, record: ApprovalRecord, user: str) -> None:
        by = ""
        if record.decided_by and record.status != "expired":
            by = f" by {authz.mention(record.decided_by)}"
        self._poster.ephemeral(
            record.request.channel, user, f"this request was already {record.status}{by}"
        )

    def _decide_schedule(
        self, record: ApprovalRecord, scheduled: ScheduleRecord, user: str, *, approving: bool
    ) -> None:
        """Approving a scheduled deploy schedules it; its timer runs it at its time."""
        now = self._services.clock.now()
        status: ApprovalStatus = "approved" if approving else "rejected"
        if not self._store.decide_approval(record.id, status, by=user, at=now):
            self._tell_decided(self._store.get_approval(record.id) or record, user)
            return
        self._timers.cancel(str(record.id))
        when = f"{scheduled.schedule.run_at:%a %Y-%m-%d %H:%M:%S %Z}"
        if approving and self._store.move_schedule(
            scheduled.id, ("awaiting_approval",), "scheduled", by=user
        ):
            self._close(
                record, f":white_check_mark: approved by {authz.mention(user)}: runs {when}"
            )
        elif not approving:
            self._store.move_schedule(scheduled.id, ("awaiting_approval",), "cancelled", by=user)
            self._close(record, f":x: rejected by {authz.mention(user)}: nothing will be deployed")

    def expire(self, approval_id: int) -> None:
        record = self._store.get_approval(approval_id)
        now = self._services.clock.now()
        if record is None or not self._store.decide_approval(
            approval_id, "expired", by=SYSTEM, at=now
        ):
            return
        scheduled = self._store.schedule_for_approval(approval_id)
        if scheduled is not None:
            self._store.move_schedule(scheduled.id, ("awaiting_approval",), "refused")
            self._close(record, ":hourglass: not deployed: nobody approved it by its time")
            return
        request = record.request
        waited = format_duration((request.expires_at - request.created_at).total_seconds())
        self._close(record, f":hourglass: expired: nobody approved within {waited}")

    def _close(self, record: ApprovalRecord, outcome: str) -> None:
        """The outcome as a thread reply, and on the request message instead of its buttons."""
        if record.message_ts is None:
            return
        channel = record.request.channel
        message = MessageRef.existing(channel, record.message_ts)
        self._poster.post(channel, outcome, thread=message)
        self._poster.update(
            message,
            f"Deploy of {record.request.app}: {outcome}",
            blocks=[blocks.section(_request_line(record)), blocks.section(outcome)],
        )

    def _deploy(self, record: ApprovalRecord, approver: str, cancel: CancelToken) -> None:
        request, channel = record.request, record.request.channel
        assert record.message_ts is not None
        parent = MessageRef.existing(channel, record.message_ts)
        front = SlackFrontEnd(
            say=lambda text: self._poster.post(channel, text, thread=parent),
            poster=self._poster,
            channel=channel,
            parent=parent,
            note=f":white_check_mark: approved by {authz.mention(approver)}",
            on_parent=remember_thread(self._store),
            pictures=DeployPictures(self._store),
        )
        command = (
            request_from_json(request.request_json)
            if request.request_json
            else DeployCommand(
                app=request.app,
                strategy=cast(StrategyName | None, request.strategy),
                ref=request.ref,
                servers=request.servers,
                force=request.force,
            )
        )
        caller = Caller(request.requested_by, channel)
        try:
            plan = self._runner.plan_for(command, caller)
        except BAD_INPUT as exc:  # e.g. the manifest changed, or a key file went away
            front.error(f"error: cannot deploy after approval: {exc}")
            return
        changes = plan_changes(request.plan_facts, plan)
        if changes:
            # What was approved is not what would run: never run it silently.
            front.reply(
                f"the plan changed since it was approved ({'; '.join(changes)}); nothing was "
                "deployed: asking again with the plan as it is now"
            )
            self.request(plan, caller, front)
            return
        try:
            plan = gate.admit(plan, user=caller.user, operator=False)
        except Refused as exc:
            front.error(f"{exc}; nothing was deployed")
            return
        try:
            self._runner.run_plan(plan, front, cancel)
        except BAD_INPUT as exc:
            front.error(f"error: cannot deploy after approval: {exc}")

    def _schedule(self, approval_id: int, when: datetime) -> None:
        self._timers.at(str(approval_id), when, lambda: self.expire(approval_id))


def _approvers(plan: DeployPlan) -> str:
    return ", ".join(authz.mention(user) for user in plan.app.approval.approvers)


def _request_line(record: ApprovalRecord) -> str:
    request = record.request
    ref = f" @ {request.ref}" if request.ref else ""
    return f"*Deploy of {request.app}{ref}* requested by {authz.mention(request.requested_by)}"


def _request_blocks(
    plan: DeployPlan, approval_id: int, requester: str, expires: datetime
) -> list[dict[str, Any]]:
    ask = (
        f"*Needs approval* from {_approvers(plan)} (not {authz.mention(requester)}) "
        f"by {expires:%H:%M:%S} UTC: react :white_check_mark: or :+1: to approve, "
        ":x: to reject, or use the buttons."
    )
    buttons = {
        "type": "actions",
        "block_id": "shipbot_approval",
        "elements": [
            _button("Approve", APPROVE, str(approval_id), "primary"),
            _button("Reject", REJECT, str(approval_id), "danger"),
        ],
    }
    # The plan is cut, never the buttons: a request nobody can approve is useless.
    return [*blocks.fit(blocks.plan_blocks(plan))[:48], blocks.section(ask), buttons]


def _button(text: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "style": style,
    }
