"""``shipbot`` in a terminal: deploy, plan, history, status, cancel, settings, shell.

Sub-commands take the same arguments as the chat commands and go through the
same parser and handler, so a terminal and a chat channel cannot disagree.
This module only reads the options: ``--help`` answers without loading the
rest of shipbot, and each command loads what it needs (``bot.terminal``;
Slack's libraries only for ``serve`` and ``socket``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.exits import EXIT_USAGE

HELP = """\
usage: shipbot [--manifest FILE] [--db FILE|URL] COMMAND ...

commands:
  deploy APP [--serial|--parallel] [--ref REF] [--servers a,b] [--dry-run] [--force]
             [--skip-approval]
                        --force: skip servers unreachable at pre-flight instead of refusing
  plan APP [--serial|--parallel] [--ref REF] [--servers a,b]
  history APP           recent deploys with each server's outcome
  history APP #ID [--picture FILE.png]
                        one deploy; --picture writes its timeline (a row per server,
                        a bar per step) as PNG, the picture its Slack thread gets
  history APP --format json|csv [--since DATE]
                        for audits: one row per server per deploy (ISO 8601 UTC times,
                        outcome, load balancer position, requester, approver,
                        overrides); DATE like 2026-12-01 or 2026-12-01T18:00 (UTC)
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
  settings history -s APP [KEY]                   who changed which setting, newest first
  shell [--user NAME] [--channel ID]
                        console chat: type chat commands, or pipe them in
  serve [--host 127.0.0.1] [--port 3000]
                        Slack over HTTP: POST /slack/events, GET /healthz
  socket                Slack over Socket Mode (needs SLACK_APP_TOKEN)
  db migrate | db check apply the store's pending migrations | say whether it answers,
                        its schema is current, and which replicas used it lately

options:
  --manifest FILE       default: $SHIPBOT_MANIFEST, ./manifest.yml, else the example
  --db FILE|URL         default: $SHIPBOT_DB, else .shipbot/shipbot.db; a URL
                        postgresql://user@host:port/dbname shares one store among replicas

terminal commands act as the local operator (who holds the manifest, database and
keys): deployers/settings_editors do not apply; an app with approval.required is
refused unless `deploy --skip-approval` is given. `shell --user ID` acts as that user.

environment (serve, socket): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN
(socket), SLACK_API_URL (default Slack's own)

exit status: 0 success, 1 the deploy failed (or was refused, or recovery left servers
out for a person), 2 bad usage or input"""


SLACK = ("serve", "socket")
COMMANDS = (
    "deploy",
    "plan",
    "history",
    "status",
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
    "settings",
    "shell",
    "db",
    *SLACK,
)


def _options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipbot", add_help=False, allow_abbrev=False)
    parser.add_argument("--manifest")
    parser.add_argument("--db")
    parser.add_argument("-h", "--help", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options, rest = _options().parse_known_args(argv)
    if options.help or not rest or rest[0] in ("help", "-h", "--help"):
        print(HELP)
        return 0 if options.help or rest else EXIT_USAGE
    name, args = rest[0], rest[1:]
    if name not in COMMANDS:
        print(f"shipbot: unknown command {name!r}\n\n{HELP}", file=sys.stderr)
        return EXIT_USAGE
    from bot.terminal import run  # the rest of shipbot loads only for a command

    return run(name, args, manifest=options.manifest, db=options.db)
