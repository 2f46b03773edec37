"""The deploy thread: real deploys on the local fleet, rendered through the
real poster and a real WebClient into the Slack fake over HTTP."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.slack import blocks as kit
from bot.slack.message import MessageRef
from bot.slack.poster import SlackPoster
from bot.slack.thread import SlackDeployThread, outcome_table
from bot.wiring import Services
from strategies.plan import DeployPlan, plan
from strategies.requests import DeployRequest
from strategies.results import DeployResult, ServerOutcome
from tests.conftest import fleet_file
from tests.infra.settings import put_setting
from tests.infra.slack import Call, SlackFake

Build = Callable[..., Services]
CHANNEL = "C0DEPLOYS"
FAIL_ON_WEB2 = (
    'if [ "$SHIPBOT_SERVER" = web2 ]; then echo "compiling assets"; '
    'echo "error: <!channel> disk full" >&2; exit 3; fi; echo ok > RELEASE'
)
LONG_OUTPUT = "head -c 9990 /dev/zero | tr '\\0' x; echo THE-END; exit 1"


@pytest.fixture
def poster(slack_fake: SlackFake) -> Iterator[SlackPoster]:
    made = SlackPoster(WebClient(base_url=slack_fake.url, token="xoxb-test"))
    yield made
    made.close(timeout=10)


def plan_for(services: Services, strategy: str = "serial") -> DeployPlan:
    request = DeployRequest(app="shop", requested_by="U0ALICE", strategy=strategy)  # type: ignore[arg-type]
    store = services.store
    app = services.manifest.app("shop")
    return plan(request, app, store.get_settings("shop"), store.applied_waits("shop"))


def run_deploy(
    services: Services,
    poster: SlackPoster,
    strategy: str = "serial",
    parent: MessageRef | None = None,
) -> tuple[DeployResult, SlackDeployThread]:
    the_plan = plan_for(services, strategy)
    thread = SlackDeployThread(poster, CHANNEL, the_plan, parent=parent)
    result = services.deployer("shop").run(the_plan, listeners=[thread])
    assert poster.flush(timeout=30)
    return result, thread


def texts(call: Call) -> str:
    """Everything a person sees in a recorded message: fallback and block texts."""
    found = [call.body.get("text", "")]
    for block in call.body.get("blocks", []):
        found.append(block.get("text", {}).get("text", ""))
        for element in block.get("elements", []):
            text = element.get("text", "")
            found.append(text.get("text", "") if isinstance(text, dict) else text)
    return "\n".join(found)


def assert_within_slack_limits(calls: list[Call]) -> None:
    for call in calls:
        assert call.body.get("text"), f"{call.method} without a text fallback"
        blocks = call.body.get("blocks", [])
        assert len(blocks) <= kit.MAX_BLOCKS
        assert all(len(b.get("text", {}).get("text", "")) <= kit.MAX_TEXT for b in blocks)


def test_serial_deploy_is_one_parent_with_everything_threaded_under_it(
    services: Build, workdir: Path, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    result, thread = run_deploy(services(servers=3), poster)

    assert result.ok
    assert fleet_file(workdir, "web3").read_text() == "shop web3 main\n"
    posts = slack_fake.calls_to("chat.postMessage")
    parent, replies = posts[0], posts[1:]
    assert thread.parent is not None and "thread_ts" not in parent.body
    assert "Deploy #" in texts(parent) and "<@U0ALICE>" in texts(parent)
    assert "extra time from load balancer waits" in texts(parent)
    assert replies and {r.body["thread_ts"] for r in replies} == {thread.parent.ts()}
    progress = "\n".join(texts(r) for r in replies[:-1])
    assert "web1: removed from the load balancer" in progress
    assert "web1: migrations ran once, ok" in progress
    summary = texts(replies[-1])
    assert f"Deploy #{result.deploy_id} of shop succeeded" in summary
    for server in ("web1", "web2", "web3"):
        assert f"{server}  " in summary
    assert summary.count("in the load balancer") == 3

    updates = slack_fake.calls_to("chat.update")
    assert {u.body["ts"] for u in updates} == {thread.parent.ts()}
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(updates))
    final = texts(updates[-1])
    assert "▰▰▰ 3/3" in final and "succeeded" in final
    assert_within_slack_limits(slack_fake.calls)


def test_a_failure_is_replied_with_its_output_tail_in_a_code_block(
    services: Build, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    result, _ = run_deploy(services(servers=3, commands=[FAIL_ON_WEB2]), poster)

    assert result.status == "failed"
    replies = slack_fake.calls_to("chat.postMessage")[1:]
    failure = next(r for r in replies if "web2: FAILED" in texts(r))
    code = [b["text"]["text"] for b in failure.body["blocks"] if "```" in b["text"]["text"]]
    assert code == ["```\ncompiling assets\nerror: &lt;!channel&gt; disk full\n```"]
    summary = texts(replies[-1])
    assert "FAILED" in summary and "OUT of the load balancer" in summary
    assert "untouched" in summary  # web3 never started
    final = texts(slack_fake.calls_to("chat.update")[-1])
    assert "▰▰▰ 3/3" in final and "failed" in final
    assert_within_slack_limits(slack_fake.calls)


def test_long_output_is_cut_to_its_tail_with_a_note(
    services: Build, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    run_deploy(services(servers=1, commands=[LONG_OUTPUT], migrations=False), poster)

    replies = slack_fake.calls_to("chat.postMessage")[1:]
    failure = next(r for r in replies if "web1: FAILED" in texts(r))
    code = next(b["text"]["text"] for b in failure.body["blocks"] if "```" in b["text"]["text"])
    assert len(code) <= kit.MAX_TEXT
    assert "output truncated: the last" in code
    assert code.endswith("THE-END\n```")
    assert_within_slack_limits(slack_fake.calls)


def test_an_approval_request_becomes_the_parent(
    services: Build, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    built = services(servers=2)
    request = poster.post(CHANNEL, "approval needed", blocks=kit.plan_blocks(plan_for(built)))
    existing = MessageRef.existing(CHANNEL, request.ts(timeout=10))

    result, thread = run_deploy(built, poster, parent=existing)

    assert result.ok and thread.parent is existing
    posts = slack_fake.calls_to("chat.postMessage")
    assert [p.body["text"] for p in posts[:1]] == ["approval needed"]
    assert {p.body.get("thread_ts") for p in posts[1:]} == {existing.ts()}
    updates = slack_fake.calls_to("chat.update")
    assert {u.body["ts"] for u in updates} == {existing.ts()}
    assert "succeeded" in texts(updates[-1])


def test_a_closed_poster_never_stops_the_deploy(
    services: Build, workdir: Path, poster: SlackPoster
) -> None:
    poster.close()
    result, thread = run_deploy(services(servers=2), poster)
    assert result.ok and thread.parent is None
    assert fleet_file(workdir, "web2").read_text() == "shop web2 main\n"


def test_a_200_server_parallel_deploy_posts_tens_of_messages_not_hundreds(
    services: Build, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    built = services(
        servers=200, commands=["true"], wait_removing=0, wait_adding=0, migrations=False
    )
    put_setting(built.store, "shop", "deploy.max_parallel", 50, by="U0ALICE")
    result, thread = run_deploy(built, poster, strategy="parallel")

    assert result.ok and len(result.outcomes) == 200
    posts = slack_fake.calls_to("chat.postMessage")
    updates = slack_fake.calls_to("chat.update")
    assert len(posts) <= 40
    assert len(updates) <= result.duration + 2
    assert thread.parent is not None
    assert {p.body["thread_ts"] for p in posts[1:]} == {thread.parent.ts()}
    listed = "\n".join(texts(p) for p in posts[1:-1])
    assert all(f"web{n}: ok" in listed for n in range(1, 201))
    summary = texts(posts[-1])
    assert all(f"web{n}  " in summary for n in range(1, 201))
    assert "▰▰▰▰▰▰▰▰▰▰ 200/200" in texts(updates[-1])
    assert_within_slack_limits(slack_fake.calls)


def test_a_failure_storm_is_batched_with_every_output_kept(
    services: Build, slack_fake: SlackFake, poster: SlackPoster
) -> None:
    storm = 'echo "broken on $SHIPBOT_SERVER"; exit 2'
    built = services(servers=100, commands=[storm], migrations=False)
    result, _ = run_deploy(built, poster, strategy="parallel")

    assert len(result.failed) == 100
    posts = slack_fake.calls_to("chat.postMessage")
    assert len(posts) <= 40
    shown = "\n".join(texts(p) for p in posts[1:-1])
    assert all(f"```\nbroken on web{n}\n```" in shown for n in range(1, 101))
    assert_within_slack_limits(slack_fake.calls)


def test_blocks_respect_slack_limits() -> None:
    assert kit.progress_bar(3, 5) == "▰▰▰▱▱ 3/5"
    assert kit.progress_bar(100, 200) == "▰▰▰▰▰▱▱▱▱▱ 100/200"
    assert kit.progress_bar(0, 3) == "▱▱▱ 0/3"

    long = kit.section("y" * 5000)["text"]["text"]
    assert len(long) <= kit.MAX_TEXT and "more characters not shown" in long

    many = kit.fit([kit.section(str(n)) for n in range(120)])
    assert len(many) == kit.MAX_BLOCKS
    assert "71 more blocks not shown" in json.dumps(many[-1])

    code = kit.code("```\n<@U1> & friends")["text"]["text"]
    assert code.count("```") == 2 and "&lt;@U1&gt; &amp; friends" in code

    packed = kit.sections([f"line {n:04d} " + "z" * 90 for n in range(100)], as_code=True)
    assert len(packed) == 4 and all(len(b["text"]["text"]) <= kit.MAX_TEXT for b in packed)
    assert "line 0099" in packed[-1]["text"]["text"]


def test_plan_blocks_show_who_how_and_the_waits(services: Build) -> None:
    the_plan = plan_for(services(servers=3), strategy="parallel")
    shown = "\n".join(json.dumps(b) for b in kit.plan_blocks(the_plan))
    for words in ("*shop* @ `main`", "<@U0ALICE>", "3 servers, all at once", "web1, web2, web3"):
        assert words in shown
    assert ":warning: this parallel deploy runs database migrations" in shown


def test_the_outcome_table_lines_up() -> None:
    rows = outcome_table(
        (
            ServerOutcome("web1", "ok", "in", duration=1.5),
            ServerOutcome("web10", "failed", "out", detail="`./deploy`: exit 3"),
            ServerOutcome("web3", "skipped", detail="web10 failed"),
        )
    )
    assert rows[0].split() == ["server", "outcome", "load", "balancer", "took"]
    column = rows[0].index("outcome")
    assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows)
    assert "in the load balancer" in rows[1]
    assert "FAILED (`./deploy`: exit 3)" in rows[2] and "OUT of the load balancer" in rows[2]
    assert "untouched (web10 failed)" in rows[3]
