"""The baseline app: the same Agent and stream, fed into a Textual ``Markdown`` via get_stream().

Run as ``python -m kimitui.bench.baseline BASE_URL PROJECT``; the benchmark
starts it in the same pseudo-terminal setup as kimitui and compares CPU.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AutoGate
from kimitui.wiring import Endpoint, build_agent


class MarkdownBaseline(App[None]):
    """Streams the model's reasoning into one Markdown widget, naively."""

    def __init__(self, base_url: str, project: Path) -> None:
        super().__init__()
        endpoint = Endpoint(base_url, "bench")
        self.agent = build_agent(Settings(max_steps=5), project, endpoint, AutoGate())
        self.fragments: asyncio.Queue[str] = asyncio.Queue()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="scroll"):
            yield Markdown(id="md")

    def on_mount(self) -> None:
        self.query_one("#scroll", VerticalScroll).anchor()
        self.agent.subscribe(self._on_event)
        self.run_worker(self._feed(), group="feed")
        self.run_worker(self.agent.run("go"), group="agent")

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.ReasoningDelta):
            self.fragments.put_nowait(event.text)

    async def _feed(self) -> None:
        stream = Markdown.get_stream(self.query_one("#md", Markdown))
        try:
            while True:
                await stream.write(await self.fragments.get())
        finally:
            await stream.stop()

    async def on_unmount(self) -> None:
        self.agent.stop()
        await self.agent.client.close()


def main(argv: list[str]) -> None:
    MarkdownBaseline(argv[0], Path(argv[1])).run()


if __name__ == "__main__":
    main(sys.argv[1:])
