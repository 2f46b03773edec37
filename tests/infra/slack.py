"""Fixtures: slack (being written)."""
