"""A finished deploy as its timeline reads it: rows of step bars, from the store.

Only what a picture may show is kept: server names, step kinds, outcomes,
times, the app, ref and deploy id. A step's label (its command line), detail
and output never enter the model, so no secret typed into a manifest command
can reach a picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from strategies.records import DeployRecord, ServerRecord, StepRecord

WAITS = ("wait_removed", "wait_added")


@dataclass(frozen=True)
class Bar:
    """One step of one server, in seconds since the deploy started."""

    kind: str  # connect | lb_remove | wait_removed | command | migrations | health | ...
    start: float
    end: float
    status: str  # ok | failed | running (never finished)


@dataclass(frozen=True)
class Row:
    server: str
    outcome: str  # the server's status: ok | failed | skipped | cancelled | pending ...
    batch: int | None
    bars: tuple[Bar, ...]
    out_of_lb: tuple[tuple[float, float], ...]  # spans out of the load balancer


@dataclass(frozen=True)
class Timeline:
    deploy_id: int
    app: str
    ref: str
    strategy: str
    status: str
    total: float  # seconds from start to end
    extra_wait: float  # what the load balancer waits added, measured
    rows: tuple[Row, ...]

    @property
    def batched(self) -> bool:
        """Whether batch boundaries are worth marking (more than one known batch)."""
        return len({row.batch for row in self.rows if row.batch is not None}) > 1


def timeline_of(record: DeployRecord, steps: Iterable[StepRecord]) -> Timeline:
    """The timeline of ``record``; an unfinished step ends where the deploy ended."""
    steps = list(steps)
    start = record.started_at
    ends = [s.finished_at or s.started_at for s in steps]
    end = record.finished_at or max(ends, default=start)
    by_server: dict[str, list[StepRecord]] = {}
    for step in steps:
        by_server.setdefault(step.server, []).append(step)
    rows = tuple(
        _row(server, by_server.get(server.server, []), start, end) for server in record.servers
    )
    return Timeline(
        deploy_id=record.id,
        app=record.app,
        ref=record.ref,
        strategy=record.strategy,
        status=record.status,
        total=_seconds(start, end),
        extra_wait=extra_wait(rows),
        rows=rows,
    )


def extra_wait(rows: Sequence[Row]) -> float:
    """Per batch, the longest wait of each kind (a batch waits once for all its
    servers), summed over batches; rows of an unknown batch count one each."""
    longest: dict[tuple[object, str], float] = {}
    for number, row in enumerate(rows):
        batch: object = row.batch if row.batch is not None else ("row", number)
        for bar in row.bars:
            if bar.kind in WAITS:
                key = (batch, bar.kind)
                longest[key] = max(longest.get(key, 0.0), bar.end - bar.start)
    return sum(longest.values())


def _row(server: ServerRecord, steps: list[StepRecord], start: datetime, end: datetime) -> Row:
    bars = tuple(
        Bar(
            kind=step.kind,
            start=_seconds(start, step.started_at),
            end=_seconds(start, step.finished_at or end),
            status=step.status,
        )
        for step in sorted(steps, key=lambda s: (s.started_at, s.index))
    )
    lb = _out_of_lb(bars, _seconds(start, end))
    return Row(server.server, server.status, server.batch, bars, lb)


def _out_of_lb(bars: Sequence[Bar], end: float) -> tuple[tuple[float, float], ...]:
    """From each removal's start to the end of the addition that follows it (or
    to the deploy's end: a server left out stays out)."""
    spans: list[tuple[float, float]] = []
    removed: float | None = None
    for bar in bars:
        if bar.kind == "lb_remove" and removed is None:
            removed = bar.start
        elif bar.kind == "lb_add" and removed is not None and bar.status == "ok":
            spans.append((removed, bar.end))
            removed = None
    if removed is not None:
        spans.append((removed, end))
    return tuple(spans)


def _seconds(start: datetime, at: datetime) -> float:
    return max(0.0, (at - start).total_seconds())
