"""``python -m benchmarks.ssh``: serial vs parallel over real SSH, side by side.

Starts N real sshd processes on loopback (the test fixtures' fleet: a non-root
deploy user, host keys verified), then deploys to them with the real
``SshExecutor``: serial (each server out of the in-memory load balancer and
back), parallel with ``max_parallel`` N/4, and parallel all at once. The deploy
command sleeps a fixed time, so the floor column is what the strategy cannot
avoid and the overhead column is SSH plus shipbot per server. Needs root (it
creates the deploy user), like the tests.
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
from tests.infra.sshd import Sshd, SshdFleet


def manifest(fleet: SshdFleet, servers: list[Sshd], known_hosts: Path, sleep: float) -> str:
    app = {
        "connection": {
            "type": "ssh",
            "user": fleet.username,
            "key_file": str(fleet.client_key),
            "known_hosts": str(known_hosts),
            "use_agent": False,
        },
        "servers": [{"name": s.name, "host": s.host, "port": s.port} for s in servers],
        "deploy": {"commands": [f"sleep {sleep}", "true"]},
        "load_balancer": {"type": "memory"},
    }
    return yaml.safe_dump({"apps": {"shop": app}})


def one(text: str, root: Path, strategy: str, max_parallel: int = 0) -> float:
    services = Services(
        manifest=parse_manifest(text), store=SqliteStore(root / f"{strategy}-{max_parallel}.db")
    )
    services.store.set_setting("shop", "deploy.max_parallel", max_parallel, by="bench")
    request = DeployRequest(app="shop", requested_by="bench", strategy=strategy)  # type: ignore[arg-type]
    the_plan = plan(request, services.manifest.app("shop"), services.store.get_settings("shop"), {})
    began = time.perf_counter()
    result = services.deployer("shop").run(the_plan)
    took = time.perf_counter() - began
    assert result.ok, result.outcomes
    return took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ssh")
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    n, sleep = args.servers, args.sleep
    fleet = SshdFleet.create()
    try:
        servers = fleet.servers(n)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            text = manifest(fleet, servers, fleet.write_known_hosts(root / "kh", servers), sleep)
            width = max(1, n // 4)
            rows = [
                ("serial", one(text, root, "serial"), n * sleep),
                (
                    f"parallel, max_parallel={width}",
                    one(text, root, "parallel", width),
                    -(-n // width) * sleep,
                ),
                ("parallel, all at once", one(text, root, "parallel"), sleep),
            ]
    finally:
        fleet.stop()
    print_table(
        f"{n} sshd servers on loopback, deploy command sleeps {sleep}s, no LB waits", n, rows
    )


if __name__ == "__main__":
    main()
