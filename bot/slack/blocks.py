"""Block Kit pieces that always fit Slack's limits.

Slack refuses a message with more than 50 blocks or a section over 3,000
characters; rather than lose a message we cut it to fit and say so. Text that
comes from commands or people is escaped, so a deploy's output cannot ping
``<!channel>`` or break out of its code block.
"""

from __future__ import annotations

import re
from typing import Any

from bot import render
from strategies.plan import DeployPlan

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_TEXT = 3000
FENCE = "```"
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only ``&``, ``<`` and ``>`` are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MENTION = re.compile(r"&lt;([@#][A-Z0-9]+)&gt;")


def slack_text(text: str) -> str:
    """Escape ``& < >`` as Slack asks, keeping the ``<@U1>`` / ``<#C1>`` mentions shipbot writes.

    Echoed user input (a refused ref such as ``<!channel>``) then cannot ping anyone.
    """
    return _MENTION.sub(r"<\1>", escape(text))


def mention(user: str) -> str:
    """``<@U0LEAD>`` for a Slack user id, the plain (escaped) name otherwise."""
    return f"<@{user}>" if _SLACK_USER.fullmatch(user) else escape(user)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"\n_… {len(text) - limit:,} more characters not shown_"
    return text[: max(0, limit - len(note))] + note


def section(text: str) -> Block:
    """A mrkdwn section; over 3,000 characters it is cut with a note."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}}


def context(text: str) -> Block:
    """Small grey text under a message: notes, hints."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}]}


def code(text: str, limit: int = MAX_TEXT) -> Block:
    """Raw text (command output) in a code block; over the limit it keeps the
    tail — the end of the output is where the error is — and says so."""
    body = escape(text.rstrip("\n")).replace(FENCE, "``\u200b`") or " "
    room = limit - 2 * len(FENCE) - 2
    if len(body) <= room:
        return section(f"{FENCE}\n{body}\n{FENCE}")
    note = f"_output truncated: the last {{}} of {len(body):,} characters_\n"
    room -= len(note.format(f"{room:,}"))
    return section(note.format(f"{room:,}") + f"{FENCE}\n{body[-room:]}\n{FENCE}")


def sections(lines: list[str], *, as_code: bool = False) -> list[Block]:
    """Lines packed into as few sections (or code blocks) as fit 3,000 characters each."""
    room = MAX_TEXT - (2 * len(FENCE) + 2 if as_code else 0)
    chunks: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = line[:room]
        if chunks[-1] and size + len(line) + 1 > room:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
    texts = ["\n".join(chunk) for chunk in chunks if chunk]
    return [code(text) if as_code else section(text) for text in texts]


def fit(blocks: list[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """At most ``limit`` blocks; the last one says how many were left out."""
    if len(blocks) <= limit:
        return blocks
    left_out = len(blocks) - (limit - 1)
    return [*blocks[: limit - 1], context(f"_… {left_out} more blocks not shown_")]


def split(blocks: list[Block], limit: int = MAX_BLOCKS) -> list[list[Block]]:
    """Blocks in as many messages as needed, none over the limit."""
    return [blocks[i : i + limit] for i in range(0, len(blocks), limit)] or [[]]


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """``▰▰▰▱▱ 3/5``: one segment per server up to ``width``, then proportional."""
    segments = min(total, width) or 1
    filled = segments if done >= total else done * segments // max(total, 1)
    return f"{'▰' * filled}{'▱' * (segments - filled)} {done}/{total}"


def plan_blocks(plan: DeployPlan) -> list[Block]:
    """The plan summary shown by the deploy's parent message and by an approval request."""
    lines = [
        f"*{escape(plan.app_name)}* @ `{escape(plan.ref)}` — "
        f"{slack_text(render.strategy_line(plan))}",
        f"requested by {mention(plan.request.requested_by)}",
    ]
    summary = render.plan_summary(plan)
    lines += [escape(line) for line in summary if not line.startswith("warning: ")]
    blocks = [section("\n".join(lines))]
    warnings = [f":warning: {escape(w)}" for w in plan.warnings]
    if warnings:
        blocks.append(section("\n".join(warnings)))
    names = ", ".join(s.name for s in plan.servers)
    blocks.append(context(f"servers: {escape(names)}"))
    if plan.skipped:
        skipped = "; ".join(f"{s.name} skipped ({s.reason})" for s in plan.skipped)
        blocks.append(context(f":no_entry_sign: {escape(skipped)}"))
    return blocks
