"""One deploy as one Slack message with a thread under it.

The parent message carries the plan, a progress bar and the current state;
the thread gets progress in batches (one reply per ``flush_interval`` at
most, so a 200-server deploy posts tens of replies, not hundreds), each
failure with the tail of its output soon after it happens, and a final
summary. Every call goes through the poster's queue: a slow or rate-limited
Slack never holds up the deploy, and nothing here raises into it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import render
from bot.slack import blocks as kit
from bot.slack.message import MessageRef
from bot.slack.posters import Poster
from strategies.durations import format_duration
from strategies.events import (
    DeployFinished,
    DeployStarted,
    Event,
    PreflightFinished,
    ServerFinished,
    ServerStarted,
    StepFinished,
)
from strategies.plan import DeployPlan
from strategies.results import (
    DeployResult,
    ServerOutcome,
    count_line,
    describe_position,
    describe_server,
)

log = logging.getLogger(__name__)

CANCEL = "shipbot_cancel"
PROMOTE, ABORT = "shipbot_promote", "shipbot_abort"
MAX_BLOCKS = kit.MAX_BLOCKS

_STATE_EMOJI = {
    "running": ":hourglass_flowing_sand:",
    "succeeded": ":large_green_circle:",
    "failed": ":red_circle:",
    "cancelled": ":white_circle:",
    "interrupted": ":white_circle:",
    "paused": ":double_vertical_bar:",
}


@dataclass(frozen=True)
class _Item:
    line: str
    failed: bool = False
    output: str = ""  # a failure's output tail, shown as code


class SlackDeployThread:
    """A deploy listener (``strategies.events.Listener``) that renders to Slack."""

    def __init__(
        self,
        poster: Poster,
        channel: str,
        plan: DeployPlan,
        *,
        parent: MessageRef | None = None,
        note: str | None = None,
        on_parent: Callable[[int, MessageRef], None] | None = None,
        flush_interval: float = 2.0,
        failure_gap: float = 1.0,
    ) -> None:
        self._poster, self._channel, self._plan = poster, channel, plan
        self._parent = parent
        self._on_parent = on_parent  # told the deploy id and message, for a crash announcement
        self._note = note  # mrkdwn shown under the plan, e.g. who approved the deploy
        self._flush_interval, self._failure_gap = flush_interval, failure_gap
        self._lock = threading.Lock()
        self._pending: list[_Item] = []
        self._timer: threading.Timer | None = None
        self._due = float("inf")
        self._last_reply = float("-inf")
        self._deploy_id = 0
        self._done = self._failed = 0
        self._busy: list[str] = []
        self._state = "running"

    @property
    def parent(self) -> MessageRef | None:
        return self._parent

    def __call__(self, event: Event) -> None:
        try:
            with self._lock:
                self._handle(event)
        except Exception:
            log.exception("Slack thread could not show %s", type(event).__name__)

    def _handle(self, event: Event) -> None:
        if isinstance(event, DeployStarted):
            self._deploy_id = event.deploy_id
            self._show_parent()
            if self._on_parent is not None and self._parent is not None:
                self._on_parent(event.deploy_id, self._parent)
        elif isinstance(event, PreflightFinished):
            self._preflight(event)
        elif isinstance(event, ServerStarted):
            self._busy.append(event.server)
            self._show_parent()
        elif isinstance(event, StepFinished):
            self._step(event)
        elif isinstance(event, ServerFinished):
            self._server(event.outcome)
        elif isinstance(event, DeployFinished):
            self._finish(event.result)

    def _preflight(self, event: PreflightFinished) -> None:
        self._plan = event.plan  # without the servers --force skipped
        lines = render.preflight_lines(event.report, event.plan)
        self._add(_Item("\n".join(lines), failed=not event.report.ok), urgent=True)
        self._show_parent()

    def _step(self, event: StepFinished) -> None:
        line = render.step_line(event, self._plan)
        if not event.ok:
            tail = event.result.output_tail if event.result else ""
            self._add(_Item(line or event.server, True, tail), urgent=True)
        elif line and (self._plan.workers == 1 or event.step.kind in ("migrations", "health")):
            # Deploys of many servers at once list servers as they finish, not every step.
            self._add(_Item(line))

    def _server(self, outcome: ServerOutcome) -> None:
        self._done += outcome.status != "unreachable"  # skipped at pre-flight: not in the plan
        self._failed += outcome.status == "failed"
        if outcome.server in self._busy:
            self._busy.remove(outcome.server)
        if outcome.status == "ok":
            self._add(_Item(render.outcome_line(outcome)))
        self._show_parent()

    def _finish(self, result: DeployResult) -> None:
        self._cancel_timer()
        self._flush()
        self._state = result.status
        summary = summary_blocks(result)
        self._reply(render.result_headline(result), summary)
        self._show_parent(f" in {format_duration(result.duration)}: {count_line(result.outcomes)}")

    def _add(self, item: _Item, *, urgent: bool = False) -> None:
        self._pending.append(item)
        now = time.monotonic()
        due = (
            max(now, self._last_reply + self._failure_gap) if urgent else now + self._flush_interval
        )
        if due <= now:
            self._cancel_timer()
            self._flush()
        elif due < self._due:
            self._cancel_timer()
            self._due = due
            self._timer = threading.Timer(due - now, self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        try:
            with self._lock:
                self._timer, self._due = None, float("inf")
                self._flush()
        except Exception:
            log.exception("Slack thread could not post progress")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._due = None, float("inf")

    def _flush(self) -> None:
        if not self._pending:
            return
        items, self._pending = self._pending, []
        parts: list[kit.Block] = []
        lines: list[str] = []
        for item in items:
            lines.append(kit.escape(item.line))
            if item.output:
                parts += [*kit.sections(lines), kit.code(item.output)]
                lines = []
        parts += kit.sections(lines)
        # The notification names the first failure, if any: that is the news.
        first = next((item for item in items if item.failed), items[0])
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        chunks = kit.split(parts)
        for number, chunk in enumerate(chunks, 1):
            part = f" [{number}/{len(chunks)}]" if len(chunks) > 1 else ""
            self._reply(first.line.splitlines()[0] + more + part, chunk)

    def _reply(self, text: str, blocks: list[kit.Block]) -> None:
        self._poster.post(self._channel, kit.escape(text), blocks=blocks, thread=self._parent)
        self._last_reply = time.monotonic()

    def _show_parent(self, took: str = "") -> None:
        total = len(self._plan.servers)
        bar = kit.progress_bar(self._done, total)
        state = self._state + took
        if self._failed and self._state == "running":
            state += f", {self._failed} failed"
        if self._busy and self._state == "running":
            shown = ", ".join(self._busy) if len(self._busy) <= 3 else f"{len(self._busy)} servers"
            state += f"; now on {shown}"
        headline = f"Deploy #{self._deploy_id} of {self._plan.app_name}"
        status = f"{_STATE_EMOJI.get(self._state, '')} *{headline}*: {bar} · *{state}*"
        blocks = [kit.section(kit.escape(status)), *kit.plan_blocks(self._plan)]
        if self._note:
            blocks.append(kit.context(self._note))
        blocks = kit.fit(blocks, MAX_BLOCKS - 1)
        if self._state == "running" and self._deploy_id:
            blocks.append(cancel_button(self._deploy_id, self._plan.app_name))
        elif self._state == "paused" and self._deploy_id:
            blocks.append(canary_buttons(self._deploy_id))
        text = kit.slack_text(f"{render.parent_line(self._deploy_id, self._plan)}: {bar} {state}")
        if self._parent is None:
            self._parent = self._poster.post(self._channel, text, blocks=blocks)
        else:
            self._poster.update(self._parent, text, blocks=blocks)


def cancel_button(deploy_id: int, app: str) -> kit.Block:
    """The running deploy's Cancel button: what ``/deploy cancel APP`` does, confirmed first."""
    return {
        "type": "actions",
        "block_id": "shipbot_deploy",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Cancel"},
                "action_id": CANCEL,
                "value": str(deploy_id),
                "style": "danger",
                "confirm": {
                    "title": {"type": "plain_text", "text": f"Cancel deploy #{deploy_id}?"},
                    "text": {
                        "type": "mrkdwn",
                        "text": f"The deploy of {kit.escape(app)} stops at the next step "
                        "boundary; healthy servers go back into the load balancer.",
                    },
                    "confirm": {"type": "plain_text", "text": "Cancel the deploy"},
                    "deny": {"type": "plain_text", "text": "Keep deploying"},
                },
            }
        ],
    }


