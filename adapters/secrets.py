"""The bot's own secrets: kept out of deploy commands, outputs and logs.

Deploy commands get a minimal environment (``command_environment``), never
the bot's. As a second line of defence, any value of the bot's credentials
that still turns up in a command's output (a script that cats a file) or in a
log record is replaced by ``[redacted]`` before it is stored, posted or
written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from strategies.manifest import App

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What a local command gets from the bot's environment besides SHIPBOT_* and the manifest's.
PASSED_THROUGH = ("PATH", "HOME", "LANG")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_KEY|ACCESS_KEY")
_KNOWN = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
)
REDACTED = "[redacted]"


def command_environment(app: App, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The manifest's ``deploy.env``, and the ``deploy.pass_env`` names the bot has."""
    source = os.environ if environ is None else environ
    env = dict(app.deploy.env)
    env.update({name: source[name] for name in app.deploy.pass_env if name in source})
    return env


def local_base_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, HOME and LANG for a command run on this machine."""
    source = os.environ if environ is None else environ
    base = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
    base.update({name: source[name] for name in PASSED_THROUGH if source.get(name)})
    return base


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the bot's credentials in its environment (8 characters or more)."""
    source = os.environ if environ is None else environ
    values = {
        value
        for name, value in source.items()
        if (name in _KNOWN or _SECRET_NAME.search(name)) and len(value) >= 8
    }
    return sorted(values, key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str, values: list[str] | None = None) -> str:
    if not text:
        return text  # nothing to hide: the environment is not read (most steps print nothing)
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each log record's message with the bot's secrets redacted."""

    def __init__(self) -> None:
        super().__init__()
        self._values = secret_values()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._values)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
