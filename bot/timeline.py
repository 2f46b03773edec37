"""A deploy's timeline as a PNG: one row per server, one bar per step.

Time runs left to right in seconds since the deploy started. Behind each row a
pale blue band is the time its server was out of the load balancer; on it,
commands, migrations and the health check are full-height bars, connecting,
load balancer calls and the waits thin ones. A bar's colour says how its step
ended (ok by kind in shades of green, failed red, never finished amber); a
server's outcome is the colour of its marker at the left, and a server that ran
no step (skipped, cancelled, never started) gets a band in that colour across
its row. Batch and canary boundaries are dashed lines between rows. The title
gives the outcome, the total time and the time the load balancer waits added.

Large fleets: up to 40 servers, one labelled row each. Above that, a heat
strip: still one row per server, in deploy order, but thin and without labels
(which would overlap). The y axis names batches where there are few, else every
25th position, and the failed servers are named in a box at the right (the
first 12). Aggregating servers into one row per batch was the alternative; it
hides exactly what a reader looks for, the one red server out of 200.

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (no pyplot, no
global backend state, safe off the main thread); matplotlib is imported only
here, when a picture is drawn, so ``shipbot --help`` and deploys never load it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from bot.timeline_model import Row, Timeline
from strategies.durations import format_duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LABELLED_ROWS = 40
FAILED_LISTED = 12
OUTCOME = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "unreachable": "#9e9e9e",
    "cancelled": "#7b1fa2",
    "waiting": "#1565c0",  # a paused canary's servers yet to go
    "pending": "#bdbdbd",
    "running": "#ef6c00",
    "interrupted": "#ef6c00",
}
STEP_OK = {
    "connect": "#b0bec5",
    "lb_remove": "#1565c0",
    "lb_add": "#1565c0",
    "wait_removed": "#81c784",
    "wait_added": "#81c784",
    "command": "#2e7d32",
    "migrations": "#1b5e20",
    "health": "#00897b",
}
FULL = ("command", "migrations", "health")
STEP_FAILED, STEP_UNFINISHED = "#c62828", "#ef6c00"
OUT_OF_LB = "#e3f2fd"


def render_png(timeline: Timeline) -> bytes:
    """The picture, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = timeline.rows
    labelled = len(rows) <= LABELLED_ROWS
    height = 1.6 + 0.32 * len(rows) if labelled else 7.5
    figure = Figure(figsize=(11, max(3.0, height)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for y, row in enumerate(rows):
        _draw_row(axes, y, row, thin=not labelled, total=timeline.total)
    _axes_style(axes, timeline, labelled)
    _batch_lines(axes, timeline)
    if not labelled:
        _failed_box(axes, rows)
    _legend(figure)
    figure.suptitle(_title(timeline), fontsize=11, x=0.01, ha="left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _title(timeline: Timeline) -> str:
    return (
        f"Deploy #{timeline.deploy_id} of {timeline.app} @ {timeline.ref}, "
        f"{timeline.strategy}: {timeline.status} in {format_duration(timeline.total)}; "
        f"{len(timeline.rows)} servers; load balancer waits added "
        f"{format_duration(timeline.extra_wait)}"
    )


def _draw_row(axes: Axes, y: int, row: Row, *, thin: bool, total: float) -> None:
    full, slim = (1.0, 0.5) if thin else (0.7, 0.3)
    for start, end in row.out_of_lb:
        axes.broken_barh([(start, end - start)], (y - 0.5, 1.0), color=OUT_OF_LB, lw=0)
    if not row.bars:
        colour = OUTCOME.get(row.outcome, "#bdbdbd")
        axes.axhspan(y - full / 2, y + full / 2, color=colour, alpha=0.35, lw=0)
        if not thin:
            axes.annotate(
                row.outcome, (0.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8
            )
    for bar in row.bars:
        height = full if bar.kind in FULL else slim
        # A step too quick to see still shows; a failure always stands out.
        least = total * (0.008 if bar.status == "failed" else 0.002)
        width = max(bar.end - bar.start, least)
        axes.broken_barh(
            [(bar.start, width)], (y - height / 2, height), color=_bar_colour(bar.kind, bar.status)
        )


def _bar_colour(kind: str, status: str) -> str:
    if status == "failed":
        return STEP_FAILED
    if status != "ok":
        return STEP_UNFINISHED
    return STEP_OK.get(kind, "#66bb6a")


def _axes_style(axes: Axes, timeline: Timeline, labelled: bool) -> None:
    rows = timeline.rows
    axes.set_xlim(0, max(timeline.total, 0.001) * 1.02)
    axes.set_ylim(len(rows) - 0.5, -0.5)  # the first server at the top
    axes.set_xlabel("seconds since the deploy started")
    axes.grid(axis="x", color="#eeeeee")
    axes.set_axisbelow(True)
    if labelled:
        axes.set_yticks(range(len(rows)), [row.server for row in rows], fontsize=8)
        for tick, row in zip(axes.get_yticklabels(), rows, strict=True):
            tick.set_color(OUTCOME.get(row.outcome, "#000000"))
    else:
        ticks = _strip_ticks(timeline)
        axes.set_yticks([y for y, _ in ticks], [text for _, text in ticks], fontsize=8)
        axes.set_ylabel(f"{len(rows)} servers, one thin row each, in deploy order")
    # The outcome marker: a square per server just left of time zero.
    xs = [-0.012 * max(timeline.total, 0.001)] * len(rows)
    colours = [OUTCOME.get(row.outcome, "#000000") for row in rows]
    axes.scatter(xs, range(len(rows)), c=colours, marker="s", s=12 if labelled else 2, lw=0)
    axes.set_xlim(left=xs[0] * 2 if rows else 0)


def _strip_ticks(timeline: Timeline) -> list[tuple[int, str]]:
    starts = _batch_starts(timeline.rows)
    if timeline.batched and len(starts) <= 20:
        return [(y, _batch_name(timeline, number)) for y, number in starts]
    return [(y, f"#{y + 1}") for y in range(0, len(timeline.rows), 25)]


def _batch_starts(rows: tuple[Row, ...]) -> list[tuple[int, int]]:
    """(row, batch number) where each batch begins."""
    starts: list[tuple[int, int]] = []
    for y, row in enumerate(rows):
        if row.batch is not None and (not starts or starts[-1][1] != row.batch):
            starts.append((y, row.batch))
    return starts


def _batch_name(timeline: Timeline, number: int) -> str:
    return "canary" if timeline.strategy == "canary" and number == 0 else f"batch {number + 1}"


def _batch_lines(axes: Axes, timeline: Timeline) -> None:
    if not timeline.batched:
        return
    starts = _batch_starts(timeline.rows)
    label = len(timeline.rows) <= LABELLED_ROWS or len(starts) <= 20
    for y, number in starts:
        if y:
            axes.axhline(y - 0.5, color="#424242", lw=0.8, ls="--")
        if label and len(timeline.rows) <= LABELLED_ROWS:
            axes.annotate(
                _batch_name(timeline, number),
                (1.0, y - 0.5),
                xycoords=("axes fraction", "data"),
                xytext=(4, -2),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color="#424242",
            )


def _failed_box(axes: Axes, rows: tuple[Row, ...]) -> None:
    failed = [row.server for row in rows if row.outcome == "failed"]
    if not failed:
        return
    shown = failed[:FAILED_LISTED]
    more = f"\n… and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""
    axes.text(
        1.01,
        1.0,
        f"failed ({len(failed)}):\n" + "\n".join(shown) + more,
        transform=axes.transAxes,
        va="top",
        fontsize=8,
        color=OUTCOME["failed"],
    )


def _legend(figure: Figure) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=OUT_OF_LB, label="out of the load balancer"),
        Patch(color=STEP_OK["connect"], label="connect"),
        Patch(color=STEP_OK["lb_remove"], label="load balancer call"),
        Patch(color=STEP_OK["wait_removed"], label="wait"),
        Patch(color=STEP_OK["command"], label="command"),
        Patch(color=STEP_OK["migrations"], label="migrations"),
        Patch(color=STEP_OK["health"], label="health check"),
        Patch(color=STEP_FAILED, label="failed"),
        Patch(color=STEP_UNFINISHED, label="unfinished"),
        Patch(color=OUTCOME["skipped"], alpha=0.5, label="skipped"),
        Patch(color=OUTCOME["cancelled"], alpha=0.5, label="cancelled"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=8, frameon=False)
