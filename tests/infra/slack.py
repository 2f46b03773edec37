"""Fixture: a local Slack Web API fake over real HTTP.

No maintained Python Slack emulator exists, so, like Bolt's own tests, a small
stdlib server answers the methods shipbot uses in Slack's shapes and records
every call. It can be told to answer 429 with ``Retry-After``, and it rejects
what Slack rejects that a bot could get wrong (no channel, no text, more than
50 blocks, a section over 3,000 characters).

Files go the way Slack's current flow does: ``files.getUploadURLExternal``
hands out an ``upload_url`` on this fake (``/upload/<file_id>``), the POST of
the bytes to it is recorded (``uploaded``), and ``files.completeUploadExternal``
must name a file that was uploaded, and a channel.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000


@dataclass(frozen=True)
class Call:
    method: str  # "chat.postMessage", ..., "response_url", or "<method>#failed"
    body: dict[str, Any]  # JSON body, or form fields (a JSON-encoded field stays a string)
    at: float  # time.monotonic() when received
    path: str  # "/api/chat.postMessage" or "/response/<name>"
    token: str = ""  # the bearer token it was sent with (xoxb-… bot, xapp-… app-level)
    ts: str = ""  # the ts the fake answered a chat.postMessage with


class SlackFake:
    """Answers Web API calls like Slack and records them, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._answers: dict[str, dict[str, Any]] = {}
        self._ts = itertools.count(100)
        self._file_ids = itertools.count(1)
        self._uploads: dict[str, bytes] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="slack-fake", daemon=True
        )
        port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/"

    def start(self) -> SlackFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def response_url(self, name: str = "r") -> str:
        return f"{self.base}/response/{name}"

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 10) -> list[Call]:
        """Poll the recorded calls until ``predicate`` holds; fail loudly with them if not."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls
            if predicate(calls):
                return calls
            if time.monotonic() > deadline:
                listing = "\n".join(f"  {c.method} {c.body}" for c in calls) or "  (none)"
                raise AssertionError(
                    f"Slack fake: condition not met in {timeout}s; calls:\n{listing}"
                )
            time.sleep(0.01)

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, times: int = 1
    ) -> None:
        """The next ``times`` calls to ``method`` get HTTP ``status`` with ``Retry-After``."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def answer(self, method: str, body: dict[str, Any]) -> None:
        """Answer every call to ``method`` with ``body`` (a method the fake does not know)."""
        with self._lock:
            self._answers[method] = body

    def uploaded(self, file_id: str) -> bytes:
        """The bytes POSTed to the upload URL of ``file_id``."""
        with self._lock:
            return self._uploads[file_id]

    def upload(self, path: str, data: bytes) -> tuple[int, dict[str, str], Any]:
        """The POST of a file's bytes to an ``upload_url`` this fake handed out."""
        file_id = path.rsplit("/", 1)[-1]
        with self._lock:
            pending = self._failures.get("upload")
            failure = pending.pop(0) if pending else None
            name = "upload#failed" if failure else "upload"
            self._calls.append(Call(name, {"file_id": file_id, "length": len(data)}, 0.0, path))
            if failure:
                return failure[0], {}, "upload failed"
            self._uploads[file_id] = data
        return 200, {}, f"OK - {len(data)}"

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._failures.clear()

    def handle(
        self, path: str, body: dict[str, Any], token: str = ""
    ) -> tuple[int, dict[str, str], Any]:
        """Record one request and choose the answer: (status, headers, JSON body or text)."""
        method = "response_url" if path.startswith("/response/") else path.rsplit("/", 1)[-1]
        with self._lock:
            pending = self._failures.get(method)
            failure = pending.pop(0) if pending else None
            ts = f"1700000000.{next(self._ts):06d}"
            name = f"{method}#failed" if failure else method
            self._calls.append(Call(name, body, time.monotonic(), path, token, ts))
            canned = self._answers.get(method)
        if failure:
            status, retry_after = failure
            error = "ratelimited" if status == 429 else "fatal_error"
            return status, {"Retry-After": str(retry_after)}, {"ok": False, "error": error}
        if method == "response_url":
            return 200, {}, "ok"
        if canned is not None:
            return 200, {}, canned
        if method.startswith("files."):
            return 200, {}, self._file_answer(method, body)
        return 200, {}, _answer(method, body, ts, self.url)

    def _file_answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "files.getUploadURLExternal":
            if not body.get("filename") or not str(body.get("length", "")).isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F0{next(self._file_ids):08d}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(body.get("files") or "[]")
            with self._lock:
                known = all(f.get("id") in self._uploads for f in files)
            if not files or not known:
                return {"ok": False, "error": "file_not_found"}
            if not body.get("channel_id"):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "files.info":
            return {"ok": True, "file": {"id": body.get("file")}}
        return {"ok": True}


def _answer(method: str, body: dict[str, Any], ts: str, url: str) -> dict[str, Any]:
    if method in VIEW_METHODS:
        return _view_answer(method, body)
    if method == "auth.test":
        return {
            "ok": True,
            "url": url,
            "team": "shipbot-test",
            "user": "shipbot",
            "team_id": "T0TEST",
            "user_id": "U0SHIPBOT",
            "bot_id": "B0SHIPBOT",
        }
    if method not in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        return {"ok": True}
    error = _message_error(method, body)
    if error:
        return {"ok": False, "error": error}
    channel = body["channel"]
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": ts}
    if method == "chat.update":
        return {"ok": True, "channel": channel, "ts": body["ts"], "text": body.get("text", "")}
    message = {"type": "message", "text": body.get("text", ""), "user": "U0SHIPBOT", "ts": ts}
    message.update({k: body[k] for k in ("thread_ts", "blocks") if k in body})
    return {"ok": True, "channel": channel, "ts": ts, "message": message}


