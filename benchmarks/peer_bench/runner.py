"""Rounds: every case once per round (interleaved), each run measured and checked."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.peer_bench.fleet import BenchFleet
from benchmarks.peer_bench.jobs import Job
from benchmarks.peer_bench.measure import Measured, run_measured, wait_for_quiet
from benchmarks.peer_bench.tools import Run, Tool


@dataclass(frozen=True)
class Case:
    size: int
    job: Job
    tool: Tool

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.size, self.job.name, self.tool.name)


@dataclass(frozen=True)
class Sample:
    measured: Measured
    failed: list[str]  # servers (or whole-run reasons) that did not run the job
    logins_per_server: float

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Outcome:
    case: Case
    samples: list[Sample] = field(default_factory=list)

    def median(self, pick: Callable[[Sample], float]) -> float:
        return statistics.median(pick(s) for s in self.samples)

    @property
    def walls(self) -> list[float]:
        return [s.measured.wall for s in self.samples]

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.ok for s in self.samples)


@dataclass(frozen=True)
class RoundLoad:
    round: int
    load1: float
    waited: float


def run_once(
    case: Case,
    fleet: BenchFleet,
    work: Path,
    ref: str,
    timeout: float,
    say: Callable[[str], None],
) -> Sample:
    folder = work / "runs" / ref
    folder.mkdir(parents=True)
    run = Run(fleet, fleet.first(case.size), case.job, ref, folder, timeout)
    invocation = case.tool.prepare(run)
    before = fleet.logins(case.size)
    measured = run_measured(
        invocation.argv,
        env=invocation.env,
        cwd=invocation.cwd,
        timeout=timeout,
        keep=fleet.pids,
    )
    after = fleet.logins(case.size)
    failed = case.tool.failures(run, measured)
    if failed:
        say(
            f"  FAILED {case.tool.name} N={case.size} {case.job.name}: exit "
            f"{measured.returncode}, failed {failed[:5]}\n  --- stdout (end)\n"
            f"{measured.stdout[-600:]}\n  --- stderr (end)\n{measured.stderr[-600:]}"
        )
    shutil.rmtree(folder, ignore_errors=True)
    logins = sum(a - b for a, b in zip(after, before, strict=True)) / case.size
    return Sample(measured, failed, logins)


def rounds(
    cases: list[Case],
    fleet: BenchFleet,
    work: Path,
    count: int,
    *,
    load_below: float,
    timeout: float,
    say: Callable[[str], None],
) -> tuple[dict[tuple[int, str, str], Outcome], list[RoundLoad]]:
    outcomes = {c.key: Outcome(c) for c in cases}
    loads: list[RoundLoad] = []
    for number in range(1, count + 1):
        load, waited = wait_for_quiet(load_below)
        loads.append(RoundLoad(number, load, waited))
        say(f"round {number}/{count}: load {load:.2f} (waited {waited:.0f}s)")
        # Rotate the order within each group so no tool always runs first after a pause.
        for offset, case in enumerate(_rotated(cases, number - 1)):
            ref = f"r{number}-{offset}-{int(time.time() * 1000) % 100000}"
            sample = run_once(case, fleet, work, ref, timeout, say)
            outcomes[case.key].samples.append(sample)
            status = "ok" if sample.ok else f"FAILED on {len(sample.failed)}: {sample.failed[:3]}"
            say(
                f"  N={case.size:<4} {case.job.name:18} {case.tool.name:28} "
                f"{sample.measured.wall:7.2f}s cpu {sample.measured.cpu:6.2f}s "
                f"rss {sample.measured.max_rss_mib:6.1f}MiB  {status}"
            )
    return outcomes, loads


def _rotated(cases: list[Case], by: int) -> list[Case]:
    groups: dict[tuple[int, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.size, case.job.name), []).append(case)
    ordered: list[Case] = []
    for group in groups.values():
        shift = by % len(group)
        ordered.extend(group[shift:] + group[:shift])
    return ordered
