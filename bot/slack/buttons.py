"""The buttons on shipbot's messages: Approve/Reject, Cancel, Promote/Abort,
Unschedule/Run now and "Deploy when free".

Each stands for a command, run with the clicker's rights. Each is acked
first; a malformed payload is logged and ignored (it changes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import Ack

from bot import authz
from bot.commands import (
    AbortCommand,
    CancelCommand,
    Command,
    DeployCommand,
    PromoteCommand,
    UnscheduleCommand,
    UsageError,
    parse_slash,
)
from bot.exits import EXIT_OK
from bot.handler import Caller, CommandHandler
from bot.slack.approvals import APPROVE, SlackApprovals
from bot.slack.blocks import slack_text
from bot.slack.front import CollectingFrontEnd, SlackFrontEnd, remember_thread
from bot.slack.jobs import Jobs
from bot.slack.message import MessageRef
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from bot.slack.schedules import UNSCHEDULE
from bot.slack.thread import PROMOTE
from strategies.records import DeployRecord

log = logging.getLogger(__name__)

ENQUEUE = "shipbot_enqueue"


@dataclass(frozen=True)
class _Click:
    """Who clicked, where, and the number the button carries."""

    value: int
    user: str
    channel: str
    body: dict[str, Any]

    @property
    def caller(self) -> Caller:
        return Caller(self.user, self.channel)


def _click(body: dict[str, Any], action: dict[str, Any], what: str) -> _Click | None:
    try:
        return _Click(int(action.get("value", "")), body["user"]["id"], body["channel"]["id"], body)
    except (ValueError, KeyError, TypeError):
        log.info("ignored a malformed %s button", what)
        return None


class Buttons:
    def __init__(
        self,
        *,
        handler: CommandHandler,
        approvals: SlackApprovals,
        poster: Poster,
        jobs: Jobs,
    ) -> None:
        self._handler, self._approvals = handler, approvals
        self._poster, self._jobs = poster, jobs
        self._store = handler.services.store

    def _front(self, channel: str, say: Callable[[str], object]) -> SlackFrontEnd:
        return SlackFrontEnd(
            say=say,
            poster=self._poster,
            channel=channel,
            on_parent=remember_thread(self._store),
            pictures=DeployPictures(self._store),
        )

    def _deploy_click(
        self, body: dict[str, Any], action: dict[str, Any], what: str
    ) -> tuple[_Click, DeployRecord, MessageRef] | None:
        """The click on a deploy's button, the deploy it names and its message; None if
        the click is malformed or the deploy or the message is not there."""
        click = _click(body, action, what)
        if click is None:
            return None
        try:
            parent_ts = click.body["container"]["message_ts"]
        except (KeyError, TypeError):
            log.info("ignored a deploy button without its message")
            return None
        record = self._store.get_deploy(click.value)
        if record is None:
            return None
        return click, record, MessageRef.existing(click.channel, parent_ts)

    def approval(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        try:
            approval_id = int(action.get("value", ""))
            approving = action.get("action_id") == APPROVE
            self._approvals.decide(approval_id, body["user"]["id"], approving=approving)
        except (ValueError, KeyError):
            log.info("ignored a malformed approval button")
        finally:
            ack()

    def schedule(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Unschedule, or Run now (a missed schedule)."""
        ack()
        click = _click(body, action, "schedule")
        record = self._store.get_schedule(click.value) if click else None
        if click is None or record is None:
            return
        app, user, channel = record.schedule.request.app, click.user, click.channel
        front = self._front(channel, lambda text: self._poster.ephemeral(channel, user, text))
        if action.get("action_id") == UNSCHEDULE:
            self._handler.handle(UnscheduleCommand(app, click.value), click.caller, front)
            return
        confirm = DeployCommand(app, confirm=click.value)
        self._jobs.submit(lambda cancel: self._handler.handle(confirm, click.caller, front, cancel))

    def canary(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Promote or Abort on a paused canary's message; it goes on (or rolls back) in
        that message's thread."""
        ack()
        found = self._deploy_click(body, action, "canary")
        if found is None:
            return
        click, record, parent = found
        front = self._front(
            click.channel, lambda text: self._poster.post(click.channel, text, thread=parent)
        )
        command: Command = (
            PromoteCommand(record.app)
            if action.get("action_id") == PROMOTE
            else AbortCommand(record.app)
        )
        refused = self._handler.refusal(command, click.caller)
        if refused:
            self._poster.ephemeral(click.channel, click.user, slack_text(refused), thread=parent)
            return
        self._jobs.submit(lambda cancel: self._handler.handle(command, click.caller, front, cancel))

    def cancel(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """The running deploy's Cancel button: ``/deploy cancel APP`` for that deploy; the
        answer goes to its thread, a refusal to the person alone."""
        ack()
        found = self._deploy_click(body, action, "cancel")
        if found is None:
            return
        click, record, parent = found
        collected = CollectingFrontEnd()
        command = CancelCommand(record.app, deploy_id=record.id)
        if self._handler.handle(command, click.caller, collected) == EXIT_OK:
            text = f":octagonal_sign: {authz.mention(click.user)}: {collected.lines[-1]}"
            self._poster.post(click.channel, slack_text(text), thread=parent)
        else:
            self._poster.ephemeral(click.channel, click.user, collected.text, thread=parent)

    def enqueue(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """ "Deploy when free": the refused /deploy again, with --queue."""
        ack()
        try:
            text = str(action["value"])
            user, channel = body["user"]["id"], body["channel"]["id"]
            name, _, rest = text.partition(" ")
            parsed = parse_slash(name, rest)
        except (UsageError, KeyError, TypeError):
            log.info("ignored a malformed enqueue button")
            return
        if not isinstance(parsed, DeployCommand):
            return
        collected = CollectingFrontEnd()
        self._handler.handle(replace(parsed, queue=True), Caller(user, channel), collected)
        self._poster.ephemeral(channel, user, collected.text)
