"""Adapters: SSH and local executors, load balancers, stores, the scheduler."""

import sys

# paramiko imports invoke when it is installed (paramiko 4+ depends on it), only
# to run ``Match exec`` lines of an ssh config, which shipbot refuses anyway
# (adapters/ssh_config.py): keeping it out saves ~85 ms of every SSH deploy's
# start-up. A process that imported invoke before keeps it.
sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
