"""Writing sessions: every run's append-only JSONL transcript, as it happens.

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
``end``             reason, message, elapsed, steps: how one run of the session ended

Records are written with one ``os.write`` each, so a killed process loses
nothing it wrote; fsync follows every step boundary, decided edit and end, so
a power cut loses at most the step in flight. Never written: the API key or
any header, nor a URL's user:password or secret query values (each line is
redacted, see ``kimitui.core.redact``); withheld secret files never enter the
messages or events in the first place. Any string is written, lone surrogates
(from file names that are not UTF-8) as JSON escapes that read back the same.

Reading a transcript back is ``kimitui.core.transcript``; resuming one is
``kimitui.core.resume``; finding one is ``kimitui.core.catalog``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimitui import __version__
from kimitui.core import events as ev
from kimitui.core.redact import Redactor, display_url
from kimitui.core.resume import restore
from kimitui.core.safetext import json_safe
from kimitui.core.statedir import FILE_MODE, make_private_dirs, project_folder
from kimitui.core.transcript import Message, Transcript

if TYPE_CHECKING:  # the loop pulls in the SDK; `kimitui sessions` must stay light
    from kimitui.core.loop import Agent

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

# The endpoint without user:password or query string, where keys sometimes ride.
scrub_url = display_url


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- writing ------------------------------------------------------------------------


class TranscriptFile:
    """An append-only JSONL file at mode 0600, written unbuffered."""

    def __init__(self, path: Path, *, create: bool, redactor: Redactor | None = None) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        self._fd: int | None = os.open(path, flags, FILE_MODE)
        if not create and not _ends_with_newline(path):
            # A crash mid-write left half a line; ours must start on a fresh one.
            self._write_bytes(b"\n")

    def write(self, kind: str, **fields: Any) -> None:
        record = {"kind": kind, "t": round(time.time(), 3), **fields}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        # A lone surrogate (a file name that is not UTF-8) would not encode: JSON-escaped.
        self._write_bytes(json_safe(self.redactor.text(line)).encode() + b"\n")

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
        except (ValueError, TypeError, RecursionError):
            # Not expected (any string is written): one record lost, never the session.
            log.exception("a %s record could not be saved", event.type)

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
        elif isinstance(event, ev.EditDecided) and event.kind == "edit":
            self._journal(event)
        elif isinstance(event, ev.Done):
            # steps: a call that failed without an answer is no step, though it was started.
            self.file.write(
                "end",
                reason=event.reason,
                message=event.message,
                elapsed=self._elapsed(),
                steps=self.agent.budget.steps,
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
    file = TranscriptFile(
        folder / f"{agent.client.session_id}.jsonl", create=True, redactor=agent.redactor
    )
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
    file = TranscriptFile(transcript.path, create=False, redactor=agent.redactor)
    file.write("resumed", steps=agent.budget.steps)
    recorder = SessionRecorder(agent, file, transcript.messages)
    recorder.sync_messages()  # the repair made by restore(), if any
    file.sync()
    recorder.notices = notices
    return recorder
