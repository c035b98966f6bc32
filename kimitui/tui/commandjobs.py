"""The jobs behind the slash commands that are not one of the App's own actions:
the diff, compaction, the cost so far, switching model or theme, a fresh
conversation, and the prompts /commit and /init send to the model.

Each job takes the App and the text typed after the command's name, and says
what it did (or why it did nothing) in the transcript.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kimitui.core import events as ev
from kimitui.core.budget import Prices
from kimitui.core.llm import ModelError
from kimitui.core.prices import known_prices
from kimitui.core.safetext import safe_line
from kimitui.tools.errors import ToolError
from kimitui.tui.commitreview import diff_text
from kimitui.tui.messages import ComposerSubmitted
from kimitui.tui.meter import clock, count
from kimitui.tui.statusbar import StatusBar

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost

MODEL_NAME = re.compile(r"[\w.:/@+-]{1,100}")  # what model ids look like, and nothing else
OWN_PRICES = "[prices] in config.toml"  # build_prices' source for configured prices

INIT_PROMPT = (
    "Write an AGENTS.md at the project root for coding agents working on this project. "
    "Look at the project first (list_files, read_file; README and build files). Say in a "
    "few short sections: what the project is, how to set it up, build it and run its tests "
    "(exact commands), how the code is laid out, and the conventions to follow. Keep it "
    "under about 150 lines and only write what the files show. If an AGENTS.md exists, "
    "improve it instead. The file goes through my review before it is written."
)


def commit_prompt(message: str) -> str:
    how = (
        f"Use this commit message: {message}"
        if message
        else "Look at git_status and git_diff first and write a short, specific message"
    )
    return (
        f"Commit the current changes with git_commit. {how}. Commit only changes that belong "
        "together (pass paths when some do not). The commit waits at my gate."
    )


def say(app: AppHost, text: str, level: str = "info") -> None:
    """A line in the transcript, through the Agent so the saved session has it too."""
    app.agent.emit(ev.Notice(text, level))


def send(app: AppHost, text: str) -> None:
    """A message to the model, as if typed in the composer."""
    app.post_message(ComposerSubmitted(text))


def busy(app: AppHost, what: str) -> bool:
    """True (and said) when a run is going: ``what`` needs the conversation at rest."""
    if app.run_active:
        say(
            app, f"{what} waits for a quiet moment: stop the run first (Esc), then again", "warning"
        )
    return app.run_active


# -- /diff ----------------------------------------------------------------------


class DiffScreen(ModalScreen[None]):
    """The working tree's diff, read-only (Esc closes)."""

    BINDINGS: ClassVar = [Binding("escape,q", "dismiss", "close")]

    def __init__(self, diff: str) -> None:
        super().__init__()
        self.diff = diff

    def compose(self) -> ComposeResult:
        with Vertical(id="preview"):
            yield Static("git diff · Esc closes", id="preview-title", markup=False)
            with VerticalScroll(id="preview-body"):
                yield Static(diff_text(self.diff), markup=False)

    def on_mount(self) -> None:
        self.query_one("#preview-body").focus()


def show_diff(app: AppHost, _argument: str = "") -> None:
    if app.agent.toolbox.git is None:
        say(app, "/diff needs a git work tree, and this project is not in one", "warning")
        return
    app.run_worker(_show_diff(app), group="slash-diff", exclusive=True, exit_on_error=False)


async def _show_diff(app: AppHost) -> None:
    git = app.agent.toolbox.git
    if git is None:
        return
    try:
        diff = await git.diff()
    except (ToolError, OSError) as err:  # git failing is a message, never a crash
        say(app, f"git diff failed: {err}", "warning")
        return
    app.push_screen(DiffScreen(diff))


# -- /review, /commit, /init --------------------------------------------------------


def commit_changes(app: AppHost, message: str = "") -> None:
    if app.agent.toolbox.git is None:
        say(app, "/commit needs a git work tree, and this project is not in one", "warning")
        return
    send(app, commit_prompt(message.strip()))


def init_instructions(app: AppHost, _argument: str = "") -> None:
    send(app, INIT_PROMPT)


# -- /compact, /clear -------------------------------------------------------------


def compact_now(app: AppHost, _argument: str = "") -> None:
    if busy(app, "/compact"):
        return
    say(app, "compacting the conversation…")
    # In the Agent's group: a run started meanwhile cancels it before it changes anything.
    app.run_worker(_compact(app), group="agent", exclusive=True, exit_on_error=False)


async def _compact(app: AppHost) -> None:
    agent = app.agent
    try:
        result = await agent.compactor.compact(
            agent.messages, agent.toolbox.schemas(), agent.applied_edits, force=True
        )
    except ModelError as err:  # a failed summary call keeps the conversation as it was
        say(app, f"compaction failed, the conversation is unchanged: {err}", "warning")
        return
    say(app, result.describe())
    app.meter.show(agent.budget)


def clear_conversation(app: AppHost, _argument: str = "") -> None:
    """A fresh conversation in the same session: the model forgets, the session goes on."""
    if busy(app, "/clear"):
        return
    agent = app.agent
    del agent.messages[1:]  # the system prompt stays; the recorder writes the reset
    agent.applied_edits.clear()
    agent.pending_calls.clear()
    for text in agent.pending_messages:
        agent.cancel_pending(text)
    app.composer.show_pending([])
    app.start_fresh()
    say(
        app,
        "conversation cleared: the model starts fresh with your next message "
        "(same session: budget, undo and the saved transcript go on)",
    )


# -- /cost, /model, /theme ----------------------------------------------------------


def show_cost(app: AppHost, _argument: str = "") -> None:
    budget = app.agent.budget
    used = budget.used
    cost = (
        f"{budget.cost:.4f} {budget.prices.currency}"
        if budget.cost is not None
        else "unknown (no prices for this model: set [prices] in config.toml)"
    )
    say(
        app,
        f"steps {budget.steps} · tokens {count(used.total)} (prompt {count(used.prompt)}, "
        f"cached {count(used.cached)}, completion {count(used.completion)}, reasoning "
        f"{count(used.reasoning)}) · context {budget.context_pct:.0f}% · time "
        f"{clock(budget.elapsed)} · cost {cost}",
    )


def switch_model(app: AppHost, name: str = "") -> None:
    config = app.agent.client.config
    name = name.strip()
    if not name:
        app.composer.input.value = "/model "
        say(app, f"the model is {config.model}: type a model name after /model and press Enter")
        return
    if not MODEL_NAME.fullmatch(name):
        say(
            app,
            f"{safe_line(name)!r} is not a model name (letters, digits, . : / @ + - _)",
            "warning",
        )
        return
    config.model = name
    budget = app.agent.budget
    if budget.prices.source != OWN_PRICES:  # list prices follow the model; configured ones stay
        budget.prices = known_prices(name) or Prices(currency=budget.prices.currency)
    app.query_one(StatusBar).set_model(name)
    app.meter.show(budget)
    say(app, f"model switched to {name}: the next model call uses it")


def switch_theme(app: AppHost, name: str = "") -> None:
    name = name.strip()
    if not name:
        app.search_themes()
        return
    if name not in app.available_themes:
        names = ", ".join(sorted(app.available_themes))
        say(app, f"no theme {safe_line(name)!r}; available: {names}", "warning")
        return
    app.theme = name
