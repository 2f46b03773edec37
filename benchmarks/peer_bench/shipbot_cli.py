"""Whole-process timings of shipbot itself: start-up, and what its plan says a serial
deploy will take."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peer_bench.measure import Measured, run_measured
from benchmarks.peer_bench.shipbot_target import ShipbotTarget
from benchmarks.peer_bench.tools import APP

ESTIMATE_WORDS = re.compile(r"estimat|expected|total|about \d|≈|~\s*\d", re.I)
WAIT_LINE = "extra time from load balancer waits:"


@dataclass(frozen=True)
class Startup:
    label: str
    samples: list[Measured]

    @property
    def walls(self) -> list[float]:
        return [m.wall for m in self.samples]

    @property
    def ok(self) -> bool:
        return all(m.returncode == 0 for m in self.samples)

    def median(self, what: str) -> float:
        return statistics.median(getattr(m, what) for m in self.samples)


def startup(target: ShipbotTarget, manifest: Path, db: Path, cwd: Path, reps: int) -> list[Startup]:
    """``shipbot --help`` and ``shipbot plan APP``, alternated, ``reps`` times each."""
    commands = {
        "shipbot --help": target.command("--help"),
        f"shipbot plan {APP}": target.command(
            "--manifest", str(manifest), "--db", str(db), "plan", APP
        ),
    }
    found: dict[str, list[Measured]] = {label: [] for label in commands}
    for _ in range(reps):
        for label, argv in commands.items():
            found[label].append(run_measured(argv, env=target.env(), cwd=cwd, timeout=120))
    return [Startup(label, samples) for label, samples in found.items()]


@dataclass(frozen=True)
class PlanEstimate:
    seconds: float | None  # a total time the plan announces, if it announces one
    lines: list[str]  # the plan's lines about time
    extra_wait: float | None = None  # "extra time from load balancer waits: ... = 4.0s"


def plan_estimate(target: ShipbotTarget, manifest: Path, db: Path, cwd: Path) -> PlanEstimate:
    """Run ``shipbot plan APP --serial`` and read what it says about time.

    The plan's only figure today is the extra time of the load balancer waits;
    a total estimate is taken only from a line that says so."""
    argv = target.command("--manifest", str(manifest), "--db", str(db), "plan", APP, "--serial")
    done = run_measured(argv, env=target.env(), cwd=cwd, timeout=120)
    lines = [
        line.strip()
        for line in done.stdout.splitlines()
        if WAIT_LINE in line or ESTIMATE_WORDS.search(line)
    ]
    total = extra = None
    for line in lines:
        if WAIT_LINE in line:
            figure = re.search(r"=\s*(\d+(?:\.\d+)?)s\s*$", line)
            extra = float(figure[1]) if figure else extra
            continue
        match = re.search(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)\b", line)
        if match:
            scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match[2]]
            total = float(match[1]) * scale
            break
    if done.returncode != 0:
        lines.append(f"(shipbot plan exited {done.returncode}: {done.stderr.strip()[:200]})")
    return PlanEstimate(total, lines, extra)
