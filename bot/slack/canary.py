"""Aborts a paused canary nobody promoted within ``deploy.canary.timeout`` (default
1 h), and says so in its thread; checked every second by the bot's housekeeping.
Of several bot processes, the one whose abort takes over the canary's lock runs
it; the others are refused and do nothing."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from bot import rollout_commands
from bot.command_types import AbortCommand
from bot.gate import Refused
from bot.handler import BAD_INPUT, Caller, CommandHandler
from bot.slack.front import SlackFrontEnd, remember_thread
from bot.slack.jobs import Jobs
from bot.slack.message import MessageRef
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from strategies.cancel import CancelToken
from strategies.durations import format_duration

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 3600.0


class CanaryWatch:
    def __init__(self, *, handler: CommandHandler, poster: Poster, jobs: Jobs) -> None:
        self._handler, self._poster, self._jobs = handler, poster, jobs
        self._store, self._clock = handler.services.store, handler.services.clock
        self._aborting: set[int] = set()

    def tick(self) -> None:
        now = self._clock.now()
        for name, app in self._handler.services.manifest.apps.items():
            deploy_id = self._store.canary_lock(name)
            if deploy_id is None or deploy_id in self._aborting:
                continue
            record = self._store.get_deploy(deploy_id)
            timeout = app.deploy.canary.timeout if app.deploy.canary else DEFAULT_TIMEOUT
            if record is None or (record.finished_at or now) + timedelta(seconds=timeout) > now:
                continue
            self._aborting.add(deploy_id)
            channel = record.channel or (app.slack.channel if app.slack else "")
            self._jobs.submit(partial(self._abort, name, channel, record.thread_ts, timeout))

    def _abort(
        self, app: str, channel: str, thread_ts: str | None, timeout: float, cancel: CancelToken
    ) -> None:
        """Roll the canary back, in its own thread when it has one."""
        parent = MessageRef.existing(channel, thread_ts) if channel and thread_ts else None
        front = SlackFrontEnd(
            say=lambda text: self._poster.post(channel, text, thread=parent),
            poster=self._poster,
            channel=channel,
            on_parent=remember_thread(self._store),
            pictures=DeployPictures(self._store),
        )
        why = f" (not promoted within {format_duration(timeout)}, deploy.canary.timeout)"
        try:
            rollout_commands.abort(
                self._handler,
                AbortCommand(app),
                Caller("shipbot", channel or None, operator=True),
                front,
                cancel,
                why=why,
            )
        except (Refused, *BAD_INPUT) as exc:
            log.warning("could not abort the canary of %s: %s", app, exc)