def canary_buttons(deploy_id: int) -> kit.Block:
    """A paused canary's Promote and Abort: ``/deploy promote|abort APP``, same rights."""
    return {
        "type": "actions",
        "block_id": "shipbot_canary",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": text},
                "action_id": action,
                "value": str(deploy_id),
                "style": style,
            }
            for text, action, style in (
                ("Promote", PROMOTE, "primary"),
                ("Abort", ABORT, "danger"),
            )
        ],
    }


def summary_blocks(result: DeployResult) -> list[kit.Block]:
    """The final reply: the one-line result, a per-server table, and any warning."""
    emoji = _STATE_EMOJI.get(result.status, "")
    blocks = [kit.section(f"{emoji} *{kit.escape(render.result_headline(result))}*")]
    blocks += kit.sections(outcome_table(result.outcomes), as_code=True)
    extra = render.result_lines(result)[1 + len(result.outcomes) :]
    blocks += [kit.section(f":warning: {kit.escape(line.strip())}") for line in extra]
    return kit.fit(blocks)


def outcome_table(outcomes: tuple[ServerOutcome, ...]) -> list[str]:
    """Aligned columns: server, outcome, load balancer position, time taken."""
    rows = [("server", "outcome", "load balancer", "took")]
    for o in outcomes:
        outcome = describe_server(o.status, "n/a", o.detail)
        took = format_duration(o.duration) if o.duration else "-"
        rows.append((o.server, outcome, describe_position(o.status, o.lb) or "-", took))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    ]
