"""Fixtures: moto (being written)."""
