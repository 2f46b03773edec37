"""``shipbot serve``'s HTTP side: waitress in front, a guard before Bolt.

Waitress (Pylons' production WSGI server) was chosen over gunicorn because
its I/O is asynchronous: a slow or idle client holds a socket, not a thread,
and only a complete request reaches one of a fixed number of worker threads.
Bodies over ``MAX_BODY`` are answered 413 from their Content-Length, before
anything is read; idle connections are dropped after ``IDLE_TIMEOUT``.

The guard then checks each request as Slack signs it before anything parses
it: a bad or stale signature is 401 and nothing of the body is logged; a
signature already seen (the same signed request replayed inside Slack's
five-minute window) is answered 200 and dropped, once across every bot
process sharing the store.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("shipbot.http")

MAX_BODY = 1024 * 1024  # Slack's payloads are a few kilobytes
MAX_HEADERS = 64 * 1024
THREADS = 8
CONNECTIONS = 2000
IDLE_TIMEOUT = 30  # seconds a connection may sit idle, or half-sent
REPLAY_WINDOW = 300  # Slack rejects a signature older than five minutes


class Guard:
    """WSGI middleware: health check, signature first, replays dropped."""

    def __init__(
        self,
        slack: WSGIApplication,
        *,
        signing_secret: str,
        seen: Callable[[str], bool],
        health: Callable[[], tuple[bool, bytes]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._slack = slack
        self._verifier = SignatureVerifier(signing_secret)
        self._seen = seen  # True the first time a signature is offered
        self._health = health
        self._clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method == "GET":
            # 503 while the store does not answer: a proxy's health check then
            # sends Slack's requests to a replica that can act on them.
            ok, body = self._health()
            return _answer(start_response, "200 OK" if ok else "503 Service Unavailable", body)
        if path != "/slack/events" or method != "POST":
            return _answer(start_response, "404 Not Found", b'{"error": "not found"}')
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(start_response, "400 Bad Request", b'{"error": "bad length"}')
        body = environ["wsgi.input"].read(min(length, MAX_BODY))
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not self._verifier.is_valid(body, timestamp, signature):
            log.info("refused a request with a bad or stale signature (%d bytes)", len(body))
            return _answer(start_response, "401 Unauthorized", b'{"error": "invalid request"}')
        if not self._seen(signature):
            log.info("dropped a replayed request (signature seen before)")
            return _answer(start_response, "200 OK", b"")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self._slack(environ, start_response)


def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


def health_body(
    apps: list[str], db: str, store_ok: Callable[[], bool]
) -> Callable[[], tuple[bool, bytes]]:
    def health() -> tuple[bool, bytes]:
        ok = store_ok()
        return ok, json.dumps({"ok": ok, "apps": apps, "db": db, "store": ok}).encode()

    return health


def serve(app: WSGIApplication, host: str, port: int, stop: threading.Event) -> None:
    """Serve ``app`` until ``stop`` is set; then close every connection and return."""
    sockets: dict[int, Any] = {}  # waitress's socket map: the listener and every connection
    server = create_server(
        app,
        map=sockets,
        host=host,
        port=port,
        threads=THREADS,
        connection_limit=CONNECTIONS,
        channel_timeout=IDLE_TIMEOUT,
        cleanup_interval=5,
        max_request_body_size=MAX_BODY,
        max_request_header_size=MAX_HEADERS,
        asyncore_use_poll=True,  # select() cannot watch more than 1,024 sockets
        expose_tracebacks=False,
        ident="shipbot",
    )

    def shut_down() -> None:
        stop.wait()
        server.close()
        for channel in list(sockets.values()):  # idle connections too, so the loop ends
            channel.close()
        server.task_dispatcher.shutdown()

    threading.Thread(target=shut_down, name="http-stop", daemon=True).start()
    log.info("serving Slack on http://%s:%d (POST /slack/events, GET /healthz)", host, port)
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise
