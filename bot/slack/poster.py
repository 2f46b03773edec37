"""The outgoing pipeline: every Web API call the bot makes, in order, on one
worker thread, so a deploy never waits for Slack and Slack never sees a burst
it would refuse.

Rate limits: a 429 is retried after its ``Retry-After`` for as long as it
takes (late, never dropped). ``chat.update`` is coalesced: only the newest
content of a message is sent, at most once per ``update_interval``.
``chat.postMessage`` is paced per channel with a small token bucket (Slack
allows ~1 message/s per channel and tolerates short bursts); the deploy
thread batches its replies, so the bucket only bites on failure storms.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.message import MessageRef
from bot.slack.retry import send

log = logging.getLogger(__name__)

# How long a reply or update waits for its message's ts (another channel's poster may send it).
THREAD_WAIT = 30.0
UPLOAD = "files_upload_v2"  # getUploadURLExternal, POST to its upload_url, completeUploadExternal

Blocks = list[dict[str, Any]]


@dataclass
class _Call:
    seq: int
    method: str
    args: dict[str, Any]
    posts: MessageRef | None = None  # resolved with the answer's ts
    thread: MessageRef | None = None  # its ts becomes thread_ts
    target: MessageRef | None = None  # its ts becomes args[target_key]
    target_key: str = "ts"
    content: bytes | None = None  # an upload: its file
    on_failure: Callable[[str], None] | None = None  # an upload that failed: why


@dataclass
class _Bucket:
    tokens: float
    at: float = field(default_factory=time.monotonic)


class SlackPoster:
    """Sends Web API calls in order on a worker thread; honours 429 Retry-After
    (delivered late, never dropped); coalesces updates."""

    def __init__(
        self,
        client: WebClient,
        *,
        update_interval: float = 1.0,
        posts_per_second: float = 1.0,
        post_burst: int = 4,
        attempts: int = 3,
    ) -> None:
        self._client = client
        self._update_interval = update_interval
        self._rate, self._burst = posts_per_second, post_burst
        self._attempts = attempts
        self._cond = threading.Condition()
        self._queue: collections.deque[_Call] = collections.deque()
        self._updates: dict[MessageRef, _Call] = {}
        self._last_update: dict[tuple[str, str], float] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._outstanding: set[int] = set()
        self._seq = 0
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="slack-poster", daemon=True)
        self._worker.start()

    def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: Blocks | None = None,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        ref = MessageRef(channel)
        args = _message(channel=channel, text=text, blocks=blocks)
        self._enqueue(lambda seq: _Call(seq, "chat.postMessage", args, posts=ref, thread=thread))
        return ref

    def update(self, message: MessageRef, text: str, *, blocks: Blocks | None = None) -> None:
        """Latest wins; at most one ``chat.update`` per message per ``update_interval``."""
        args = _message(channel=message.channel, text=text, blocks=blocks)
        with self._cond:
            self._check_open()
            replaced = self._updates.get(message)
            if replaced is not None:
                self._outstanding.discard(replaced.seq)
            self._seq += 1
            self._updates[message] = _Call(self._seq, "chat.update", args, target=message)
            self._outstanding.add(self._seq)
            self._cond.notify_all()

    def ephemeral(
        self, channel: str, user: str, text: str, *, thread: MessageRef | None = None
    ) -> None:
        args = {"channel": channel, "user": user, "text": text}
        self._enqueue(lambda seq: _Call(seq, "chat.postEphemeral", args, thread=thread))

    def react(self, message: MessageRef, name: str) -> None:
        args = {"channel": message.channel, "name": name}
        self._enqueue(
            lambda seq: _Call(seq, "reactions.add", args, target=message, target_key="timestamp")
        )

    def upload(
        self,
        channel: str,
        content: bytes,
        *,
        filename: str,
        title: str,
        thread: MessageRef,
        on_failure: Callable[[str], None],
    ) -> None:
        """A file in ``thread``, in its turn, so the caller never waits for it. A failed
        upload is logged and ``on_failure(why)`` called once; it is not retried."""
        args = {"channel": channel, "filename": filename, "title": title}
        self._enqueue(
            lambda seq: _Call(
                seq, UPLOAD, args, thread=thread, content=content, on_failure=on_failure
            )
        )

    def flush(self, timeout: float = 30) -> bool:
        """Wait until everything queued so far is delivered (or given up on)."""
        with self._cond:
            upto = self._seq
            return self._cond.wait_for(
                lambda: all(seq > upto for seq in self._outstanding), timeout
            )

    def close(self, timeout: float = 30) -> None:
        """Flush, then stop the worker; later calls raise RuntimeError."""
        delivered = self.flush(timeout)
        with self._cond:
            self._closed = True
            if not delivered:
                log.warning("closing with %d Slack calls undelivered", len(self._outstanding))
            self._cond.notify_all()
        self._worker.join(timeout=1 if not delivered else timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the Slack poster is closed")

    def _enqueue(self, make: Callable[[int], _Call]) -> None:
        with self._cond:
            self._check_open()
            self._seq += 1
            self._queue.append(make(self._seq))
            self._outstanding.add(self._seq)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                call = self._next_call()
                while call is None:
                    if self._closed:
                        return
                    self._cond.wait(self._idle_for())
                    call = self._next_call()
            try:
                self._execute(call)
            except Exception:
                log.exception("Slack %s failed", call.method)
                if call.posts is not None and not call.posts.settled:
                    call.posts.settle(None)
            with self._cond:
                self._outstanding.discard(call.seq)
                self._cond.notify_all()

    def _next_call(self) -> _Call | None:
        """A due coalesced update first, then the queue head if its channel may post."""
        now = time.monotonic()
        for ref in self._updates:
            if ref.settled and now >= self._update_due(ref):
                return self._updates.pop(ref)
        if self._queue and self._post_wait(self._queue[0], now) <= 0:
            return self._queue.popleft()
        return None

    def _idle_for(self) -> float | None:
        now = time.monotonic()
        waits = [self._update_due(ref) - now for ref in self._updates if ref.settled]
        if self._queue:
            waits.append(self._post_wait(self._queue[0], now))
        return max(0.005, min(waits)) if waits else None

    def _update_due(self, ref: MessageRef) -> float:
        last = self._last_update.get((ref.channel, ref.peek() or ""))
        return float("-inf") if last is None else last + self._update_interval

    def _post_wait(self, call: _Call, now: float) -> float:
        if call.method != "chat.postMessage":
            return 0.0
        bucket = self._buckets.setdefault(call.args["channel"], _Bucket(float(self._burst)))
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._rate

    def _execute(self, call: _Call) -> None:
        args = dict(call.args)
        if call.thread is not None:
            parent = call.thread.wait(THREAD_WAIT)
            if parent is None:
                log.warning("parent message never posted: %s goes to the channel", call.method)
            else:
                args["thread_ts"] = parent
        if call.target is not None:
            target = call.target.wait(THREAD_WAIT)
            if target is None:
                log.warning("dropping %s: its message was never posted", call.method)
                return
            args[call.target_key] = target
        if call.method == UPLOAD:
            self._upload(call, args)
            return
        if call.method == "chat.postMessage":
            self._buckets[args["channel"]].tokens -= 1
        answer = send(self._client, call.method, args, attempts=self._attempts)
        if call.posts is not None:
            call.posts.settle(answer.get("ts") if answer else None)
        if call.method == "chat.update":
            self._last_update[(args["channel"], args["ts"])] = time.monotonic()

    def _upload(self, call: _Call, args: dict[str, Any]) -> None:
        assert call.content is not None and call.on_failure is not None
        if "thread_ts" not in args:
            return  # its thread was never posted: the thread already says what went wrong
        try:
            self._client.files_upload_v2(
                file=call.content,
                filename=args["filename"],
                title=args["title"],
                channel=args["channel"],
                thread_ts=args["thread_ts"],
            )
        except Exception as exc:  # whatever fails here must not reach the deploy
            log.warning("could not upload %s to Slack: %s", args["filename"], exc)
            call.on_failure(_why(exc))


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error') or exc.response.status_code}"
    return type(exc).__name__


def _message(*, channel: str, text: str, blocks: Blocks | None) -> dict[str, Any]:
    args: dict[str, Any] = {"channel": channel, "text": text}
    if blocks:
        args["blocks"] = blocks
    return args
