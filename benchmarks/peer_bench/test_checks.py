"""Fast checks of the harness's own logic (not collected by ``make test``: testpaths = tests).

Run with ``.venv/bin/python -m pytest benchmarks/peer_bench``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.peer_bench import report
from benchmarks.peer_bench.jobs import SLEEP, TRUE
from benchmarks.peer_bench.measure import Measured
from benchmarks.peer_bench.tools import Ansible, Run, Shipbot

SERVERS: Any = [SimpleNamespace(name=f"web{i}") for i in (1, 2)]


def run(job: Any) -> Run:
    return Run(fleet=None, servers=SERVERS, job=job, ref="r1", dir=Path("/"), timeout=1)  # type: ignore[arg-type]


def measured(stdout: str, returncode: int = 0) -> Measured:
    return Measured(1.0, 0.5, 30.0, returncode, stdout, "")


def test_ratio_is_shipbot_over_peer() -> None:
    assert report.ratio(3.0, 1.5) == "2.00x"
    assert report.ratio(1.0, 0.0) == "—"


def test_markdown_pads_columns() -> None:
    assert report.markdown(("a", "bb"), [["xyz", "1"]]).splitlines() == [
        "| a   | bb |",
        "|-----|----|",
        "| xyz | 1  |",
    ]


def test_ansible_raw_output_with_tty_line_and_a_failure() -> None:
    out = (
        "web1 | CHANGED | rc=0 >>\ndone\nConnection to 127.0.0.1 closed.\n\n"
        "web2 | FAILED | rc=1 >>\nnope\n"
    )
    assert Ansible().failures(run(SLEEP), measured(out)) == ["web2"]


def test_ansible_missing_host_fails() -> None:
    assert Ansible().failures(run(TRUE), measured("web1 | CHANGED | rc=0 >>\n\n")) == ["web2"]


def test_shipbot_summary_lists_every_server() -> None:
    out = "└ Deploy #1 of shop succeeded: 2 ok\n      web1: ok (0.1s)\n      web2: ok (0.1s)\n"
    tool = Shipbot("shipbot", target=None)  # type: ignore[arg-type]
    assert tool.failures(run(TRUE), measured(out)) == []
    assert tool.failures(run(TRUE), measured(out.replace("web2: ok", "web2: failed"))) == ["web2"]
    assert tool.failures(run(TRUE), measured(out, returncode=1)) == ["exit 1"]
