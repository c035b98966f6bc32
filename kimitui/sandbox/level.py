"""Which confinement this machine gives, and what each promise rests on."""

from __future__ import annotations

import functools
import shutil
import sys
from dataclasses import dataclass

MECHANISMS = ("auto", "bwrap", "landlock", "seatbelt", "none")


@dataclass(frozen=True)
class Level:
    name: str  # bwrap | landlock | seatbelt | none
    detail: str  # one line: versions, or why a stronger one is missing
    binary: str | None = None  # bwrap's path
    landlock_abi: int = 0

    @property
    def confined(self) -> bool:
        return self.name != "none"

    def promises(self, network: bool) -> list[tuple[str, str]]:
        """(promise, what holds it) rows for ``kimitui doctor``."""
        held = _HELD_BY[self.name]
        rows = []
        for key, what in _PROMISES:
            if key == "net" and network:
                rows.append(("network", "on: [sandbox] network = true"))
            else:
                rows.append((what, held.get(key, "nothing: not confined")))
        return rows


_PROMISES = (
    ("write", "writes only in the project and a private temp dir"),
    ("git", ".git, deny_write and withheld files never written"),
    ("secret", "withheld files and home credential stores unreadable"),
    ("proc", "kimitui and other processes invisible (no environ, signal, ptrace)"),
    ("net", "no network"),
    ("kill", "nothing left running after the run"),
    ("env", "environment from an allowlist, checked by value"),
)
_HELD_BY: dict[str, dict[str, str]] = {
    "bwrap": {
        "write": "read-only mount namespace",
        "git": "read-only binds",
        "secret": "empty files bound over them",
        "proc": "pid namespace",
        "net": "network namespace",
        "kill": "pid namespace (its init ends, the kernel kills the rest)",
        "env": "kimitui",
    },
    "landlock": {
        "write": "Landlock write rules",
        "git": "Landlock (nothing new directly in a folder that holds one)",
        "secret": "not held: Landlock cannot hide single files (reads allowed)",
        "proc": "Landlock ptrace and signal scoping",
        "net": "Landlock TCP rules (ABI 4+); UDP not covered",
        "kill": "subreaper launcher",
        "env": "kimitui",
    },
    "seatbelt": {
        "write": "Seatbelt profile",
        "git": "Seatbelt profile",
        "secret": "Seatbelt profile",
        "proc": "Seatbelt signal rule (others' environ: macOS's own checks)",
        "net": "Seatbelt profile",
        "kill": "process group kill only (a setsid daemon survives)",
        "env": "kimitui",
    },
    "none": {
        "kill": "process group kill only (a setsid daemon survives)",
        "env": "kimitui",
    },
}


@functools.cache
def detect(mechanism: str = "auto") -> Level:
    """The strongest mechanism that works here (or the one forced by config)."""
    if mechanism == "none":
        return Level("none", 'turned off by [sandbox] mechanism = "none"')
    if sys.platform == "darwin":
        if mechanism in ("auto", "seatbelt") and shutil.which("sandbox-exec"):
            return Level("seatbelt", "sandbox-exec with a generated profile (not tested here)")
        return Level("none", "sandbox-exec not found")
    if not sys.platform.startswith("linux"):
        return Level("none", f"no sandbox for {sys.platform}")
    return _detect_linux(mechanism)


def _detect_linux(mechanism: str) -> Level:
    from kimitui.sandbox import bwrap, landlock

    abi = landlock.abi_version()
    why: list[str] = []
    if mechanism in ("auto", "bwrap"):
        binary = bwrap.find_bwrap()
        problem = bwrap.works(binary) if binary else "bwrap not found"
        if binary and problem is None:
            return Level("bwrap", f"bubblewrap at {binary}", binary, abi)
        why.append(f"bwrap: {problem}")
    if mechanism in ("auto", "landlock"):
        if abi >= 1:
            detail = "; ".join([f"Landlock ABI {abi}", *why])
            return Level("landlock", detail, None, abi)
        why.append("Landlock: not enabled in this kernel")
    return Level("none", "; ".join(why) or f"{mechanism} is not available here")
