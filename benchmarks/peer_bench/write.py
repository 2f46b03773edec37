"""RESULTS.md: the table, the serial and start-up figures, and what they were measured on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from benchmarks.peer_bench import report
from benchmarks.peer_bench.runner import Outcome, RoundLoad
from benchmarks.peer_bench.shipbot_cli import PlanEstimate, Startup
from benchmarks.peer_bench.tools import Ansible, PeerScript, Shipbot

TOOL_NOTES = (
    ("shipbot --parallel", Shipbot.__doc__),
    ("paramiko + threads", "peer_tools/paramiko_threads.py"),
    ("fabric ThreadingGroup", "peer_tools/fabric_group.py"),
    ("asyncssh + gather", "peer_tools/asyncssh_gather.py"),
    ("parallel-ssh", "peer_tools/pssh_parallel.py"),
    ("ansible raw -f N", Ansible.__doc__),
)


def _stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _doc(text: str | None) -> str:
    return " ".join((text or "").split())


def _script_doc(path: str) -> str:
    import ast
    from pathlib import Path

    file = Path(__file__).resolve().parents[1] / path
    return _doc(ast.get_docstring(ast.parse(file.read_text())))


def _busy(loads: Sequence[RoundLoad], load_below: float) -> list[str]:
    busy = [r.round for r in loads if r.load1 >= load_below]
    if not busy:
        return []
    return [
        f"- **WARNING: busy machine** — in round(s) {', '.join(map(str, busy))} the load never "
        f"dropped below {load_below:.2f} (another user's work shares the cores): absolute "
        "times are inflated and noisy; the ratios of the same round are the fairer reading."
    ]


def serial_lines(serials: tuple[Outcome | None, ...], estimate: PlanEstimate) -> list[str]:
    """The per-server cost (no load balancer; with one whose waits are 0), then the run
    with load balancer waits against what the plan's extra-wait figure and that cost
    predict."""
    plain, no_wait, waits = serials
    if plain is None or not plain.samples:
        return ["(not run)"]
    n = plain.case.size
    wall = plain.median(lambda s: s.measured.wall)
    lines = [
        f"`shipbot deploy shop --serial`, N={n}, job `true`, no load balancer: median "
        f"{report.seconds(wall)} ({report.spread(plain.walls)}), client CPU "
        f"{report.seconds(plain.median(lambda s: s.measured.cpu))}, "
        f"runs ok {report.status(plain)}"
        f" — **{wall / n * 1000:.0f} ms per server** (wall / N, start-up included).",
        "",
    ]
    if waits is None or not waits.samples:
        return lines
    measured = waits.median(lambda s: s.measured.wall)
    lines += [
        f"The same with an in-memory load balancer and each wait {waits.case.tool.lb_wait:g}s "
        f"(`{waits.case.tool.name}`): median {report.seconds(measured)} "
        f"({report.spread(waits.walls)}), runs ok {report.status(waits)}.",
        "",
        "What `shipbot plan shop --serial` says about time there:",
        "",
    ]
    lines += [f"    {line}" for line in estimate.lines] or ["    (no line about time)"]
    lines.append("")
    if estimate.extra_wait is None:
        lines.append("The plan gave no extra-wait figure to compare with.")
        return lines
    bases = [("the run without a load balancer", wall)]
    if no_wait is not None and no_wait.samples:
        zero = no_wait.median(lambda s: s.measured.wall)
        lines += [
            f"With the load balancer and waits of 0s (the same steps, nothing to wait): median "
            f"{report.seconds(zero)} ({report.spread(no_wait.walls)}) — "
            f"{zero / n * 1000:.0f} ms per server with its load balancer steps.",
            "",
        ]
        bases.append(("the run with waits of 0s", zero))
    for label, base in bases:
        predicted = base + estimate.extra_wait
        off = (measured - predicted) / predicted * 100
        lines.append(
            f"- Predicted from {label} ({report.seconds(base)}: start-up and the per-server "
            f"cost) plus the plan's extra wait ({report.seconds(estimate.extra_wait)}) = "
            f"{report.seconds(predicted)}; measured {report.seconds(measured)}: **{off:+.1f}%**."
        )
    return lines


def startup_lines(starts: Sequence[Startup]) -> list[str]:
    rows = [
        [
            s.label,
            report.seconds(s.median("wall")),
            report.spread(s.walls),
            report.seconds(s.median("cpu")),
            f"{s.median('max_rss_mib'):.0f} MiB",
            f"{sum(m.returncode == 0 for m in s.samples)}/{len(s.samples)}",
        ]
        for s in starts
    ]
    return [report.markdown(("command", "median", "min–max", "CPU", "max RSS", "ok"), rows)]


def results_markdown(
    *,
    outcomes: Sequence[Outcome],
    serial: tuple[Outcome | None, ...],
    estimate: PlanEstimate,
    starts: Sequence[Startup],
    loads: Sequence[RoundLoad],
    machine: dict[str, str],
    versions: dict[str, str],
    target: str,
    command: str,
    began: float,
    finished: float,
    load_below: float,
    subreaper: bool,
    notes: Sequence[str],
    reuse: Sequence[str],
) -> str:
    rounds = max((len(o.samples) for o in outcomes), default=0)
    out = [
        "# shipbot vs peer SSH tools (python -m benchmarks.peers)",
        "",
        f"- command: `{command}`",
        f"- date: {_stamp(began)} to {_stamp(finished)}",
        f"- shipbot under test: {target}",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- fleet: one sshd per port on 127.0.0.1 (tests/infra/sshd.py SshdFleet); "
        + "; ".join(notes),
        "- 1-minute load average at the start of each round (waited up to 60 s for it to drop "
        f"below {load_below:.2f}): "
        + ", ".join(f"round {r.round} {r.load1:.2f} (waited {r.waited:.0f}s)" for r in loads),
        *_busy(loads, load_below),
        "",
        f"Each cell is the median of {rounds} interleaved round(s); every run is a whole "
        "process from a cold start. wall = spawn to exit; client CPU = user+sys of the tool's "
        "process tree (RUSAGE_CHILDREN delta"
        + (", incl. processes it left behind, e.g. ssh ControlPersist masters" if subreaper else "")
        + "); max RSS = largest single process of the tree; logins/server from the sshd logs; "
        "shipbot / tool = shipbot's median wall over the tool's (above 1.00x shipbot is slower). "
        "The sshd side shares the same 2 cores, so CPU spent by any client slows every server.",
        "",
        report.table(outcomes),
        "",
        "## Connection reuse (3-command deploy)",
        "",
        *(reuse or ["(not measured)"]),
        "",
        "## Serial",
        "",
        *serial_lines(serial, estimate),
        "",
        "## Start-up (whole process)",
        "",
        *startup_lines(starts),
        "",
        "## What each tool does",
        "",
    ]
    for name, doc in TOOL_NOTES:
        text = _script_doc(doc) if doc and doc.startswith("peer_tools/") else _doc(doc)
        out.append(f"- **{name}**: {text}")
    out.append(
        "- per-command variants: paramiko_threads.py with per_command (connect, exec, close for "
        "each command); peer_tools/shipbot_per_command.py ("
        + _script_doc("peer_tools/shipbot_per_command.py")
        + ")"
    )
    out.append("")
    return "\n".join(out)


__all__ = ["PeerScript", "results_markdown"]
