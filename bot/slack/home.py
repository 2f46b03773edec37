"""The App Home tab: for each app a person works on, what is deploying now, what
waits for approval (with Approve / Reject for its approvers), locks, freezes,
schedules and the last deploys.

Who sees an app: its deployers, approvers, settings editors and freeze
overriders (``"*"`` in deployers or settings editors: everyone). An app with
none of these lists is shown to nobody: it is closed to Slack by default, so
its Home would only tell strangers about it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import authz, render, scheduling
from bot.slack.approvals import APPROVE, REJECT
from bot.slack.blocks import section, slack_text
from bot.wiring import Services
from strategies.manifest import App
from strategies.records import ApprovalRecord

Block = dict[str, Any]
MAX_HOME_BLOCKS = 100
HISTORY = 5  # last deploys shown per app


def may_see(app: App, user: str) -> bool:
    lists = (
        app.deployers,
        app.approval.approvers,
        authz.settings_editors(app),
        app.freeze_overriders or (),
    )
    if authz.ANYONE in app.deployers or authz.ANYONE in authz.settings_editors(app):
        return True
    return any(user in users for users in lists)


def home_view(services: Services, user: str) -> dict[str, Any]:
    """The Home view for ``user``, within Slack's 100 blocks."""
    manifest, store, now = services.manifest, services.store, services.clock.now()
    names = [name for name, app in sorted(manifest.apps.items()) if may_see(app, user)]
    pending = store.pending_approvals()
    blocks: list[Block] = []
    for place, name in enumerate(names):
        app_blocks = _app_blocks(services, name, user, now, pending)
        if len(blocks) + len(app_blocks) > MAX_HOME_BLOCKS - 1:
            left = ", ".join(names[place:])
            blocks.append(_note(f"Not shown (no room): {left}; try /deploy status"))
            break
        blocks += app_blocks
    if not names:
        blocks.append(section("No apps: you are not a deployer or an approver of any app."))
    return {"type": "home", "blocks": blocks}


def _app_blocks(
    services: Services, name: str, user: str, now: datetime, pending: list[ApprovalRecord]
) -> list[Block]:
    store, app = services.store, services.manifest.app(name)
    status = render.app_status(store, name)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": name[:150]}},
        section(slack_text(status)),
    ]
    calendar = render.calendar_lines(
        name,
        store.holds(name, now),
        store.schedules(name, scheduling.PENDING),
        store.queued(name),
        app.zone,
    )
    if calendar:
        blocks.append(section(slack_text("\n".join(line.strip() for line in calendar))))
    waiting = [r for r in pending if r.request.app == name][:10]
    for record in waiting:
        blocks += _approval_blocks(record, app, user)
    history = render.history_lines(store.history(name, HISTORY))
    blocks.append(_note("Last deploys:\n" + slack_text("\n".join(history))))
    blocks.append({"type": "divider"})
    return blocks


def _approval_blocks(record: ApprovalRecord, app: App, user: str) -> list[Block]:
    request = record.request
    text = (
        f"*Waiting for approval:* deploy of {request.app} @ {request.ref or app.deploy.default_ref}"
        f" by {authz.mention(request.requested_by)} ({request.strategy or 'default strategy'}),"
        f" expires {request.expires_at:%Y-%m-%d %H:%M %Z}"
    )
    blocks = [section(text)]
    buttons = []
    if request.requested_by == user:
        buttons.append(_button("Withdraw", REJECT, record.id, "danger"))
    elif user in app.approval.approvers or authz.ANYONE in app.approval.approvers:
        buttons.append(_button("Approve", APPROVE, record.id, "primary"))
        buttons.append(_button("Reject", REJECT, record.id, "danger"))
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"shipbot_home_approval_{record.id}",
                "elements": buttons,
            }
        )
    return blocks


def _button(label: str, action_id: str, approval_id: int, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": str(approval_id),
        "style": style,
    }


def _note(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}
