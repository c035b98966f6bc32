"""Scripted "models" with different habits, for `kimitui compare --demo`.

Each profile reshapes the demo refactor's turns, picked by the model name the
client asks for, so one scripted server can play several models:

- ``demo-thinker`` deliberates at length before every move (a high thinking share)
  and walks the whole read-edit-test-fix cycle;
- ``demo-terse`` thinks in a line and writes the final app.py first time, so it
  needs fewer steps and far fewer output tokens.

Both finish the task with the tests passing. Any other model name gets the
demo's turns unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from kimitui.demo.refactored import APP_PY, THIN_APP_PY
from kimitui.demo.script import ToolCallSpec, Turn

THINKER = "demo-thinker"
TERSE = "demo-terse"

# Second thoughts the thinker adds to every turn: about four times the thinking.
_DELIBERATION = (
    "Before acting, let me weigh the alternatives once more. I could move the code in one "
    "large edit, which is quicker to review but harder to undo piece by piece; or in small "
    "steps, each of which leaves the project importable. Small steps win: if a test breaks "
    "I will know which move broke it. I should also keep in mind that the user asked for "
    "test_app.py to stay exactly as it is, so any import it relies on has to keep working "
    "from app, and that a circular import between the new modules would only show up at "
    "run time. Let me double-check the order of operations: models first, since nothing "
    "depends on it; then logic, which imports models; then app, which imports both. "
    "Re-reading my plan, nothing in it writes outside the project or touches the tests. "
    "Good, proceeding with the step I had in mind."
)


def _thinker(turn: Turn) -> Turn:
    extra = "\n\n".join([_DELIBERATION] * 3)
    return replace(turn, reasoning=f"{turn.reasoning}\n\n{extra}".strip())


def _terse(turn: Turn) -> Turn:
    first = turn.reasoning.split(". ")[0].strip().rstrip(".")
    calls = tuple(_final_app(call) for call in turn.tool_calls)
    # Its summary keeps the list of moves and drops the story of a failed first test run,
    # which it never had.
    content = "\n\n".join(turn.content.split("\n\n")[:2]) if turn.content else ""
    return replace(turn, reasoning=f"{first}." if first else "", content=content, tool_calls=calls)


def _final_app(call: ToolCallSpec) -> ToolCallSpec:
    """The terse model re-exports the moved names at once, so its first test run passes."""
    args = call.arguments
    if call.name == "write_file" and isinstance(args, dict) and args.get("content") == THIN_APP_PY:
        return replace(call, arguments={**args, "content": APP_PY})
    return call


PROFILES: dict[str, Callable[[Turn], Turn]] = {THINKER: _thinker, TERSE: _terse}


def profiled(turn: Turn, model: object) -> Turn:
    """``turn`` as the scripted model named ``model`` would say it."""
    shape = PROFILES.get(model) if isinstance(model, str) else None
    return shape(turn) if shape else turn
