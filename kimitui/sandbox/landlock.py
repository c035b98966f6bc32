"""Landlock through ctypes: the kernel's own unprivileged file and network rules.

Stdlib only, because the launcher runs it with ``python -I -S`` (no site, no
kimitui import) to keep each sandboxed run cheap. Rules are an allow-list of
*write* rights: reads and execution stay unhandled, so the program can read
the system it needs, and every write outside the granted trees fails with
EACCES. With ABI 4+ TCP bind/connect are handled too (denied unless the
network is on); with ABI 6+ signals and abstract unix sockets are scoped to
the sandbox's own processes. Landlock also denies ptrace -- and so
``/proc/PID/environ`` -- of any process outside the domain.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct

_SYS_CREATE_RULESET = 444  # the same number on every architecture (generic table)
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_DUMPABLE = 4

WRITE_FILE = 1 << 1
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_WRITES_V1 = (
    WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
    | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM
)  # fmt: skip
# Rights that make sense on a regular file (not on a folder's entries).
FILE_RIGHTS = WRITE_FILE | TRUNCATE


class LandlockError(OSError):
    """The kernel refused a Landlock call (or has no Landlock)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI (0: none, disabled, or not Linux)."""
    try:
        value = _libc().syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (AttributeError, OSError):
        return 0
    return max(int(value), 0)


def make_undumpable() -> None:
    """Landlock's ptrace rule does not cover /proc/PID/environ on every kernel
    (measured here: readable), so kimitui makes itself undumpable: then only a
    process with CAP_SYS_PTRACE may read it, and the launcher drops every
    capability. The cost: no core dumps, and attaching a debugger needs root."""
    with contextlib.suppress(AttributeError, OSError):
        _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def write_rights(abi: int) -> int:
    rights = _WRITES_V1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


def restrict_self(grants: list[tuple[str, int]], *, network: bool, abi: int | None = None) -> int:
    """Confine this process and its future children; returns the ABI used.

    ``grants`` are (path, rights) pairs; a right not granted somewhere is denied
    everywhere. Paths that vanished meanwhile are skipped.
    """
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise LandlockError("Landlock is not available on this kernel")
    libc = _libc()
    handled_fs = write_rights(abi)
    handled_net = 0 if network or abi < 4 else NET_BIND_TCP | NET_CONNECT_TCP
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled_fs, handled_net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, buf, ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path, rights in grants:
            _add_path_rule(libc, ruleset, path, rights & handled_fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


def _add_path_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS  # the kernel rejects folder rights on a file
        if not rights:
            return
        attr = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, attr, 0) != 0:
            raise LandlockError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
