"""Each finished deploy's Slack thread gets its timeline picture (``bot.timeline``).

The picture is drawn from the store's journal, the same as
``shipbot history APP #ID --picture``, on a drawing thread of its own (one for
the process: matplotlib is not thread-safe), then queued on the channel's poster
after the thread's last reply: neither the deploy nor the channel's other
messages wait for matplotlib; only the upload takes its turn.
A failed upload is logged and said once in the thread, as text; the deploy's
outcome is already recorded and does not change.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from bot.slack.posters import Poster
from bot.slack.thread import SlackDeployThread
from strategies.events import DeployFinished, Event, Listener
from strategies.records import DeployRecord
from strategies.store import DeployHistory

log = logging.getLogger(__name__)

# One drawing thread for the process, whichever front end's deploy ended.
_DRAWING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pictures")


class DeployPictures:
    def __init__(self, store: DeployHistory, *, settle: float = 10.0) -> None:
        self._store = store
        self._settle = settle  # how long to wait for the deploy's end to reach the store

    def listener(self, poster: Poster, channel: str, thread: SlackDeployThread) -> Listener:
        """A deploy listener that queues the picture when the deploy finishes."""

        def on_event(event: Event) -> None:
            parent = thread.parent
            if not isinstance(event, DeployFinished) or parent is None:
                return
            deploy_id = event.deploy_id

            def failed(why: str) -> None:
                poster.post(
                    channel,
                    f"The timeline picture of deploy #{deploy_id} could not be uploaded ({why}).",
                    thread=parent,
                )

            def drawn(future: Future[bytes | None]) -> None:
                try:
                    png = future.result()
                except Exception as exc:  # a drawing bug must not lose the thread's note
                    log.exception("could not draw the timeline of deploy #%d", deploy_id)
                    failed(f"drawing failed: {type(exc).__name__}")
                    return
                if png is None:  # no step ran: nothing to draw
                    return
                try:
                    poster.upload(
                        channel,
                        png,
                        filename=f"deploy-{deploy_id}-timeline.png",
                        title=f"Deploy #{deploy_id}: timeline",
                        thread=parent,
                        on_failure=failed,
                    )
                except RuntimeError:  # the poster closed while it was drawn: the bot stops
                    log.warning("the bot stopped before deploy #%d's picture was sent", deploy_id)

            _DRAWING.submit(self.png, deploy_id).add_done_callback(drawn)

        return on_event

    def png(self, deploy_id: int) -> bytes | None:
        """The picture; None when no step ran (refused at pre-flight: nothing to draw)."""
        record = self._finished(deploy_id)
        steps = self._store.steps(deploy_id)
        if record is None or not steps:
            return None
        from bot.timeline import render_png  # matplotlib loads only to draw
        from bot.timeline_model import timeline_of

        return render_png(timeline_of(record, steps))

    def _finished(self, deploy_id: int) -> DeployRecord | None:
        # DeployFinished comes just before the store records the end; wait for it briefly.
        deadline = time.monotonic() + self._settle
        while True:
            record = self._store.get_deploy(deploy_id)
            if record is None or record.finished_at is not None or time.monotonic() > deadline:
                return record
            time.sleep(0.05)
