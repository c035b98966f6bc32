"""Property tests: any string, lone surrogates included, is saved, read back, printed and
exported without an error, and the API key never survives redaction (issue 14)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kimitui.core import events as ev
from kimitui.core.export import export_json, export_markdown
from kimitui.core.journal import Journal
from kimitui.core.jsonsafe import MAX_JSON_DEPTH, TooDeep, depth, dumps, loads
from kimitui.core.redact import Redactor
from kimitui.core.session import TranscriptFile
from kimitui.core.transcript import Transcript, load_transcript
from kimitui.headless import HeadlessRenderer

# Every code point, surrogates too (hypothesis leaves them out unless asked), and the
# strings Python makes of file names that are not UTF-8.
any_char = st.characters(exclude_categories=())
disk_names = st.binary(max_size=40).map(os.fsdecode)
texts = st.one_of(st.text(any_char, max_size=200), disk_names)
KEY = "sk-live-0123456789abcdef"
SAVE_DIR = Path(tempfile.mkdtemp(prefix="kimitui-props-"))


def saved_and_loaded(text: str) -> tuple[bytes, Transcript]:
    fd, name = tempfile.mkstemp(suffix=".jsonl", dir=SAVE_DIR)
    os.close(fd)
    path = Path(name)
    path.unlink()
    file = TranscriptFile(path, create=True)
    file.write("header", v=1, id="s", project=text, task=text)
    file.write("message", i=0, message={"role": "tool", "content": text})
    file.write("event", event=ev.Notice(text).to_dict())
    file.close()
    raw = path.read_bytes()
    transcript = load_transcript(path)
    path.unlink()
    return raw, transcript


@settings(max_examples=200, deadline=None)
@given(texts)
def test_any_string_is_saved_as_utf8_and_read_back_exactly(text: str) -> None:
    raw, transcript = saved_and_loaded(text)
    raw.decode("utf-8")  # strict: the file is always valid UTF-8
    assert transcript.problems == []
    assert transcript.header["task"] == text
    assert transcript.messages == [{"role": "tool", "content": text}]
    assert transcript.events()[0]["text"] == text


@settings(max_examples=100, deadline=None)
@given(texts)
def test_the_undo_journal_keeps_any_string(text: str) -> None:
    fd, name = tempfile.mkstemp(suffix=".jsonl", dir=SAVE_DIR)
    os.close(fd)
    journal = Journal(Path(name))
    entry = {"seq": 1, "path": text, "tool": "write_file", "call_id": "c", "at": 0.0}
    journal._append({"op": "apply", **entry, "before": text, "after": text + "!"})
    (read,) = Journal(Path(name)).entries
    Path(name).unlink()
    assert (read.path, read.before, read.after) == (text, text, text + "!")


def strict_stdout() -> io.TextIOWrapper:
    """Like a real stdout on a UTF-8 terminal: a lone surrogate cannot be encoded."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")


@settings(max_examples=200, deadline=None)
@given(texts)
def test_the_headless_printer_prints_any_string_and_jsonl_stays_exact(text: str) -> None:
    events: list[ev.Event] = [
        ev.Content(text),
        ev.ToolCall("c1", "read_file", {"path": text}),
        ev.ToolOutput("c1", "read_file", True, text),
        ev.Notice(text),
        ev.Done("finished", text),
    ]
    for json_mode in (False, True):
        out = strict_stdout()
        printer = HeadlessRenderer(out, json_mode=json_mode)
        for event in events:
            printer(event)
        out.flush()
        printed = out.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
        if json_mode:
            lines = [json.loads(line) for line in printed.split("\n") if line]
            assert lines[0]["text"] == text and lines[1]["arguments"] == {"path": text}
            assert [line["type"] for line in lines] == [e.type for e in events]


@settings(max_examples=100, deadline=None)
@given(texts)
def test_an_export_of_any_string_encodes_and_json_reads_back(text: str) -> None:
    fd, name = tempfile.mkstemp(suffix=".jsonl", dir=SAVE_DIR)
    os.close(fd)
    path = Path(name)
    path.unlink()
    file = TranscriptFile(path, create=True)
    file.write("header", v=1, id="s", project="p", task="t")
    for event in (ev.UserMessage(text), ev.Content(text), ev.ToolOutput("c", "x", True, text)):
        file.write("event", event=event.to_dict())
    file.write("message", i=0, message={"role": "user", "content": text})
    file.close()
    transcript = load_transcript(path)
    path.unlink()
    export_markdown(transcript).encode("utf-8")
    doc = json.loads(export_json(transcript).encode("utf-8"))
    assert doc["messages"] == [{"role": "user", "content": text}]


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_the_key_never_survives_redaction(before: str, after: str) -> None:
    redactor = Redactor.for_endpoint(KEY, "https://api.example.com/v1")
    text = f"{before}{KEY}{after}"
    assert KEY not in redactor.text(text)
    event = redactor.event(ev.ToolCall("c", "x", {"a": [text, {"b": text}]}))
    assert KEY not in dumps(event.to_dict())
    # As saved: the JSON text of the line is redacted too, escapes and all.
    assert KEY not in redactor.text(json.dumps({"m": text}, ensure_ascii=False))


@given(st.integers(min_value=1, max_value=3 * MAX_JSON_DEPTH))
def test_json_deeper_than_the_limit_is_refused(levels: int) -> None:
    text = "[" * levels + "]" * levels
    if levels > MAX_JSON_DEPTH:
        try:
            loads(text)
        except TooDeep:
            return
        raise AssertionError("parsed JSON deeper than the limit")
    assert depth(loads(text)) == levels
