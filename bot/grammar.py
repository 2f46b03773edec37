"""The pieces of the chat command grammar: usage lines, tokens, options, checks.

Every user token quoted in an error goes through ``repr()`` so messages stay
one line; nothing here ever reaches a shell.
"""

from __future__ import annotations

import re
import shlex
from collections import deque

from strategies.manifest import NAME_PATTERN
from strategies.requests import RequestError, check_ref

USAGE: dict[str, str] = {
    "deploy": "/deploy APP [--serial|--parallel] [--ref REF] [--servers a,b] [--dry-run]"
    " [--force] [--batch N|P%] [--canary N|P%] [--at TIME|--in DURATION [--tz ZONE]]"
    " [--queue] [--override REASON] [--confirm #ID] [--profile NAME] [--skip migrations]"
    " [--options] (APP cannot be status, history, cancel,"
    " recover, lock, unlock, freeze, unfreeze, unschedule, rollback, promote, abort or help:"
    " those are sub-commands)",
    "deploy status": "/deploy status [APP]",
    "deploy history": "/deploy history [APP]",
    "deploy cancel": "/deploy cancel APP",
    "deploy recover": "/deploy recover APP",
    "deploy lock": '/deploy lock APP [for DURATION] ["REASON"]',
    "deploy unlock": "/deploy unlock APP",
    "deploy freeze": '/deploy freeze APP (for DURATION | until DATE) ["REASON"]',
    "deploy unfreeze": "/deploy unfreeze APP",
    "deploy unschedule": "/deploy unschedule APP #ID",
    "deploy rollback": "/deploy rollback APP [--to REF|#ID]",
    "deploy promote": "/deploy promote APP",
    "deploy abort": "/deploy abort APP",
    "settings set": "/settings set [-s APP] KEY VALUE",
    "settings get": "/settings get [-s APP] KEY",
    "settings list": "/settings list [-s APP]",
    "settings unset": "/settings unset [-s APP] KEY",
    "settings history": "/settings history [-s APP] [KEY]",
    "help": "/help [deploy|settings] (or /deploy help, /settings help)",
}

COMMANDS = "commands: /deploy, /settings, /help"
DEPLOY_WORDS = (
    "status",
    "history",
    "cancel",
    "recover",
    "lock",
    "unlock",
    "freeze",
    "unfreeze",
    "unschedule",
    "rollback",
    "promote",
    "abort",
    "help",
)
# fullmatch, not match: "$" in NAME_PATTERN also matches before a trailing newline.
NAME = re.compile(NAME_PATTERN)
_NUMBER = re.compile(r"-\d+(\.\d+)?")
_ID = re.compile(r"#?([0-9]{1,12})")


class UsageError(ValueError):
    """A command that cannot be parsed; ``str()`` is one line: the problem and the usage."""


def error(problem: str, *usage_keys: str) -> UsageError:
    if not usage_keys:
        return UsageError(f"{problem}; {COMMANDS}")
    return UsageError(f"{problem}; usage: {' | '.join(USAGE[key] for key in usage_keys)}")


def family(name: str) -> tuple[str, ...]:
    return tuple(key for key in USAGE if key.split()[0] == name)


def tokenise(text: str, name: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as err:  # unbalanced quotes or a trailing backslash
        raise error(f"cannot split the command: {str(err).lower()}", *family(name)) from None


def split_options(
    args: list[str], spec: dict[str, bool], usage_key: str
) -> tuple[dict[str, str | None], list[str]]:
    """Options may come anywhere, as --opt, --opt VALUE or --opt=VALUE; flags map to None."""
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
            raise error(f"unknown option {option!r}", usage_key)
        if option in options:
            raise error(f"{option} given twice", usage_key)
        inline = value if has_value else None
        options[option] = _option_value(option, spec[option], inline, pending, usage_key)
    return options, positionals


def _option_value(
    option: str, takes_value: bool, inline: str | None, pending: deque[str], usage_key: str
) -> str | None:
    if not takes_value:
        if inline is not None:
            raise error(f"{option} takes no value", usage_key)
        return None
    value = inline
    # A following option means the value was forgotten; no valid ref or name starts with "-".
    if value is None and pending and not pending[0].startswith("-"):
        value = pending.popleft()
    if not value:
        raise error(f"{option} needs a value", usage_key)
    return value


def exactly(words: list[str], names: tuple[str, ...], usage_key: str) -> list[str]:
    if len(words) > len(names):
        raise error(f"extra argument {' '.join(words[len(names) :])!r}", usage_key)
    if len(words) < len(names):
        raise error(f"missing {names[len(words)]}", usage_key)
    return words


def app_argument(args: list[str], usage_key: str) -> str | None:
    """One APP at most, and no options at all (status, history, cancel...)."""
    _, words = split_options(args, {}, usage_key)
    if len(words) > 1:
        raise error(f"extra argument {' '.join(words[1:])!r}", usage_key)
    return checked_app(words[0], usage_key) if words else None


def checked_app(app: str, usage_key: str) -> str:
    if app in DEPLOY_WORDS:
        raise error(f"{app!r} is a sub-command of /deploy, not an app name", usage_key)
    if not NAME.fullmatch(app):
        raise error(f"{app!r} is not a valid app name", usage_key)
    return app


def checked_ref(ref: str) -> str:
    try:
        return check_ref(ref)
    except RequestError as err:
        raise error(str(err), "deploy") from err


def checked_servers(servers: str) -> tuple[str, ...]:
    names = tuple(servers.split(","))
    for name in names:
        if not NAME.fullmatch(name):
            raise error(f"{name!r} in --servers is not a valid server name", "deploy")
    duplicates = [name for name in names if names.count(name) > 1]
    if duplicates:
        raise error(f"--servers lists {duplicates[0]!r} more than once", "deploy")
    return names


def checked_id(text: str, usage_key: str) -> int:
    """``#12`` or ``12``."""
    match = _ID.fullmatch(text)
    if not match:
        raise error(f"{text!r} is not an id like #12", usage_key)
    return int(match[1])


def checked_reason(words: list[str], usage_key: str) -> str:
    reason = " ".join(words).strip()
    if len(reason) > 300:
        raise error("the reason is longer than 300 characters", usage_key)
    if any(ord(c) < 32 for c in reason):
        raise error("the reason cannot contain control characters", usage_key)
    return reason
