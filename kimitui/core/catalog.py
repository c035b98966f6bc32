"""The saved sessions: finding one by id or "last", and one summary line each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kimitui.core.statedir import project_folder, sessions_root
from kimitui.core.transcript import SessionError, Transcript, load_transcript, read_header


def session_files(project: Path | None = None) -> list[Path]:
    """Transcripts of ``project`` (or of every project), most recently active last."""
    folders = [project_folder(project)] if project else _all_folders()
    files = [f for folder in folders if folder.is_dir() for f in folder.glob("*.jsonl")]
    return sorted(files, key=lambda f: f.stat().st_mtime)


def _all_folders() -> list[Path]:
    root = sessions_root()
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def find_session(ref: str, *, project: Path | None = None, demo: bool = False) -> Path:
    """The transcript named by ``ref`` ("last", an id, or a unique id prefix)."""
    files = session_files(project)
    if ref == "last":
        if demo:
            files = [f for f in files if read_header(f).get("demo")]
        if not files:
            where = f" for {project}" if project else ""
            raise SessionError(f"no saved session{where} to resume; see `kimitui sessions`")
        return files[-1]
    matches = [f for f in files if f.stem == ref] or [f for f in files if f.stem.startswith(ref)]
    if not matches:
        raise SessionError(f"no session {ref!r}; `kimitui sessions` lists them")
    if len(matches) > 1:
        raise SessionError(f"{ref!r} matches {len(matches)} sessions; give more of the id")
    return matches[0]


@dataclass(frozen=True)
class SessionSummary:
    id: str
    project: str
    started: str
    steps: int
    tokens: int
    cost: float | None
    task: str
    ended: str

    @property
    def started_local(self) -> str:
        """When it started, in the user's time zone, to the minute."""
        try:
            return datetime.fromisoformat(self.started).astimezone().strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return self.started or "?"

    def task_within(self, width: int) -> str:
        return self.task if len(self.task) <= width else self.task[: width - 1] + "…"


def summarize(transcript: Transcript) -> SessionSummary:
    spent = transcript.spent()
    lines = transcript.task.strip().splitlines()
    return SessionSummary(
        id=transcript.id,
        project=transcript.project,
        started=str(transcript.header.get("started", "")),
        steps=spent.steps,
        tokens=spent.used.total,
        cost=spent.cost,
        task=lines[0] if lines else "",
        ended=transcript.ended,
    )


def summaries(
    project: Path | None = None, *, demo: bool = False
) -> tuple[list[SessionSummary], list[str]]:
    """Every session of ``project`` (or all), newest first, and the files that could not be read."""
    found, problems = [], []
    for path in reversed(session_files(project)):
        if demo and not read_header(path).get("demo"):
            continue
        try:
            found.append(summarize(load_transcript(path)))
        except SessionError as err:  # one unreadable file must not hide the others
            problems.append(f"skipped {path.name}: {err}")
    return found, problems
