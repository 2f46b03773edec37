"""The chat command grammar shared by every front end: text in, a Command out.

This module only parses. Chat text never reaches a shell from here, and every
user token quoted in an error goes through ``repr()`` so messages stay one line.
"""

from __future__ import annotations

import re
import shlex
from collections import deque
from dataclasses import dataclass
from typing import Literal, TypeAlias

from strategies.manifest import NAME_PATTERN
from strategies.requests import RequestError, StrategyName, check_ref

SettingsAction = Literal["set", "get", "list", "unset"]

USAGE: dict[str, str] = {
    "deploy": "/deploy APP [--serial|--parallel] [--ref REF] [--servers a,b] [--dry-run]"
    " [--force] (APP cannot be status, history, cancel, recover or help: those are sub-commands)",
    "deploy status": "/deploy status [APP]",
    "deploy history": "/deploy history [APP]",
    "deploy cancel": "/deploy cancel APP",
    "deploy recover": "/deploy recover APP",
    "settings set": "/settings set [-s APP] KEY VALUE",
    "settings get": "/settings get [-s APP] KEY",
    "settings list": "/settings list [-s APP]",
    "settings unset": "/settings unset [-s APP] KEY",
    "help": "/help [deploy|settings] (or /deploy help, /settings help)",
}

_COMMANDS = "commands: /deploy, /settings, /help"
_DEPLOY_WORDS = ("status", "history", "cancel", "recover", "help")
# Each option mapped to whether it takes a value.
_DEPLOY_OPTIONS = {
    "--serial": False,
    "--parallel": False,
    "--ref": True,
    "--servers": True,
    "--dry-run": False,
    "--force": False,
}
_SETTINGS_OPTIONS = {"-s": True, "--app": True}
# Each action with the positional words it takes after any -s APP.
_SETTINGS_ACTIONS: dict[str, tuple[SettingsAction, tuple[str, ...]]] = {
    "set": ("set", ("KEY", "VALUE")),
    "get": ("get", ("KEY",)),
    "list": ("list", ()),
    "unset": ("unset", ("KEY",)),
}
# fullmatch, not match: "$" in NAME_PATTERN also matches before a trailing newline.
_NAME = re.compile(NAME_PATTERN)
_KEY = re.compile(r"[a-z][a-z0-9_.]*")
_NUMBER = re.compile(r"-\d+(\.\d+)?")


class UsageError(ValueError):
    """A command that cannot be parsed; ``str()`` is one line: the problem and the usage."""


@dataclass(frozen=True)
class DeployCommand:
    app: str
    strategy: StrategyName | None = None
    ref: str | None = None
    servers: tuple[str, ...] | None = None
    dry_run: bool = False
    force: bool = False


@dataclass(frozen=True)
class StatusCommand:
    app: str | None = None


@dataclass(frozen=True)
class HistoryCommand:
    app: str | None = None


@dataclass(frozen=True)
class CancelCommand:
    app: str
    deploy_id: int | None = None  # only this deploy (a Cancel button on its message)


@dataclass(frozen=True)
class RecoverCommand:
    app: str


@dataclass(frozen=True)
class SettingsCommand:
    action: SettingsAction
    app: str | None = None
    key: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class HelpCommand:
    topic: str | None = None


Command: TypeAlias = (
    DeployCommand
    | StatusCommand
    | HistoryCommand
    | CancelCommand
    | RecoverCommand
    | SettingsCommand
    | HelpCommand
)


def parse_slash(command: str, text: str) -> Command:
    """Parse a Slack slash command, which arrives as ``"/deploy"`` and ``"shop --serial"``."""
    name = command.strip().removeprefix("/")
    return _parse(name, _tokenise(text, name))


def parse_line(line: str) -> Command:
    """Parse one line of console chat such as ``"/deploy shop --serial"``; the slash is optional."""
    words = line.split(maxsplit=1)
    tokens = _tokenise(line, words[0].removeprefix("/") if words else "")
    if not tokens:
        raise UsageError(f"empty command; {_COMMANDS}")
    return _parse(tokens[0].removeprefix("/"), tokens[1:])


def _error(problem: str, *usage_keys: str) -> UsageError:
    if not usage_keys:
        return UsageError(f"{problem}; {_COMMANDS}")
    return UsageError(f"{problem}; usage: {' | '.join(USAGE[key] for key in usage_keys)}")


def _family(name: str) -> tuple[str, ...]:
    return tuple(key for key in USAGE if key.split()[0] == name)


