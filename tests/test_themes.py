"""Theme files: the bundled ones load, broken ones are named precisely."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kimitui.tui.themes import (
    DEFAULT_THEME,
    VARIABLE_DEFAULTS,
    ThemeError,
    bundled_dir,
    load_theme_file,
    load_themes,
)

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_themes_load_with_every_kimitui_variable() -> None:
    loaded = load_themes([bundled_dir()])
    names = {t.name for t in loaded.themes}
    assert loaded.problems == []
    assert {DEFAULT_THEME, "kimitui-light", "kimitui-high-contrast"} <= names
    assert any(not t.dark for t in loaded.themes)
    for theme in loaded.themes:
        assert set(VARIABLE_DEFAULTS) <= set(theme.variables)


def test_every_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kimitui").rglob("__init__.py")
    }
    assert found | {"kimitui.themes"} == listed
    assert config["package-dir"]["kimitui.themes"] == "themes"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[theme]\nname = 'x'\nprimary = 'not-a-colour'\n", "primary = 'not-a-colour'"),
        ("[theme]\nprimary = '#fff'\n", "needs a 'name'"),
        ("[theme]\nname = 'x'\nprimary = '#fff'\nsparkle = 1\n", "unknown field 'sparkle'"),
        ("[theme]\nname = 'x'\nprimary = '#fff'\ndark = 'yes'\n", "dark must be true or false"),
        (
            "[theme]\nname = 'x'\nprimary = '#fff'\n[variables]\ndiff-added = 3\n",
            "diff-added must be a string",
        ),
        (
            "[theme]\nname = 'x'\nprimary = '#fff'\n[variables]\nmeter-ok = 'blurple'\n",
            "variables.meter-ok",
        ),
        ("[theme\nname = 'x'\n", "cannot read it as TOML"),
        ("[colours]\nx = 1\n", "unknown section [colours]"),
    ],
)
def test_a_broken_file_names_the_file_and_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ThemeError) as info:
        load_theme_file(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_broken_files_are_skipped_and_later_folders_win(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "bad.toml").write_text("[theme]\nname = 'bad'\n")
    (mine / "dark.toml").write_text(f"[theme]\nname = '{DEFAULT_THEME}'\nprimary = '#ff0000'\n")
    loaded = load_themes([bundled_dir(), mine])
    assert len(loaded.problems) == 1 and "bad.toml" in loaded.problems[0]
    default = next(t for t in loaded.themes if t.name == DEFAULT_THEME)
    assert default.primary == "#ff0000"
