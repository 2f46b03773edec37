"""A ``shipbot`` command run in a terminal, as the local operator."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from dataclasses import replace
from typing import TextIO

from adapters.stores import describe_location
from bot.commands import Command, DeployCommand, UsageError, parse_slash
from bot.console import ConsoleFrontEnd, ConsoleThread, interrupts_cancel, run_shell
from bot.exits import EXIT_USAGE
from bot.handler import Caller, CommandHandler
from bot.history_command import parse_history, run_history, wants_more
from bot.wiring import load_services, resolve_db
from strategies.cancel import CancelToken
from strategies.events import Listener
from strategies.manifest import ManifestError
from strategies.plan import DeployPlan
from strategies.store import StoreError
from strategies.text import printable

_SKIP_APPROVAL = "--skip-approval"

_CHAT = {
    "deploy": ("/deploy", ""),
    "plan": ("/deploy", ""),
    "history": ("/deploy", "history"),
    "status": ("/deploy", "status"),
    "cancel": ("/deploy", "cancel"),
    "recover": ("/deploy", "recover"),
    "lock": ("/deploy", "lock"),
    "unlock": ("/deploy", "unlock"),
    "freeze": ("/deploy", "freeze"),
    "unfreeze": ("/deploy", "unfreeze"),
    "unschedule": ("/deploy", "unschedule"),
    "rollback": ("/deploy", "rollback"),
    "promote": ("/deploy", "promote"),
    "abort": ("/deploy", "abort"),
    "settings": ("/settings", ""),
}


class CliFrontEnd(ConsoleFrontEnd):
    """Console output, plus a progress bar when stdout is a terminal."""

    def __init__(self, out: TextIO = sys.stdout, errors: TextIO = sys.stderr) -> None:
        super().__init__(lambda line: print(line, file=out, flush=True))
        self._stdout, self._stderr = out, errors

    def reply(self, text: str) -> None:
        print(printable(text), file=self._stdout, flush=True)

    def error(self, text: str) -> None:
        print(printable(text), file=self._stderr, flush=True)

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        listeners: list[Listener] = [ConsoleThread(self.write)]
        if self._stdout.isatty():
            from bot.progress import ProgressListener  # rich loads only for a terminal

            listeners.append(ProgressListener(len(plan.servers)))
        return listeners


def run(name: str, args: list[str], *, manifest: str | None, db: str | None) -> int:
    if name == "db":  # needs the store, not the manifest
        from bot.db_command import run_db

        return run_db(args, db)
    try:
        services = load_services(manifest, db)
    except (ManifestError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if name in ("serve", "socket"):
        from bot.slack.server import run_slack  # slack_bolt loads only for these two

        return run_slack(name, services, args, db=describe_location(resolve_db(db)))
    handler = CommandHandler(services)
    skip_approval = name == "deploy" and _SKIP_APPROVAL in args
    args = [arg for arg in args if not (skip_approval and arg == _SKIP_APPROVAL)]
    caller = Caller(user=_local_user(), operator=True, skip_approval=skip_approval, via="cli")
    if name == "shell":
        return _shell(handler, args)
    if name == "history" and wants_more(args):
        try:
            history = parse_history(args)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return run_history(history, services)
    try:
        command = _chat_command(name, args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    token = CancelToken()
    with interrupts_cancel(token):
        return handler.handle(command, caller, CliFrontEnd(), token)


def _chat_command(name: str, args: list[str]) -> Command:
    slash, sub = _CHAT[name]
    words = ([sub] if sub else []) + list(args)
    command = parse_slash(slash, shlex.join(words))
    if name not in ("deploy", "plan"):
        return command
    if not isinstance(command, DeployCommand):
        raise UsageError(f"shipbot {name} needs an app name: shipbot {name} APP [options]")
    # A plan is a dry run: the handler renders it and runs nothing.
    return replace(command, dry_run=True) if name == "plan" else command


def _shell(handler: CommandHandler, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shipbot shell", allow_abbrev=False)
    parser.add_argument("--user", help="act as this user: authorization applies")
    parser.add_argument("--channel")
    options = parser.parse_args(args)
    if options.user is None:
        caller = Caller(user=_local_user(), channel=options.channel, operator=True, via="console")
    else:
        caller = Caller(user=options.user, channel=options.channel, via="console")
    return run_shell(handler, caller)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid{os.getuid()}"
