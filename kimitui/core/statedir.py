"""Where kimitui keeps its own state: never inside the project.

``<state dir>/sessions/<project name>-<hash>/<id>.jsonl`` holds transcripts and
``<state dir>/journal/<id>.jsonl`` the undo journal. The state dir comes from
platformdirs, or ``$KIMITUI_STATE_DIR``. Everything under it is private to the
user (folders 0700, files 0600): transcripts hold the user's code.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

STATE_ENV = "KIMITUI_STATE_DIR"
FILE_MODE = 0o600
DIR_MODE = 0o700


def state_dir() -> Path:
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_state_path  # a light import, but only when needed

    return user_state_path("kimitui")


def sessions_root() -> Path:
    return state_dir() / "sessions"


def project_folder(project: Path) -> Path:
    """One folder per project: readable name, plus a hash so two `app`s never mix."""
    resolved = project.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    name = re.sub(r"[^\w.-]", "_", resolved.name)[:40] or "root"
    return sessions_root() / f"{name}-{digest}"


def make_private_dirs(folder: Path) -> None:
    # mkdir(parents=True) ignores `mode` for the parents; create each level at 0700.
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(mode=DIR_MODE, exist_ok=True)
