"""Sessions: every run's append-only JSONL transcript, and picking a run up again.

A transcript lives in ``<state dir>/sessions/<project name>-<hash>/<id>.jsonl``
(the state dir comes from platformdirs, or ``KIMITUI_STATE_DIR``). Each line
is one JSON object with a ``kind`` and ``t`` (unix time):

``header``          v, id, project, model, base_url, started, task, demo, version
``message``         i (its index in ``agent.messages``), message (exactly as sent)
``messages_reset``  messages: the whole list, when it shrank or an earlier message
                    changed (context compaction, or the repair made on resume)
``event``           event: ``Event.to_dict()``; streaming deltas and state changes
                    are not kept
``checkpoint``      steps, elapsed: at every step boundary
``journal``         id, path, verdict, hunks, feedback, diff: every decided edit
``resumed``         steps: a later process picked the session up
``end``             reason, message, elapsed: how one run of the session ended

Records are written with one ``os.write`` each, so a killed process loses
nothing it wrote; fsync follows every step boundary, decided edit and end, so
a power cut loses at most the step in flight. Never written: the API key or
any header, nor a URL's user:password; withheld secret files never enter the
messages or events in the first place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kimitui import __version__
from kimitui.core import events as ev
from kimitui.core.budget import TokenUsage

if TYPE_CHECKING:  # the loop pulls in the SDK; `kimitui sessions` must stay light
    from kimitui.core.loop import Agent

FORMAT_VERSION = 1
STATE_ENV = "KIMITUI_STATE_DIR"
FILE_MODE = 0o600
DIR_MODE = 0o700
Message = dict[str, Any]
Record = dict[str, Any]

CUT_NOT_RUN = (
    "not run: kimitui stopped (crash or kill) before this tool call finished; "
    "call it again if it is still needed"
)


class SessionError(Exception):
    """No such session, or a transcript that cannot be used; the text says which."""


# -- where transcripts live -----------------------------------------------------


def state_dir() -> Path:
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    from platformdirs import user_state_path

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


def scrub_url(url: str) -> str:
    """The endpoint without user:password or query string, where keys sometimes ride."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- writing ------------------------------------------------------------------------


