"""What the numbers were measured on: machine, versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "paramiko",
    "fabric",
    "invoke",
    "asyncssh",
    "parallel-ssh",
    "ssh2-python",
    "gevent",
    "ansible-core",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def openssh() -> str:
    done = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    return (done.stderr or done.stdout).strip()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "OpenSSH (ssh, sshd)": openssh()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "CPU": cpu_model(),
        "RAM": ram(),
        "kernel": f"{platform.system()} {platform.release()}",
        "OS": _os_release(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"
