"""The outgoing pipeline over real HTTP: a real WebClient against the Slack fake."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack.message import MessageNotPosted, MessageRef
from bot.slack.poster import SlackPoster
from bot.slack.posters import ChannelPosters
from tests.infra.slack import SlackFake

MakePoster = Callable[..., SlackPoster]


@pytest.fixture
def make_poster(slack_fake: SlackFake) -> Iterator[MakePoster]:
    made: list[SlackPoster] = []

    def make(**options: Any) -> SlackPoster:
        poster = SlackPoster(WebClient(base_url=slack_fake.url, token="xoxb-test"), **options)
        made.append(poster)
        return poster

    yield make
    for poster in made:
        poster.close(timeout=10)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_calls_go_out_in_order_and_replies_carry_the_parent_ts(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster(posts_per_second=100)
    parent = poster.post("C1", "parent", blocks=[section("*parent*")])
    for n in range(8):
        poster.post("C1", f"reply {n}", thread=parent)
    poster.ephemeral("C1", "U1", "just you", thread=parent)
    poster.react(parent, "rocket")
    assert poster.flush(timeout=20)

    calls = slack_fake.calls
    assert [c.body.get("text") for c in calls[:10]] == [
        "parent",
        *[f"reply {n}" for n in range(8)],
        "just you",
    ]
    assert calls[0].body["blocks"] == [section("*parent*")]
    assert "thread_ts" not in calls[0].body
    assert {c.body["thread_ts"] for c in calls[1:10]} == {parent.ts()}
    assert calls[10].method == "reactions.add"
    assert calls[10].body == {"channel": "C1", "name": "rocket", "timestamp": parent.ts()}


def test_post_returns_at_once_and_the_ts_resolves_on_delivery(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    slack_fake.fail_next("chat.postMessage", retry_after=1)
    ref = poster.post("C1", "hello")
    assert ref.peek() is None  # the 429 is still being waited out
    ts = ref.ts(timeout=10)
    poster.update(ref, "hello again")
    assert poster.flush(timeout=10)
    assert [c.body["ts"] for c in slack_fake.calls_to("chat.update")] == [ts]


def test_429_with_retry_after_delivers_late_once_and_drops_nothing(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    slack_fake.fail_next("chat.postMessage", retry_after=1)
    refs = [poster.post("C1", f"message {n}") for n in range(3)]
    assert poster.flush(timeout=20)

    failed = slack_fake.calls_to("chat.postMessage#failed")
    posted = slack_fake.calls_to("chat.postMessage")
    assert [c.body["text"] for c in failed] == ["message 0"]
    assert [c.body["text"] for c in posted] == ["message 0", "message 1", "message 2"]
    assert posted[0].at - failed[0].at >= 1.0
    assert len({ref.ts() for ref in refs}) == 3


def test_fifty_quick_updates_are_coalesced_and_the_last_one_arrives(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    message = poster.post("C1", "progress 0")
    started = time.monotonic()
    for n in range(1, 51):
        poster.update(message, f"progress {n}", blocks=[section(f"*{n}*/50")])
        time.sleep(0.03)  # a deploy emitting progress, not synchronisation
    assert poster.flush(timeout=20)
    elapsed = time.monotonic() - started

    updates = slack_fake.calls_to("chat.update")
    assert 1 <= len(updates) <= elapsed + 1
    assert all(later.at - earlier.at >= 1.0 for earlier, later in itertools.pairwise(updates))
    assert updates[-1].body["text"] == "progress 50"
    assert updates[-1].body["blocks"] == [section("*50*/50")]
    assert {c.body["ts"] for c in updates} == {message.ts()}


def test_updates_of_different_messages_do_not_hold_each_other_back(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster(update_interval=30)
    first, second = poster.post("C1", "a"), poster.post("C2", "b")
    poster.update(first, "a1")
    poster.update(second, "b1")
    assert poster.flush(timeout=10)  # both are first updates: neither waits 30 s
    assert sorted(c.body["text"] for c in slack_fake.calls_to("chat.update")) == ["a1", "b1"]


def test_close_delivers_a_final_update_held_back_by_the_interval(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    message = poster.post("C1", "running")
    poster.update(message, "running 1/2")
    assert poster.flush(timeout=10)
    poster.update(message, "succeeded 2/2")
    poster.close(timeout=10)

    texts = [c.body["text"] for c in slack_fake.calls_to("chat.update")]
    assert texts == ["running 1/2", "succeeded 2/2"]
    with pytest.raises(RuntimeError, match="closed"):
        poster.post("C1", "too late")


def test_chat_post_message_is_paced_per_channel_after_a_burst(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster(posts_per_second=4, post_burst=2)
    for n in range(6):
        poster.post("C1", f"m{n}")
    poster.post("C2", "other channel")
    assert poster.flush(timeout=20)

    posts = slack_fake.calls_to("chat.postMessage")
    c1 = [c.at for c in posts if c.body["channel"] == "C1"]
    # A token bucket: between any two arrivals i < j, no more than the burst
    # plus what the rate refilled (call i arrives before call i+1 is sent).
    assert all(j - i <= 2 + 4 * (c1[j] - c1[i]) for i, j in itertools.combinations(range(6), 2))
    assert c1[5] - c1[0] >= 0.75
    assert len(posts) == 7


def test_a_refused_message_fails_its_ref_and_the_pipeline_carries_on(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    lost = poster.post("", "nowhere")  # Slack: channel_not_found
    poster.update(lost, "still nowhere")
    poster.post("C1", "orphan reply", thread=lost)
    after = poster.post("C1", "after")
    assert poster.flush(timeout=10)

    with pytest.raises(MessageNotPosted):
        lost.ts(timeout=1)
    assert after.ts(timeout=1)
    assert slack_fake.calls_to("chat.update") == []
    orphan = [
        c for c in slack_fake.calls_to("chat.postMessage") if c.body["text"] == "orphan reply"
    ]
    assert len(orphan) == 1 and "thread_ts" not in orphan[0].body


def test_refused_blocks_are_resent_as_text(slack_fake: SlackFake, make_poster: MakePoster) -> None:
    poster = make_poster()
    ref = poster.post("C1", "the words", blocks=[section("x")] * 51)
    assert ref.ts(timeout=10)
    attempts = slack_fake.calls_to("chat.postMessage")
    assert len(attempts) == 2 and "blocks" not in attempts[1].body
    assert attempts[1].body["text"] == "the words"


def test_server_errors_are_retried_a_bounded_number_of_times(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster(attempts=2)
    slack_fake.fail_next("chat.postMessage", status=500, times=1)
    recovered = poster.post("C1", "second try")
    assert recovered.ts(timeout=10)

    slack_fake.fail_next("chat.postMessage", status=503, times=2)
    abandoned = poster.post("C1", "never")
    survivor = poster.post("C1", "next")
    assert survivor.ts(timeout=10)
    with pytest.raises(MessageNotPosted):
        abandoned.ts(timeout=1)
    assert len(slack_fake.calls_to("chat.postMessage#failed")) == 3


def test_an_existing_message_can_be_updated_and_reacted_to(
    slack_fake: SlackFake, make_poster: MakePoster
) -> None:
    poster = make_poster()
    request = MessageRef.existing("C1", "1600000000.000001")
    poster.update(request, "approved")
    poster.react(request, "white_check_mark")
    poster.post("C1", "deploying", thread=request)
    assert poster.flush(timeout=10)

    assert [
        (c.method, c.body.get("ts") or c.body.get("timestamp") or c.body.get("thread_ts"))
        for c in slack_fake.calls
    ] == [
        ("chat.update", "1600000000.000001"),
        ("reactions.add", "1600000000.000001"),
        ("chat.postMessage", "1600000000.000001"),
    ]


def test_a_rate_limited_channel_does_not_hold_back_another(slack_fake: SlackFake) -> None:
    posters = ChannelPosters(WebClient(base_url=slack_fake.url, token="xoxb-test"))
    try:
        slack_fake.fail_next("chat.postMessage", retry_after=2)
        busy = posters.post("C0BUSY", "held back by a 429")
        slack_fake.wait_for(lambda calls: any(c.method.endswith("#failed") for c in calls))
        other = posters.post("C0OTHER", "goes at once")
        reply = posters.post("C0OTHER", "in its thread", thread=other)
        assert posters.flush(timeout=20)
    finally:
        posters.close(timeout=10)

    delivered = [c for c in slack_fake.calls if c.method == "chat.postMessage"]
    assert [c.body["text"] for c in delivered] == [
        "goes at once",
        "in its thread",
        "held back by a 429",
    ]
    failed_at = slack_fake.calls[0].at
    assert delivered[0].at - failed_at < delivered[2].at - failed_at
    assert delivered[2].at - failed_at >= 2  # the busy channel still honoured Retry-After
    assert delivered[1].body["thread_ts"] == other.ts() and busy.ts() != other.ts()
    assert reply.ts()
