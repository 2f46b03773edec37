"""The Slack Web API fake, driven by a real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.infra.slack import SlackFake


def client(fake: SlackFake) -> WebClient:
    return WebClient(base_url=fake.url, token="xoxb-test")


def test_auth_test_answers_the_bot_identity(slack_fake: SlackFake) -> None:
    answer = client(slack_fake).auth_test()
    assert answer["user_id"] == "U0SHIPBOT" and answer["bot_id"] == "B0SHIPBOT"
    assert [c.method for c in slack_fake.calls] == ["auth.test"]
    assert slack_fake.calls[0].path == "/api/auth.test"


def test_post_message_gets_unique_increasing_ts_and_is_recorded_with_its_json_body(
    slack_fake: SlackFake,
) -> None:
    web = client(slack_fake)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = web.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    second = web.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])

    assert first["channel"] == "C1" and first["message"]["text"] == "hi"
    assert float(second["ts"]) > float(first["ts"])
    assert second["message"]["thread_ts"] == first["ts"]
    posts = slack_fake.calls_to("chat.postMessage")
    assert posts[0].body == {"channel": "C1", "text": "hi", "blocks": blocks}
    assert posts[1].body["thread_ts"] == first["ts"]
    assert posts[0].at <= posts[1].at


def test_update_ephemeral_and_reaction_answer_in_slack_shapes(slack_fake: SlackFake) -> None:
    web = client(slack_fake)
    ts = web.chat_postMessage(channel="C1", text="v1")["ts"]
    updated = web.chat_update(channel="C1", ts=ts, text="v2")
    ephemeral = web.chat_postEphemeral(channel="C1", user="U1", text="only you")
    reaction = web.reactions_add(channel="C1", timestamp=ts, name="eyes")

    assert (updated["ts"], updated["text"]) == (ts, "v2")
    assert ephemeral["message_ts"]
    assert reaction["ok"] is True
    # reactions.add goes as a form post: the fields are decoded.
    assert slack_fake.calls_to("reactions.add")[0].body == {
        "channel": "C1",
        "timestamp": ts,
        "name": "eyes",
    }


def test_form_posted_blocks_stay_a_json_string(slack_fake: SlackFake) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]
    client(slack_fake).api_call(
        "chat.postMessage", params={"channel": "C1", "text": "x", "blocks": json.dumps(blocks)}
    )
    body = slack_fake.calls_to("chat.postMessage")[0].body
    assert json.loads(body["blocks"]) == blocks


def test_what_slack_refuses_is_refused(slack_fake: SlackFake) -> None:
    web = client(slack_fake)
    too_many = [{"type": "divider"}] * 51
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"channel": "", "text": "x"}, "channel_not_found"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "text": "x", "blocks": too_many}, "invalid_blocks"),
        ({"channel": "C1", "text": "x", "blocks": too_long}, "invalid_blocks"),
    ]
    for kwargs, error in cases:
        with pytest.raises(SlackApiError) as refused:
            web.api_call("chat.postMessage", json=kwargs)
        assert refused.value.response["error"] == error


def test_fail_next_answers_429_with_retry_after_then_recovers(slack_fake: SlackFake) -> None:
    web = client(slack_fake)
    slack_fake.fail_next("chat.postMessage", retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as limited:
            web.chat_postMessage(channel="C1", text="x")
        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "3"
        assert limited.value.response["error"] == "ratelimited"
    assert web.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.method for c in slack_fake.calls] == [
        "chat.postMessage#failed",
        "chat.postMessage#failed",
        "chat.postMessage",
    ]


def test_response_url_posts_are_recorded(slack_fake: SlackFake) -> None:
    url = slack_fake.response_url("abc")
    answer = WebhookClient(url).send(
        text="Planning deploy of shop (serial)…", response_type="ephemeral"
    )
    assert answer.status_code == 200 and answer.body == "ok"
    call = slack_fake.calls_to("response_url")[0]
    assert call.path == "/response/abc"
    assert call.body["text"] == "Planning deploy of shop (serial)…"


def test_wait_for_polls_until_the_condition_and_fails_loudly_with_the_calls(
    slack_fake: SlackFake,
) -> None:
    def later() -> None:
        time.sleep(0.2)
        urllib.request.urlopen(
            urllib.request.Request(f"{slack_fake.url}chat.postMessage", data=b"channel=C1&text=x")
        ).read()

    thread = threading.Thread(target=later)
    thread.start()
    calls = slack_fake.wait_for(lambda calls: len(calls) == 1, timeout=10)
    thread.join()
    assert calls[0].body == {"channel": "C1", "text": "x"}

    with pytest.raises(AssertionError, match=r"chat\.postMessage"):
        slack_fake.wait_for(lambda calls: len(calls) == 2, timeout=0.1)


def test_reset_forgets_calls_and_pending_failures(slack_fake: SlackFake) -> None:
    web = client(slack_fake)
    web.auth_test()
    slack_fake.fail_next("auth.test")
    slack_fake.reset()
    assert slack_fake.calls == []
    assert web.auth_test()["ok"]
