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
from bot.commands import DeployCommand, UsageError, parse_slash
from bot.handler import BAD_INPUT, Caller, CommandHandler
from bot.slack.approvals import APPROVE, REJECT, SlackApprovals
from bot.slack.front import CollectingFrontEnd, SlackFrontEnd, slack_text, unescape
from bot.slack.jobs import Jobs
from bot.slack.posters import Poster
from strategies.plan import DeployPlan

log = logging.getLogger(__name__)

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
) -> App:
    """The Bolt app. It calls ``auth.test`` once, here: a bad token fails at
    start, and no request waits on that call before its ack."""
    app = App(client=client, signing_secret=signing_secret)
    listeners = Listeners(handler=handler, approvals=approvals, poster=poster, jobs=jobs)
    app.middleware(listeners.once_per_event)
    app.command("/deploy")(listeners.command)
    app.command("/settings")(listeners.command)
    app.event("reaction_added")(listeners.reaction)
    app.action(APPROVE)(listeners.button)
    app.action(REJECT)(listeners.button)
    return app


class Listeners:
    def __init__(
        self,
        *,
        handler: CommandHandler,
        approvals: SlackApprovals,
        poster: Poster,
        jobs: Jobs,
    ) -> None:
        self._handler = handler
        self._approvals = approvals
        self._poster = poster
        self._jobs = jobs
        self._services = handler.services

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

    def command(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        caller = Caller(user=command["user_id"], channel=command.get("channel_id"))
        try:
            parsed = parse_slash(command["command"], unescape(command.get("text", "")))
        except UsageError as exc:
            _ack(ack, f"error: {exc}")
            return
        if not isinstance(parsed, DeployCommand) or parsed.dry_run:
            # Settings, status, history, help and dry runs touch only the
            # database: answer in the ack itself.
            collected = CollectingFrontEnd()
            self._handler.handle(parsed, caller, collected)
            ack(response_type="ephemeral", text=collected.text)
            return
        plan, line = self._deploy_ack(parsed, caller)
        _ack(ack, line)
        if plan is None:
            return

        def say(text: str) -> None:
            # The response_url is the natural channel (it works in DMs too), but
            # it can fail or expire (30 minutes): then say it with chat.postEphemeral.
            try:
                answer = respond(text=text, response_type="ephemeral", replace_original=False)
                delivered = answer.status_code == 200
            except OSError as exc:
                log.warning("response_url failed (%s): answering with chat.postEphemeral", exc)
                delivered = False
            if not delivered and caller.channel:
                self._poster.ephemeral(caller.channel, caller.user, text)

        front = SlackFrontEnd(say=say, poster=self._poster, channel=caller.channel or "")
        # Authorized and planned for the ack: the job only runs (or asks approval for) it.
        self._jobs.submit(lambda cancel: self._handler.start(plan, caller, front, cancel))

    def _deploy_ack(self, command: DeployCommand, caller: Caller) -> tuple[DeployPlan | None, str]:
        """The plan to go ahead with (None: refused), and the ack line: a refusal
        or bad input is decided here, from the manifest and the database alone."""
        refused = self._handler.refusal(command, caller)
        if refused:
            return None, refused
        try:
            plan = self._handler.plan_for(command, caller)
        except BAD_INPUT as exc:
            return None, f"error: {exc}"
        approval = plan.app.approval
        if not approval.required:
            return plan, f"Planning deploy of {command.app} ({plan.strategy})…"
        if not approval.approvers:
            return None, f"error: {command.app} requires approval but approval.approvers is empty"
        who = ", ".join(authz.mention(user) for user in approval.approvers)
        return plan, f"{command.app} needs approval: asking {who} ({plan.strategy})…"

    def reaction(self, ack: Ack, event: dict[str, Any]) -> None:
        # Bolt has already dropped the bot's own reactions (ignoring_self_events).
        ack()
        approving = REACTIONS.get(str(event.get("reaction", "")).split("::")[0])
        item = event.get("item") or {}
        if approving is None or item.get("type") != "message":
            return
        channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
        if not (channel and ts and user):
            return
        self._jobs.submit(
            lambda _: self._approvals.decide_message(channel, ts, user, approving=approving)
        )

    def button(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            approval_id = int(action.get("value", ""))
        except ValueError:
            return
        approving = action.get("action_id") == APPROVE
        user = body["user"]["id"]
        self._jobs.submit(lambda _: self._approvals.decide(approval_id, user, approving=approving))


def _ack(ack: Ack, text: str) -> None:
    ack(response_type="ephemeral", text=slack_text(text))
