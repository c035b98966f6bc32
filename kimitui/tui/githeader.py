"""Keeps the header's git part (branch, dirty count) current, and the palette's
"Review my changes"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.css.query import NoMatches

from kimitui.core import events as ev
from kimitui.tools.git import REVIEW_PROMPT
from kimitui.tui.messages import ComposerSubmitted
from kimitui.tui.statusbar import StatusBar

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost


def watch_git(app: AppHost) -> None:
    """Show the branch now, and again after anything that may change it."""
    if app.agent.toolbox.git is None:
        return

    def refresh() -> None:
        app.run_worker(_refresh(app), group="git-head", exclusive=True, exit_on_error=False)

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.EditDecided | ev.Done) or (
            isinstance(event, ev.ToolOutput) and event.name.startswith("git_")
        ):
            refresh()
        elif isinstance(event, ev.Notice) and event.text.startswith("committed "):
            refresh()  # an auto-commit

    app.agent.subscribe(on_event)
    refresh()


async def _refresh(app: AppHost) -> None:
    git = app.agent.toolbox.git
    if git is None:
        return
    head = await git.head()
    try:
        app.query_one(StatusBar).set_git(head.branch, head.dirty)
    except NoMatches:  # the app is closing
        return


def review_changes(app: AppHost) -> None:
    """The palette's "Review my changes": a message like one typed in the composer."""
    app.post_message(ComposerSubmitted(REVIEW_PROMPT))
