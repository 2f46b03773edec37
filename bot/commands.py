"""The chat command grammar shared by every front end: text in, a Command out.

This module only parses (``bot.grammar`` has the pieces, ``bot.deploy_grammar``
the ``/deploy`` family). Chat text never reaches a shell from here, and every
user token quoted in an error goes through ``repr()`` so messages stay one line.
"""

from __future__ import annotations

import re

from bot.command_types import (
    AbortCommand,
    CancelCommand,
    Command,
    DeployCommand,
    DialogCommand,
    FreezeCommand,
    HelpCommand,
    HistoryCommand,
    LockCommand,
    PromoteCommand,
    RecoverCommand,
    RollbackCommand,
    SettingsAction,
    SettingsCommand,
    StatusCommand,
    UnfreezeCommand,
    UnlockCommand,
    UnscheduleCommand,
)
from bot.deploy_grammar import parse_deploy
from bot.grammar import (
    COMMANDS,
    USAGE,
    UsageError,
    checked_app,
    error,
    exactly,
    family,
    split_options,
    tokenise,
)

__all__ = [
    "USAGE",
    "AbortCommand",
    "CancelCommand",
    "Command",
    "DeployCommand",
    "DialogCommand",
    "FreezeCommand",
    "HelpCommand",
    "HistoryCommand",
    "LockCommand",
    "PromoteCommand",
    "RecoverCommand",
    "RollbackCommand",
    "SettingsCommand",
    "StatusCommand",
    "UnfreezeCommand",
    "UnlockCommand",
    "UnscheduleCommand",
    "UsageError",
    "parse_line",
    "parse_slash",
]

_SETTINGS_OPTIONS = {"-s": True, "--app": True}
# Each action with the positional words it takes after any -s APP.
_SETTINGS_ACTIONS: dict[str, tuple[SettingsAction, tuple[str, ...]]] = {
    "set": ("set", ("KEY", "VALUE")),
    "get": ("get", ("KEY",)),
    "list": ("list", ()),
    "unset": ("unset", ("KEY",)),
    "history": ("history", ("KEY",)),  # the KEY is optional
}
_KEY = re.compile(r"[a-z][a-z0-9_.]*")


def parse_slash(command: str, text: str) -> Command:
    """Parse a Slack slash command, which arrives as ``"/deploy"`` and ``"shop --serial"``."""
    name = command.strip().removeprefix("/")
    return _parse(name, tokenise(text, name))


def parse_line(line: str) -> Command:
    """Parse one line of console chat such as ``"/deploy shop --serial"``; the slash is optional."""
    words = line.split(maxsplit=1)
    tokens = tokenise(line, words[0].removeprefix("/") if words else "")
    if not tokens:
        raise UsageError(f"empty command; {COMMANDS}")
    return _parse(tokens[0].removeprefix("/"), tokens[1:])


def _parse(name: str, args: list[str]) -> Command:
    if name == "deploy":
        return parse_deploy(args)
    if name == "settings":
        return _parse_settings(args)
    if name == "help":
        return _parse_help(args)
    raise error(f"unknown command {name!r}")


def _parse_help(args: list[str]) -> HelpCommand:
    if not args:
        return HelpCommand()
    topic = args[0].removeprefix("/")
    if len(args) > 1 or topic not in ("deploy", "settings"):
        raise error(f"no help on {' '.join(args)!r}", "help")
    return HelpCommand(topic)


def _parse_settings(args: list[str]) -> Command:
    if not args:
        raise error("missing set, get, list, unset or history", *family("settings"))
    word, rest = args[0], args[1:]
    if word == "help":
        exactly(rest, (), "help")
        return HelpCommand("settings")
    if word not in _SETTINGS_ACTIONS:
        raise error(f"expected set, get, list, unset or history, got {word!r}", *family("settings"))
    action, names = _SETTINGS_ACTIONS[word]
    usage_key = f"settings {action}"
    options, positionals = split_options(rest, _SETTINGS_OPTIONS, usage_key)
    if "-s" in options and "--app" in options:
        raise error("-s and --app both name the app; give one", usage_key)
    if action == "history" and not positionals:
        names = ()
    words = exactly(positionals, names, usage_key)
    key = words[0] if words else None
    if key is not None and not _KEY.fullmatch(key):
        raise error(f"{key!r} is not a valid settings key", usage_key)
    app = options.get("-s") or options.get("--app")
    return SettingsCommand(
        action=action,
        app=checked_app(app, usage_key) if app is not None else None,
        key=key,
        value=words[1] if len(words) > 1 else None,
    )
