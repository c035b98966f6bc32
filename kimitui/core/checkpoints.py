"""Checkpoints: the project as it was before each step that changed it.

Before the first change of a step (an approved edit, or a command about to
run), the project's non-ignored files (tracked and untracked, as ``git add -A``
sees them with the project's own ``.gitignore``) are stored in a shadow git
repository in the state dir: ``GIT_DIR`` and the index are ours, the work tree
is the project. Nothing is written inside the project and the user's ``.git``
is never read or touched (git itself skips every folder named ``.git``).

After the first snapshot only changed files are hashed again (the shadow index
keeps their stat data), which is what keeps a snapshot cheap on a big tree.

``undo --to N`` restores the checkpoint taken before step N: files created
since are removed, deleted ones come back, changed ones revert, the exec bit
and symlinks as they were. A file changed since kimitui's last step (by the
user, not by kimitui) is never overwritten: it is reported and left.

Per session, ``<state>/checkpoints/<session>.jsonl`` (0600) logs the
checkpoints and undos; the shadow repository is shared by the project's
sessions under ``<state>/checkpoints/git/<project>-<hash>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import struct
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimitui.core.events import CheckpointTaken, Done, Event, Notice, StepStarted
from kimitui.core.statedir import FILE_MODE, make_private_dirs, project_folder, state_dir

# Highest-precedence attributes: bytes in, the same bytes out, whatever the
# project's .gitattributes say (no eol conversion, no filters, no ident).
ATTRIBUTES = "* -text -filter -ident -working-tree-encoding\n"
CONFIG = {
    "core.autocrlf": "false",
    "core.filemode": "true",
    "core.symlinks": "true",
    "core.fsmonitor": "false",
    "core.untrackedCache": "true",
    "core.quotePath": "false",
    "gc.auto": "0",
    # A checkpoint is a convenience, not the user's data: no fsync per object
    # (the first snapshot of a 10,000-file project took 13 s here with it, 3.5 s without).
    "core.fsync": "none",
    "feature.manyFiles": "true",  # index v4 and the untracked cache: ~3x faster adds
    "index.version": "4",  # trees are kept by no ref: nothing may prune them
    "advice.addEmbeddedRepo": "false",
    # Threads to preload the index cost more than they save on 2 cores: 45 ms, not 90.
    "core.preloadIndex": "false",
}


class CheckpointError(Exception):
    """A snapshot or a restore failed; the message says what and why."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    tree: str
    files: int
    at: float
    modes: dict[str, int] = field(default_factory=dict)  # files not 0644/0755


@dataclass
class UndoReport:
    step: int  # the checkpoint restored: the project as before this step
    restored: list[str] = field(default_factory=list)  # brought back or reverted
    removed: list[str] = field(default_factory=list)  # created since, now deleted
    skipped: list[str] = field(default_factory=list)  # changed by someone else since

    @property
    def changed(self) -> int:
        return len(self.restored) + len(self.removed)

    def describe(self) -> str:
        text = (
            f"restored the project to before step {self.step}: "
            f"{len(self.restored)} file(s) restored, {len(self.removed)} removed"
        )
        if self.skipped:
            text += (
                f"; {len(self.skipped)} left as they are because they changed since kimitui's "
                "last step: " + ", ".join(self.skipped[:10])
            )
        return text

    def model_note(self) -> str:
        files = ", ".join((self.restored + self.removed)[:20]) or "no file"
        kept = ""
        if self.skipped:
            kept = (
                " The user's own later changes were kept in: " + ", ".join(self.skipped[:20]) + "."
            )
        return (
            f"Note from kimitui: the user undid everything from step {self.step} on; the "
            f"project is back to how it was before that step ({files} changed back).{kept} "
            "Read files again before editing them."
        )


@dataclass(frozen=True)
class UndoPlan:
    point: Checkpoint
    changes: dict[str, str]  # path -> git status between the checkpoint and now
    theirs: list[str]  # of those, files changed since kimitui's last step: not ours alone


# -- the shadow repository ---------------------------------------------------------


