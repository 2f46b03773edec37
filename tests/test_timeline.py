"""The timeline picture from journal records: what it is built from and that it draws.

Set SHIPBOT_PICTURES=DIR to keep the PNGs of the three fleets for a person to look at.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.image
import pytest

from bot.timeline import render_png
from bot.timeline_model import timeline_of
from strategies.records import DeployRecord, ServerRecord, StepRecord

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LB_STEPS = (
    ("connect", 0.05),
    ("lb_remove", 0.05),
    ("wait_removed", 1.0),
    ("command", 2.0),
    ("health", 0.5),
    ("lb_add", 0.05),
    ("wait_added", 1.0),
)
IN_PLACE = (("connect", 0.05), ("command", 3.0))


def fleet(
    count: int,
    *,
    batch_size: int,
    steps: tuple[tuple[str, float], ...] = LB_STEPS,
    fail: tuple[int, ...] = (),
    stop_after_failure: bool = False,
    strategy: str = "batch",
) -> tuple[DeployRecord, list[StepRecord]]:
    """A deploy of ``count`` servers in batches, some failing in their command."""
    servers, journal = [], []
    at = T0
    stopped = False
    for first in range(0, count, batch_size):
        batch_end = at
        for position in range(first, min(first + batch_size, count)):
            name = f"web{position + 1}"
            if stopped:
                servers.append(server(name, position, "pending", first // batch_size))
                continue
            clock, status = at, "ok"
            for index, (kind, seconds) in enumerate(steps):
                jitter = (position % 7) * 0.15 if kind == "command" else 0.0
                failed = kind == "command" and position in fail
                end = clock + timedelta(seconds=seconds + jitter)
                journal.append(step(name, index, kind, clock, end, "failed" if failed else "ok"))
                clock = end
                if failed:
                    status = "failed"
                    break
            batch_end = max(batch_end, clock)
            servers.append(server(name, position, status, first // batch_size, at, clock))
        stopped = stop_after_failure and any(s.status == "failed" for s in servers)
        at = batch_end
    failed = any(s.status == "failed" for s in servers)
    record = DeployRecord(
        id=42,
        app="shop",
        strategy=strategy,
        reason="",
        ref="v1.4.2",
        requested_by="U0DEV",
        started_at=T0,
        finished_at=at,
        status="failed" if failed else "succeeded",
        summary="",
        servers=tuple(servers),
    )
    return record, journal


def server(
    name: str,
    position: int,
    status: str,
    batch: int,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> ServerRecord:
    return ServerRecord(name, position, status, "in", "", "", started, finished, batch=batch)


def step(
    name: str, index: int, kind: str, start: datetime, end: datetime, status: str
) -> StepRecord:
    return StepRecord(name, index, kind, f"./deploy --token=SECRET-{kind}", status, start, end, "")


def keep(name: str, png: bytes) -> None:
    folder = os.environ.get("SHIPBOT_PICTURES")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


def dimensions(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    return pixels.shape[1], pixels.shape[0]


def test_serial_deploy_with_a_failure() -> None:
    record, journal = fleet(3, batch_size=1, fail=(1,), stop_after_failure=True, strategy="serial")
    timeline = timeline_of(record, journal)
    assert [row.outcome for row in timeline.rows] == ["ok", "failed", "pending"]
    assert timeline.rows[2].bars == ()
    # The failed server never went back: out of the load balancer to the end.
    assert timeline.rows[1].out_of_lb[-1][1] == pytest.approx(timeline.total)
    assert timeline.extra_wait == pytest.approx(3.0)  # 1+1 for web1, 1 for web2
    png = render_png(timeline)
    keep("serial-3-failed.png", png)
    width, height = dimensions(png)
    assert width > 800 and height > 200


def test_twenty_servers_in_batches() -> None:
    record, journal = fleet(20, batch_size=5)
    timeline = timeline_of(record, journal)
    assert timeline.batched
    assert timeline.extra_wait == pytest.approx(4 * 2.0)  # once per batch, not per server
    png = render_png(timeline)
    keep("batch-20.png", png)
    width, height = dimensions(png)
    assert height > width / 2  # a row per server


def test_two_hundred_servers_in_parallel_as_a_heat_strip() -> None:
    record, journal = fleet(
        200, batch_size=200, steps=IN_PLACE, fail=(17, 140), strategy="parallel"
    )
    timeline = timeline_of(record, journal)
    assert not timeline.batched
    assert timeline.extra_wait == 0
    png = render_png(timeline)
    keep("parallel-200.png", png)
    _, height = dimensions(png)
    assert 600 < height < 1000  # thin rows: not 200 labelled ones


def test_no_step_label_reaches_the_timeline() -> None:
    record, journal = fleet(3, batch_size=1)
    assert "SECRET" not in repr(timeline_of(record, journal))
