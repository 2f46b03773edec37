"""The console chat: a deploy shown like a Slack thread, in a terminal.

Like Hubot's shell adapter: the same command handler as Slack, with stdin as
the channel. Reads a terminal interactively, or piped lines as a script.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TextIO

from bot import render
from bot.commands import UsageError, parse_line
from bot.exits import EXIT_USAGE
from bot.handler import Caller, CommandHandler
from strategies.cancel import CancelToken
from strategies.events import DeployFinished, DeployStarted, Event, Listener
from strategies.plan import DeployPlan
from strategies.text import one_line, printable

PARENT, REPLY, LAST, MORE = "shipbot ▸ ", "  │ ", "  └ ", "    "


class ConsoleThread:
    """Prints one deploy as a parent line and indented thread replies."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._plan: DeployPlan | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, DeployStarted):
            self._plan = event.plan
            self._write(PARENT + render.parent_line(event.deploy_id, event.plan))
        lines = render.event_lines(event, self._plan)
        if isinstance(event, DeployFinished) and lines:
            self._write(LAST + lines[0])
            for line in lines[1:]:
                self._write(MORE + line)
            return
        for line in lines:
            self._write(REPLY + line)


class ConsoleFrontEnd:
    def __init__(self, write: Callable[[str], None]) -> None:
        self._out = write

    def write(self, line: str) -> None:
        """Everything shown passes through here: no escape sequence reaches the terminal."""
        self._out(printable(line))

    def reply(self, text: str) -> None:
        lines = text.splitlines() or [""]
        self.write(PARENT + lines[0])
        for line in lines[1:]:
            self.write(MORE + line)

    def error(self, text: str) -> None:
        self.reply(text)

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        return [ConsoleThread(self.write)]


@contextlib.contextmanager
def interrupts_cancel(token: CancelToken) -> Iterator[None]:
    """Ctrl-C / SIGTERM once: stop at the next step boundary; twice: abort now."""

    def say(text: str) -> None:
        # os.write, not print: a signal can arrive in the middle of a print.
        os.write(2, f"shipbot: {text}\n".encode())

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if token.cancel_event.is_set():
            say("aborting: killing running commands; servers left out are listed below")
            token.abort()
        else:
            say("cancelling after the current step (interrupt again to abort now)")
            token.cancel()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_shell(
    handler: CommandHandler,
    caller: Caller,
    *,
    stdin: TextIO = sys.stdin,
    write: Callable[[str], None] = print,
) -> int:
    """Read chat lines until end of input; return the worst exit status seen."""
    front = ConsoleFrontEnd(write)
    interactive = stdin.isatty()
    if interactive:
        write("shipbot console chat: type /help, or exit to leave")
    handler.sweep(front)  # a deploy whose process died is said first
    worst = 0
    for line in _lines(stdin, interactive):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text in ("exit", "quit"):
            break
        if not interactive:
            write(f"> {one_line(text)}")
        worst = max(worst, _one(handler, text, caller, front))
    return worst


def _one(handler: CommandHandler, text: str, caller: Caller, front: ConsoleFrontEnd) -> int:
    try:
        command = parse_line(text)
    except UsageError as exc:
        front.error(f"error: {exc}")
        return EXIT_USAGE
    token = CancelToken()
    with interrupts_cancel(token):
        return handler.handle(command, caller, front, token)


def _lines(stdin: TextIO, interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from stdin
        return
    while True:
        try:
            yield input("you> ")
        except EOFError:
            print()
            return