class ShadowRepo:
    """git with our own GIT_DIR and index over the project as work tree."""

    def __init__(self, project: Path, git_dir: Path, index: Path) -> None:
        self.project = project.resolve()
        self.git_dir = git_dir
        self.index = index

    @classmethod
    def for_project(cls, project: Path, session_id: str, base: Path | None = None) -> ShadowRepo:
        root = (base or state_dir()).resolve() / "checkpoints"
        git_dir = root / "git" / project_folder(project).name
        return cls(project, git_dir, git_dir / "indexes" / f"{session_id}.index")

    def _env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
        return {
            **keep,
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.project),
            "GIT_INDEX_FILE": str(self.index),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,  # the user's hooks/excludes/aliases stay out
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            # kimitui's own shadow store (GIT_DIR in the state dir), never the model's choice.
            done = subprocess.run(
                ["git", *args],
                cwd=self.project,
                env=self._env(),
                input=stdin,
                capture_output=True,
                check=False,
            )
        except OSError as exc:
            raise CheckpointError(f"cannot run git for checkpoints: {exc}") from None
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise CheckpointError(f"git {args[0]} failed for the checkpoint store: {err}")
        return done.stdout

    def ensure(self) -> None:
        if (self.git_dir / "HEAD").exists():
            return
        make_private_dirs(self.git_dir)
        self.git("init", "--quiet")
        for key, value in CONFIG.items():
            self.git("config", key, value)
        info = self.git_dir / "info"
        info.mkdir(exist_ok=True)
        (info / "attributes").write_text(ATTRIBUTES, encoding="utf-8")

    def seed_index(self) -> None:
        """A new session starts from the newest index of the project: stat data kept."""
        if self.index.exists():
            return
        self.index.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        others = sorted(self.index.parent.glob("*.index"), key=lambda p: p.stat().st_mtime)
        if others:
            self.index.write_bytes(others[-1].read_bytes())

    def snapshot(self) -> tuple[str, int]:
        """Stage the whole work tree into our index; the tree id and its file count."""
        self.ensure()
        self.seed_index()
        self.git("add", "--all", "--ignore-errors", "--", ".")
        tree = self.git("write-tree").decode().strip()
        return tree, _index_entries(self.index)

    def snapshot_with_modes(self) -> tuple[str, int, dict[str, int]]:
        """As :meth:`snapshot`, plus the files whose mode git would not bring back
        (anything but 0644 and 0755), found by ``find`` running beside ``git add``."""
        finder = _start_mode_scan(self.project)
        try:
            tree, files = self.snapshot()
        finally:
            out, _ = finder.communicate()
        modes = {}
        for item in out.decode("utf-8", "surrogateescape").split("\0"):
            mode, sep, rel = item.partition("\t")
            if sep and rel:
                modes[rel] = int(mode, 8)
        return tree, files, modes

    def changes(self, old: str, new: str) -> dict[str, str]:
        """path -> status letter (A, D, M, T) between two trees."""
        out = self.git("diff-tree", "-r", "-z", "--no-renames", "--name-status", old, new)
        parts = out.decode("utf-8", "surrogateescape").split("\0")
        return {parts[i + 1]: parts[i] for i in range(0, len(parts) - 1, 2)}

    def files(self, tree: str) -> list[str]:
        out = self.git("ls-tree", "-r", "-z", "--name-only", tree)
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    def checkout(self, tree: str, paths: list[str]) -> None:
        if not paths:
            return
        data = "\0".join(paths).encode("utf-8", "surrogateescape") + b"\0"
        self.git("checkout", tree, "--pathspec-from-file=-", "--pathspec-file-nul", stdin=data)


# Not walked for modes: dependencies and caches (git ignores them in most projects).
_PRUNE = (".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".tox")


def _start_mode_scan(root: Path) -> subprocess.Popen[bytes]:
    prune: list[str] = []
    for name in _PRUNE:
        prune += [*(["-o"] if prune else []), "-name", name]
    argv = ["find", ".", "(", *prune, ")", "-prune", "-o", "-type", "f",
            "!", "-perm", "644", "!", "-perm", "755", "-printf", r"%m\t%P\0"]  # fmt: skip
    # kimitui's own fixed `find` for file modes: nothing the model chose runs here.
    return subprocess.Popen(
        argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"LC_ALL": "C"}
    )


def _index_entries(index: Path) -> int:
    """Entries in a git index: its header's third word (no need to list them)."""
    with index.open("rb") as fh:
        header = fh.read(12)
    return struct.unpack(">I", header[8:12])[0] if len(header) == 12 else 0


# -- one session's checkpoints ------------------------------------------------------


