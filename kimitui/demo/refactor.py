"""The demo script: the model splits the sample's god-module, trips, and recovers.

Every turn is decided from the request the client actually sent, so the
script stays plausible whatever the user does with the proposed edits: with
everything approved it runs the whole read-edit-test-fix cycle; when an edit
is rejected it stops proposing, checks the project still works and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kimitui.demo.profiles import profiled
from kimitui.demo.refactored import APP_PY, LOGIC_PY, MODELS_PY, THIN_APP_PY
from kimitui.demo.script import ToolCallSpec, Turn, TurnSource

DEMO_TASK = (
    "Split app.py by concern: move the dataclasses into models.py and the pure "
    "functions into logic.py, and leave app.py as a thin entry point. Fix imports "
    "wherever needed. test_app.py must keep passing without being modified."
)

# What the client appends to an answer the user cut short (kimitui.core.loop.INTERRUPTED_MARK;
# not imported, so the server needs no SDK): such an answer did not end the task.
INTERRUPTED_MARK = "[interrupted by the user]"

# Far more turns than either path needs, so follow-up questions get answers
# before the script runs dry.
DEMO_MAX_TURNS = 24


@dataclass
class Call:
    name: str
    args: dict[str, Any]
    result: str | None  # None while unanswered


@dataclass
class History:
    """What the model has done so far in this task, read back from the request."""

    calls: list[Call] = field(default_factory=list)
    finished: bool = False  # an earlier answer ended the task
    steer: str | None = None  # a user message that arrived mid-task

    def of(self, name: str, path: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.name == name and c.result is not None and path in (None, c.args.get("path"))
        ]

    @property
    def rejected(self) -> list[Call]:
        return [c for c in self.of("write_file") if _rejected(c.result)]

    def applied(self, path: str) -> list[Call]:
        return [c for c in self.of("write_file", path) if not _rejected(c.result)]

    @property
    def partial(self) -> list[str]:
        """Files the user applied only some hunks of (and never wrote whole later)."""
        paths = dict.fromkeys(c.args.get("path", "?") for c in self.of("write_file"))
        return [p for p in paths if self.applied(p) and _partial(self.applied(p)[-1].result)]

    def tests_since(self, call: Call) -> list[Call]:
        later = self.calls[self.calls.index(call) + 1 :]
        return [c for c in later if c.name == "run_tests" and c.result is not None]


def _rejected(result: str | None) -> bool:
    """Nothing was written. A partial apply lists its "Rejected hunks" but is no rejection."""
    text = (result or "").lower()
    if re.search(r"^(partially )?applied ", text, flags=re.MULTILINE):
        return False
    return "rejected" in text or "not applied" in text


def _partial(result: str | None) -> bool:
    return bool(re.search(r"^Partially applied ", result or "", flags=re.MULTILINE))


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    try:
        args = json.loads(call.get("function", {}).get("arguments") or "{}")
    except ValueError:
        return {}
    return args if isinstance(args, dict) else {}


def read_history(body: dict[str, Any]) -> History:
    history = History()
    results = {m.get("tool_call_id"): _text(m) for m in _messages(body) if m.get("role") == "tool"}
    seen_user = False
    for msg in _messages(body):
        role = msg.get("role")
        if role == "user":
            history.steer = _text(msg) if seen_user else None
            seen_user = True
        elif role == "assistant" and msg.get("tool_calls"):
            history.steer = None
            for call in msg["tool_calls"]:
                name = call.get("function", {}).get("name", "")
                history.calls.append(Call(name, _arguments(call), results.get(call.get("id"))))
        elif role == "assistant" and seen_user and INTERRUPTED_MARK not in _text(msg):
            history.finished = True
    return history


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages") or [] if isinstance(m, dict)]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


# -- reading tool results ---------------------------------------------------------------


def suite_passed(output: str | None) -> bool:
    low = (output or "").lower()
    return "passed" in low and "failed" not in low and "error" not in low


def _passed_count(output: str | None) -> str:
    match = re.search(r"(\d+) passed", output or "")
    return f"{match.group(1)} passed" if match else "all passed"


def _failure_line(output: str | None) -> str:
    text = output or ""
    match = re.search(r"(?:ImportError|ModuleNotFoundError): [^\n]+", text)
    if match:
        return match.group(0).strip()
    lines = [ln.strip() for ln in text.splitlines() if "Error" in ln or "FAILED" in ln]
    return lines[0] if lines else (text.strip().splitlines() or ["(no output)"])[-1]


def _names(pattern: str, text: str | None, fallback: list[str]) -> list[str]:
    found = re.findall(pattern, text or "", flags=re.MULTILINE)
    return list(dict.fromkeys(found)) or fallback


def _line_count(source: str | None) -> int:
    # Tools often number lines or add a header; prefer the file's own count.
    match = re.search(r"\bof (\d+)\b", source or "")
    numbered = re.findall(r"^\s*\d+[\t|:]", source or "", flags=re.MULTILINE)
    if match:
        return int(match.group(1))
    return len(numbered) or len((source or "").splitlines())


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- the turns --------------------------------------------------------------------------


def _call(name: str, **args: Any) -> ToolCallSpec:
    return ToolCallSpec(name, args)


def survey(_: History) -> Turn:
    return Turn(
        reasoning=(
            "The user wants app.py split up: dataclasses into models.py, pure functions into "
            "logic.py, app.py reduced to a thin entry point, and test_app.py left alone but "
            "still passing. Before I move anything I want to see the whole project — if some "
            "other module imports from app.py I'd have to update it as well."
        ),
        tool_calls=(_call("list_files"),),
    )


def read_both(h: History) -> Turn:
    listing = h.of("list_files")[-1].result or ""
    files = _names(r"[\w./-]+\.py\b", listing, ["app.py", "test_app.py"])
    others = [f for f in files if f not in ("app.py", "test_app.py")]
    scope = (
        f"Besides app.py and test_app.py there is {_join(others)}, which I'll keep in mind."
        if others
        else "Just app.py and test_app.py — no package, no other importers, so the blast "
        "radius is these two files."
    )
    return Turn(
        reasoning=(
            f"{scope} I'll read both at once: app.py to see what's tangled together, and "
            "test_app.py because 'must keep passing unchanged' means whatever it relies on "
            "has to survive the move."
        ),
        tool_calls=(_call("read_file", path="app.py"), _call("read_file", path="test_app.py")),
    )


def write_models(h: History) -> Turn:
    source = h.of("read_file", "app.py")[-1].result
    classes = _names(r"^[\d\s|:]*class (\w+)", source, ["Item", "Customer", "Order"])
    funcs = _names(r"\bdef ([a-z]\w*)\(", source, ["price_with_tax", "order_total"])
    pure = [f for f in funcs if f not in ("main", "load_order", "add")]
    lines = _line_count(source)
    return Turn(
        reasoning=(
            f"app.py is {lines} lines doing three jobs at once. Data: {_join(classes)} are "
            "dataclasses; Order.add is a one-line mutator, so it travels with its class. "
            f"Rules: {_join(pure)} only take values and return values — no files, no "
            "printing — so they're the logic layer. I/O: load_order opens a JSON file and "
            "main prints, so those are the entry point's job.\n\n"
            "The tests exercise prices, discounts, the order total and main(), i.e. public "
            "behaviour, so as long as the functions behave the same the suite should be "
            "fine.\n\n"
            "models.py first, since logic.py will import from it. It needs dataclass, field "
            "and Decimal, nothing else."
        ),
        tool_calls=(_call("write_file", path="models.py", content=MODELS_PY),),
    )


def write_logic(_: History) -> Turn:
    return Turn(
        reasoning=(
            "models.py is in. Now logic.py. TAX_RATE and CENT are pricing constants, so they "
            "move with the functions that use them. format_receipt builds a string but never "
            "prints it, so it's pure as well and belongs here; load_order reads a file, so it "
            "stays behind. logic imports Customer and Order from models for the annotations — "
            "no cycle, because models imports nothing of ours."
        ),
        tool_calls=(_call("write_file", path="logic.py", content=LOGIC_PY),),
    )


def write_thin_app(_: History) -> Turn:
    return Turn(
        reasoning=(
            "Both new modules exist. What's left for app.py is what main() actually touches: "
            "load_order, the three model classes to build orders, and format_receipt to print "
            "one. I'll pull the hard-coded sample order out into a demo_order() helper so "
            "main() reads in three lines."
        ),
        tool_calls=(_call("write_file", path="app.py", content=THIN_APP_PY),),
    )


def run_tests(_: History) -> Turn:
    return Turn(
        reasoning="That's the split done. Running the tests before I claim anything.",
        tool_calls=(_call("run_tests"),),
    )


def reexport(h: History) -> Turn:
    output = h.of("run_tests")[-1].result
    failure = _failure_line(output)
    missing = re.search(r"cannot import name '(\w+)' from 'app'", failure)
    why = (
        _why_missing(missing.group(1), h.of("read_file", "test_app.py"))
        if missing
        else "The tests still import everything from app, and my thin app.py no longer "
        "provides most of it."
    )
    return Turn(
        reasoning=(
            f"Collection failed:\n\n    {failure}\n\n"
            f"Right. {why} I treated the tests as exercising behaviour, but they also pin "
            "the import path. I was told not to touch them, so the fix belongs in app.py: "
            "re-export the moved names. I'll import them explicitly and list them in "
            "__all__, so they read as deliberate re-exports rather than unused imports a "
            "linter would strip."
        ),
        tool_calls=(_call("write_file", path="app.py", content=APP_PY),),
    )


def _why_missing(name: str, reads: list[Call]) -> str:
    tests = reads[-1].result if reads else ""
    imported = _names(r"from app import \(?([^\n)]+)", tests, [])
    names = [n.strip() for n in ", ".join(imported).split(",") if n.strip()]
    moved = [n for n in names if n not in ("main", "Item", "Customer", "Order", name)]
    also = f" — along with {_join(moved)} —" if moved else ""
    return (
        f"test_app.py imports {name}{also} straight from app, and my thin app.py only "
        "pulls in format_receipt and the model classes."
    )


def rerun_tests(_: History) -> Turn:
    return Turn(
        reasoning="app.py now re-exports everything test_app.py asks for. Running the suite again.",
        tool_calls=(_call("run_tests"),),
    )


def summary(h: History) -> Turn:
    output = h.of("run_tests")[-1].result
    if not suite_passed(output):
        return _still_failing(output)
    count = _passed_count(output)
    partial = h.partial
    part_note = (
        f"\n\nYou applied only some hunks of my edit to {_join(partial)}; the lines you "
        "left out are as they were, and the tests above ran on that version."
        if partial
        else ""
    )
    return Turn(
        reasoning=(
            f"{count}, with test_app.py untouched. models.py holds the data, logic.py the "
            "rules, app.py just loads, prints and re-exports. Done; time to summarise."
        ),
        content=(
            "Split complete.\n\n"
            "- models.py: the dataclasses Item, Customer and Order.\n"
            "- logic.py: the pricing rules (round_money, price_with_tax, apply_discount, "
            "loyalty_discount, order_total, format_receipt) plus TAX_RATE.\n"
            "- app.py: a thin entry point (load_order, demo_order, main) that re-exports "
            "the moved names, listed in __all__, so existing `from app import ...` callers "
            "such as test_app.py keep working.\n\n"
            f"The first test run failed with an ImportError because the tests import from "
            f"app; after adding the re-exports: {count}.{part_note}"
        ),
    )


def _still_failing(output: str | None) -> Turn:
    failure = _failure_line(output)
    return Turn(
        reasoning=(
            f"The suite still fails:\n\n    {failure}\n\nI've already had one go at this "
            "and I'd rather report it than keep rewriting files blind."
        ),
        content=(
            "I split app.py into models.py and logic.py, but the tests do not pass yet:\n\n"
            f"    {failure}\n\nI stopped here rather than keep guessing; tell me how you'd "
            "like to proceed."
        ),
    )


# -- when the user says no -------------------------------------------------------------


def after_rejection(h: History) -> Turn:
    first = h.rejected[0]
    path = first.args.get("path", "the file")
    feedback = _feedback(first.result)
    applied = [p for p in ("models.py", "logic.py", "app.py") if h.applied(p)]
    state = (
        f"{_join(applied)} went in before that, so the project is half-split"
        if applied
        else "nothing has been written, so the project is exactly as it was"
    )
    return Turn(
        reasoning=(
            f"The write to {path} was rejected{feedback}. So no more edits: pushing the "
            "same split one file at a time would only give the user more to turn down. "
            f"{state.capitalize()}. Let me make sure the tests are still green, then explain "
            "what I would have done so they can decide."
        ),
        tool_calls=(_call("run_tests"),),
    )


def _feedback(result: str | None) -> str:
    """The reviewer's words, if the rejection came with any."""
    text = result or ""
    match = re.search(r"feedback:\s*(.+)", text, flags=re.IGNORECASE) or re.search(
        r"rejected[^:\n]*:\s*(.+)", text, flags=re.IGNORECASE
    )
    if not match:
        return ""
    words = match.group(1).strip().rstrip(".")
    return f', with the note "{words[:200]}"'


