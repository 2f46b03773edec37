"""The side-by-side table every strategy benchmark prints."""

from __future__ import annotations

Row = tuple[str, float, float]  # strategy, wall seconds, floor seconds


def print_table(title: str, servers: int, rows: list[Row]) -> None:
    """Wall time, the floor the strategy cannot beat, overhead per server, ratio to row 1."""
    first = rows[0][1]
    print(title)
    print(f"{'strategy':32} {'wall':>8} {'floor':>8} {'overhead/server':>16} {'vs serial':>10}")
    for name, took, floor in rows:
        print(
            f"{name:32} {took:7.2f}s {floor:7.2f}s {(took - floor) / servers * 1000:13.1f} ms "
            f"{first / took:9.1f}x"
        )
