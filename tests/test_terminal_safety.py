"""Terminal safety outside the TUI: the sanitizer, the transcript writer, export, headless.

Whatever the model, a repository's files and names or the server send, what
kimitui writes to a terminal holds no raw control character (an escape is
shown as ``\\x1b``) and writing it never fails; what it writes as JSON parses
back to exactly what was meant. The TUI's side is in test_terminal_safety_tui.py.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hostile import (
    CLEAR,
    CONTROLS,
    OSC52,
    OSC_TITLE,
    RAW,
    assert_clean,
    hostile_text,
    raw_in,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimitui.core import events as ev
from kimitui.core.export import export_json, export_markdown
from kimitui.core.safetext import is_safe, json_safe, safe, safe_line
from kimitui.core.session import TranscriptFile
from kimitui.core.transcript import load_transcript
from kimitui.headless import HeadlessRenderer
from kimitui.session_cmds import format_table

# -- the sanitizer --------------------------------------------------------------------


def test_escape_sequences_are_shown_not_obeyed() -> None:
    assert safe(OSC52) == "a\\x1b]52;c;dHJlZQ==\\x1b\\.py"
    assert safe(OSC_TITLE) == "b\\x1b]0;pwned\\x07.py"
    assert safe(CLEAR) == "\\x1b[2J\\x1b[H"
    assert safe("\x9b2J \x7f \x00 \x08") == "\\x9b2J \\x7f \\x00 \\x08"


def test_newline_and_tab_stay_in_text_and_are_escaped_in_a_line() -> None:
    assert safe("a\n\tb") == "a\n\tb"
    assert safe_line("a\n\tb") == "a\\n\\tb"


def test_a_windows_line_end_is_a_newline_but_a_lone_carriage_return_is_shown() -> None:
    # A lone CR would let the rest of the line overwrite what was shown before it.
    assert safe("one\r\ntwo\rTWO") == "one\ntwo\\rTWO"
    assert safe_line("one\r\n") == "one\\r\\n"


def test_bidi_controls_are_shown() -> None:
    assert safe("if admin\u202e } \u2066") == "if admin\\u202e } \\u2066"


def test_an_undecodable_file_name_shows_its_bytes() -> None:
    name = b"caf\xe9-\xff.py".decode("utf-8", "surrogateescape")
    assert safe_line(name) == "caf\\xe9-\\xff.py"
    assert safe_line("\ud83d") == "\\ud83d"  # half a pair, not from a byte


def test_a_lone_surrogate_reads_back_as_itself() -> None:
    value = {"name\udcff": ["\ud800", "x\udc80y"]}
    assert json.loads(json_safe(json.dumps(value, ensure_ascii=False))) == value


def test_ordinary_text_is_left_alone() -> None:
    text = "naïve café — 日本語 👩‍💻 [b]not markup[/b] \\x1b C:\\path"
    assert safe(text) is text and safe_line(text) is text and is_safe(text)


def test_every_control_is_escaped() -> None:
    for ch in CONTROLS:
        if ch in "\n\t":
            continue
        shown = safe(ch)
        assert shown.startswith("\\") and not raw_in(shown), repr(ch)


def test_ascii_text_and_other_text_are_escaped_alike() -> None:
    # ASCII text takes a faster path than the rest: both must agree on every character.
    for code in range(128):
        ch = chr(code)
        assert safe("é" + ch) == "é" + safe(ch), repr(ch)
        assert safe_line("é" + ch) == "é" + safe_line(ch), repr(ch)
        assert is_safe(ch) == is_safe("é" + ch) == (safe(ch) == ch), repr(ch)
        dumped = json.dumps(ch, ensure_ascii=False)
        assert json_safe(dumped) == json_safe(dumped + "é")[:-1], repr(ch)
    assert json_safe('"\x7f"') == '"\\u007f"'


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_nothing_raw_survives_and_everything_can_be_written(text: str) -> None:
    assert_clean(safe(text))
    line = safe_line(text)
    assert_clean(line)
    assert "\n" not in line and "\t" not in line
    assert safe(safe(text)) == safe(text)  # escaping twice changes nothing more


def as_json(value: Any) -> Any:
    """``value`` as any JSON reader gets it back (see the surrogate note below)."""
    return json.loads(json.dumps(value))


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    _nested,
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_stays_exactly_the_same_json(value: Any) -> None:
    dumped = json_safe(json.dumps(value, ensure_ascii=False))
    # Exactly the value, as the standard library's ASCII JSON gives it back: the
    # one difference from ``value`` itself is that JSON cannot keep a high and a
    # low surrogate that happen to stand next to each other apart, so they read
    # back as the one character they make (file names only ever hold low ones).
    assert json.loads(dumped) == as_json(value)
    assert_clean(dumped)
    assert "\n" not in dumped  # one record, one line


# -- the transcript writer ----------------------------------------------------------------


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.dictionaries(hostile_text, json_values, max_size=4), min_size=1, max_size=5))
def test_every_transcript_write_succeeds_and_reads_back_exactly(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    path = tmp_path / f"{os.urandom(6).hex()}.jsonl"
    file = TranscriptFile(path, create=True)
    file.write("header", id="s1", project=OSC52, task="\udcff")
    for fields in records:
        file.write("event", event=fields)
    file.close()
    data = path.read_bytes()
    text = data.decode("utf-8")  # valid UTF-8 whatever was in the strings
    assert_clean(text)
    lines = text.splitlines()
    assert len(lines) == len(records) + 1
    back = load_transcript(path)
    assert back.problems == []
    assert back.project == OSC52 and back.task == "\udcff"
    assert [r["event"] for r in back.records[1:]] == as_json(records)


# -- export ----------------------------------------------------------------------------------


def hostile_events() -> st.SearchStrategy[ev.Event]:
    t = hostile_text
    args = st.one_of(t, st.dictionaries(t, st.one_of(t, st.integers()), max_size=3))
    return st.one_of(
        st.builds(ev.SessionStarted, t, t, t, t),
        st.builds(ev.StepStarted, st.integers(1, 50)),
        st.builds(ev.UserMessage, t, st.sampled_from(["task", "steer", "queued", "note"])),
        st.builds(ev.Reasoning, t),
        st.builds(ev.Content, t),
        st.builds(ev.ToolCall, t, t, args),
        st.builds(ev.ToolOutput, t, t, st.booleans(), t, st.floats(0, 100)),
        st.builds(ev.EditProposed, t, t, t, st.integers(0, 99), st.integers(0, 99), st.booleans()),
        st.builds(
            ev.EditDecided,
            t,
            t,
            st.sampled_from(["approved", "rejected", "partial"]),
            st.lists(st.integers(0, 9), max_size=3),
            t,
        ),
        st.builds(ev.RetryScheduled, st.integers(1, 9), t, st.floats(0, 60)),
        st.builds(ev.Notice, t, st.sampled_from(["info", "warning", "error"])),
        st.builds(ev.Done, st.sampled_from(["finished", "error", "max_steps"]), t),
    )


def write_session(folder: Path, task: str, events: list[ev.Event]) -> Path:
    path = folder / f"{os.urandom(6).hex()}.jsonl"
    file = TranscriptFile(path, create=True)
    file.write("header", v=1, id=path.stem, project=OSC52, model=CLEAR, task=task, started="")
    for event in events:
        file.write("event", event=event.to_dict())
    file.close()
    return path


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hostile_text, st.lists(hostile_events(), max_size=8))
def test_export_prints_no_raw_control_and_its_json_is_the_records(
    tmp_path: Path, task: str, events: list[ev.Event]
) -> None:
    transcript = load_transcript(write_session(tmp_path, task, events))
    markdown = export_markdown(transcript)
    assert_clean(markdown)
    dumped = export_json(transcript)
    assert_clean(dumped)
    doc = json.loads(dumped)
    assert [r["event"] for r in doc["records"][1:]] == as_json([e.to_dict() for e in events])


def test_export_shows_the_escapes_it_removed(tmp_path: Path) -> None:
    events = [
        ev.Content(f"cleared {CLEAR}"),
        ev.ToolCall("c1", "read_file", {"path": OSC52}),
        ev.ToolOutput("c1", "read_file", True, OSC_TITLE, 0.1),
    ]
    markdown = export_markdown(load_transcript(write_session(tmp_path, "go", events)))
    assert "cleared \\x1b[2J\\x1b[H" in markdown
    assert "a\\x1b]52;c;dHJlZQ==\\x1b\\.py" in markdown
    assert "b\\x1b]0;pwned\\x07.py" in markdown
    assert not raw_in(markdown)


def test_the_sessions_table_shows_escapes(tmp_path: Path) -> None:
    from kimitui.core.catalog import summarize

    path = write_session(tmp_path, f"task {CLEAR}\udcff", [ev.Done("finished", "")])
    table = format_table([summarize(load_transcript(path))])
    assert "task \\x1b[2J\\x1b[H\\xff" in table
    assert_clean(table)


# -- the headless printer -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_events(), min_size=1, max_size=6))
def test_headless_lines_hold_no_raw_control(events: list[ev.Event]) -> None:
    out = io.StringIO()
    printer = HeadlessRenderer(out)
    for event in events:
        printer(event)
    assert_clean(out.getvalue())


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_events(), min_size=1, max_size=6))
def test_headless_json_lines_are_exactly_the_events(events: list[ev.Event]) -> None:
    out = io.StringIO()
    printer = HeadlessRenderer(out, json_mode=True)
    for event in events:
        printer(event)
    text = out.getvalue()
    assert_clean(text)
    lines = text.splitlines()
    assert [json.loads(line) for line in lines] == as_json([e.to_dict() for e in events])


def test_headless_shows_what_the_model_tried_to_send() -> None:
    out = io.StringIO()
    printer = HeadlessRenderer(out)
    printer(ev.Content(f"done {CLEAR}\nbye"))
    printer(ev.ToolCall("c1", "read_file", {"path": OSC52}))
    printer(ev.ToolOutput("c1", "list_files", True, OSC_TITLE))
    text = out.getvalue()
    assert "says: done \\x1b[2J\\x1b[H\nbye" in text  # the answer keeps its lines
    assert '"path": "a\\u001b]52;c;dHJlZQ==\\u001b\\\\.py"' in text  # arguments are JSON
    assert "b\\x1b]0;pwned\\x07.py" in text
    assert not RAW.search(text)


def test_json_control_characters_are_json_escapes() -> None:
    out = io.StringIO()
    HeadlessRenderer(out, json_mode=True)(ev.Content("\x1b[2J \x9b \u202e \udcff"))
    line = out.getvalue()
    assert line == '{"type": "content", "text": "\\u001b[2J \\u009b \\u202e \\udcff"}\n'


@pytest.mark.parametrize(
    ("json_mode", "shown"), [(False, b"caf\\xe9.py"), (True, b"caf\\udce9.py")]
)
def test_a_lone_surrogate_reaches_a_strict_utf8_stream(json_mode: bool, shown: bytes) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    printer = HeadlessRenderer(stream, json_mode=json_mode)
    printer(ev.ToolOutput("c1", "list_files", True, "caf\udce9.py"))  # b"caf\xe9.py" on disk
    assert shown in raw.getvalue()


def test_a_usage_error_naming_a_hostile_path_is_printed_escaped(tmp_path: Path) -> None:
    from test_cli import clean_env, kimitui

    missing = tmp_path / f"gone{CLEAR}"
    done = kimitui(str(missing), "--headless", "--task", "x", env=clean_env(MOONSHOT_API_KEY="k"))
    assert done.returncode == 2
    assert "gone\\x1b[2J\\x1b[H does not exist" in done.stderr
    assert_clean(done.stderr)
