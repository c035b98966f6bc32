"""MCP in the TUI: the servers' line under the budget meter, and the question an
MCP call that may change something asks at the gate.

The line renders what the hub reports (``McpStatus`` events); the dialog shows
server, tool and arguments as formatted JSON and answers with None (run it) or
the user's feedback, which the model reads as the tool's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from kimitui.core.events import McpStatus
from kimitui.core.gate import AskGate, McpRequest
from kimitui.core.safetext import safe, safe_line
from kimitui.tui.guard import KeyGuard

if TYPE_CHECKING:
    from textual.app import App

REFUSED = "the user refused this call"
MARKS = {"ready": "✓", "starting": "…", "disabled": "-", "stopped": "-"}


def status_text(states: dict[str, McpStatus]) -> str:
    """``mcp: git ✓ 12 tools · fetch ✗ exited`` (errors are for `kimitui mcp list`)."""
    parts = []
    for s in states.values():
        mark = MARKS.get(s.status, "✗")
        what = f"{s.tools} tools" if s.status == "ready" else s.status
        parts.append(f"{s.server} {mark} {what}")
    return "mcp: " + " · ".join(parts)


class McpStatusLine(Static):
    """One line under the meter; hidden until a server is reported."""

    DEFAULT_CSS = """
    McpStatusLine {
        display: none;
        height: 1;
        padding: 0 0 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    McpStatusLine.-shown { display: block; }
    McpStatusLine.-problem { color: $warning; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.states: dict[str, McpStatus] = {}

    def show(self, event: McpStatus) -> None:
        self.states[event.server] = event
        self.add_class("-shown")
        failed = any(s.status in ("failed", "exited") for s in self.states.values())
        self.set_class(failed, "-problem")
        self.update(safe_line(status_text(self.states)))
        errors = [f"{s.server}: {s.error}" for s in self.states.values() if s.error]
        self.tooltip = safe("\n".join(errors)) if errors else None


class McpCallScreen(ModalScreen[str | None]):
    """An MCP call that is not read-only: run it, or refuse with feedback for the model."""

    BINDINGS: ClassVar = [
        Binding("y", "run", "run it"),
        Binding("n", "refuse", "refuse"),
        Binding("escape", "refuse", "refuse", show=False),
    ]
    AUTO_FOCUS = "#mcp-refuse"  # refusing is the safe default for a stray Enter
    DEFAULT_CSS = """
    McpCallScreen { align: center middle; }
    #mcp-dialog {
        width: 90; max-width: 95%; height: auto; max-height: 90%;
        background: $surface; border: round $warning; padding: 0 1;
    }
    #mcp-title { text-style: bold; padding: 1 0 0 0; }
    #mcp-args { height: auto; max-height: 20; margin: 1 0; }
    #mcp-buttons { height: auto; align: center middle; padding: 1 0; }
    #mcp-buttons Button { margin: 0 1; }
    """

    def __init__(self, request: McpRequest) -> None:
        super().__init__()
        self.request = request
        self.key_guard = KeyGuard()  # it opens by itself: a key typed just then is no answer
        self.key_guard.hold()

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(id="mcp-dialog"):
            yield Static(
                safe_line(f"MCP server {r.server} wants to run {r.tool}"),
                id="mcp-title",
                markup=False,
            )
            with VerticalScroll(id="mcp-args"):
                yield Static(safe(r.arguments), markup=False)
            yield Input(placeholder="feedback for the model if you refuse (optional)", id="mcp-why")
            with Horizontal(id="mcp-buttons"):
                yield Button("Run it (y)", id="mcp-run", variant="warning")
                yield Button("Refuse (n)", id="mcp-refuse", variant="primary")

    def action_run(self) -> None:
        self.dismiss(None)

    def action_refuse(self) -> None:
        why = self.query_one("#mcp-why", Input).value.strip()
        self.dismiss(why or REFUSED)

    @on(Input.Submitted, "#mcp-why")
    def _submitted(self) -> None:
        self.action_refuse()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "mcp-run":
            self.action_run()
        else:
            self.action_refuse()


class McpAsker:
    """Opens one :class:`McpCallScreen` at a time for the gate's waiting MCP calls."""

    def __init__(self, app: App[object]) -> None:
        self.app = app
        self.asked: str | None = None

    def check(self, gate: AskGate) -> None:
        if self.asked is not None or not gate.mcp_reviews:
            return
        request = gate.mcp_reviews[0].request
        self.asked = request.call_id

        def answered(refusal: str | None) -> None:
            self.asked = None
            gate.decide_mcp(request.call_id, refusal)

        self.app.push_screen(McpCallScreen(request), answered)
