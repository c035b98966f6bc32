"""NO_COLOR (https://no-color.org): the whole screen in greys, our own styles included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_tui_snapshots import budget_at_90, offline_app, ready

from kimitui.tui.app import KimiApp

FILL = re.compile(r'fill="#([0-9a-fA-F]{6})"')
# The three window buttons Textual draws above every SVG screenshot.
CHROME = {(255, 95, 87), (254, 188, 46), (40, 200, 64)}


def colours(svg: str) -> set[tuple[int, int, int]]:
    hexes = {m.group(1) for m in FILL.finditer(svg)}
    return {(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)) for h in hexes} - CHROME


async def test_no_color_renders_every_state_in_greys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app: KimiApp = offline_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await budget_at_90(pilot)
        await pilot.pause(0.2)
        svg = app.export_screenshot()
    assert app.no_color
    tinted = {c for c in colours(svg) if max(c) - min(c) > 8}
    assert not tinted, f"colours survived NO_COLOR: {sorted(tinted)[:5]}"
