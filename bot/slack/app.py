"""The Bolt app: slash commands, reactions and buttons, each acknowledged first.

Every listener decides what it can without the network (parse, authorize,
plan), acks with one ephemeral line, and hands slow work to the bot's own
pool: no Web API call and no SSH happen before ``ack()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient

from bot import authz
from bot.commands import (
    AbortCommand,
    Command,
    DeployCommand,
    DialogCommand,
    PromoteCommand,
    RecoverCommand,
    RollbackCommand,
    UsageError,
    parse_slash,
)
from bot.gate import Refused
from bot.handler import BAD_INPUT, Caller, CommandHandler
from bot.queueing import busy, queue
from bot.slack import blocks
from bot.slack.announce import SlackAnnouncer
from bot.slack.approvals import APPROVE, REJECT, SlackApprovals
from bot.slack.blocks import slack_text
from bot.slack.buttons import ENQUEUE, Buttons
from bot.slack.dialog_front import GLOBAL_SHORTCUT, MESSAGE_SHORTCUT, Answer, DialogListeners
from bot.slack.dialog_view import CALLBACK, block_id
from bot.slack.front import (
    CollectingFrontEnd,
    SlackFrontEnd,
    remember_thread,
    unescape,
)
from bot.slack.home_tabs import HomeTabs
from bot.slack.jobs import Jobs
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from bot.slack.schedules import CONFIRM, UNSCHEDULE
from bot.slack.thread import ABORT, CANCEL, PROMOTE
from strategies.plan import DeployPlan
from strategies.records import NewJob

log = logging.getLogger(__name__)

Say = Callable[[str], None]

# Reaction names as Slack sends them (a skin tone arrives as "+1::skin-tone-2").
REACTIONS = {"white_check_mark": True, "+1": True, "x": False}


def build_app(
    *,
    client: WebClient,
    signing_secret: str,
    handler: CommandHandler,
    approvals: SlackApprovals,
    poster: Poster,
    jobs: Jobs,
    announcer: SlackAnnouncer,
    owner: str,
    home: HomeTabs | None = None,
) -> App:
    """The Bolt app. It calls ``auth.test`` once, here: a bad token fails at
    start, and no request waits on that call before its ack."""
    app = App(client=client, signing_secret=signing_secret)
    listeners = Listeners(
        handler=handler,
        approvals=approvals,
        poster=poster,
        jobs=jobs,
        announcer=announcer,
        owner=owner,
    )
    app.middleware(listeners.once_per_event)
    app.command("/deploy")(listeners.command)
    app.command("/settings")(listeners.command)
    app.event("reaction_added")(listeners.reaction)
    buttons = Buttons(handler=handler, approvals=approvals, poster=poster, jobs=jobs)
    app.action(APPROVE)(buttons.approval)
    app.action(REJECT)(buttons.approval)
    app.action(CANCEL)(buttons.cancel)
    app.action(UNSCHEDULE)(buttons.schedule)
    app.action(CONFIRM)(buttons.schedule)
    app.action(ENQUEUE)(buttons.enqueue)
    app.action(PROMOTE)(buttons.canary)
    app.action(ABORT)(buttons.canary)
    dialogs = listeners.dialogs
    app.shortcut(GLOBAL_SHORTCUT)(dialogs.shortcut)
    app.shortcut(MESSAGE_SHORTCUT)(dialogs.shortcut)
    app.action(block_id("app"))(dialogs.app_changed)
    app.view(CALLBACK)(dialogs.submission)
    if home is not None:
        app.event("app_home_opened")(_home_opened(home))
    return app


def _home_opened(home: HomeTabs) -> Callable[..., None]:
    def listener(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str) and user:
            home.opened(user)

    return listener


class Listeners:
    def __init__(
        self,
        *,
        handler: CommandHandler,
        approvals: SlackApprovals,
        poster: Poster,
        jobs: Jobs,
        announcer: SlackAnnouncer,
        owner: str,
    ) -> None:
        self._handler = handler
        self._approvals = approvals
        self._poster = poster
        self._jobs = jobs
        self._announcer = announcer
        self._owner = owner  # this bot process: it accepts the jobs it acknowledges
        self._services = handler.services
        self.dialogs = DialogListeners(handler=handler, poster=poster, dispatch=self.dispatch)

    def once_per_event(
        self, body: dict[str, Any], next_: Callable[[], None]
    ) -> BoltResponse | None:
        """Slack retries an event it thinks was lost: handle each ``event_id`` once,
        across restarts and bot processes (the store remembers the ids for a day)."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self._services.store.mark_event_seen(
            str(event_id), self._services.clock.now()
        ):
            log.info("event %s already handled; retry ignored", event_id)
            return BoltResponse(status=200, body="")
        next_()
        return None

    def command(
        self, ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        caller = Caller(user=command["user_id"], channel=command.get("channel_id"))
        try:
            parsed = parse_slash(command["command"], unescape(command.get("text", "")))
        except UsageError as exc:
            _ack(ack, f"error: {exc}")
            return
        if isinstance(parsed, DialogCommand):
            self.dialogs.open_from_command(ack, parsed, caller, command, client)
            return
        text = f"{command['command']} {unescape(command.get('text', ''))}".strip()

        def answer(line: str, extra: list[dict[str, Any]] | None = None) -> None:
            if extra:
                ack(response_type="ephemeral", text=line, blocks=extra)
            else:
                ack(response_type="ephemeral", text=line)

        def say(text: str) -> None:
            # The response_url is the natural channel (it works in DMs too), but
            # it can fail or expire (30 minutes): then say it with chat.postEphemeral.
            try:
                reply = respond(text=text, response_type="ephemeral", replace_original=False)
                delivered = reply.status_code == 200
            except OSError as exc:
                log.warning("response_url failed (%s): answering with chat.postEphemeral", exc)
                delivered = False
            if not delivered and caller.channel:
                self._poster.ephemeral(caller.channel, caller.user, text)

        self.dispatch(parsed, caller, text, answer=answer, say=say)

    def dispatch(
        self, parsed: Command, caller: Caller, text: str, *, answer: Answer, say: Say
    ) -> None:
        """A parsed command, typed or chosen in the dialog: ``answer`` acknowledges (one
        mrkdwn line, and blocks), ``say`` tells the person later; ``text`` is the command
        as it could be typed again."""
        if _in_the_ack(parsed):
            # Settings, status, history, help, dry runs, locks, freezes and
            # schedules touch only the database: answer in the ack itself.
            collected = CollectingFrontEnd()
            self._handler.handle(parsed, caller, collected)
            answer(collected.text, None)
            return
        if isinstance(parsed, RUNS_A_DEPLOY) or (
            isinstance(parsed, DeployCommand) and parsed.confirm is not None
        ):
            self._run_command(answer, parsed, caller, text)
            return
        assert isinstance(parsed, DeployCommand)
        plan, line, extra = self._deploy_ack(parsed, caller, text)
        if plan is None:
            answer(slack_text(line), extra)
            return
        front = SlackFrontEnd(
            say=say,
            poster=self._poster,
            channel=caller.channel or "",
            on_parent=remember_thread(self._services.store),
            pictures=DeployPictures(self._services.store),
        )
        if plan.app.approval.required:
            # The request is a row before the ack and its message is only queued:
            # a pending approval holds no worker.
            try:
                self._approvals.request(plan, caller, front)
            except BAD_INPUT as exc:
                line = f"error: {exc}"
            answer(slack_text(line), None)
            return
        job = self._accept(answer, line, plan.app_name, caller, text)
        if job is None:
            return
        job_id, new_job = job
        # Authorized and planned for the ack: the job only runs it.
        self._jobs.submit(
            lambda cancel: self._handler.start(plan, caller, front, cancel),
            job_id=job_id,
            not_run=lambda reason: self._announcer.job_not_run(new_job, reason),
        )

    def _run_command(self, answer: Answer, parsed: Command, caller: Caller, text: str) -> None:
        """A recovery, a rollback, a promote or abort, or a confirmed schedule moves
        servers, so like a deploy it is acked first and run as a job; what it says goes
        to the channel, for the team to see."""
        refused = self._handler.refusal(parsed, caller)
        if refused:
            answer(slack_text(refused), None)
            return
        assert isinstance(parsed, (*RUNS_A_DEPLOY, DeployCommand))
        line = (
            f"Running scheduled deploy #{parsed.confirm} of {parsed.app} now…"
            if isinstance(parsed, DeployCommand)
            else f"{_DOING[type(parsed)]} {parsed.app}…"
        )
        job = self._accept(answer, line, parsed.app, caller, text)
        if job is None:
            return
        job_id, new_job = job
        channel = caller.channel or ""
        front = SlackFrontEnd(
            say=lambda text: self._poster.post(channel, text),
            poster=self._poster,
            channel=channel,
            on_parent=remember_thread(self._services.store),
            pictures=DeployPictures(self._services.store),
        )
        self._jobs.submit(
            lambda cancel: self._handler.handle(parsed, caller, front, cancel),
            job_id=job_id,
            not_run=lambda reason: self._announcer.job_not_run(new_job, reason),
        )

    def _accept(
        self, answer: Answer, line: str, app: str, caller: Caller, text: str
    ) -> tuple[int, NewJob] | None:
        """Record the job, then ack with ``line``: if the bot stops before the job
        starts, it is found and announced as not run, never silently dropped."""
        job = NewJob(
            kind="deploy",
            app=app,
            requested_by=caller.user,
            channel=caller.channel or "",
            text=text,
            created_at=self._services.clock.now(),
        )
        try:
            job_id = self._services.store.accept_job(job, owner=self._owner)
        except Exception as exc:
            log.exception("could not record the job")
            what = f"error: it could not be recorded ({type(exc).__name__}); nothing changed"
            answer(slack_text(what), None)
            return None
        answer(slack_text(line), None)
        return job_id, job

    def _deploy_ack(
        self, command: DeployCommand, caller: Caller, text: str
    ) -> tuple[DeployPlan | None, str, list[dict[str, Any]] | None]:
        """The plan to go ahead with (None: refused or queued), the ack line and any
        blocks: decided here, from the manifest and the database alone."""
        refused = self._handler.refusal(command, caller)
        if refused:
            return None, refused, None
        try:
            plan = self._handler.admitted_plan(command, caller)
        except BAD_INPUT as exc:
            return None, f"error: {exc}", None
        except Refused as exc:
            return None, str(exc), None
        holder = busy(self._handler, command.app)
        if holder is not None:
            if command.queue:
                collected = CollectingFrontEnd()
                queue(self._handler, plan, caller, collected, None)
                return None, collected.text, None
            line = f"refused: {command.app} is held by {holder}"
            return None, line, [blocks.section(slack_text(line)), _when_free(text)]
        approval = plan.app.approval
        if not approval.required:
            return plan, f"Planning deploy of {command.app} ({plan.strategy})…", None
        if not approval.approvers:
            missing = f"error: {command.app} requires approval but approval.approvers is empty"
            return None, missing, None
        waiting = self._approvals.refusal(plan, caller.user)
        if waiting:
            return None, waiting, None
        who = ", ".join(authz.mention(user) for user in approval.approvers)
        return plan, f"{command.app} needs approval: asking {who} ({plan.strategy})…", None

    def reaction(self, ack: Ack, event: dict[str, Any]) -> None:
        # Bolt has already dropped the bot's own reactions (ignoring_self_events).
        # The decision is recorded before the ack (database only; messages are
        # queued), so an acknowledged approval is never lost to a crash.
        try:
            approving = REACTIONS.get(str(event.get("reaction", "")).split("::")[0])
            item = event.get("item") or {}
            channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
            if approving is not None and item.get("type") == "message" and channel and ts and user:
                self._approvals.decide_message(channel, ts, user, approving=approving)
        finally:
            ack()


def _ack(ack: Ack, text: str, extra: list[dict[str, Any]] | None = None) -> None:
    if extra:
        ack(response_type="ephemeral", text=slack_text(text), blocks=extra)
    else:
        ack(response_type="ephemeral", text=slack_text(text))


RUNS_A_DEPLOY = (RecoverCommand, RollbackCommand, PromoteCommand, AbortCommand)
_DOING = {
    RecoverCommand: "Recovering",
    RollbackCommand: "Rolling back",
    PromoteCommand: "Promoting the canary of",
    AbortCommand: "Aborting the canary of",
}


def _in_the_ack(parsed: Command) -> bool:
    """Commands that only read or write the database (no deploy starts)."""
    if isinstance(parsed, RUNS_A_DEPLOY):
        return False
    if isinstance(parsed, DeployCommand):
        return parsed.dry_run or (parsed.scheduled and parsed.confirm is None)
    return True


def _when_free(text: str) -> dict[str, Any]:
    """ "Deploy when free": the same command again, queued."""
    return {
        "type": "actions",
        "block_id": "shipbot_busy",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Deploy when free"},
                "action_id": ENQUEUE,
                "value": text[:1900],
            }
        ],
    }
