"""Runs ``--queue`` deploys in order once their app is free, and gives up on those
that waited longer than ``deploy.queue_timeout``; each is announced where it was
asked. Called every second by the bot's housekeeping; the store's claim makes
one bot process start each queued deploy."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.handler import Caller, CommandHandler
from bot.queueing import busy
from bot.slack.blocks import slack_text
from bot.slack.front import SlackFrontEnd, remember_thread
from bot.slack.jobs import Jobs
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from strategies.cancel import CancelToken
from strategies.durations import format_duration
from strategies.records import QueuedDeploy
from strategies.text import person

log = logging.getLogger(__name__)


class QueueRunner:
    def __init__(self, *, handler: CommandHandler, poster: Poster, jobs: Jobs) -> None:
        self._handler, self._poster, self._jobs = handler, poster, jobs
        self._store, self._clock = handler.services.store, handler.services.clock
        self._starting: set[str] = set()  # apps whose queued deploy has not taken the lock yet

    def tick(self) -> None:
        now = self._clock.now()
        for item in self._store.expire_queued(now):
            waited = format_duration((item.expires_at - item.created_at).total_seconds())
            self._say(
                item,
                f"gave up after waiting {waited} for {item.request.app} to be free; "
                "nothing was deployed",
            )
        for app in sorted({item.request.app for item in self._store.queued(None)}):
            if app in self._starting or busy(self._handler, app) is not None:
                continue
            claimed = self._store.claim_queued(app, now)
            if claimed is not None:
                self._start(claimed)

    def _start(self, item: QueuedDeploy) -> None:
        app, user, channel = item.request.app, item.request.requested_by, item.channel
        self._starting.add(app)
        self._say(item, f"{app} is free: starting the queued deploy")
        front = SlackFrontEnd(
            say=lambda text: self._poster.ephemeral(channel, user, text),
            poster=self._poster,
            channel=channel,
            on_parent=remember_thread(self._store),
            pictures=DeployPictures(self._store),
        )

        def work(cancel: CancelToken) -> None:
            try:
                request = replace(item.request, queue=False)
                self._handler.handle(request, Caller(user, channel), front, cancel)
            finally:
                self._starting.discard(app)

        self._jobs.submit(work)

    def _say(self, item: QueuedDeploy, text: str) -> None:
        if not item.channel:
            log.info("queued deploy of %s: %s", item.request.app, text)
            return
        who = person(item.request.requested_by)
        line = f":hourglass_flowing_sand: {who}'s queued deploy: {text}"
        self._poster.post(item.channel, slack_text(line))
