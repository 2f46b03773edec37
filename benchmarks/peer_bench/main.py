"""The whole benchmark: fleet up, rounds, serial, start-up, report; everything stopped after."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from benchmarks.peer_bench import report
from benchmarks.peer_bench.fleet import BenchFleet
from benchmarks.peer_bench.jobs import DEPLOY, SLEEP, TRUE, Job
from benchmarks.peer_bench.machine import machine, versions
from benchmarks.peer_bench.measure import become_subreaper, stop_leftovers
from benchmarks.peer_bench.runner import Case, rounds
from benchmarks.peer_bench.shipbot_cli import plan_estimate, startup
from benchmarks.peer_bench.shipbot_target import ShipbotTarget
from benchmarks.peer_bench.tools import Ansible, PeerScript, Run, Shipbot, Tool
from benchmarks.peer_bench.write import results_markdown

JOB_NAMES = {"sleep": SLEEP, "true": TRUE, "deploy": DEPLOY}
PER_COMMAND = " (conn per command)"
SERIAL_WAIT = 0.1  # the serial run with a load balancer: this wait after removing and adding


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tools(target: ShipbotTarget, wanted: set[str] | None) -> tuple[list[Tool], list[Tool]]:
    """(tools for every job, extra per-command variants for multi-command jobs)."""
    every: list[Tool] = [
        Shipbot("shipbot --parallel", target),
        PeerScript("paramiko + threads", "paramiko_threads.py"),
        PeerScript("fabric ThreadingGroup", "fabric_group.py"),
        PeerScript("asyncssh + gather", "asyncssh_gather.py"),
        PeerScript("parallel-ssh", "pssh_parallel.py"),
        Ansible("ansible raw -f N"),
    ]
    extra: list[Tool] = [
        Shipbot("shipbot --parallel" + PER_COMMAND, target, per_command=True),
        PeerScript("paramiko + threads" + PER_COMMAND, "paramiko_threads.py", per_command=True),
    ]

    def chosen(tool: Tool) -> bool:
        return wanted is None or any(w in tool.name.split()[0].lower() for w in wanted)

    return [t for t in every if chosen(t)], [t for t in extra if chosen(t)]


def cases(sizes: list[int], jobs: list[Job], every: list[Tool], extra: list[Tool]) -> list[Case]:
    found = []
    for size in sizes:
        for job in jobs:
            found += [Case(size, job, t) for t in every]
            if job.multi:
                found += [Case(size, job, t) for t in extra]
    return found


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, work: Path, command: str, began: float) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    subreaper = become_subreaper()
    target = ShipbotTarget.resolve(args.shipbot_python, args.shipbot_checkout)
    sizes = [int(s) for s in str(args.sizes).split(",") if s]
    jobs = [JOB_NAMES[j.strip()] for j in str(args.jobs).split(",") if j.strip()]
    wanted = None if args.tools == "all" else {t.strip().lower() for t in args.tools.split(",")}
    every, extra = tools(target, wanted)
    all_cases = cases(sizes, jobs, every, extra)
    serial = Shipbot("shipbot --serial", target, strategy="serial")
    serial_lb = Shipbot(
        f"shipbot --serial, LB waits {SERIAL_WAIT:g}s",
        target,
        strategy="serial",
        lb_wait=SERIAL_WAIT,
    )
    serial_lb0 = Shipbot("shipbot --serial, LB waits 0s", target, strategy="serial", lb_wait=0)
    if args.serial_size > 0:
        all_cases += [
            Case(args.serial_size, TRUE, tool) for tool in (serial, serial_lb0, serial_lb)
        ]
    load_below = args.load_below or 0.75 * (os.cpu_count() or 1)
    size = max([c.size for c in all_cases])
    say(f"starting {size} sshd (one per port) ...")
    fleet = BenchFleet.start(size, work)
    try:
        say("\n".join(fleet.shell_notes()))
        outcomes, loads = rounds(
            all_cases,
            fleet,
            work,
            args.rounds,
            load_below=load_below,
            timeout=args.timeout,
            say=say,
        )
        say("start-up and plan timings ...")
        probe = work / "probe"
        probe.mkdir()
        probe_run = Run(fleet, fleet.first(max(args.serial_size, 1)), TRUE, "main", probe, 60)
        serial_lb.prepare(probe_run)  # writes the manifest; the db exists from the rounds
        manifest, db = probe / "manifest.yml", serial_lb.db(probe_run)
        estimate = plan_estimate(target, manifest, db, probe)
        serial.prepare(probe_run)
        manifest, db = probe / "manifest.yml", serial.db(probe_run)
        starts = startup(target, manifest, db, probe, args.startup_reps)
    finally:
        fleet.stop()
        stop_leftovers(())
    serial_outcomes = tuple(
        outcomes.get((args.serial_size, TRUE.name, tool.name))
        for tool in (serial, serial_lb0, serial_lb)
    )
    text = results_markdown(
        outcomes=[
            o for o in outcomes.values() if o.case.tool not in (serial, serial_lb0, serial_lb)
        ],
        serial=serial_outcomes,
        estimate=estimate,
        starts=starts,
        loads=loads,
        machine=machine(),
        versions=versions(),
        target=target.describe(),
        command=command,
        began=began,
        finished=time.time(),
        load_below=load_below,
        subreaper=subreaper,
        notes=fleet.shell_notes(),
        reuse=report.reuse_lines(list(outcomes.values())),
    )
    print(text)
    if not args.no_write:
        args.output.write_text(text)
        say(f"written to {args.output}")
    failed = [o for o in outcomes.values() if not o.ok]
    return 1 if failed else 0
