"""``shipbot db migrate`` and ``shipbot db check``: the store, for operators.

``migrate`` applies pending migrations (every replica also does at start;
this lets a rollout migrate first). ``check`` changes nothing: it says
whether the database answers and how fast, whether its schema is current,
and which bot processes have used it lately.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.stores import describe_location, is_postgres, open_store
from bot.wiring import resolve_db
from strategies.records import ProcessRecord
from strategies.store import Store, StoreError
from strategies.text import printable

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
RECENT = timedelta(minutes=10)  # "seen recently": a heartbeat within this


def run_db(args: list[str], db: str | None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="shipbot db", allow_abbrev=False)
    parser.add_argument("action", choices=("migrate", "check"))
    try:
        options = parser.parse_args(args)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code == 0 else EXIT_USAGE
    location = resolve_db(db)
    where = describe_location(location)
    if options.action == "check" and not is_postgres(location) and not Path(location).exists():
        print(f"error: {where}: no database there (shipbot db migrate creates it)", file=out)
        return EXIT_PROBLEM
    started = time.monotonic()
    try:
        store = open_store(location, migrate=options.action == "migrate")
    except StoreError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_PROBLEM
    try:
        if options.action == "migrate":
            return _migrate(store, where, out)
        return _check(store, where, time.monotonic() - started, out)
    finally:
        store.close()


def _migrate(store: Store, where: str, out: TextIO) -> int:
    status = store.schema_status()
    if store.applied:
        print(
            f"{where}: applied {len(store.applied)} migrations: {', '.join(store.applied)}",
            file=out,
        )
    else:
        print(f"{where}: schema up to date ({len(status.applied)} migrations)", file=out)
    return EXIT_OK


def _check(store: Store, where: str, opened: float, out: TextIO) -> int:
    problems = 0
    print(f"database   {where}: reachable (opened in {opened * 1000:.0f} ms)", file=out)
    status = store.schema_status()
    if status.pending:
        problems += 1
        print(
            f"schema     {len(status.applied)} migrations applied, {len(status.pending)} pending "
            f"({', '.join(status.pending)}): run shipbot db migrate",
            file=out,
        )
    else:
        print(f"schema     up to date ({len(status.applied)} migrations)", file=out)
    if status.unknown:
        problems += 1
        print(
            f"schema     applied by a newer shipbot: {', '.join(status.unknown)} "
            "(upgrade this one)",
            file=out,
        )
    now = datetime.now(UTC)
    seen = store.processes_seen(now - RECENT, now) if not status.pending else []
    if not seen:
        print("replicas   none seen in the last 10 minutes", file=out)
    for process in seen:
        print(f"replica    {_describe(process, now)}", file=out)
    return EXIT_PROBLEM if problems else EXIT_OK


def _describe(process: ProcessRecord, now: datetime) -> str:
    ago = max(0, int((now - process.heartbeat_at).total_seconds()))
    state = (
        "running"
        if process.alive
        else ("stopped" if process.stopped_at else "gone (died without stopping)")
    )
    host = printable(process.hostname)
    return f"{process.kind} pid {process.pid} on {host}: {state}, last heartbeat {ago}s ago"
