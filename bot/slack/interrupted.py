"""The parent message of an interrupted deploy: what the journal said when it was
found dead, then what recovery put back. One rendering, used when the interruption
is announced and whenever a recovery (from any process) changes what it shows."""

from __future__ import annotations

import hashlib
import json

from bot import render
from bot.slack import blocks as kit
from bot.slack.blocks import slack_text
from strategies.records import DeployRecord, InterruptedThread

_EMOJI = {"running": ":wrench:", "succeeded": ":large_green_circle:", "failed": ":red_circle:"}


def interrupted_parent(thread: InterruptedThread) -> tuple[str, list[kit.Block]]:
    """The parent's fallback text and blocks for this state of the interrupted deploy."""
    record = thread.deploy
    handled = thread.recovered_by is not None or thread.recovery is not None
    state = "interrupted" + (f"; {_recovery_state(thread)}" if handled else "")
    headline = f":white_circle: *Deploy #{record.id} of {kit.escape(record.app)}*: interrupted"
    parts = [
        kit.section(headline),
        kit.section(slack_text(render.interrupted_line(record, hint=not handled))),
    ]
    if handled:
        emoji = _EMOJI.get(thread.recovery.status, ":wrench:") if thread.recovery else ":wrench:"
        parts.append(kit.section(f"{emoji} {slack_text(_recovery_state(thread))}"))
    return f"Deploy #{record.id} of {record.app}: {state}", kit.fit(parts)


def digest(text: str, parts: list[kit.Block]) -> str:
    """A short fingerprint of a message's content: equal content, equal digest."""
    body = json.dumps({"text": text, "blocks": parts}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _recovery_state(thread: InterruptedThread) -> str:
    recovery, by = thread.recovery, thread.recovered_by
    if recovery is None:
        return f"closed by {by}: nothing was put back"
    who = by or recovery.requested_by
    if recovery.status == "running":
        return f"recovery #{recovery.id} by {who} running: putting back {_names(recovery)}"
    return f"recovery #{recovery.id} by {who} {recovery.status}: " + _outcomes(recovery)


def _outcomes(recovery: DeployRecord) -> str:
    back = [s.server for s in recovery.servers if s.status == "ok"]
    rest = [f"{s.server} {s.status}" for s in recovery.servers if s.status != "ok"]
    said = [f"put back into the load balancer: {', '.join(back)}"] if back else []
    return "; ".join(said + rest) or "nothing to put back"


def _names(recovery: DeployRecord) -> str:
    return ", ".join(s.server for s in recovery.servers) or "nothing"