class TranscriptFile:
    """An append-only JSONL file at mode 0600, written unbuffered."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        self._fd: int | None = os.open(path, flags, FILE_MODE)
        if not create and not _ends_with_newline(path):
            # A crash mid-write left half a line; ours must start on a fresh one.
            self._write_bytes(b"\n")

    def write(self, kind: str, **fields: Any) -> None:
        record = {"kind": kind, "t": round(time.time(), 3), **fields}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        self._write_bytes(line.encode() + b"\n")

    def _write_bytes(self, data: bytes) -> None:
        if self._fd is None:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class SessionRecorder:
    """Writes one Agent's session as it happens.

    Subscribe it before any front end, so that a line a user (or a test) sees
    has already been recorded.
    """

    def __init__(self, agent: Agent, file: TranscriptFile, recorded: list[Message]) -> None:
        self.agent = agent
        self.file = file
        self.notices: list[ev.Notice] = []
        self._recorded = [(m, m.get("content")) for m in recorded]
        self._proposed: dict[str, ev.EditProposed] = {}
        self._broken = False
        agent.subscribe(self)

    @property
    def id(self) -> str:
        return self.agent.client.session_id

    @property
    def path(self) -> Path:
        return self.file.path

    def __call__(self, event: ev.Event) -> None:
        if event.streaming or self._broken:
            return
        try:
            # The Agent appends its assistant message after the usage event, so
            # every event (state changes included) is a chance to catch up.
            self.sync_messages()
            if not isinstance(event, ev.StateChanged):
                self._record(event)
        except OSError as err:
            # A full disk must not end the run: say so once and stop recording.
            self._broken = True
            self.agent.emit(ev.Notice(f"session not saved any more: {err}", level="warning"))

    def sync_messages(self) -> None:
        """Append new messages, or the whole list when an earlier one was replaced."""
        current = self.agent.messages
        known = self._recorded
        # Identity, not equality: cheap, and a replaced message is a new object.
        # Content is checked too, since strings are immutable: an in-place
        # rewrite of a message's text shows up as a different object.
        same_prefix = len(current) >= len(known) and all(
            msg is old and msg.get("content") is content
            for msg, (old, content) in zip(current, known, strict=False)
        )
        if same_prefix:
            for i in range(len(known), len(current)):
                self.file.write("message", i=i, message=current[i])
        else:
            self.file.write("messages_reset", messages=current)
        self._recorded = [(m, m.get("content")) for m in current]

    def _record(self, event: ev.Event) -> None:
        data = event.to_dict()
        if isinstance(event, ev.SessionStarted):
            data["base_url"] = scrub_url(event.base_url)
        self.file.write("event", event=data)
        if isinstance(event, ev.StepStarted):
            self.file.write("checkpoint", steps=event.n, elapsed=self._elapsed())
            self.file.sync()
        elif isinstance(event, ev.EditProposed):
            self._proposed[event.id] = event
        elif isinstance(event, ev.EditDecided):
            self._journal(event)
        elif isinstance(event, ev.Done):
            self.file.write(
                "end", reason=event.reason, message=event.message, elapsed=self._elapsed()
            )
            self.file.sync()

    def _elapsed(self) -> float:
        return round(self.agent.budget.elapsed, 3)

    def _journal(self, event: ev.EditDecided) -> None:
        proposed = self._proposed.pop(event.id, None)
        self.file.write(
            "journal",
            id=event.id,
            path=event.path,
            verdict=event.verdict,
            hunks=list(event.hunks),
            feedback=event.feedback,
            diff=proposed.diff if proposed else "",
        )
        self.file.sync()

    def close(self) -> None:
        self.file.close()


def start_session(agent: Agent, *, task: str | None, demo: bool = False) -> SessionRecorder:
    """A new transcript for ``agent``'s session, header written and synced."""
    folder = project_folder(Path(agent.project))
    make_private_dirs(folder)
    file = TranscriptFile(folder / f"{agent.client.session_id}.jsonl", create=True)
    cfg = agent.client.config
    file.write(
        "header",
        v=FORMAT_VERSION,
        id=agent.client.session_id,
        project=agent.project,
        model=cfg.model,
        base_url=scrub_url(cfg.base_url),
        started=_now_iso(),
        task=task or "",
        demo=demo,
        version=__version__,
    )
    file.sync()
    return SessionRecorder(agent, file, [])


def resume_session(agent: Agent, transcript: Transcript) -> SessionRecorder:
    """Restore ``transcript`` into ``agent`` and keep appending to the same file.

    ``agent`` must have been built with the transcript's session id, so the
    prompt cache key stays the same.
    """
    notices = restore(agent, transcript)
    file = TranscriptFile(transcript.path, create=False)
    file.write("resumed", steps=agent.budget.steps)
    recorder = SessionRecorder(agent, file, transcript.messages)
    recorder.sync_messages()  # the repair made by restore(), if any
    file.sync()
    recorder.notices = notices
    return recorder


# -- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class Spent:
    """What a session has used so far, as its budget counters."""

    steps: int = 0
    used: TokenUsage = field(default_factory=TokenUsage)
    last_prompt: int = 0
    cost: float | None = None
    elapsed: float = 0.0


