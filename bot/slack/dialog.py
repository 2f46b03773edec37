"""The deploy dialog's submission: the choices become the typed command's tokens.

A submission is turned into ``/deploy APP --parallel --ref v2 …`` and run
through the same parser, authorization and planning as a typed ``/deploy``,
so its validation and its messages are the parser's. Each problem is put on
the input at fault (``response_action: errors`` keyed by block id).

A payload may be forged: every value must be one the dialog offered (the
user's apps, the app's servers and profiles, the strategies), text fields are
bounded, and the channel comes only from ``private_metadata`` checked as a
channel id or from the app's own binding.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from bot import authz
from bot.commands import DeployCommand, UsageError, parse_slash
from bot.gate import Refused
from bot.handler import BAD_INPUT, Caller, CommandHandler
from bot.slack.dialog_view import (
    DEFAULT,
    DRY_RUN,
    FIELDS,
    MAX_REF_TEXT,
    MAX_SIZE_TEXT,
    STRATEGIES,
    block_id,
    deploy_view,
)
from strategies.manifest import Manifest

_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,20}")
# Which input a planning error belongs to, by the option its message names.
_BLAME = (
    ("--ref", "ref"),
    ("server", "servers"),
    ("--batch", "batch"),
    ("batches", "batch"),
    ("--canary", "canary"),
    ("profile", "profile"),
)


class DialogError(ValueError):
    """A problem with one input: its field and the one line to show under it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Submission:
    """A checked submission: the command the dialog stands for, who asked, and where."""

    command: DeployCommand
    caller: Caller
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        """As it could be typed again."""
        return shlex.join(["/deploy", *self.tokens])  # tokens[0] is the app


def visible_apps(manifest: Manifest, user: str) -> list[str]:
    """The apps ``user`` may deploy: the dialog offers only these."""
    names = sorted(manifest.apps)
    return [n for n in names if authz.refusal(manifest, DeployCommand(n), user=user) is None]


def open_view(
    handler: CommandHandler, *, user: str, channel: str | None, app: str | None
) -> dict[str, Any]:
    """The modal for ``user``, preselecting ``app`` or the channel's app; DialogError if
    they may deploy nothing (or not ``app``)."""
    manifest = handler.services.manifest
    apps = visible_apps(manifest, user)
    name = app or manifest.app_for_channel(channel) or (apps[0] if apps else None)
    if name is None or name not in apps:
        refused = authz.refusal(manifest, DeployCommand(name), user=user) if name else None
        if name is not None and name not in manifest.apps:
            refused = f"error: unknown app '{name}' (apps: {', '.join(sorted(manifest.apps))})"
        raise DialogError("app", refused or f"{authz.mention(user)} may not deploy any app")
    return deploy_view(
        apps=_around(apps, name),
        name=name,
        app=manifest.app(name),
        default_reason=_default_reason(handler, name, user),
        channel=channel,
    )


def _around(apps: list[str], name: str) -> list[str]:
    """At most 100 options, the chosen app among them."""
    return apps[:100] if name in apps[:100] else [name, *apps[:99]]


def _default_reason(handler: CommandHandler, name: str, user: str) -> str:
    try:
        made = handler.plan_for(DeployCommand(name), Caller(user))
    except BAD_INPUT:
        return "as the app's settings say"
    return f"{made.strategy} — {made.reason}"


def check(handler: CommandHandler, view: dict[str, Any], user: str) -> Submission:
    """The submission as the command it stands for, checked exactly as a typed one;
    DialogError naming the input at fault otherwise. Changes nothing."""
    manifest = handler.services.manifest
    values = _values(view)
    app = _one_of(values, "app", visible_apps(manifest, user))
    if app is None:
        raise DialogError("app", "choose an app")
    caller = Caller(user, _channel(view, manifest, app))
    fields = _field_tokens(values, manifest, app)
    for field, words in fields.items():
        try:
            parse_slash("/deploy", shlex.join([app, *words]))
        except UsageError as exc:
            raise DialogError(field, f"error: {exc}") from None
    tokens = tuple([app, *(word for words in fields.values() for word in words)])
    try:
        command = parse_slash("/deploy", shlex.join(tokens))
    except UsageError as exc:  # options that clash, such as --parallel with --batch
        raise DialogError("strategy", f"error: {exc}") from None
    assert isinstance(command, DeployCommand)
    refused = handler.refusal(command, caller)
    if refused:
        raise DialogError("app", refused)
    try:
        if command.dry_run:
            handler.plan_for(command, caller)
        else:
            handler.admitted_plan(command, caller)
    except BAD_INPUT as exc:
        raise DialogError(_blame(str(exc)), f"error: {exc}") from None
    except Refused as exc:
        raise DialogError("app", str(exc)) from None
    return Submission(command, caller, tokens)


