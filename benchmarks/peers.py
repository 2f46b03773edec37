"""``python -m benchmarks.peers``: shipbot against peer SSH tools on a loopback sshd fleet.

Every tool runs as a whole process from a cold start (one subprocess per run):
shipbot's CLI, paramiko + threads, fabric ThreadingGroup, asyncssh + gather,
parallel-ssh and ansible. Rounds are interleaved (every case once per round),
the table shows medians, and it is written to benchmarks/RESULTS.md with the
machine, the versions and the exact command. Needs root (it creates the
benchmark's deploy user and starts sshd), and the bench extras:
``pip install -e '.[bench]'`` (``make bench`` does it).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import tempfile
import time
from pathlib import Path

MODULES = {  # import name -> the package that provides it
    "paramiko": "paramiko",
    "fabric": "fabric",
    "asyncssh": "asyncssh",
    "pssh": "parallel-ssh",
    "ansible": "ansible-core",
    "yaml": "PyYAML",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def missing_modules() -> list[str]:
    return [package for name, package in MODULES.items() if importlib.util.find_spec(name) is None]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description="Time shipbot against paramiko, fabric, asyncssh, parallel-ssh and ansible "
        "on a loopback sshd fleet (one sshd per port), each tool a whole process per run.",
    )
    parser.add_argument("--sizes", default="50,200", help="fleet sizes N (default 50,200)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--jobs",
        default="sleep,true,deploy",
        help="jobs: sleep ('sleep 1; echo done'), true, deploy (3 commands); default all",
    )
    parser.add_argument(
        "--tools",
        default="all",
        help="comma list of tools to run (shipbot,paramiko,fabric,asyncssh,pssh,ansible)",
    )
    parser.add_argument("--serial-size", type=int, default=20, help="N of the serial run")
    parser.add_argument("--startup-reps", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="N=10, 1 round, 3 start-up reps")
    parser.add_argument("--shipbot-python", help="python that runs the shipbot under test")
    parser.add_argument("--shipbot-checkout", help="checkout of the shipbot under test")
    parser.add_argument("--load-below", type=float, default=None, help="default 0.75 x nproc")
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the results go")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.startup_reps = "10", 1, 3
        args.serial_size = min(args.serial_size, 10)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_modules()
    if missing:
        print(
            f"benchmarks.peers: missing {', '.join(missing)}; install the bench extras: "
            f"{sys.executable} -m pip install -e '.[bench]' (make bench does)",
            file=sys.stderr,
        )
        return 2
    from benchmarks.peer_bench.main import run

    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.peers", *sys.argv[1:]])
    if argv is not None:
        command = shlex.join(["python", "-m", "benchmarks.peers", *argv])
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="shipbot-peers-") as tmp:
        return run(args, Path(tmp), command, began)


if __name__ == "__main__":
    sys.exit(main())
