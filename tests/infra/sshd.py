"""Fixtures: sshd (being written)."""
