"""Regenerate the README's screenshots: ``python -m kimitui.screenshots``.

Each scene runs the demo under Pilot against the real scripted model server
over loopback, with a frozen clock, a fixed project folder name and no cursor
blink; a stream is held still by a server-side stall after a fixed number of
chunks, so every SVG shows the same thing on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kimitui.config import Settings
from kimitui.core.gate import AskGate, AutoGate, Gate
from kimitui.core.journal import Journal
from kimitui.demo import DEMO_TASK, copy_sample
from kimitui.demo.refactor import demo_turn
from kimitui.demo.script import Fault, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.tui.app import KimiApp
from kimitui.wiring import Endpoint, build_agent

DEFAULT_SIZE = (120, 36)
STALL_S = 600.0
Action = Callable[[Any], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Scene:
    name: str
    action: Action
    stall_at: int | None = None  # the request whose stream stops after `chunks`
    chunks: int = 70
    ask: bool = False
    theme: str | None = None
    pause_after: int | None = None  # pause the loop once this many requests are served
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


class DemoScript:
    """The demo's own turns, with an optional stall or pause at a chosen request."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.served = 0
        self.app: KimiApp | None = None

    def __call__(self, body: dict[str, Any]) -> Turn:
        self.served += 1
        turn = demo_turn(body)
        if self.served == self.scene.pause_after and self.app is not None:
            self.app.agent.pause()
        if self.served == self.scene.stall_at:
            stall = Fault("stall", after_chunks=self.scene.chunks, stall_s=STALL_S)
            return dataclasses.replace(turn, faults=(stall,))
        return turn


async def _wait(pilot: Any, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"screenshot scene timed out waiting for {predicate}")
        await pilot.pause(0.05)


async def _streaming(pilot: Any) -> None:
    app: KimiApp = pilot.app
    await _wait(pilot, lambda: app._step >= 3 and len(app.reasoning.plain) > 40)
    await pilot.pause(1.0)  # the stall holds the stream; let every chunk reach the pane


async def _review_partial(pilot: Any) -> None:
    from kimitui.tui.review import ReviewScreen

    app: KimiApp = pilot.app
    for _ in range(8):
        await _wait(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.review)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.state is not None
        # The review holds keys for a moment after it opens (typing must not decide).
        await _wait(pilot, lambda s=screen: s.takes_keys)
        if len(screen.state.proposal.hunks) > 1:
            await pilot.press("j", "space")
            await pilot.pause(0.3)
            return
        shown = screen.review
        await pilot.press("y")
        await _wait(pilot, lambda s=shown: getattr(app.screen, "review", None) is not s)
        await pilot.pause(0.1)
    raise RuntimeError("the demo proposed no edit with more than one hunk")


async def _paused_with_message(pilot: Any) -> None:
    app: KimiApp = pilot.app
    await _wait(pilot, lambda: app.agent.state == "paused")
    app.composer.input.focus()
    for text, send in (("keep main() in app.py", True), ("and add type hints", False)):
        app.composer.input.value = text
        if send:
            await pilot.press("enter")
    await pilot.pause(0.3)


SCENES = (
    Scene("demo-streaming", _streaming, stall_at=3),
    Scene("review-partial", _review_partial, ask=True),
    Scene("paused-with-message", _paused_with_message, pause_after=2),
    Scene(
        "budget-near-limit",
        _streaming,
        stall_at=3,
        settings={"max_steps": 4, "token_budget": 2_600},
    ),
    Scene("light-theme", _streaming, stall_at=3, theme="kimitui-light"),
)


async def shoot(scene: Scene, out: Path, size: tuple[int, int]) -> Path:
    with tempfile.TemporaryDirectory(prefix="kimitui-shots-") as tmp:
        project = Path(tmp) / "shop"
        copy_sample(project)
        script = DemoScript(scene)
        async with ScriptedServer([script] * 24) as server:
            gate: Gate = AskGate() if scene.ask else AutoGate()
            settings = Settings(**scene.settings)
            agent = build_agent(settings, project, Endpoint(server.base_url, "demo"), gate)
            agent.budget.clock = lambda: 0.0
            journal = Journal.for_session(
                agent.client.session_id, agent.project, Path(tmp) / "state"
            )
            app = KimiApp(
                agent,
                task=DEMO_TASK,
                approval_label="ask" if scene.ask else "auto",
                watch=False,
                theme_name=scene.theme,
                journal=journal,
            )
            script.app = app
            target = out / f"{scene.name}.svg"
            async with app.run_test(size=size) as pilot:
                app.composer.input.cursor_blink = False
                await scene.action(pilot)
                target.write_text(app.export_screenshot(title=f"kimitui · {scene.name}"))
                app.agent.stop()
    return target


async def shoot_all(out: Path, size: tuple[int, int]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [await shoot(scene, out, size) for scene in SCENES]


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must look like 120x36, got {text}") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kimitui.screenshots",
        description="Regenerate the SVG screenshots of the demo.",
    )
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder")
    parser.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="WxH, e.g. 120x36")
    args = parser.parse_args(argv)
    for path in asyncio.run(shoot_all(args.out, args.size)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
