"""What Slack is told when the bot finds work it can no longer do: a deploy whose
process died (in that deploy's own thread), and an acknowledged job that never
started (where it was asked). Each is claimed in the store first, so it is
announced once, whichever bot process finds it."""

from __future__ import annotations

from typing import Protocol

from bot import render
from bot.slack import blocks
from bot.slack.blocks import slack_text
from bot.slack.interrupted import digest, interrupted_parent
from bot.slack.message import MessageRef
from bot.slack.posters import Poster
from strategies.ports import Clock
from strategies.records import DeployRecord, InterruptedThread, NewJob
from strategies.store import DeployHistory, ShownMessages


class AnnouncerStore(DeployHistory, ShownMessages, Protocol):
    """What announcing needs of the store."""


class SlackAnnouncer:
    def __init__(self, *, store: AnnouncerStore, poster: Poster, clock: Clock) -> None:
        self._store, self._poster, self._clock = store, poster, clock

    def interrupted(self, record: DeployRecord) -> None:
        """In the deploy's thread: which servers are where, and how to recover."""
        if record.channel is None or record.thread_ts is None:
            return
        now = self._clock.now()
        if not self._store.claim_announcement(record.id, now):
            return  # another bot process said it already
        parent = MessageRef.existing(record.channel, record.thread_ts)
        line = render.interrupted_line(record)
        self._poster.post(record.channel, f":warning: {slack_text(line)}", thread=parent)
        text, parts = interrupted_parent(InterruptedThread(record, None, None))
        if self._store.claim_shown(record.channel, record.thread_ts, digest(text, parts), now):
            self._poster.update(parent, text, blocks=parts)

    def job_not_run(self, job: NewJob, reason: str) -> None:
        """Where the job was asked: what was not run, why, and that nothing changed."""
        if job.kind == "approved" and job.thread_ts:
            text = (
                f":warning: the approved deploy of {job.app} was not run: {reason}. "
                f"Nothing was deployed; request it again with `/deploy {job.app}`."
            )
            thread = MessageRef.existing(job.channel, job.thread_ts)
            self._poster.post(job.channel, slack_text(text), thread=thread)
            return
        text = (
            f":warning: {blocks.mention(job.requested_by)}: `{blocks.escape(job.text)}` "
            f"(accepted {job.created_at:%H:%M:%S} UTC) was not run: {blocks.escape(reason)}. "
            "Nothing was changed; run it again."
        )
        self._poster.post(job.channel, text)