def _tokenise(text: str, name: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as err:  # unbalanced quotes or a trailing backslash
        raise _error(f"cannot split the command: {str(err).lower()}", *_family(name)) from None


def _parse(name: str, args: list[str]) -> Command:
    if name == "deploy":
        return _parse_deploy(args)
    if name == "settings":
        return _parse_settings(args)
    if name == "help":
        return _parse_help(args)
    raise _error(f"unknown command {name!r}")


def _parse_help(args: list[str]) -> HelpCommand:
    if not args:
        return HelpCommand()
    topic = args[0].removeprefix("/")
    if len(args) > 1 or topic not in ("deploy", "settings"):
        raise _error(f"no help on {' '.join(args)!r}", "help")
    return HelpCommand(topic)


def _parse_deploy(args: list[str]) -> Command:
    if not args:
        raise _error("missing APP", *_family("deploy"))
    word, rest = args[0], args[1:]
    if word == "help":
        _exactly(rest, (), "help")
        return HelpCommand("deploy")
    if word in ("status", "history"):
        app = _app_argument(rest, f"deploy {word}")
        return StatusCommand(app) if word == "status" else HistoryCommand(app)
    if word in ("cancel", "recover"):
        app = _app_argument(rest, f"deploy {word}")
        if app is None:
            raise _error("missing APP", f"deploy {word}")
        return CancelCommand(app) if word == "cancel" else RecoverCommand(app)
    return _parse_deploy_app(args)


def _parse_deploy_app(args: list[str]) -> DeployCommand:
    options, positionals = _split_options(args, _DEPLOY_OPTIONS, "deploy")
    (app,) = _exactly(positionals, ("APP",), "deploy")
    if "--serial" in options and "--parallel" in options:
        raise _error("--serial and --parallel cannot be used together", "deploy")
    strategy: StrategyName | None = (
        "serial" if "--serial" in options else "parallel" if "--parallel" in options else None
    )
    ref = options.get("--ref")
    servers = options.get("--servers")
    return DeployCommand(
        app=_checked_app(app, "deploy"),
        strategy=strategy,
        ref=_checked_ref(ref) if ref is not None else None,
        servers=_checked_servers(servers) if servers is not None else None,
        dry_run="--dry-run" in options,
        force="--force" in options,
    )


def _parse_settings(args: list[str]) -> Command:
    if not args:
        raise _error("missing set, get, list or unset", *_family("settings"))
    word, rest = args[0], args[1:]
    if word == "help":
        _exactly(rest, (), "help")
        return HelpCommand("settings")
    if word not in _SETTINGS_ACTIONS:
        raise _error(f"expected set, get, list or unset, got {word!r}", *_family("settings"))
    action, names = _SETTINGS_ACTIONS[word]
    usage_key = f"settings {action}"
    options, positionals = _split_options(rest, _SETTINGS_OPTIONS, usage_key)
    if "-s" in options and "--app" in options:
        raise _error("-s and --app both name the app; give one", usage_key)
    words = _exactly(positionals, names, usage_key)
    key = words[0] if words else None
    if key is not None and not _KEY.fullmatch(key):
        raise _error(f"{key!r} is not a valid settings key", usage_key)
    app = options.get("-s") or options.get("--app")
    return SettingsCommand(
        action=action,
        app=_checked_app(app, usage_key) if app is not None else None,
        key=key,
        value=words[1] if len(words) > 1 else None,
    )


def _split_options(
    args: list[str], spec: dict[str, bool], usage_key: str
) -> tuple[dict[str, str | None], list[str]]:
    # Options may come anywhere, as --opt, --opt VALUE or --opt=VALUE; flags map to None.
    options: dict[str, str | None] = {}
    positionals: list[str] = []
    pending = deque(args)
    while pending:
        token = pending.popleft()
        if token == "--":  # the usual end of options, so a VALUE may start with "-"
            positionals.extend(pending)
            break
        if not token.startswith("-") or _NUMBER.fullmatch(token):
            # A negative number is a VALUE ("deploy.max_parallel -1"), refused later
            # with the setting's own message rather than as an unknown option.
            positionals.append(token)
            continue
        option, has_value, value = token.partition("=")
        if option not in spec:
            raise _error(f"unknown option {option!r}", usage_key)
        if option in options:
            raise _error(f"{option} given twice", usage_key)
        inline = value if has_value else None
        options[option] = _option_value(option, spec[option], inline, pending, usage_key)
    return options, positionals


def _option_value(
    option: str, takes_value: bool, inline: str | None, pending: deque[str], usage_key: str
) -> str | None:
    if not takes_value:
        if inline is not None:
            raise _error(f"{option} takes no value", usage_key)
        return None
    value = inline
    # A following option means the value was forgotten; no valid ref or name starts with "-".
    if value is None and pending and not pending[0].startswith("-"):
        value = pending.popleft()
    if not value:
        raise _error(f"{option} needs a value", usage_key)
    return value


def _exactly(words: list[str], names: tuple[str, ...], usage_key: str) -> list[str]:
    if len(words) > len(names):
        raise _error(f"extra argument {' '.join(words[len(names) :])!r}", usage_key)
    if len(words) < len(names):
        raise _error(f"missing {names[len(words)]}", usage_key)
    return words


def _app_argument(args: list[str], usage_key: str) -> str | None:
    # status, history and cancel take one APP at most, and no options at all.
    _, words = _split_options(args, {}, usage_key)
    if len(words) > 1:
        raise _error(f"extra argument {' '.join(words[1:])!r}", usage_key)
    return _checked_app(words[0], usage_key) if words else None


def _checked_app(app: str, usage_key: str) -> str:
    if app in _DEPLOY_WORDS:
        raise _error(f"{app!r} is a sub-command of /deploy, not an app name", usage_key)
    if not _NAME.fullmatch(app):
        raise _error(f"{app!r} is not a valid app name", usage_key)
    return app


def _checked_ref(ref: str) -> str:
    try:
        return check_ref(ref)
    except RequestError as err:
        raise _error(str(err), "deploy") from err


def _checked_servers(servers: str) -> tuple[str, ...]:
    names = tuple(servers.split(","))
    for name in names:
        if not _NAME.fullmatch(name):
            raise _error(f"{name!r} in --servers is not a valid server name", "deploy")
    duplicates = [name for name in names if names.count(name) > 1]
    if duplicates:
        raise _error(f"--servers lists {duplicates[0]!r} more than once", "deploy")
    return names
