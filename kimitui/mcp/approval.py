"""A project's ``.mcp.json`` starts programs, so it is used only once the user approved it.

A cloned repository must not start processes: the approval is remembered in
the state dir (never in the project), keyed by the project's path and a hash
of the file's bytes, so any change to the file asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kimitui.core.statedir import FILE_MODE, make_private_dirs, state_dir
from kimitui.mcp.config import PROJECT_FILE

APPROVALS = "mcp-approved.json"


def file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _store() -> Path:
    return state_dir() / APPROVALS


def _load() -> dict[str, str]:
    try:
        data = json.loads(_store().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def is_approved(project: Path) -> bool:
    """Whether this project's ``.mcp.json``, exactly as it is now, was approved."""
    digest = file_hash(project / PROJECT_FILE)
    return digest is not None and _load().get(str(project.resolve())) == digest


def approve(project: Path) -> str:
    """Remember the current ``.mcp.json`` of ``project`` as approved; returns its hash."""
    digest = file_hash(project / PROJECT_FILE)
    if digest is None:
        raise FileNotFoundError(f"{project / PROJECT_FILE} does not exist")
    approvals = _load()
    approvals[str(project.resolve())] = digest
    store = _store()
    make_private_dirs(store.parent)
    tmp = store.with_name(store.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(approvals, out, indent=1, sort_keys=True)
    tmp.replace(store)
    return digest