def _blame(message: str) -> str:
    for word, field in _BLAME:
        if word in message:
            return field
    return "strategy"


def _values(view: dict[str, Any]) -> dict[str, Any]:
    state = (view.get("state") or {}).get("values") or {}
    if not isinstance(state, dict):
        raise DialogError("app", "the dialog's answer is malformed; open it again")
    found: dict[str, Any] = {}
    for field in FIELDS:
        block = state.get(block_id(field))
        value = block.get(block_id(field)) if isinstance(block, dict) else None
        if isinstance(value, dict):
            found[field] = value
    return found


def _selected(values: dict[str, Any], field: str) -> list[str]:
    value = values.get(field) or {}
    options = value.get("selected_options")
    if options is None:
        one = value.get("selected_option")
        options = [one] if one else []
    if not isinstance(options, list):
        raise DialogError(field, "not one of the choices")
    picked = [o.get("value") if isinstance(o, dict) else None for o in options]
    if not all(isinstance(p, str) for p in picked):
        raise DialogError(field, "not one of the choices")
    return [str(p) for p in picked]


def _one_of(values: dict[str, Any], field: str, allowed: list[str]) -> str | None:
    picked = _selected(values, field)
    if len(picked) > 1 or (picked and picked[0] not in allowed):
        raise DialogError(field, f"{picked[0][:40]!r} is not one of the choices")
    return picked[0] if picked else None


def _typed(values: dict[str, Any], field: str, limit: int) -> str | None:
    raw = (values.get(field) or {}).get("value")
    if raw is None:
        return None
    text = str(raw).strip()
    if len(text) > limit:
        raise DialogError(field, f"longer than {limit} characters")
    return text or None


def _field_tokens(values: dict[str, Any], manifest: Manifest, app: str) -> dict[str, list[str]]:
    """Each input's part of the typed command (only the options it stands for)."""
    the_app = manifest.app(app)
    profile = _one_of(values, "profile", sorted(the_app.deploy.profiles))
    strategy = _one_of(values, "strategy", [DEFAULT, *STRATEGIES])
    servers = _servers(values, [s.name for s in the_app.servers])
    dry_run = _one_of(values, "dry_run", [DRY_RUN])
    words: dict[str, list[str]] = {
        "profile": ["--profile", profile] if profile else [],
        "strategy": [f"--{strategy}"] if strategy and strategy != DEFAULT else [],
        "servers": ["--servers", servers] if servers else [],
        "dry_run": ["--dry-run"] if dry_run else [],
    }
    for field, option, limit in (
        ("batch", "--batch", MAX_SIZE_TEXT),
        ("canary", "--canary", MAX_SIZE_TEXT),
        ("ref", "--ref", MAX_REF_TEXT),
    ):
        text = _typed(values, field, limit)
        words[field] = [f"{option}={text}"] if text is not None else []
    return {field: words[field] for field in FIELDS if field in words}


def _servers(values: dict[str, Any], known: list[str]) -> str | None:
    if "selected_options" in (values.get("servers") or {}):
        picked = _selected(values, "servers")
        strange = [name for name in picked if name not in known]
        if strange:
            raise DialogError("servers", f"{strange[0][:40]!r} is not one of the choices")
        return ",".join(picked) or None
    return _typed(values, "servers", 20_000)


def _channel(view: dict[str, Any], manifest: Manifest, app: str) -> str:
    """Where the shortcut or command came from; else (a global shortcut) the app's channel."""
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        meta = {}
    channel = meta.get("channel") if isinstance(meta, dict) else None
    if isinstance(channel, str) and _CHANNEL.fullmatch(channel):
        return channel
    binding = manifest.app(app).slack
    if binding is not None:
        return binding.channel
    raise DialogError(
        "app",
        f"{app} has no slack.channel to show the deploy in: open the dialog from a channel "
        f"(/deploy {app} --options)",
    )
