"""Command prefixes the user allowed for one project from the gate ("save").

Kept in the user's state dir, never in the project: a repository must not be
able to ship its own allow-list. One JSON list per project folder.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from kimitui.core.statedir import FILE_MODE, make_private_dirs, project_folder

FILE_NAME = "allowed_commands.json"


def allow_file(project: Path) -> Path:
    return project_folder(project) / FILE_NAME


def load_allowed(project: Path) -> list[str]:
    """The saved entries; a damaged file counts as none (the gate then asks)."""
    try:
        data = json.loads(allow_file(project).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return [e for e in data if isinstance(e, str) and e.strip()] if isinstance(data, list) else []


def save_allowed(project: Path, prefix: tuple[str, ...]) -> Path:
    """Add ``prefix`` (argv words) to the project's saved allow entries."""
    entry = shlex.join(prefix)
    entries = load_allowed(project)
    if entry not in entries:
        entries.append(entry)
    path = allow_file(project)
    make_private_dirs(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(entries, fh, indent=1)
    tmp.replace(path)
    return path
