"""One small script per peer tool; each is run as its own process from a cold start.

Every script takes the path of a JSON spec (servers, user, key, known_hosts,
commands, per_command, timeout) and prints one JSON line per server:
``{"name": ..., "ok": bool, "out": "<stdout of the last command>"}``.
"""
