"""Fixtures: haproxy (being written)."""
