"""Reading a session transcript back: its records, conversation and spending.

Each line of a transcript is one JSON object with a ``kind`` and ``t`` (unix
time); ``kimitui.core.session`` documents the kinds and writes them. Reading
is forgiving: a line cut by a crash, or one that is not JSON, is skipped and
named in ``Transcript.problems``, so a damaged transcript still resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimitui.core.budget import TokenUsage

Message = dict[str, Any]
Record = dict[str, Any]


class SessionError(Exception):
    """No such session, or a transcript that cannot be used; the text says which."""


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
            if record.get("kind") == "end" and isinstance(record.get("steps"), int):
                steps = record["steps"]  # a step whose call failed is not counted
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
        record = parse_line(raw)
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


def parse_line(raw: bytes) -> Record | None:
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        return None
    return record if isinstance(record, dict) else None


def read_header(path: Path) -> Record:
    """The first line only: enough to filter without parsing whole transcripts."""
    with path.open("rb") as f:
        record = parse_line(f.readline())
    return record if record and record.get("kind") == "header" else {}
