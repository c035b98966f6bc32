"""@path mentions: completion from the project tree, and the files attached to the
message the scripted server receives (real HTTP, real files, the app under Pilot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import SIZE, make_project, running, type_text, wait_for

from kimitui.demo.script import Turn
from kimitui.tools.workspace import Workspace
from kimitui.tui.mentions import (
    ATTACH_CHARS,
    attach_mentions,
    mentions,
    project_files,
    rank,
    shorten_attachments,
)

SECRET = "sk-live-DO-NOT-SEND"


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMITUI_CONFIG", str(tmp_path / "cfg" / "config.toml"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path)
    (root / "src").mkdir()
    (root / "src" / "cart.py").write_text("def add(cart, item):\n    cart.append(item)\n")
    (root / "src" / "carton.txt").write_text("boxes\n")
    (root / ".env").write_text(f"API_KEY={SECRET}\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "id_rsa").write_text(f"{SECRET}\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "cart_built.py").write_text("x = 1\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "cart_dep.js").write_text("x\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return root


def user_texts(server) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "user"]


def shown(app, text: str) -> bool:
    return any(text in block.text for block in app.transcript.blocks)


# -- the rules, without a screen ---------------------------------------------------


def test_mentions_are_found_after_a_space_quoted_or_not_and_never_in_an_address() -> None:
    text = 'see @src/cart.py and @"my notes.md", mail me at a@b.org; again @src/cart.py'
    assert mentions(text) == ["src/cart.py", "my notes.md"]


def test_completion_candidates_leave_out_ignored_and_withheld_files(project: Path) -> None:
    files = project_files(Workspace(project))
    assert "src/cart.py" in files and "app.py" in files
    for hidden in (".env", "secrets/id_rsa", "build/cart_built.py", "node_modules/cart_dep.js"):
        assert hidden not in files


def test_ranking_prefers_the_file_name() -> None:
    paths = ["docs/carts/readme.md", "src/cart.py", "tests/test_cart.py", "scart/x.py"]
    assert rank("cart", paths)[0] == "src/cart.py"
    assert rank("zzz", paths) == []


def test_a_large_file_is_attached_as_its_first_lines_with_a_note(project: Path) -> None:
    lines = [f"line {n:05} " + "x" * 60 for n in range(1, 3001)]
    (project / "big.txt").write_text("\n".join(lines) + "\n")
    attached = attach_mentions(Workspace(project), "summarise @big.txt")
    body = attached.text
    assert "[attached file: big.txt (lines 1-" in body and "of 3,000" in body
    assert "only lines 1-" in body and "read_file with start_line=" in body
    assert "line 00001" in body and "line 03000" not in body
    assert len(body) < ATTACH_CHARS + 1_000
    assert any("big.txt is large" in note for _, note in attached.notes)


def test_a_link_out_of_the_project_and_a_link_to_a_secret_are_not_attached(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("PRIVATE NOTES\n")
    (project / "notes.txt").symlink_to(outside)
    (project / "config.txt").symlink_to(project / ".env")
    attached = attach_mentions(Workspace(project), "read @notes.txt and @config.txt")
    assert attached.text == "read @notes.txt and @config.txt"
    assert "PRIVATE" not in attached.text and SECRET not in attached.text
    notes = " ".join(note for _, note in attached.notes)
    assert "outside the project" in notes and "withheld" in notes


def test_the_transcript_shows_one_line_per_attached_file(project: Path) -> None:
    text = attach_mentions(Workspace(project), "look @app.py").text
    assert shorten_attachments(text) == "look @app.py\n\n[attached: app.py (2 lines, 34 bytes)]"


# -- in the app ---------------------------------------------------------------------


async def test_at_opens_the_list_tab_takes_the_file_and_enter_sends_it_attached(
    project: Path,
) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "fix @cart")
        menu = app.composer.completion
        await wait_for(pilot, lambda: menu.is_open)
        labels = [c.label for c in menu.choices]
        assert labels[0] == "src/cart.py" and "build/cart_built.py" not in labels
        assert "node_modules/cart_dep.js" not in labels
        await pilot.press("down")
        assert menu.current is not None and menu.current.label == labels[1]
        await pilot.press("up", "tab")
        assert app.composer.input.text == "fix @src/cart.py "
        assert not menu.is_open
        await type_text(pilot, "please")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 1)
        await wait_for(pilot, lambda: shown(app, "[attached: src/cart.py"))
    (sent,) = user_texts(server)
    assert sent.startswith("fix @src/cart.py please\n\n[attached file: src/cart.py (2 lines")
    assert (
        "def add(cart, item):\n    cart.append(item)\n[end of attached file: src/cart.py]" in sent
    )


async def test_a_file_created_later_is_offered_at_the_next_mention(project: Path) -> None:
    async with running(project, [Turn(content="ok")], watch=True) as (app, _server, pilot):
        menu = app.composer.completion
        await type_text(pilot, "@apri")
        await wait_for(pilot, lambda: len(app.composer.paths) > 0)
        assert not menu.is_open  # no such file yet
        app.composer.input.value = ""
        (project / "apricot.py").write_text("x = 1\n")  # the watcher sees it
        await wait_for(pilot, lambda: app.composer.listed_at == float("-inf"), timeout=15)
        await type_text(pilot, "@apri")
        await wait_for(pilot, lambda: menu.is_open)
        assert [c.label for c in menu.choices] == ["apricot.py"]


async def test_enter_in_the_list_takes_the_file_without_sending(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "@carto")
        await wait_for(pilot, lambda: app.composer.completion.is_open)
        await pilot.press("enter")
        assert app.composer.input.text == "@src/carton.txt "
        assert server.requests == []


async def test_esc_closes_the_list_and_the_next_enter_sends(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "about @app")
        await wait_for(pilot, lambda: app.composer.completion.is_open)
        await pilot.press("escape")
        assert not app.composer.completion.is_open
        assert app.composer.input.text == "about @app"  # Esc closed the list, kept the text
        await type_text(pilot, ".py")
        assert not app.composer.completion.is_open  # closed for this mention
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 1)
    assert "[attached file: app.py" in user_texts(server)[0]


async def test_withheld_files_are_never_offered_nor_attached(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "@.en")
        await pilot.pause(0.2)
        assert all(".env" not in c.label for c in app.composer.completion.choices)
        await pilot.press("escape")
        await type_text(pilot, "v and @secrets/id_rsa")
        await pilot.press("escape", "enter")
        await wait_for(pilot, lambda: len(server.requests) >= 1)
        await wait_for(pilot, lambda: shown(app, "@.env not attached"))
        assert shown(app, "@secrets/id_rsa not attached") and shown(app, "withheld")
        assert not any(SECRET in block.text for block in app.transcript.blocks)
    assert SECRET not in str(server.requests[0])
    assert user_texts(server) == ["@.env and @secrets/id_rsa"]


async def test_binary_missing_and_folder_mentions_say_why_and_the_message_still_goes(
    project: Path,
) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        app.composer.input.value = "check @logo.png @nowhere.py @src, then @app.py."
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 1)
        await wait_for(pilot, lambda: shown(app, "@nowhere.py: no such file"))
        assert shown(app, "@logo.png is a binary file (PNG image); it was not attached")
        assert shown(app, "@src is a folder")
    (sent,) = user_texts(server)
    assert "[attached file: app.py (" in sent  # the full stop after it is not the path's
    assert "logo.png (" not in sent and "PNG" not in sent


def test_completion_list_snapshot(tmp_path: Path, snap_compare) -> None:
    from test_tui_snapshots import offline_app, ready

    app = offline_app(tmp_path)
    for name in ("cart.py", "carton.txt", "cartography.md"):
        (app.project / name).write_text("x\n")

    async def run_before(pilot) -> None:
        await ready(pilot)
        await type_text(pilot, "look at @car")
        await wait_for(pilot, lambda: pilot.app.composer.completion.is_open)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