@dataclass
class Transcript:
    path: Path
    header: Record
    records: list[Record]
    problems: list[str]

    @property
    def id(self) -> str:
        return str(self.header.get("id") or self.path.stem)

    @property
    def project(self) -> str:
        return str(self.header.get("project", ""))

    @property
    def model(self) -> str:
        return str(self.header.get("model", ""))

    @property
    def base_url(self) -> str:
        return str(self.header.get("base_url", ""))

    @property
    def demo(self) -> bool:
        return bool(self.header.get("demo"))

    @property
    def task(self) -> str:
        """The header's task, else the first task the user typed (the TUI asks later)."""
        if self.header.get("task"):
            return str(self.header["task"])
        for event in self.events():
            if event.get("type") == "user_message" and event.get("kind") == "task":
                return str(event.get("text", ""))
        return ""

    def of_kind(self, kind: str) -> list[Record]:
        return [r for r in self.records if r.get("kind") == kind]

    def events(self) -> list[dict[str, Any]]:
        return [r["event"] for r in self.of_kind("event") if isinstance(r.get("event"), dict)]

    @property
    def messages(self) -> list[Message]:
        return latest_messages(self.records)

    @property
    def ended(self) -> str:
        """How the latest run ended; "unfinished" when it was cut (or is still going)."""
        for record in reversed(self.records):
            kind = record.get("kind")
            if kind == "end":
                return str(record.get("reason", "?"))
            event = record.get("event") if kind == "event" else None
            # A step or a new task after the last end: a later run never ended.
            if kind in ("header", "resumed") or (
                isinstance(event, dict) and event.get("type") in ("step", "user_message")
            ):
                break
        return "unfinished"

    def spent(self) -> Spent:
        steps, last_prompt, elapsed = 0, 0, 0.0
        cost: float | None = None
        totals = [0, 0, 0, 0]
        for record in self.records:
            if record.get("kind") in ("checkpoint", "end"):
                elapsed = float(record.get("elapsed") or 0.0)
            event = record.get("event") if record.get("kind") == "event" else None
            if not isinstance(event, dict):
                continue
            if event.get("type") == "step":
                steps = max(steps, int(event.get("n", 0)))
            elif event.get("type") == "usage":
                fields = ("prompt", "completion", "reasoning", "cached")
                totals = [t + int(event.get(f, 0)) for t, f in zip(totals, fields, strict=True)]
                last_prompt = int(event.get("prompt", 0)) + int(event.get("completion", 0))
                cost = event.get("cost", cost)
        return Spent(steps, TokenUsage(*totals), last_prompt, cost, elapsed)


def latest_messages(records: list[Record]) -> list[Message]:
    """The conversation as last recorded: the latest full list plus what followed it."""
    messages: list[Message] = []
    for record in records:
        kind = record.get("kind")
        if kind == "messages_reset" and isinstance(record.get("messages"), list):
            messages = list(record["messages"])
        elif kind == "message" and isinstance(record.get("message"), dict):
            # Position wins over order: a lost line must not shift what follows.
            i = int(record.get("i", len(messages)))
            messages[i:] = [record["message"]]
    return messages


def load_transcript(path: Path) -> Transcript:
    """Parse a transcript; broken lines are skipped and named in ``problems``."""
    try:
        raw_lines = path.read_bytes().split(b"\n")
    except OSError as err:
        raise SessionError(f"cannot read {path}: {err}") from err
    records: list[Record] = []
    problems: list[str] = []
    for n, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        record = _parse_line(raw)
        if record is None:
            cut = n == len(raw_lines)  # no newline after it: the write never finished
            what = "is cut short (kimitui stopped mid-write)" if cut else "is not valid JSON"
            problems.append(f"transcript line {n} {what}; skipped it")
            continue
        records.append(record)
    header = next((r for r in records if r.get("kind") == "header"), None)
    if header is None:
        raise SessionError(f"{path} has no session header; it is not a kimitui transcript")
    return Transcript(path, header, records, problems)


def _parse_line(raw: bytes) -> Record | None:
    try:
        record = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return record if isinstance(record, dict) else None


# -- resuming -----------------------------------------------------------------------


def repair(messages: list[Message], decisions: dict[str, Record]) -> tuple[list[Message], str]:
    """Make a conversation cut mid-step valid again, re-running nothing that ran.

    Only the last assistant message can lack tool results (the loop answers
    every call before anything else is added). If none of its calls got a
    result or a decision, nothing of that step happened: drop it, and the model
    is asked again. Otherwise answer each missing call, so the results already
    in stay and no edit is applied twice. Returns the messages and a note.
    """
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"),
        None,
    )
    if last is None:
        return messages, ""
    calls = messages[last].get("tool_calls") or []
    answered = {m.get("tool_call_id") for m in messages[last + 1 :] if m.get("role") == "tool"}
    missing = [c for c in calls if c.get("id") not in answered]
    if not missing:
        return messages, ""
    if not answered and not any(c.get("id") in decisions for c in calls):
        return messages[:last] + messages[last + 1 :], (
            "the step that was running when kimitui stopped was dropped; the model is asked again"
        )
    answers = [
        {
            "role": "tool",
            "tool_call_id": c.get("id"),
            "content": _cut_answer(decisions.get(c["id"])),
        }
        for c in missing
    ]
    return messages + answers, (
        f"{len(missing)} tool call(s) cut short when kimitui stopped were answered as not run"
    )


