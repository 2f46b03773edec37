"""Slack as a ``FrontEnd`` of the command handler: who sees which answer.

Replies and refusals go only to the person who typed the command (ephemeral);
a deploy is shown to the channel as a thread (``SlackDeployThread``).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.slack.blocks import slack_text
from bot.slack.message import MessageRef
from bot.slack.pictures import DeployPictures
from bot.slack.posters import Poster
from bot.slack.thread import SlackDeployThread
from strategies.events import Listener
from strategies.plan import DeployPlan
from strategies.store import DeployHistory


def unescape(text: str) -> str:
    """Slash command text arrives with ``& < >`` escaped; undo exactly that."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def as_message(text: str) -> str:
    """One line as it is; several (history, settings list) in a code block."""
    text = slack_text(text)
    return f"```{text}```" if "\n" in text else text


class SlackFrontEnd:
    """A slash command's answers: ephemeral via ``say`` (the response_url or
    ``chat.postEphemeral``); its deploy threaded in ``channel``, under ``parent``
    when that is an approval request being turned into the deploy's message."""

    def __init__(
        self,
        *,
        say: Callable[[str], object],
        poster: Poster,
        channel: str,
        parent: MessageRef | None = None,
        note: str | None = None,
        on_parent: Callable[[int, MessageRef], None] | None = None,
        pictures: DeployPictures | None = None,
    ) -> None:
        self._say = say
        self._pictures = pictures
        self._poster = poster
        self._channel = channel
        self._parent = parent
        self._note = note
        self._on_parent = on_parent

    def reply(self, text: str) -> None:
        self._say(as_message(text))

    def error(self, text: str) -> None:
        self._say(as_message(text))

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        thread = SlackDeployThread(
            self._poster,
            self._channel,
            plan,
            parent=self._parent,
            note=self._note,
            on_parent=self._on_parent,
        )
        if self._pictures is None:
            return [thread]
        return [thread, self._pictures.listener(self._poster, self._channel, thread)]


def remember_thread(store: DeployHistory) -> Callable[[int, MessageRef], None]:
    """An ``on_parent`` that records where each deploy is shown, once it is posted."""

    def remember(deploy_id: int, parent: MessageRef) -> None:
        parent.when_posted(lambda ts: store.set_deploy_thread(deploy_id, parent.channel, ts))

    return remember


class CollectingFrontEnd:
    """Collects the answers of a quick command, so they can be the ack itself."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def reply(self, text: str) -> None:
        self.lines.append(text)

    def error(self, text: str) -> None:
        self.lines.append(text)

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        raise RuntimeError("a deploy is never run while acknowledging a command")

    @property
    def text(self) -> str:
        return as_message("\n".join(self.lines))
