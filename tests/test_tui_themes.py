"""Themes, help, palette commands and retries in the running app."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from tui_helpers import make_project, new_app, wait_for

from kimitui.config import write_ui_theme
from kimitui.core import events as ev
from kimitui.tui.app import KimiApp
from kimitui.tui.dialogs import WaitOrStopScreen
from kimitui.tui.themes import DEFAULT_THEME
from kimitui.wiring import Endpoint

ENDPOINT = Endpoint("https://api.moonshot.ai/v1", "sk-test")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp config.toml (KIMITUI_CONFIG) with a user themes/ folder beside it."""
    path = tmp_path / "conf" / "config.toml"
    (path.parent / "themes").mkdir(parents=True)
    monkeypatch.setenv("KIMITUI_CONFIG", str(path))
    return path


def squash(text: str) -> str:
    """Without whitespace: the transcript wraps long lines at any character."""
    return "".join(text.split())


def shown(app: KimiApp, text: str) -> bool:
    return squash(text) in squash(app.transcript.plain)


def app_in(tmp_path: Path, **kwargs: object) -> KimiApp:
    app = new_app(make_project(tmp_path), ENDPOINT)
    for key, value in kwargs.items():
        setattr(app, key, value)
    return app


async def test_a_broken_theme_file_is_named_and_the_app_starts_with_the_default(
    tmp_path: Path, config: Path
) -> None:
    broken = config.parent / "themes" / "mine.toml"
    broken.write_text('[theme]\nname = "mine"\nprimary = "#12345"\n')
    app = app_in(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        assert app.theme == DEFAULT_THEME
        assert "mine" not in app.available_themes
        assert shown(app, f"theme file skipped: {broken}: [theme] primary = '#12345' is not")


async def test_an_unknown_theme_name_falls_back_to_the_default(
    tmp_path: Path, config: Path
) -> None:
    project = make_project(tmp_path)
    app = new_app(project, ENDPOINT)
    app2 = KimiApp(app.agent, theme_name="solarised", watch=False, journal=app.journal)
    async with app2.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        assert app2.theme == DEFAULT_THEME
        assert shown(app2, "unknown theme 'solarised', using the default")


async def test_a_user_theme_is_registered_and_can_be_chosen(tmp_path: Path, config: Path) -> None:
    bundled = Path(__file__).resolve().parents[1] / "themes" / "kimitui-light.toml"
    text = bundled.read_text().replace('"kimitui-light"', '"my-light"')
    (config.parent / "themes" / "my-light.toml").write_text(text)
    project = make_project(tmp_path)
    base = new_app(project, ENDPOINT)
    app = KimiApp(base.agent, theme_name="my-light", watch=False, journal=base.journal)
    async with app.run_test(size=(100, 30)):
        assert app.theme == "my-light"
        assert app.get_css_variables()["diff-added"] == "#D5F0DA"


async def test_a_theme_chosen_in_the_app_is_remembered_in_config(
    tmp_path: Path, config: Path
) -> None:
    config.write_text('# mine\n[model]\nname = "kimi-k2.7-code"\n\n[ui]\napprove = "ask"\n')
    app = app_in(tmp_path, remember_theme=lambda name: write_ui_theme(config, name))
    async with app.run_test(size=(100, 30)) as pilot:
        app.theme = "kimitui-light"
        await wait_for(pilot, lambda: "kimitui-light" in config.read_text())
        await pilot.pause(0.05)
        assert shown(app, f"theme 'kimitui-light' saved as [ui] theme in {config}")
    data = tomllib.loads(config.read_text())
    assert data == {
        "model": {"name": "kimi-k2.7-code"},
        "ui": {"approve": "ask", "theme": "kimitui-light"},
    }
    assert config.read_text().startswith("# mine\n")


def test_write_ui_theme_creates_replaces_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    write_ui_theme(path, "kimitui-light")
    assert tomllib.loads(path.read_text()) == {"ui": {"theme": "kimitui-light"}}
    write_ui_theme(path, "kimitui-dark")
    assert path.read_text().count("theme =") == 1
    other = tmp_path / "other.toml"
    other.write_text(
        '[budget]\nmax_steps = 5\n[ui] # front end\ntheme = "x"  # old\n[prices]\ninput = 1.0\n'
    )
    write_ui_theme(other, "kimitui-high-contrast")
    data = tomllib.loads(other.read_text())
    assert data["ui"]["theme"] == "kimitui-high-contrast" and data["prices"]["input"] == 1.0
    assert data["budget"]["max_steps"] == 5


async def test_palette_offers_every_kimitui_command(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(100, 30)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
    for title in (
        "Switch theme",
        "Undo the last step, commands included",
        "Undo to a step…",
        "Undo the last applied edit only",
        "Export transcript",
        "Raise budget: steps",
        "Hide the thinking pane",
        "Open config file location",
        "Keys and help",
    ):
        assert title in titles
    assert "Theme" not in titles  # Textual's own, replaced by the one that saves


async def test_palette_actions_raise_steps_hide_thinking_and_show_the_config(
    tmp_path: Path, config: Path
) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_raise_budget("max_steps")
        assert app.agent.budget.limits.max_steps == 35
        app.action_toggle_reasoning()
        await pilot.pause()
        assert not app.reasoning.display
        app.action_config_location()
        app.action_export()
        await pilot.pause()
        assert shown(app, "steps raised to 35")
        assert shown(app, f"config file: {config} (not created yet)")
        assert shown(app, "nothing to export")


async def test_export_writes_the_sessions_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimitui.core.session import start_session

    monkeypatch.setenv("KIMITUI_STATE_DIR", str(tmp_path / "state"))
    app = app_in(tmp_path)
    recorder = start_session(app.agent, task="explain app.py")
    app.transcript_path = recorder.path
    assert str(tmp_path) in str(recorder.path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_export()
        await pilot.pause()
        target = recorder.path.with_suffix(".md")
        assert shown(app, f"transcript exported to {target}")
    recorder.close()
    assert target.read_text().startswith(f"# kimitui session {recorder.id}")


async def test_a_retried_attempt_is_struck_through_and_the_new_one_streams_fresh(
    tmp_path: Path,
) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        emit = app.agent.emit
        emit(ev.StepStarted(1))
        emit(ev.ReasoningDelta("half a thought"))
        emit(ev.ContentDelta("half an answer"))
        await pilot.pause(0.1)
        emit(ev.RetryScheduled(1, "429 rate limited", 2.0))
        emit(ev.ReasoningDelta("a whole thought"))
        emit(ev.ContentDelta("a whole answer"))
        await pilot.pause(0.1)
        old, new = app.reasoning.blocks[-2:]
        assert old.text == "half a thought" and old.style.strike
        assert new.text == "a whole thought" and not new.style.strike
        answers = [b for b in app.transcript.blocks if b.prefix.startswith("kimi")]
        assert [b.text for b in answers] == ["half an answer", "a whole answer"]
        assert answers[0].style.strike and "discarded" in answers[0].prefix
        assert shown(app, "retrying in 2 s")


@pytest.mark.parametrize(("key", "answer"), [("w", True), ("s", False)])
async def test_a_long_wait_asks_wait_or_stop(tmp_path: Path, key: str, answer: bool) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.agent.client.confirm_wait is not None
        asked = asyncio.ensure_future(app.agent.client.confirm_wait(120.0, "429 rate limited"))
        await wait_for(pilot, lambda: isinstance(app.screen, WaitOrStopScreen))
        await wait_for(pilot, lambda: app.screen.key_guard.armed)  # it opened by itself
        await pilot.press(key)
        assert await asyncio.wait_for(asked, 2) is answer