def _cut_answer(decision: Record | None) -> str:
    if decision is None:
        return CUT_NOT_RUN
    path = decision.get("path", "the file")
    if decision.get("verdict") == "rejected":
        feedback = decision.get("feedback")
        note = f" Feedback: {feedback}" if feedback else ""
        return f"The user rejected this edit to {path}; the file is unchanged.{note}"
    return (
        f"The user {decision.get('verdict')} this edit to {path}, but kimitui stopped before "
        f"reporting whether it was written: read {path} to see its current content."
    )


def restore(agent: Agent, transcript: Transcript) -> list[ev.Notice]:
    """Put the conversation and budget counters of ``transcript`` back into ``agent``."""
    notices = [ev.Notice(p, level="warning") for p in transcript.problems]
    decisions = {str(r.get("id")): r for r in transcript.of_kind("journal")}
    messages, note = repair(transcript.messages, decisions)
    if note:
        notices.append(ev.Notice(note, level="warning"))
    if messages:
        agent.messages[:] = messages
    elif transcript.task:  # stopped before the first message was written
        agent.messages.append({"role": "user", "content": transcript.task})
    # Compaction keeps this list verbatim: the model must not forget edits made before the crash.
    agent.applied_edits[:] = applied_summaries(agent.messages, decisions)
    restore_read_paths(agent, transcript, decisions)
    spent = transcript.spent()
    agent.budget.restore(
        steps=spent.steps,
        used=spent.used,
        last_prompt=spent.last_prompt,
        cost=spent.cost,
        elapsed=spent.elapsed,
    )
    notices.append(
        ev.Notice(f"resumed session {transcript.id}: {spent.steps} step(s) so far, continuing")
    )
    return notices


def restore_read_paths(agent: Agent, transcript: Transcript, decisions: dict[str, Record]) -> None:
    """Files the model read or wrote, so a write to them is not flagged as blind."""
    from kimitui.tools.workspace import SandboxError

    ws = agent.toolbox.workspace
    events = transcript.events()
    ok = {e.get("id") for e in events if e.get("type") == "tool_result" and e.get("ok")}
    paths = [
        e["arguments"].get("path")
        for e in events
        if e.get("type") == "tool_call"
        and e.get("name") == "read_file"
        and e.get("id") in ok
        and isinstance(e.get("arguments"), dict)
    ]
    paths += [d.get("path") for d in decisions.values() if d.get("verdict") != "rejected"]
    for path in paths:
        try:
            ws.read_paths.add(ws.relpath(ws.resolve(str(path))))
        except (SandboxError, OSError, ValueError):
            continue  # the file moved out of reach since; nothing to remember


def applied_summaries(messages: list[Message], decisions: dict[str, Record]) -> list[str]:
    """One line per edit that was written, as the loop itself keeps them."""
    results = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    lines = []
    for call_id, decision in decisions.items():
        output = results.get(call_id)
        if decision.get("verdict") == "rejected" or not isinstance(output, str):
            continue
        if output and "NOT applied" not in output:
            lines.append(f"{decision.get('path')}: {output.splitlines()[0]}")
    return lines


def needs_model(messages: list[Message]) -> bool:
    """True when the conversation is waiting for the model (not on a final answer)."""
    if not messages:
        return False
    last = messages[-1]
    return last.get("role") in ("user", "tool") or bool(last.get("tool_calls"))


# -- finding sessions ---------------------------------------------------------------


def session_files(project: Path | None = None) -> list[Path]:
    """Transcripts of ``project`` (or of every project), most recently active last."""
    folders = [project_folder(project)] if project else _all_folders()
    files = [f for folder in folders if folder.is_dir() for f in folder.glob("*.jsonl")]
    return sorted(files, key=lambda f: f.stat().st_mtime)


def _all_folders() -> list[Path]:
    root = sessions_root()
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def read_header(path: Path) -> Record:
    """The first line only: enough to filter without parsing whole transcripts."""
    with path.open("rb") as f:
        record = _parse_line(f.readline())
    return record if record and record.get("kind") == "header" else {}


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
