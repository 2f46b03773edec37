"""The deploy history for audits: one row per server per deploy, as CSV or JSON.

Both formats have the same keys (``FIELDS``), times in ISO 8601 UTC. A row
says what was asked (ref, strategy, who requested and who approved it, and
the overrides: ``--force``, ``--servers``, ``--override``, one-off strategies,
rollbacks and recoveries) and how it ended for that server, with where it
was left: ``in``, ``out`` or ``unknown`` to the load balancer.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from strategies.records import DeployRecord, ServerRecord

FORMATS = ("csv", "json")
FIELDS = (
    "deploy_id",
    "app",
    "ref",
    "strategy",
    "deploy_status",
    "started_at",
    "ended_at",
    "server",
    "outcome",
    "load_balancer",
    "requested_by",
    "approved_by",
    "overrides",
)
# A server never taken out (parallel, not reached) is still in; a refused or unknown
# call leaves its position unknown.
_POSITION = {"in": "in", "out": "out", "n/a": "in", "unchanged": "unknown", "unknown": "unknown"}


def export_rows(records: Iterable[DeployRecord]) -> list[dict[str, Any]]:
    return [_row(record, server) for record in records for server in record.servers]


def write_export(rows: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def overrides(record: DeployRecord) -> list[str]:
    """What the deploy was asked to do beyond the app's defaults, as typed."""
    found = []
    request = record.request
    if request is not None:
        if request.strategy is not None:
            found.append(f"--{request.strategy}")
        if request.batch is not None:
            found.append(f"--batch {request.batch}")
        if request.canary is not None:
            found.append(f"--canary {request.canary}")
        if request.servers is not None:
            found.append(f"--servers {','.join(request.servers)}")
        if request.force:
            found.append("--force")
        if request.rollback_to is not None:
            found.append(f"rollback to {request.rollback_to}")
    if record.override:
        found.append(f"--override {record.override}")
    if record.recovers is not None:
        found.append(f"recovery of #{record.recovers}")
    return found


def _row(record: DeployRecord, server: ServerRecord) -> dict[str, Any]:
    return {
        "deploy_id": record.id,
        "app": record.app,
        "ref": record.ref,
        "strategy": record.strategy,
        "deploy_status": record.status,
        "started_at": _iso(record.started_at),
        "ended_at": _iso(record.finished_at),
        "server": server.server,
        "outcome": server.status,
        "load_balancer": _POSITION.get(server.lb, "unknown"),
        "requested_by": record.requested_by,
        "approved_by": record.approved_by or "",
        "overrides": "; ".join(overrides(record)),
    }


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat(timespec="seconds")
