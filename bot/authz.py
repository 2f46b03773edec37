"""Who may do what: decided here, once, for every front end.

- ``deployers`` (user ids, or ``"*"``) may deploy, cancel, recover, lock, unlock,
  freeze and unschedule an app;
- ``freeze_overriders`` (default: the approvers) may ``--override`` the deploy
  windows and freezes, and unfreeze; with neither list, the deployers unfreeze;
- ``settings_editors`` may change its settings (default: the deployers);
- ``approval.approvers`` may approve or reject a pending deploy, never approve their
  own (a requester may withdraw it by rejecting);
- reading (status, history, settings get/list, help, dry runs) is open to all.

The local operator (``shipbot deploy``, ``shipbot shell`` without ``--user``)
already holds the manifest, the database and the keys, so is never refused
here; approval-required apps are the handler's business.

A refusal is one line and nothing has changed when it is returned.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.commands import (
    AbortCommand,
    CancelCommand,
    Command,
    DeployCommand,
    FreezeCommand,
    LockCommand,
    PromoteCommand,
    RecoverCommand,
    RollbackCommand,
    SettingsCommand,
    UnfreezeCommand,
    UnlockCommand,
    UnscheduleCommand,
)
from strategies.manifest import App, Manifest

ANYONE = "*"


def mention(user: str) -> str:
    """A user as chat shows them: ``<@U123>``, so Slack renders the name."""
    return f"<@{user}>"


def _who(users: Iterable[str]) -> str:
    users = list(users)
    if ANYONE in users:
        return "anyone"
    return ", ".join(mention(user) for user in users) or "nobody"


def _allowed(user: str, users: Iterable[str]) -> bool:
    users = tuple(users)
    return ANYONE in users or user in users


def settings_editors(app: App) -> tuple[str, ...]:
    return app.deployers if app.settings_editors is None else app.settings_editors


def refusal(
    manifest: Manifest,
    command: Command,
    *,
    user: str,
    channel: str | None = None,
    operator: bool = False,
) -> str | None:
    """Why ``user`` may not run ``command``, or None if they may.

    An unknown app or an app that cannot be worked out is not refused here:
    the handler answers that with its own error.
    """
    if operator:
        return None
    if isinstance(command, DeployCommand) and not command.dry_run:
        return _check(manifest, command.app, user, "deploy", "deployers")
    if isinstance(command, CancelCommand):
        return _check(manifest, command.app, user, "cancel deploys of", "deployers")
    if isinstance(command, RecoverCommand):
        return _check(manifest, command.app, user, "recover", "deployers")
    if isinstance(
        command,
        LockCommand
        | UnlockCommand
        | FreezeCommand
        | UnscheduleCommand
        | RollbackCommand
        | PromoteCommand
        | AbortCommand,
    ):
        verb = _VERBS[type(command)]
        return _check(manifest, command.app, user, verb, "deployers")
    if isinstance(command, UnfreezeCommand):
        app = manifest.apps.get(command.app)
        if app is None or not overriders(app):
            return _check(manifest, command.app, user, "unfreeze", "deployers")
        return override_refusal(command.app, app, user=user, verb="unfreeze")
    if isinstance(command, SettingsCommand) and command.action in ("set", "unset"):
        name = command.app or manifest.app_for_channel(channel)
        return None if name is None else _check(manifest, name, user, "change settings of", None)
    return None


_VERBS = {
    LockCommand: "lock",
    UnlockCommand: "unlock",
    FreezeCommand: "freeze",
    UnscheduleCommand: "unschedule deploys of",
    RollbackCommand: "roll back",
    PromoteCommand: "promote",
    AbortCommand: "abort",
}


def overriders(app: App) -> tuple[str, ...]:
    """Who may deploy outside the windows or in a freeze (and lift a freeze)."""
    return app.approval.approvers if app.freeze_overriders is None else app.freeze_overriders


def override_refusal(
    app_name: str, app: App, *, user: str, verb: str = "override the deploy windows of"
) -> str | None:
    users = overriders(app)
    if _allowed(user, users):
        return None
    label = "freeze_overriders" if app.freeze_overriders is not None else "approvers"
    return f"refused: {mention(user)} may not {verb} {app_name} ({label}: {_who(users)})"


def _check(manifest: Manifest, name: str, user: str, verb: str, key: str | None) -> str | None:
    app = manifest.apps.get(name)
    if app is None:
        return None
    users = app.deployers if key == "deployers" else settings_editors(app)
    if _allowed(user, users):
        return None
    label = key or ("settings_editors" if app.settings_editors is not None else "deployers")
    return f"refused: {mention(user)} may not {verb} {name} ({label}: {_who(users)})"


def approval_refusal(
    app_name: str, app: App, *, user: str, requester: str, approving: bool
) -> str | None:
    """Why ``user`` may not approve (or reject) ``requester``'s deploy, or None.

    Requesters may reject, that is withdraw, their own request, never approve it.
    """
    if user == requester:
        if not approving:
            return None
        return (
            f"refused: {mention(user)} requested this deploy of {app_name} and cannot "
            f"approve it; ask an approver ({_who(app.approval.approvers)})"
        )
    if not _allowed(user, app.approval.approvers):
        verb = "approve" if approving else "reject"
        return (
            f"refused: {mention(user)} may not {verb} deploys of {app_name} "
            f"(approvers: {_who(app.approval.approvers)}); nothing changed"
        )
    return None