def rejection_summary(h: History) -> Turn:
    output = h.of("run_tests")[-1].result
    applied = [p for p in ("models.py", "logic.py", "app.py") if h.applied(p)]
    rejected = list(dict.fromkeys(c.args.get("path", "?") for c in h.rejected))
    outcome = (
        f"the tests still pass ({_passed_count(output)})"
        if suite_passed(output)
        else f"the tests fail: {_failure_line(output)}"
    )
    thought = (
        f"{_passed_count(output)}, so the project works as it did."
        if suite_passed(output)
        else f"The tests fail ({_failure_line(output)}), and that's with the user's choices "
        "applied, so I must say so rather than hide it."
    )
    changed = f"Applied: {_join(applied)}. " if applied else "Nothing was changed in the project. "
    return Turn(
        reasoning=f"{thought} I'll stop here and say plainly where things stand.",
        content=(
            f"You rejected my edit to {_join(rejected)}, so I stopped proposing changes. "
            f"{changed}Checked with run_tests: {outcome}.\n\n"
            "The plan was: dataclasses (Item, Customer, Order) into models.py, the pricing "
            "functions into logic.py, and app.py reduced to load_order/main, re-exporting the "
            "moved names so test_app.py keeps importing from app. Say the word, or suggest a "
            "different layout, and I'll propose it again."
        ),
    )


