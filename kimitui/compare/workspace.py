"""Each run's own copy of the project, and what the run changed in it.

A git work tree gets a detached ``git worktree add`` (no branch is created or
moved), with the user's uncommitted changes and untracked files laid over it,
so every run starts from the folder as the user sees it. Afterwards the
worktree is unregistered (its ``.git`` link and its entry in the repository go): the
user's repository keeps no trace, while the folder stays as a plain copy so
the run's session can still be resumed there. Any other folder is copied file
by file, honouring the same ignore rules the model's tools use.

The original project is only ever read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kimitui.sandbox.bwrap import SANDBOX_TMP
from kimitui.tools.edits import count_changes, format_diff, make_hunks
from kimitui.tools.ignore import IgnoreRules

# git must neither run the repository's hooks (a hostile repo) nor refresh the
# user's index behind their back.
_GIT_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# Files bigger than this are compared by hash; their diff just says they changed.
SNAPSHOT_TEXT_LIMIT = 1_000_000
VENV_NAMES = (".venv", "venv")  # where kimitui.tools.testing looks for the project's python


class CopyError(Exception):
    """The project could not be copied for a run; the text says why."""


@dataclass(frozen=True)
class RunCopy:
    path: Path  # where the run works: the project's counterpart in the copy
    root: Path  # the folder made for the run (the worktree's top when path is below it)
    repo: Path | None  # the user's repository, when ``root`` is a worktree of it


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, **_GIT_ENV}
    try:
        # kimitui's own worktree set-up for the user's compare, before any model runs;
        # hooks and fsmonitor are off, so nothing the repository names is started.
        done = subprocess.run(
            ["git", *_GIT_SAFE, *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CopyError(f"git {args[0]} failed: {err}") from err
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise CopyError(f"git {args[0]} failed: {message or done.returncode}")
    return done.stdout


def git_top(project: Path) -> Path | None:
    """The top of the git work tree holding ``project`` (with a commit), else None."""
    if shutil.which("git") is None:
        return None
    try:
        top = _git(project, "rev-parse", "--show-toplevel").decode().strip()
        _git(project, "rev-parse", "--verify", "--quiet", "HEAD")
    except CopyError:
        return None  # not a repository, or one without a commit to check out
    return Path(top).resolve() if top else None


def make_copy(project: Path, dest: Path) -> RunCopy:
    """A fresh copy of ``project`` at ``dest`` (which must not exist yet)."""
    project = project.resolve()
    top = git_top(project)
    if top is None:
        _copy_tree(project, dest)
        copy = RunCopy(dest, dest, None)
    else:
        _git(top, "worktree", "add", "--detach", "--quiet", str(dest), "HEAD")
        copy = RunCopy(dest / project.relative_to(top), dest, top)
        try:
            _overlay_changes(top, dest)
        except (OSError, CopyError):
            release(copy)
            raise
    _link_venvs(project, copy.path)
    return copy


def _link_venvs(project: Path, folder: Path) -> None:
    """The project's own virtualenv, linked (never copied) so the copy's tests find it.

    Ignored folders are not copied, and without ``.venv`` the tests would run
    under kimitui's interpreter, which lacks the project's dependencies. The
    link leads outside the copy: the model's tools refuse to write through it
    and the sandbox keeps it read-only.
    """
    for name in VENV_NAMES:
        venv = (project / name).resolve()
        if not (venv / "pyvenv.cfg").is_file() or os.path.lexists(folder / name):
            continue
        if venv.is_relative_to(SANDBOX_TMP):
            # bwrap gives the tests a private /tmp, where the link would lead nowhere and
            # the test command could not even start; without it they run on our python.
            continue
        (folder / name).symlink_to(venv, target_is_directory=True)


def _copy_tree(project: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for rel in IgnoreRules(project).iter_files():
        _copy_file(project / rel, dest / rel)


def _copy_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        dst.unlink(missing_ok=True)
        dst.symlink_to(os.readlink(src))  # the link itself, as in the project
    else:
        shutil.copy2(src, dst)


def _overlay_changes(top: Path, dest: Path) -> None:
    """The user's uncommitted edits, deletions and untracked (not ignored) files."""
    changed = _git(top, "diff", "--name-only", "--no-renames", "-z", "HEAD").split(b"\0")
    untracked = _git(top, "ls-files", "--others", "--exclude-standard", "-z").split(b"\0")
    for raw in filter(None, changed + untracked):
        rel = os.fsdecode(raw)
        src, dst = top / rel, dest / rel
        if src.is_symlink() or src.is_file():
            _copy_file(src, dst)
        elif not src.exists() and (dst.is_file() or dst.is_symlink()):
            dst.unlink()  # deleted in the user's tree, not yet committed


