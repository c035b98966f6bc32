"""Find processes by a token in their command line, from the host's /proc.

A pid written by a sandboxed program is its pid inside its own namespace, so
tests look for a unique token instead.
"""

from __future__ import annotations

import os
import time


def running(token: str) -> bool:
    """True while a live (non-zombie) process has ``token`` in its argv."""
    needle = token.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if needle not in fh.read():
                    continue
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def wait_gone(token: str, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(token):
            return True
        time.sleep(0.05)
    return False


def wait_running(token: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if running(token):
            return True
        time.sleep(0.05)
    return False
