"""``python -m benchmarks.slack_calls``: how many Slack Web API calls a deploy makes.

Real deploys on the local fleet (memory load balancer), rendered by the real
deploy thread and poster through a real WebClient into the local Slack fake;
the fake counts the calls by method. The counts grow with the deploy's
duration (one batched reply per flush interval, one parent update per second
at most), so the duration is printed next to them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from slack_sdk import WebClient

from adapters.sqlite_store import SqliteStore
from benchmarks.__main__ import manifest
from bot.slack.poster import SlackPoster
from bot.slack.thread import SlackDeployThread
from bot.wiring import Services
from strategies.manifest import parse_manifest
from strategies.plan import plan
from strategies.requests import DeployRequest
from tests.infra.slack import SlackFake


def count(servers: int, strategy: str, sleep: float, wait: float) -> tuple[Counter[str], float]:
    fake = SlackFake().start()
    poster = SlackPoster(WebClient(base_url=fake.url, token="xoxb-bench"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            services = Services(
                manifest=parse_manifest(manifest(root, servers, sleep, wait)),
                store=SqliteStore(root / "bench.db"),
            )
            request = DeployRequest(app="shop", requested_by="bench", strategy=strategy)  # type: ignore[arg-type]
            the_plan = plan(request, services.manifest.app("shop"), {}, {})
            thread = SlackDeployThread(poster, "C0BENCH", the_plan)
            began = time.perf_counter()
            result = services.deployer("shop").run(the_plan, listeners=[thread])
            took = time.perf_counter() - began
            assert result.ok, result
            poster.close()
        return Counter(call.method for call in fake.calls), took
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slack_calls")
    parser.add_argument("--sleep", type=float, default=1.0, help="deploy command duration")
    parser.add_argument("--wait", type=float, default=0.5, help="each load balancer wait")
    args = parser.parse_args()
    print(f"deploy command sleeps {args.sleep}s, LB waits {args.wait}s each way (serial only)")
    print(f"{'deploy':28} {'wall':>7} {'postMessage':>12} {'update':>7} {'total':>6}")
    for servers, strategy in ((3, "serial"), (50, "parallel")):
        calls, took = count(servers, strategy, args.sleep, args.wait)
        name = f"{servers} servers, {strategy}"
        print(
            f"{name:28} {took:6.1f}s {calls['chat.postMessage']:12} "
            f"{calls['chat.update']:7} {sum(calls.values()):6}"
        )


if __name__ == "__main__":
    main()
