"""Fixtures: the store suite runs once per engine, SQLite and PostgreSQL.

``store_location`` is what ``--db`` would say (a file, or a URL of a fresh
database on the session's PostgreSQL server); ``store`` is it opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.sql_base import SqlStoreBase
from adapters.stores import open_store
from strategies.store import Store

ENGINES = ["sqlite", "postgres"]


@pytest.fixture(params=ENGINES)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state" / "shipbot.db")
    url: str = request.getfixturevalue("postgres").new_database()
    return url


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    opened = open_store(store_location)
    yield opened
    opened.close()


def table_rows(location: str, sql: str) -> list[dict[str, Any]]:
    """Rows read straight from the tables (what a test checks the store kept)."""
    opened = cast(SqlStoreBase, open_store(location))
    try:
        return opened._rows(sql, [])
    finally:
        opened.close()
