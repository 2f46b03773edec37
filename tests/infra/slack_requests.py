"""Requests as Slack sends them: signed slash commands, events and button clicks.

``SlackSender(url, secret)`` posts over real HTTP to a running bot and returns
the status and body; the signature is made with slack_sdk's own
``SignatureVerifier``, so a test proves what real Slack traffic would do.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0TEST"
_event_ids = itertools.count(1)
_triggers = itertools.count(1)


def _trigger_id() -> str:
    return f"13345224609.738474920.{next(_triggers):019d}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    took: float  # seconds from sending to the full answer

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def slash_fields(
    text: str, *, command: str, user: str, channel: str, response_url: str
) -> dict[str, str]:
    """A slash command's fields as Slack sends them (HTTP form, or JSON over
    Socket Mode); ``text`` escaped the way Slack escapes it (``& < >``)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "shipbot-test",
        "channel_id": channel,
        "channel_name": "deploys",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": escaped,
        "api_app_id": "A0SHIPBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        # Unique per invocation, as Slack's are: two identical commands in the same
        # second are two requests, not a replay of one.
        "trigger_id": _trigger_id(),
    }


class SlackSender:
    def __init__(self, url: str, secret: str = SECRET) -> None:
        self.url = url  # http://127.0.0.1:PORT/slack/events
        self.secret = secret

    def send(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST ``body`` signed with ``secret`` (default: the right one) at ``timestamp``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signer = SignatureVerifier(secret or self.secret)
        signature = signer.generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature,
                **(headers or {}),
            },
        )
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, response.read().decode(), time.monotonic() - began)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode(), time.monotonic() - began)

    def command_body(
        self,
        text: str,
        *,
        command: str = "/deploy",
        user: str = "U0DEV",
        channel: str = "C0DEPLOYS",
        response_url: str = "http://127.0.0.1:9/unused",
    ) -> str:
        """The form body of a slash command, to send (and resend) with ``send``."""
        fields = slash_fields(
            text, command=command, user=user, channel=channel, response_url=response_url
        )
        return urlencode(fields)

    def command(
        self,
        text: str,
        *,
        command: str = "/deploy",
        user: str = "U0DEV",
        channel: str = "C0DEPLOYS",
        response_url: str = "http://127.0.0.1:9/unused",
        **options: Any,
    ) -> Answer:
        """A slash command; ``text`` is escaped the way Slack escapes it (``& < >``)."""
        form = slash_fields(
            text, command=command, user=user, channel=channel, response_url=response_url
        )
        return self.send(urlencode(form), "application/x-www-form-urlencoded", **options)

    def reaction(
        self,
        reaction: str,
        *,
        user: str,
        channel: str,
        ts: str,
        event_id: str | None = None,
        retry: int | None = None,
    ) -> Answer:
        """A ``reaction_added`` event on message ``ts``; ``retry`` sets Slack's retry headers."""
        event_id = event_id or f"Ev{next(_event_ids):08d}"
        body = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0SHIPBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "U0SHIPBOT", "is_bot": True}],
            "event": {
                "type": "reaction_added",
                "user": user,
                "reaction": reaction,
                "item_user": "U0SHIPBOT",
                "item": {"type": "message", "channel": channel, "ts": ts},
                "event_ts": f"{time.time():.6f}",
            },
        }
        headers = {}
        if retry is not None:
            headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.send(json.dumps(body), "application/json", headers=headers)

    def button(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str,
        ts: str,
        response_url: str = "http://127.0.0.1:9/unused",
    ) -> Answer:
        """A ``block_actions`` click on a button of message ``ts``."""
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "shipbot-test"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0SHIPBOT",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "trigger_id": _trigger_id(),
            "channel": {"id": channel, "name": "deploys"},
            "message": {"type": "message", "ts": ts, "text": "request"},
            "response_url": response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "shipbot_approval",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        form = urlencode({"payload": json.dumps(payload)})
        return self.send(form, "application/x-www-form-urlencoded")

    # Interactivity beyond messages: shortcuts, modals, the App Home.

    def interaction(self, payload: dict[str, Any]) -> Answer:
        """Any interactivity payload, as Slack posts it (a form field ``payload``)."""
        base = {
            "team": {"id": TEAM, "domain": "shipbot-test"},
            "api_app_id": "A0SHIPBOT",
            "token": "legacy-verification-token",
        }
        form = urlencode({"payload": json.dumps({**base, **payload})})
        return self.send(form, "application/x-www-form-urlencoded")

    def shortcut(
        self, callback_id: str, *, user: str, channel: str | None = None, ts: str = ""
    ) -> Answer:
        """A global shortcut, or with ``channel`` a message shortcut on message ``ts``."""
        payload: dict[str, Any] = {
            "type": "shortcut",
            "callback_id": callback_id,
            "trigger_id": _trigger_id(),
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "action_ts": f"{time.time():.6f}",
        }
        if channel is not None:
            payload |= {
                "type": "message_action",
                "channel": {"id": channel, "name": "deploys"},
                "message_ts": ts or "1700000000.000001",
                "message": {"type": "message", "ts": ts or "1700000000.000001", "text": "hi"},
                "response_url": "http://127.0.0.1:9/unused",
            }
        return self.interaction(payload)

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], *, user: str) -> Answer:
        """Submit ``view`` (as views.open sent it) with ``values``: {block_id: {action_id: …}}."""
        submitted = {
            **view,
            "id": "V0VIEW",
            "hash": "1700000000.abc",
            "state": {"values": values},
        }
        return self.interaction(
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "team_id": TEAM},
                "view": submitted,
                "trigger_id": _trigger_id(),
            }
        )

    def view_button(
        self, action_id: str, value: str, *, user: str, view_type: str = "home"
    ) -> Answer:
        """A ``block_actions`` click on a button of a view (the App Home, a modal)."""
        return self.interaction(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": TEAM},
                "container": {"type": "view", "view_id": "V0VIEW"},
                "trigger_id": _trigger_id(),
                "view": {"id": "V0VIEW", "type": view_type, "hash": "1", "blocks": []},
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "shipbot_home",
                        "value": value,
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        )

    def home_opened(self, user: str) -> Answer:
        """The ``app_home_opened`` event, Home tab."""
        body = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0SHIPBOT",
            "type": "event_callback",
            "event_id": f"Ev{next(_event_ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "U0SHIPBOT", "is_bot": True}],
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        return self.send(json.dumps(body), "application/json")
