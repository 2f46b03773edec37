"""The one table (markdown, printed and written to RESULTS.md) and its formatting."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.peer_bench.runner import Outcome


def seconds(value: float) -> str:
    return f"{value:.2f}s" if value < 100 else f"{value:.0f}s"


def spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}s"


def ratio(numerator: float, denominator: float) -> str:
    """shipbot / peer: above 1.00x shipbot took longer."""
    if denominator <= 0:
        return "—"
    return f"{numerator / denominator:.2f}x"


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


HEADERS = (
    "N",
    "job",
    "tool",
    "median wall",
    "min–max",
    "client CPU",
    "max RSS",
    "logins/server",
    "runs ok",
    "shipbot / tool",
)


def status(outcome: Outcome) -> str:
    good = sum(1 for s in outcome.samples if s.ok)
    total = len(outcome.samples)
    return f"{good}/{total}" if good == total else f"FAILED {total - good}/{total}"


def reference(group: Sequence[Outcome]) -> Outcome | None:
    """The shipbot row the ratios of a group are taken against (reuse, not per-command)."""
    for outcome in group:
        if outcome.case.tool.shipbot and not outcome.case.tool.per_command:
            return outcome
    return None


def rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    groups: dict[tuple[int, str], list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.samples:
            groups.setdefault((outcome.case.size, outcome.case.job.name), []).append(outcome)
    table = []
    for (size, job), group in groups.items():
        ref = reference(group)
        for outcome in group:
            wall = outcome.median(lambda s: s.measured.wall)
            versus = "—"
            if ref is not None and outcome is not ref:
                versus = ratio(ref.median(lambda s: s.measured.wall), wall)
                if not (ref.ok and outcome.ok):
                    versus += " (failed runs)"
            table.append(
                [
                    str(size),
                    job,
                    outcome.case.tool.name,
                    seconds(wall),
                    spread(outcome.walls),
                    seconds(outcome.median(lambda s: s.measured.cpu)),
                    f"{outcome.median(lambda s: s.measured.max_rss_mib):.0f} MiB",
                    f"{outcome.median(lambda s: s.logins_per_server):.1f}",
                    status(outcome),
                    versus,
                ]
            )
    return table


def table(outcomes: Sequence[Outcome]) -> str:
    return markdown(HEADERS, rows(outcomes))


def reuse_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Per-command over reused-connection wall time, for tools measured both ways."""
    lines = []
    by_key = {(o.case.size, o.case.job.name, o.case.tool.name): o for o in outcomes if o.samples}
    for (size, job, name), outcome in by_key.items():
        if not outcome.case.tool.per_command:
            continue
        base_name = name.replace(" (conn per command)", "")
        base = by_key.get((size, job, base_name))
        if base is None:
            continue
        slow = outcome.median(lambda s: s.measured.wall)
        fast = base.median(lambda s: s.measured.wall)
        cpu_slow = outcome.median(lambda s: s.measured.cpu)
        cpu_fast = base.median(lambda s: s.measured.cpu)
        lines.append(
            f"- N={size}, {job}, {base_name}: a connection per command {seconds(slow)} vs one "
            f"reused {seconds(fast)} — reuse saves {seconds(slow - fast)} wall "
            f"({ratio(slow, fast)}), client CPU {seconds(cpu_slow)} vs {seconds(cpu_fast)}"
        )
    return lines
