"""Fixture: Slack's Socket Mode end, a WebSocket server beside the Web API fake.

A Socket Mode app calls ``apps.connections.open`` with its app-level token
(``xapp-…``), opens the WebSocket URL it gets back, is greeted with
``{"type": "hello"}``, and then receives envelopes (slash commands, events,
clicks) that it acks by sending ``{"envelope_id": …, "payload": …}`` back.
This fake does the same over a real socket (websockets' sync server on a free
port), so ``shipbot socket`` runs unchanged, and it records every ack.
Pings are answered by websockets itself, as Slack answers them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.infra.slack import SlackFake
from tests.infra.slack_requests import TEAM, slash_fields

APP_ID = "A0SHIPBOT"
HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 3600},
    "connection_info": {"app_id": APP_ID},
}


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None  # what a slash command's ack() answered; None for a bare ack
    took: float  # seconds from pushing the envelope to receiving its ack


class SocketModeFake:
    """Pushes envelopes to the connected app and records its acks."""

    def __init__(self, web: SlackFake) -> None:
        self._lock = threading.Lock()
        self._links: list[ServerConnection] = []
        self._pushed: dict[str, float] = {}
        self._acks: list[Ack] = []
        self._ids = itertools.count(1)
        self._server = serve(self._link, "127.0.0.1", 0)
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-socket-fake", daemon=True
        )
        web.answer("apps.connections.open", {"ok": True, "url": self.url})

    def start(self) -> SocketModeFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    @property
    def connected(self) -> int:
        """How many app connections have been greeted and are still open."""
        with self._lock:
            return len(self._links)

    def acks(self, envelope_id: str) -> list[Ack]:
        with self._lock:
            return [ack for ack in self._acks if ack.envelope_id == envelope_id]

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> Ack:
        """Poll until the app acks ``envelope_id``; fail loudly if it does not."""
        deadline = time.monotonic() + timeout
        while not self.acks(envelope_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"Socket Mode fake: no ack for {envelope_id} in {timeout}s")
            time.sleep(0.01)
        return self.acks(envelope_id)[0]

    def push(self, kind: str, payload: dict[str, Any], *, link: int = -1, retry: int = 0) -> str:
        """Send one envelope of ``kind`` to connection ``link`` (by default the
        newest; Slack picks any of an app's connections); its envelope id."""
        envelope_id = f"env-{next(self._ids):04d}"
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "type": kind, "payload": payload}
        if kind == "events_api":
            reason = "timeout" if retry else ""
            envelope |= {
                "accepts_response_payload": False,
                "retry_attempt": retry,
                "retry_reason": reason,
            }
        else:
            envelope["accepts_response_payload"] = True
        with self._lock:
            assert self._links, "Socket Mode fake: no app is connected"
            to = self._links[link]
            self._pushed[envelope_id] = time.monotonic()
        to.send(json.dumps(envelope))
        return envelope_id

    def slash_command(
        self,
        text: str,
        *,
        command: str = "/deploy",
        user: str = "U0DEV",
        channel: str = "C0DEPLOYS",
        response_url: str = "http://127.0.0.1:9/unused",
        link: int = -1,
    ) -> str:
        """A slash command as Socket Mode carries it: the HTTP form's fields as JSON."""
        return self.push(
            "slash_commands",
            slash_fields(
                text, command=command, user=user, channel=channel, response_url=response_url
            ),
            link=link,
        )

    def reaction(
        self,
        reaction: str,
        *,
        user: str,
        channel: str,
        ts: str,
        event_id: str,
        link: int = -1,
        retry: int = 0,
    ) -> str:
        """A ``reaction_added`` event on message ``ts``, in an ``events_api`` envelope."""
        event = {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item_user": "U0SHIPBOT",
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        }
        return self.push(
            "events_api",
            {
                "token": "legacy-verification-token",
                "team_id": TEAM,
                "api_app_id": APP_ID,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM, "user_id": "U0SHIPBOT", "is_bot": True}],
                "event": event,
            },
            link=link,
            retry=retry,
        )

    def _link(self, link: ServerConnection) -> None:
        """One app connection: say hello, then record its acks until it goes away."""
        link.send(json.dumps(HELLO))
        with self._lock:
            self._links.append(link)
        try:
            for message in link:
                self._record(json.loads(message))
        except ConnectionClosed:
            pass  # the app dropped the socket without a closing handshake, as on exit
        finally:
            with self._lock:
                self._links.remove(link)

    def _record(self, message: dict[str, Any]) -> None:
        envelope_id = str(message["envelope_id"])
        with self._lock:
            took = time.monotonic() - self._pushed[envelope_id]
            self._acks.append(Ack(envelope_id, message.get("payload"), took))


@pytest.fixture
def slack_socket(slack_fake: SlackFake) -> Iterator[SocketModeFake]:
    """Socket Mode beside ``slack_fake``: ``apps.connections.open`` points here."""
    fake = SocketModeFake(slack_fake).start()
    try:
        yield fake
    finally:
        fake.stop()
