"""``make bench``: serial vs parallel on the local fleet, measured side by side.

Each row is a real deploy (real processes, real SQLite journal) of N servers
whose deploy command sleeps a fixed time, so the ratio shows what the strategy
buys and the overhead column shows what shipbot itself costs per server.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from adapters.sqlite_store import SqliteStore
from benchmarks.table import print_table
from bot.wiring import Services
from strategies.manifest import parse_manifest
from strategies.plan import plan
from strategies.requests import DeployRequest


def manifest(root: Path, servers: int, sleep: float, wait: float) -> str:
    app = {
        "connection": {"type": "local", "root": str(root / "fleet")},
        "servers": [{"name": f"web{i}"} for i in range(1, servers + 1)],
        "deploy": {"commands": [f"sleep {sleep}", 'echo "$SHIPBOT_REF" > RELEASE']},
        "load_balancer": {
            "type": "memory",
            "configuration": {
                "wait_after_removing_servers": wait,
                "wait_after_adding_servers": wait,
            },
        },
    }
    return yaml.safe_dump({"apps": {"shop": app}})


def one(servers: int, sleep: float, wait: float, strategy: str, max_parallel: int = 0) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        services = Services(
            manifest=parse_manifest(manifest(root, servers, sleep, wait)),
            store=SqliteStore(root / "bench.db"),
        )
        services.store.set_setting("shop", "deploy.max_parallel", max_parallel, by="bench")
        request = DeployRequest(app="shop", requested_by="bench", strategy=strategy)  # type: ignore[arg-type]
        the_plan = plan(
            request, services.manifest.app("shop"), services.store.get_settings("shop"), {}
        )
        began = time.perf_counter()
        result = services.deployer("shop").run(the_plan)
        took = time.perf_counter() - began
        assert result.ok, result
        return took


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--wait", type=float, default=0.05)
    args = parser.parse_args()
    n, sleep, wait = args.servers, args.sleep, args.wait
    rows = [
        ("serial", one(n, sleep, wait, "serial"), n * (sleep + 2 * wait)),
        (
            f"parallel, max_parallel={max(1, n // 4)}",
            one(n, sleep, wait, "parallel", max(1, n // 4)),
            -(-n // max(1, n // 4)) * sleep,  # rounds of max_parallel servers
        ),
        ("parallel, all at once", one(n, sleep, wait, "parallel"), sleep),
    ]
    print_table(
        f"{n} local servers, deploy command sleeps {sleep}s, LB waits {wait}s each way", n, rows
    )


if __name__ == "__main__":
    main()
