"""LocalExecutor: real processes in per-server working directories."""

from __future__ import annotations

import threading
from pathlib import Path

from adapters.local import LocalExecutor
from adapters.output import output_tail
from strategies.manifest import Server

WEB1 = Server(name="web1")


def run(
    tmp_path: Path, command: str, env: dict[str, str] | None = None, timeout: float = 10
) -> tuple:
    executor = LocalExecutor(tmp_path, "shop")
    result = executor.run(WEB1, command, env=env or {}, timeout=timeout, abort=threading.Event())
    return executor, result


def test_runs_in_the_servers_directory_with_the_request_as_environment(tmp_path: Path) -> None:
    executor, result = run(tmp_path, 'pwd; echo "$SHIPBOT_REF"', {"SHIPBOT_REF": "v2"})
    assert result.ok and result.exit_code == 0
    assert result.output_tail.splitlines() == [str(tmp_path / "shop" / "web1"), "v2"]
    assert executor.workdir(WEB1) == tmp_path / "shop" / "web1"


def test_environment_values_are_never_interpreted_as_shell(tmp_path: Path) -> None:
    hostile = "$(touch pwned) `touch pwned2`; touch pwned3"
    _, result = run(tmp_path, 'echo "$SHIPBOT_REF"', {"SHIPBOT_REF": hostile})
    assert result.output_tail == hostile
    assert not any(p.name.startswith("pwned") for p in tmp_path.rglob("*"))


def test_exit_code_and_the_tail_of_output_are_kept(tmp_path: Path) -> None:
    _, result = run(tmp_path, "for i in $(seq 1 100); do echo line $i; done; echo oops >&2; exit 7")
    assert (result.ok, result.exit_code) == (False, 7)
    lines = result.output_tail.splitlines()
    assert len(lines) == 20 and lines[-1] == "oops" and lines[0] == "line 82"
    assert result.describe() == "exit 7"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    _, result = run(tmp_path, "sleep 30 & sleep 30; echo never", timeout=0.3)
    assert result.timed_out and not result.ok
    assert result.duration < 5
    assert "timed out" in result.describe()


def test_abort_stops_a_running_command(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path, "shop")
    abort = threading.Event()
    threading.Timer(0.2, abort.set).start()
    result = executor.run(WEB1, "sleep 30", env={}, timeout=60, abort=abort)
    assert result.aborted and result.duration < 5


def test_output_tail_limits_lines_and_characters() -> None:
    assert output_tail("a\nb\nc\n", lines=2) == "b\nc"
    assert output_tail("x" * 10_000) == "x" * 4000