def release(copy: RunCopy) -> None:
    """Unregister a worktree from the user's repository; the folder stays as a plain copy.

    Only this worktree's own entry goes (not ``git worktree prune``, which would
    also clear stale entries of the user's).
    """
    if copy.repo is None:
        return
    link = copy.root / ".git"
    admin = _admin_dir(link)
    link.unlink(missing_ok=True)
    if admin is not None:
        shutil.rmtree(admin, ignore_errors=True)


def _admin_dir(link: Path) -> Path | None:
    """The repository's ``worktrees/NAME`` folder that the worktree's ``.git`` file names."""
    try:
        text = link.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir: "):
        return None
    admin = Path(text.removeprefix("gitdir: ")).resolve()
    # Only ever a worktree entry of a repository, never anything else the file might name.
    return admin if admin.parent.name == "worktrees" and (admin / "gitdir").is_file() else None


def remove(copy: RunCopy) -> None:
    """Delete a copy entirely (after :func:`release`)."""
    shutil.rmtree(copy.root, ignore_errors=True)


# -- what a run changed ------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    diff: str
    files: int
    added: int
    removed: int


Snapshot = dict[str, bytes | str]  # path -> bytes, or "sha256:..." for big files


def snapshot(root: Path) -> Snapshot:
    """Every file the model could see under ``root``, to diff against later."""
    files: Snapshot = {}
    for rel in IgnoreRules(root).iter_files():
        path = root / rel
        try:
            if path.is_symlink():
                files[rel] = b"symlink -> " + os.fsencode(os.readlink(path))
            elif path.stat().st_size > SNAPSHOT_TEXT_LIMIT:
                files[rel] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                files[rel] = path.read_bytes()
        except OSError:
            continue
    return files


def changes(before: Snapshot, after: Snapshot) -> Changes:
    """A unified diff of ``before`` -> ``after``, with file and line counts."""
    parts: list[str] = []
    files = added = removed = 0
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old == new:
            continue
        files += 1
        text, plus, minus = _file_diff(rel, old, new)
        parts.append(text)
        added += plus
        removed += minus
    return Changes("".join(parts), files, added, removed)


def _file_diff(rel: str, old: bytes | str | None, new: bytes | str | None) -> tuple[str, int, int]:
    old_text, new_text = _text(old), _text(new)
    header = f"diff --git a/{rel} b/{rel}\n"
    if old_text is None or new_text is None:
        return header + f"Binary files a/{rel} and b/{rel} differ\n", 0, 0
    hunks = make_hunks(old_text, new_text)
    body = format_diff(rel, hunks, new_file=old is None)
    if new is None:
        body = body.replace(f"+++ b/{rel}\n", "+++ /dev/null\n", 1)
    plus, minus = count_changes(hunks)
    return header + body, plus, minus


def _text(data: bytes | str | None) -> str | None:
    """The file as text; "" when absent, None when binary or only hashed."""
    if data is None:
        return ""
    if isinstance(data, str) or b"\0" in data:
        return None
    return data.decode("utf-8", "surrogateescape")
