"""Following the project on disk: watchfiles, ignore rules, and our own writes.

kimitui's applied edits come back from the OS as change events like anyone
else's. ``ChangeTracker`` remembers the (mtime, size) each of our writes left
behind; an event whose file still has that signature is ours, anything else
was done outside kimitui.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from kimitui.tools.ignore import IgnoreRules
from kimitui.tui.messages import FilesChanged

log = logging.getLogger(__name__)

DEBOUNCE_MS = 200
Signature = tuple[int, int] | None


def signature(path: Path) -> Signature:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class ChangeTracker:
    """Remembers what kimitui wrote so the watcher does not report it as outside."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._own: dict[str, Signature] = {}

    def own_write(self, rel: str) -> None:
        self._own[rel] = signature(self.root / rel)

    def is_outside(self, rel: str) -> bool:
        if rel in self._own and self._own[rel] == signature(self.root / rel):
            return False
        self._own.pop(rel, None)
        return True


def relative(root: Path, path: str) -> str | None:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return None


def is_ignored(rules: IgnoreRules, root: Path, path: str) -> bool:
    rel = relative(root, path)
    if rel is None or rel == ".":
        return True
    return rules.is_ignored(rel, os.path.isdir(path))


def classify(
    root: Path, rules: IgnoreRules, tracker: ChangeTracker, changes: set[tuple[Change, str]]
) -> FilesChanged | None:
    message = FilesChanged()
    for change, path in changes:
        rel = relative(root, path)
        if rel is None or is_ignored(rules, root, path):
            continue
        message.changed.add(rel)
        if change != Change.modified:
            message.structure = True
        if tracker.is_outside(rel):
            message.outside.add(rel)
    return message if message.changed else None


async def watch_project(
    root: Path,
    tracker: ChangeTracker,
    post: Callable[[FilesChanged], None],
    warn: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Post a FilesChanged per debounced batch until ``stop`` is set."""
    rules = IgnoreRules(root)
    polling = False
    while not stop.is_set():
        try:
            async for changes in awatch(
                root,
                debounce=DEBOUNCE_MS,
                step=50,
                stop_event=stop,
                force_polling=polling,
                poll_delay_ms=300,
                recursive=True,
                ignore_permission_denied=True,
            ):
                message = classify(root, rules, tracker, changes)
                if message is not None:
                    post(message)
            return
        except (OSError, RuntimeError) as err:
            if polling:
                warn(f"the file tree stopped following the disk: {err}")
                return
            log.warning("file watcher failed, polling instead: %s", err)
            warn(f"file watching failed ({err}); polling the project instead")
            polling = True
