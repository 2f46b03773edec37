"""Who holds a lock is judged by what can be known: the process itself on this
kernel and namespace, the lease anywhere else; never broken on doubt."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.liveness import Holder, holder_dead

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FRESH, EXPIRED = NOW + timedelta(seconds=20), NOW - timedelta(seconds=1)


def test_a_live_holder_here_is_alive_even_with_an_expired_lease() -> None:
    me = Holder.current()
    assert me.pid_start and me.boot_id and me.pid_ns
    assert not holder_dead(me, EXPIRED, NOW)  # frozen or slow, but there: never broken


def test_a_dead_pid_here_is_dead_even_with_a_fresh_lease() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = replace(Holder.current(), pid=child.pid, pid_start="1")
    assert holder_dead(gone, FRESH, NOW)


def test_a_reused_pid_is_not_the_holder() -> None:
    # Our own pid, started at another time: the pid now belongs to someone else.
    reused = replace(Holder.current(), pid_start=str(int(Holder.current().pid_start) + 1))
    assert holder_dead(reused, FRESH, NOW)


def test_another_pid_namespace_with_the_same_hostname_is_judged_by_its_lease() -> None:
    # A container on this host: same hostname and kernel, pids that mean nothing here.
    other = replace(Holder.current(), pid_ns="4026531999", pid=os.getpid() + 100000)
    assert not holder_dead(other, FRESH, NOW)
    assert holder_dead(other, EXPIRED, NOW)
    assert not holder_dead(other, None, NOW)  # no lease: doubt, so alive


def test_another_host_is_judged_by_its_lease() -> None:
    other = Holder("elsewhere", "another-boot", "4026531836", 1, "1")
    assert not holder_dead(other, FRESH, NOW)
    assert holder_dead(other, EXPIRED, NOW)
