"""`kimitui undo [PROJECT] [--session ID|last] [--to STEP] [--list]`.

Restores the checkpoint taken before a step of a session (default: the newest
session of PROJECT, its last checkpoint). Files changed since kimitui's last
step are reported and left as they are. Talks to no model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kimitui.core.checkpoints import CheckpointError, Checkpoints, log_project, session_logs


def undo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui undo",
        description="Restore the project to a checkpoint: as it was before a step of a "
        "session, shell commands' changes included.",
    )
    p.add_argument("project", nargs="?", default=".", metavar="PROJECT",
                   help="project folder (default: the current folder)")  # fmt: skip
    p.add_argument("--session", default="last", metavar="ID|last",
                   help="session id or a unique prefix of one (default: the newest)")  # fmt: skip
    p.add_argument("--to", type=int, metavar="STEP",
                   help="restore the checkpoint before step STEP (default: the last)")  # fmt: skip
    p.add_argument("--list", action="store_true", help="list the checkpoints, change nothing")
    return p


def main(argv: list[str]) -> int:
    args = undo_parser().parse_args(argv[1:])
    try:
        store = _store(Path(args.project), args.session)
        if args.list:
            print(format_list(store))
            return 0
        report = store.undo(args.to)
    except CheckpointError as err:
        print(f"kimitui: {err}", file=sys.stderr)
        return 1
    print(f"session {store.session_id}: {report.describe()}")
    for path in report.skipped:
        print(f"  skipped {path}: changed since kimitui's last step; left as it is")
    return 0


def _store(project: Path, session: str) -> Checkpoints:
    if not project.is_dir():
        raise CheckpointError(f"project folder {project} does not exist")
    root = str(project.resolve())
    logs = [log for log in session_logs() if log_project(log) == root]
    if session != "last":
        logs = [log for log in logs if log.stem.startswith(session)]
        if len(logs) > 1:
            raise CheckpointError(f"session prefix {session!r} is ambiguous; give more of the id")
    if not logs:
        which = "no session" if session == "last" else f"no session {session!r}"
        raise CheckpointError(
            f"{which} with checkpoints for {root}; checkpoints are taken when kimitui "
            "applies an edit or runs a command (see `kimitui sessions`)"
        )
    return Checkpoints(project, logs[0].stem)


def format_list(store: Checkpoints) -> str:
    rows = store.summary()
    if not rows:
        return f"session {store.session_id}: no checkpoint left to undo"
    lines = [
        f"session {store.session_id} · {store.project}",
        "STEP  TAKEN     FILES  CHANGED SINCE",
    ]
    for point, changed in rows:
        taken = time.strftime("%H:%M:%S", time.localtime(point.at))
        lines.append(f"{point.step:>4}  {taken}  {point.files:>5}  {changed} file(s)")
    lines.append("`kimitui undo --to STEP` restores the project as it was before STEP.")
    return "\n".join(lines)