def _message_error(method: str, body: dict[str, Any]) -> str | None:
    """What Slack would refuse in a message call, by its error code."""
    if not body.get("channel"):
        return "channel_not_found"
    if method == "chat.update" and not body.get("ts"):
        return "message_not_found"
    if not body.get("text") and not body.get("blocks"):
        return "no_text"
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > MAX_BLOCKS or any(_section_too_long(block) for block in blocks):
        return "invalid_blocks"
    return None


def _section_too_long(block: dict[str, Any]) -> bool:
    text = block.get("text")
    return isinstance(text, dict) and len(text.get("text", "")) > MAX_SECTION_TEXT


# Views (modals, the App Home): what Slack refuses in views.open / update / publish.
VIEW_METHODS = ("views.open", "views.update", "views.publish")
MAX_VIEW_BLOCKS = 100
MAX_OPTIONS = 100
MAX_LABEL = 2000
MAX_OPTION_TEXT = 75
MAX_TITLE = 24
MAX_METADATA = 3000


def view_of(call: Call) -> dict[str, Any]:
    """The view a views.* call sent (a form field arrives JSON-encoded)."""
    view = call.body["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def _view_answer(method: str, body: dict[str, Any]) -> dict[str, Any]:
    view = body.get("view")
    try:
        parsed = json.loads(view) if isinstance(view, str) else view
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return {"ok": False, "error": "invalid_arguments"}
    needed = {"views.open": "trigger_id", "views.publish": "user_id", "views.update": "view_id"}
    if not body.get(needed[method]):
        return {"ok": False, "error": "invalid_arguments"}
    problem = view_problem(parsed, home=method == "views.publish")
    if problem:
        return {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": [problem]},
        }
    return {"ok": True, "view": {**parsed, "id": "V0VIEW", "hash": "1700000000.abc"}}


def view_problem(view: dict[str, Any], *, home: bool) -> str | None:
    """Why Slack would refuse ``view``, or None."""
    kind = view.get("type")
    if kind != ("home" if home else "modal"):
        return f"type {kind!r}: expected {'home' if home else 'modal'}"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
        return f"blocks: at most {MAX_VIEW_BLOCKS}"
    if kind == "modal" and len(view.get("title", {}).get("text", "")) > MAX_TITLE:
        return "title: at most 24 characters"
    if len(view.get("private_metadata", "")) > MAX_METADATA:
        return "private_metadata: at most 3000 characters"
    ids = [block["block_id"] for block in blocks if "block_id" in block]
    if len(ids) != len(set(ids)):
        return "block_id: duplicated"
    for block in blocks:
        problem = _block_problem(block)
        if problem:
            return problem
    return None


def _block_problem(block: dict[str, Any]) -> str | None:
    if _section_too_long(block):
        return "section text: at most 3000 characters"
    if block.get("type") == "input":
        element = block.get("element") or {}
        if not block.get("block_id") or not element.get("action_id"):
            return "input: block_id and action_id are required"
        if len(block.get("label", {}).get("text", "")) > MAX_LABEL:
            return "label: too long"
        return _options_problem(element)
    for element in block.get("elements") or []:
        if element.get("type") in ("button", "static_select") and not element.get("action_id"):
            return "element: action_id is required"
        if len(str(element.get("value", ""))) > 2000:
            return "button value: at most 2000 characters"
    return None


def _options_problem(element: dict[str, Any]) -> str | None:
    options = element.get("options")
    if options is None:
        return None
    if not options or len(options) > MAX_OPTIONS:
        return f"options: 1 to {MAX_OPTIONS}"
    for option in options:
        if len(option["text"]["text"]) > MAX_OPTION_TEXT or not option.get("value"):
            return "option: text at most 75 characters, and a value"
    initial = element.get("initial_option")
    if initial is not None and initial not in options:
        return "initial_option: not among the options"
    return None


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"payload": parsed}
    if content_type.startswith("multipart/form-data"):
        header = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            fields[str(part.get_param("name", header="content-disposition"))] = (
                payload.decode() if isinstance(payload, bytes) else payload
            )
        return fields
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


def _handler_for(fake: SlackFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.startswith("/upload/"):
                self._reply(*fake.upload(self.path.split("?", 1)[0], raw))
                return
            body = _parse_body(self.headers.get("Content-Type", ""), raw)
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._reply(*fake.handle(self.path.split("?", 1)[0], body, token))

        def do_GET(self) -> None:
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            self._reply(*fake.handle(self.path.split("?", 1)[0], dict(parse_qsl(query))))

        def _reply(self, status: int, headers: dict[str, str], answer: Any) -> None:
            is_text = isinstance(answer, str)
            data = (answer if is_text else json.dumps(answer)).encode()
            self.send_response(status)
            content_type = "text/plain" if is_text else "application/json; charset=utf-8"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded calls are the log."""

    return Handler


@pytest.fixture
def slack_fake() -> Iterator[SlackFake]:
    """A running Slack Web API fake; point ``WebClient(base_url=slack_fake.url)`` at it."""
    fake = SlackFake().start()
    try:
        yield fake
    finally:
        fake.stop()