class Checkpoints:
    """Takes the checkpoints of one session and restores them."""

    def __init__(
        self,
        project: Path,
        session_id: str,
        *,
        base: Path | None = None,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.project = project.resolve()
        self.session_id = session_id
        self.repo = ShadowRepo.for_project(self.project, session_id, base)
        self.log = (base or state_dir()).resolve() / "checkpoints" / f"{session_id}.jsonl"
        self.emit = emit
        self.step = 0
        self.checkpoints: list[Checkpoint] = []
        self.after: str | None = None  # the tree as kimitui's last change left it
        self._after_pending = False
        self.broken = False
        self.modes: dict[str, int] | None = None  # files not 0644/0755, as last scanned
        self.undo_notes: list[str] = []  # what the model is told of each undo, in order
        self._load()

    # -- the log -------------------------------------------------------------

    def _load(self) -> None:
        try:
            lines = self.log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            op = record.get("op")
            if op == "checkpoint":
                self.checkpoints.append(
                    Checkpoint(
                        record["step"],
                        record["tree"],
                        record["files"],
                        record["at"],
                        record.get("modes", {}),
                    )
                )
            elif op == "after":
                self.after = record["tree"]
            elif op == "undo":
                self.checkpoints = [c for c in self.checkpoints if c.step < record["to"]]
                self.after = record["tree"]
                if record.get("note"):
                    self.undo_notes.append(record["note"])

    def _append(self, record: dict[str, Any]) -> None:
        make_private_dirs(self.log.parent)
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**record, "project": str(self.project)}) + "\n")

    # -- taking them ---------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Agent events: the step number, and step ends that settle the after-state."""
        if isinstance(event, StepStarted | Done):
            self.settle()
            if isinstance(event, StepStarted):
                self.step = event.n

    def settle(self) -> None:
        """Record the tree as kimitui's edits left it (edits have no after-hook)."""
        if self._after_pending and not self.broken:
            self._after_pending = False
            try:
                self.mark_after()
            except (CheckpointError, OSError) as exc:
                self._fail(exc)

    async def before_change(self) -> None:
        """The hook for edits and commands: a checkpoint unless this step has one.

        A store that fails (no git, a full disk) is said once and then left off:
        the user's work goes on, without undo for what follows.
        """
        if self.broken:
            return
        try:
            self.settle()
            if not (self.checkpoints and self.checkpoints[-1].step == self.step):
                await asyncio.to_thread(self.take)
        except (CheckpointError, OSError) as exc:
            self._fail(exc)
        self._after_pending = True

    async def after_change(self) -> None:
        self._after_pending = False
        if self.broken:
            return
        try:
            await asyncio.to_thread(self.mark_after, modes=True)
        except (CheckpointError, OSError) as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.broken = True
        if self.emit is not None:
            self.emit(Notice(f"checkpoints are off for this session: {exc}", level="warning"))

    def take(self) -> Checkpoint:
        started = time.monotonic()
        if self.modes is None:
            tree, files, self.modes = self.repo.snapshot_with_modes()
        else:
            # Modes change only through commands (scanned after each one) or the user:
            # the last scan stands, and the snapshot stays one git add + write-tree.
            tree, files = self.repo.snapshot()
        point = Checkpoint(self.step, tree, files, time.time(), dict(self.modes))
        self.checkpoints.append(point)
        self._append({"op": "checkpoint", "step": point.step, "tree": tree, "files": files,
                      "at": point.at, "modes": point.modes})  # fmt: skip
        if self.emit is not None:
            took = round(time.monotonic() - started, 3)
            self.emit(CheckpointTaken(point.step, files, took))
        return point

    def mark_after(self, *, modes: bool = False) -> None:
        if modes:
            tree, _, self.modes = self.repo.snapshot_with_modes()
        else:
            tree, _ = self.repo.snapshot()
        self.after = tree
        self._append({"op": "after", "tree": tree})

    # -- undo ---------------------------------------------------------------

    def target(self, to: int | None) -> Checkpoint | None:
        """The checkpoint `undo --to N` restores: the first one taken at step N or later
        (no change happened between step N and it); None: the newest."""
        if not self.checkpoints:
            return None
        if to is None:
            return self.checkpoints[-1]
        return next((c for c in self.checkpoints if c.step >= to), None)

    def plan(self, to: int | None = None) -> UndoPlan:
        """What undoing to ``to`` would change, and which of those files someone else
        (the user, their editor) changed since kimitui's last step: those are asked about."""
        point = self.target(to)
        if point is None:
            where = f" at or after step {to}" if to is not None else ""
            raise CheckpointError(
                f"nothing to undo: no checkpoint{where} in session {self.session_id}"
            )
        self.settle()
        current, _ = self.repo.snapshot()
        theirs = set(self.repo.changes(self.after, current)) if self.after else set()
        changes = {
            path: status
            for path, status in sorted(self.repo.changes(point.tree, current).items())
            if _safe(path)
        }
        return UndoPlan(point, changes, sorted(set(changes) & theirs))

    def undo(self, to: int | None = None, *, overwrite: Collection[str] = ()) -> UndoReport:
        """Restore the checkpoint; files changed since by someone else are skipped unless
        ``overwrite`` names them (the TUI asks the user file by file)."""
        plan = self.plan(to)
        point = plan.point
        report = UndoReport(point.step)
        restore: list[str] = []
        for path, status in plan.changes.items():
            if path in plan.theirs and path not in overwrite:
                report.skipped.append(path)
            elif status == "A":
                report.removed.append(path)
            else:
                restore.append(path)
        for path in report.removed:
            self._remove(path)
        self.repo.checkout(point.tree, restore)
        self._modes(point, restore)
        restore += self._mode_changes(point, set(restore) | set(report.skipped))
        report.restored = sorted(restore)
        after, _ = self.repo.snapshot()
        self.checkpoints = [c for c in self.checkpoints if c.step < point.step]
        self.after = after
        # The note is kept so a session resumed after a quit still tells the model.
        self.undo_notes.append(report.model_note())
        self._append({"op": "undo", "to": point.step, "tree": after, "at": time.time(),
                      "restored": len(restore), "removed": len(report.removed),
                      "skipped": report.skipped, "note": self.undo_notes[-1]})  # fmt: skip
        return report

    def _modes(self, point: Checkpoint, restored: list[str]) -> None:
        """git writes 0644/0755 (less the umask): put back the modes it does not know."""
        for rel in restored:
            path = self.project / rel
            if path.is_symlink() or not path.is_file():
                continue
            mode = point.modes.get(rel)
            if mode is None:
                mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            os.chmod(path, mode)

    def _mode_changes(self, point: Checkpoint, done: set[str]) -> list[str]:
        """Files whose only change is their mode (git sees just the exec bit)."""
        _, _, now = self.repo.snapshot_with_modes()
        candidates = (set(point.modes) | set(now)) - done
        if not candidates:
            return []
        in_tree = set(self.repo.files(point.tree))
        changed = []
        for rel in sorted(candidates & in_tree):
            path = self.project / rel
            if path.is_symlink() or not path.is_file():
                continue
            want = point.modes.get(rel, 0o755 if path.stat().st_mode & 0o100 else 0o644)
            if stat.S_IMODE(path.stat().st_mode) != want:
                os.chmod(path, want)
                changed.append(rel)
        return changed

    def _remove(self, rel: str) -> None:
        path = self.project / rel
        if not path.parent.resolve().is_relative_to(self.project):
            return  # a symlinked folder now leads out of the project: not ours to touch
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except IsADirectoryError:
            return
        folder = path.parent
        while folder != self.project:
            try:
                folder.rmdir()  # only empties: what the command created around the file
            except OSError:
                break
            folder = folder.parent

    def changed_files(self) -> list[str] | None:
        """Files kimitui's steps changed since the session's first checkpoint (edits and
        commands, minus what was undone); None when the store cannot tell."""
        self.settle()
        if self.broken:
            return None
        if not self.checkpoints:
            return []  # nothing changed yet, or everything was undone
        if not self.after:
            return None
        try:
            return sorted(self.repo.changes(self.checkpoints[0].tree, self.after))
        except CheckpointError:
            return None

    def summary(self) -> list[tuple[Checkpoint, int]]:
        """Each checkpoint with how many files the steps after it changed, up to the next."""
        rows = []
        ends = [c.tree for c in self.checkpoints[1:]] + [self.after or ""]
        for point, end in zip(self.checkpoints, ends, strict=True):
            changed = len(self.repo.changes(point.tree, end)) if end else 0
            rows.append((point, changed))
        return rows


def _safe(rel: str) -> bool:
    parts = Path(rel).parts
    return (
        bool(parts)
        and not Path(rel).is_absolute()
        and ".." not in parts
        and ".git" not in [p.casefold() for p in parts]
    )


def session_logs(base: Path | None = None) -> list[Path]:
    """Every session's checkpoint log, newest first."""
    folder = (base or state_dir()) / "checkpoints"
    logs = [p for p in folder.glob("*.jsonl") if p.is_file()]
    return sorted(logs, key=lambda p: p.stat().st_mtime, reverse=True)


def log_project(log: Path) -> str | None:
    try:
        with log.open(encoding="utf-8") as fh:
            return json.loads(fh.readline()).get("project")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
