"""Reading a dead deploy's journal: where each server was, and whether it is known good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strategies.journal import read_journal
from strategies.records import ServerRecord, StepRecord

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SERIAL = ("connect", "lb_remove", "wait_removed", "command", "command", "lb_add", "wait_added")
PARALLEL = ("command", "command")


def server(name: str, planned: tuple[str, ...] = SERIAL) -> ServerRecord:
    return ServerRecord(name, 0, "running", "n/a", "", "", T0, None, planned)


def steps(
    name: str, done: int, last: str = "ok", planned: tuple[str, ...] = SERIAL
) -> list[StepRecord]:
    """``done`` steps of ``planned`` started, the last one ending as ``last``."""
    out = []
    for index, kind in enumerate(planned[:done]):
        status = last if index == done - 1 else "ok"
        out.append(StepRecord(name, index, kind, f"{kind} {index}", status, T0, None, ""))
    return out


@pytest.mark.parametrize(
    ("done", "last", "lb", "commands", "good"),
    [
        (1, "ok", "in", "not started", True),  # connected, never removed
        (2, "running", "unknown", "not started", True),  # died inside the removal call
        (3, "running", "out", "not started", True),  # in the wait after removing
        (4, "running", "out", "running", False),  # mid-command
        (4, "ok", "out", "between commands", False),  # 1 of 2 commands finished
        (4, "failed", "out", "failed", False),
        (5, "ok", "out", "finished", True),  # deployed, not yet added back
        (6, "ok", "in", "finished", True),
    ],
)
def test_a_serial_server_at_each_point_of_its_steps(
    done: int, last: str, lb: str, commands: str, good: bool
) -> None:
    (found,) = read_journal([server("web2")], steps("web2", done, last))
    assert (found.lb, found.commands, found.known_good) == (lb, commands, good)
    assert found.left_out == (lb in ("out", "unknown"))


def test_a_server_that_never_started_is_in_rotation_and_known_good() -> None:
    web1, web2 = read_journal([server("web1"), server("web2")], steps("web1", 7))
    assert (web1.lb, web1.commands) == ("in", "finished")
    assert (web2.lb, web2.commands, web2.known_good) == ("in", "not started", True)


def test_a_parallel_server_never_leaves_rotation_but_may_be_mid_command() -> None:
    (found,) = read_journal(
        [server("web1", PARALLEL)], steps("web1", 1, "running", planned=PARALLEL)
    )
    assert (found.lb, found.commands) == ("n/a", "running")
    assert found.describe() == "web1: `command 0` was running"
