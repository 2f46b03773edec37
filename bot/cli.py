"""``shipbot`` in a terminal: deploy, plan, history, status, cancel, settings, shell.

Sub-commands take the same arguments as the chat commands and go through the
same parser and handler, so a terminal and a chat channel cannot disagree.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console

from bot.commands import Command, DeployCommand, UsageError, parse_slash
from bot.console import ConsoleFrontEnd, ConsoleThread, interrupts_cancel, run_shell
from bot.handler import EXIT_USAGE, Caller, CommandHandler
from bot.progress import ProgressListener
from bot.wiring import load_services, resolve_db_path
from strategies.cancel import CancelToken
from strategies.events import Listener
from strategies.manifest import ManifestError
from strategies.plan import DeployPlan
from strategies.store import StoreError
from strategies.text import printable

HELP = """\
usage: shipbot [--manifest FILE] [--db FILE] COMMAND ...

commands:
  deploy APP [--serial|--parallel] [--ref REF] [--servers a,b] [--dry-run] [--force]
             [--skip-approval]
                        --force: skip servers unreachable at pre-flight instead of refusing
  plan APP [--serial|--parallel] [--ref REF] [--servers a,b]
  history APP           recent deploys with each server's outcome
  status [APP]          running deploy, or the last one; finds deploys whose process died
  cancel APP            stop APP's running deploy at the next step boundary
  recover APP           after an interrupted deploy: put back the servers it left out
                        of the load balancer whose state is known good; release the lock
  deploy APP --at 18:00 | --in 30m [--tz ZONE]   schedule it (a running serve/socket runs it)
  deploy APP --queue    wait for the running deploy or the lock to end, then deploy
  deploy APP --override "REASON"   deploy outside the windows / in a freeze (overriders)
  deploy APP --confirm #ID         run a scheduled deploy whose time passed
  unschedule APP #ID    cancel a scheduled deploy
  lock APP [for 1h] ["REASON"] | unlock APP       stop deploys until unlocked
  freeze APP (for 2h | until 2026-12-28) ["REASON"] | unfreeze APP
  deploy APP --batch N|P% | --canary N|P%       rolling batches, or a canary first
  promote APP | abort APP                         continue a paused canary, or roll it back
  rollback APP [--to REF|#ID]                     deploy the previous good ref (and lock)
  settings set -s APP KEY VALUE | get -s APP KEY | list -s APP | unset -s APP KEY
  shell [--user NAME] [--channel ID]
                        console chat: type chat commands, or pipe them in
  serve [--host 127.0.0.1] [--port 3000]
                        Slack over HTTP: POST /slack/events, GET /healthz
  socket                Slack over Socket Mode (needs SLACK_APP_TOKEN)

options:
  --manifest FILE       default: $SHIPBOT_MANIFEST, ./manifest.yml, else the example
  --db FILE             default: $SHIPBOT_DB, else .shipbot/shipbot.db

terminal commands act as the local operator (who holds the manifest, database and
keys): deployers/settings_editors do not apply; an app with approval.required is
refused unless `deploy --skip-approval` is given. `shell --user ID` acts as that user.

environment (serve, socket): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN
(socket), SLACK_API_URL (default Slack's own)

exit status: 0 success, 1 the deploy failed (or was refused, or recovery left servers
out for a person), 2 bad usage or input"""

_SLACK = ("serve", "socket")
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
    """Console output plus a progress bar when stdout is a terminal."""

    def __init__(self, console: Console, errors: Console) -> None:
        super().__init__(lambda line: console.print(line, markup=False, highlight=False))
        self.console = console
        self.errors = errors

    def reply(self, text: str) -> None:
        self.console.print(printable(text), markup=False, highlight=False)

    def error(self, text: str) -> None:
        self.errors.print(printable(text), markup=False, highlight=False)

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        listeners: list[Listener] = [ConsoleThread(self.write)]
        if self.console.is_terminal:
            listeners.append(ProgressListener(self.console, len(plan.servers)))
        return listeners


def _options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipbot", add_help=False, allow_abbrev=False)
    parser.add_argument("--manifest")
    parser.add_argument("--db")
    parser.add_argument("-h", "--help", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options, rest = _options().parse_known_args(argv)
    console = Console(soft_wrap=True)
    errors = Console(soft_wrap=True, stderr=True)
    if options.help or not rest or rest[0] in ("help", "-h", "--help"):
        print(HELP)
        return 0 if options.help or rest else EXIT_USAGE
    name, args = rest[0], rest[1:]
    if name not in ("shell", *_SLACK) and name not in _CHAT:
        print(f"shipbot: unknown command {name!r}\n\n{HELP}", file=sys.stderr)
        return EXIT_USAGE
    try:
        services = load_services(options.manifest, options.db)
    except (ManifestError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if name in _SLACK:
        from bot.slack.server import run_slack  # slack_bolt loads only for these two

        return run_slack(name, services, args, db=str(resolve_db_path(options.db)))
    handler = CommandHandler(services)
    front = CliFrontEnd(console, errors)
    skip_approval = name == "deploy" and _SKIP_APPROVAL in args
    args = [arg for arg in args if not (skip_approval and arg == _SKIP_APPROVAL)]
    caller = Caller(user=_local_user(), operator=True, skip_approval=skip_approval)
    if name == "shell":
        return _shell(handler, args)
    try:
        command = _chat_command(name, args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    token = CancelToken()
    with interrupts_cancel(token):
        return handler.handle(command, caller, front, token)


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
        caller = Caller(user=_local_user(), channel=options.channel, operator=True)
    else:
        caller = Caller(user=options.user, channel=options.channel)
    return run_shell(handler, caller)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid{os.getuid()}"