def follow_up(h: History) -> Turn:
    done = bool(h.applied("app.py")) and not h.rejected
    status = (
        "The split is in place and the tests pass."
        if done
        else "I haven't changed the project beyond what you approved."
    )
    return Turn(
        reasoning="The task is already wrapped up; this is a follow-up, so a short answer.",
        content=(
            f"{status} This demo model only knows the one refactor, so for anything else "
            "point kimitui at a real model with --base-url and --model."
        ),
    )


# -- choosing the next turn --------------------------------------------------------------

Step = Callable[[History], Turn]


def _rejection_step(h: History) -> Step:
    return rejection_summary if h.tests_since(h.rejected[0]) else after_rejection


def _refactor_step(h: History) -> Step:
    if not h.of("list_files"):
        return survey
    if not h.of("read_file", "app.py"):
        return read_both
    for path, step in (("models.py", write_models), ("logic.py", write_logic)):
        if not h.applied(path):
            return step
    app_writes = h.applied("app.py")
    if not app_writes:
        return write_thin_app
    if not h.tests_since(app_writes[-1]):
        return rerun_tests if len(app_writes) > 1 else run_tests
    if suite_passed(h.of("run_tests")[-1].result) or len(app_writes) > 1:
        return summary
    return reexport


def next_step(h: History) -> Step:
    if h.finished:
        return follow_up
    if h.rejected:
        return _rejection_step(h)
    return _refactor_step(h)


def _with_steer(turn: Turn, steer: str | None) -> Turn:
    """Acknowledge a message the user slipped in while the task was running."""
    if not steer:
        return turn
    note = f'The user just added: "{steer.strip()}". Noted; I\'ll keep it in mind.\n\n'
    return Turn(note + turn.reasoning, turn.content, turn.tool_calls)


def demo_turn(body: dict[str, Any]) -> Turn:
    history = read_history(body)
    turn = _with_steer(next_step(history)(history), history.steer)
    # `kimitui compare --demo` asks for scripted models by name; others get the turn as is.
    return profiled(turn, body.get("model"))


def demo_turns() -> list[TurnSource]:
    return [demo_turn] * DEMO_MAX_TURNS
