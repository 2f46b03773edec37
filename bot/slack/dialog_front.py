"""The deploy dialog's listeners: open it (shortcuts, ``/deploy APP --options``),
redraw it for another app, and take its submission.

``views.open`` is called as soon as the view is built (from the manifest and
the settings alone): a ``trigger_id`` lives 3 seconds. A submission is
answered in its HTTP response: errors under the inputs at fault, or an empty
answer that closes the modal, after which it goes the way a typed ``/deploy``
goes (``Listeners.dispatch``), with the submitter as the requester.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.commands import Command, DialogCommand
from bot.handler import Caller, CommandHandler
from bot.slack.blocks import slack_text
from bot.slack.dialog import DialogError, check, open_view
from bot.slack.dialog_view import block_id
from bot.slack.posters import Poster

log = logging.getLogger(__name__)

GLOBAL_SHORTCUT = "shipbot_deploy_options"  # callback ids, as in slack-app.yml
MESSAGE_SHORTCUT = "shipbot_deploy_options_message"

Answer = Callable[[str, list[dict[str, Any]] | None], None]
Dispatch = Callable[..., None]


class DialogListeners:
    def __init__(self, *, handler: CommandHandler, poster: Poster, dispatch: Dispatch) -> None:
        self._handler = handler
        self._poster = poster
        self._dispatch = dispatch  # Listeners.dispatch(parsed, caller, text, answer=, say=)

    def open_from_command(
        self,
        ack: Ack,
        parsed: DialogCommand,
        caller: Caller,
        command: dict[str, Any],
        client: WebClient,
    ) -> None:
        try:
            view = open_view(
                self._handler, user=caller.user, channel=caller.channel, app=parsed.app
            )
        except DialogError as exc:
            ack(response_type="ephemeral", text=slack_text(str(exc)))
            return
        ack()
        if not self._open(client, str(command.get("trigger_id", "")), view) and caller.channel:
            self._poster.ephemeral(
                caller.channel, caller.user, "error: the deploy dialog could not be opened"
            )

    def shortcut(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """The global shortcut (no channel: the app's own) or the message shortcut."""
        ack()
        try:
            user = str(body["user"]["id"])
            channel = (body.get("channel") or {}).get("id")
            trigger = str(body["trigger_id"])
        except (KeyError, TypeError):
            log.info("ignored a malformed shortcut")
            return
        self._open(client, trigger, self._view_or_notice(user, channel, None))

    def app_changed(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Another app chosen: redraw the dialog with its servers, profiles and default."""
        ack()
        try:
            view, user = body["view"], str(body["user"]["id"])
            chosen = str(body["actions"][0]["selected_option"]["value"])
            meta = json.loads(view.get("private_metadata") or "{}")
            channel = meta.get("channel") if isinstance(meta, dict) else None
        except (KeyError, TypeError, IndexError, ValueError):
            log.info("ignored a malformed dialog action")
            return
        new = self._view_or_notice(user, channel, chosen)
        try:
            client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)
        except SlackApiError as exc:  # a newer redraw won ("hash_conflict"): keep that one
            log.info("dialog not redrawn: %s", exc.response.get("error"))

    def submission(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            user = str(body["user"]["id"])
            submitted = check(self._handler, view, user)
        except DialogError as exc:
            ack(response_action="errors", errors={block_id(exc.field): str(exc)})
            return
        except (KeyError, TypeError, AttributeError):
            ack(response_action="errors", errors={block_id("app"): "malformed; open it again"})
            return
        ack()
        channel = submitted.caller.channel or ""

        def tell(text: str, extra: list[dict[str, Any]] | None = None) -> None:
            self._poster.ephemeral(channel, user, text)

        command: Command = submitted.command
        self._dispatch(command, submitted.caller, submitted.text, answer=tell, say=tell)

    def _view_or_notice(self, user: str, channel: str | None, app: str | None) -> dict[str, Any]:
        """The dialog, or a modal that says why ``user`` cannot use it."""
        try:
            return open_view(self._handler, user=user, channel=channel, app=app)
        except DialogError as exc:
            return _notice(str(exc))

    def _open(self, client: WebClient, trigger_id: str, view: dict[str, Any]) -> bool:
        try:
            client.views_open(trigger_id=trigger_id, view=view)
            return True
        except SlackApiError as exc:  # e.g. expired_trigger_id
            log.warning("views.open failed: %s", exc.response.get("error"))
            return False


def _notice(text: str) -> dict[str, Any]:
    """A modal that only says why the dialog cannot be used."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Deploy with options"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": slack_text(text)}}],
    }
