"""Which store a ``--db`` names: a ``postgresql://`` URL, else a SQLite file."""

from __future__ import annotations

from pathlib import Path

from strategies.store import Store


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path, *, migrate: bool = True) -> Store:
    """Open the store at ``location``, applying pending migrations unless told not
    to; StoreError, one line, if it cannot."""
    text = str(location)
    if is_postgres(text):
        from adapters.postgres_store import PostgresStore  # psycopg loads only for PostgreSQL

        return PostgresStore(text, migrate=migrate)
    from adapters.sqlite_store import SqliteStore

    return SqliteStore(Path(text), migrate=migrate)


def describe_location(location: str | Path) -> str:
    """The location as it may be shown: a URL without its password."""
    text = str(location)
    if is_postgres(text):
        from adapters.postgres_base import describe_url

        return describe_url(text)
    return text
