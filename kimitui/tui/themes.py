"""Theme files: TOML in the bundled themes/ folder and the user's config dir.

Textual has no theme-file loader, so each file becomes a ``Theme`` here. A
file with a mistake never stops the app: it is skipped and the problem, with
the file and the field, is reported for the app to show.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "kimitui-dark"
COLOR_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
NUMBER_FIELDS = ("luminosity_spread", "text_alpha")
# kimitui's own variables; the TCSS uses them, so every theme gets a value.
VARIABLE_DEFAULTS = {
    "diff-added": "#1F3A2A",
    "diff-removed": "#42232A",
    "diff-changed": "#3A3420",
    "reasoning-text": "#8A93A6",
    "meter-ok": "#7FD18B",
    "meter-warning": "#E5C07B",
    "meter-error": "#F2686E",
}


class ThemeError(Exception):
    """A theme file is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class LoadedThemes:
    themes: list[Theme]
    problems: list[str]


def bundled_dir() -> Traversable:
    """The themes shipped with kimitui, wherever and however it is installed.

    A Traversable, not a path: an installed package is read through
    importlib.resources (``str()`` of one is not always a path on disk).
    """
    try:
        return resources.files("kimitui.themes")
    except ModuleNotFoundError:
        # Imported from a source checkout: the wheel's kimitui.themes is the top-level themes/.
        return Path(__file__).resolve().parents[2] / "themes"


def user_dir() -> Path:
    from kimitui.config import config_path

    return config_path().parent / "themes"


def _color(path: Traversable, field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{path}: [theme] {field} must be a colour string, got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError as err:
        raise ThemeError(f"{path}: [theme] {field} = {value!r} is not a colour ({err})") from err
    return value


def _theme_fields(path: Traversable, table: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in table.items():
        if key == "name":
            if not isinstance(value, str) or not value.strip():
                raise ThemeError(f"{path}: [theme] name must be a non-empty string")
            fields[key] = value
        elif key in COLOR_FIELDS:
            fields[key] = _color(path, key, value)
        elif key in NUMBER_FIELDS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ThemeError(f"{path}: [theme] {key} must be a number, got {value!r}")
            fields[key] = float(value)
        elif key == "dark":
            if not isinstance(value, bool):
                raise ThemeError(f"{path}: [theme] dark must be true or false, got {value!r}")
            fields[key] = value
        else:
            raise ThemeError(f"{path}: [theme] has an unknown field {key!r}")
    for required in ("name", "primary"):
        if required not in fields:
            raise ThemeError(f"{path}: [theme] needs a {required!r} field")
    return fields


def _variables(path: Traversable, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ThemeError(f"{path}: [variables] must be a table")
    values = dict(VARIABLE_DEFAULTS)
    for key, value in table.items():
        if not isinstance(value, str):
            raise ThemeError(f"{path}: [variables] {key} must be a string, got {value!r}")
        if key in VARIABLE_DEFAULTS:
            _color(path, f"variables.{key}", value)
        values[key] = value
    return values


def load_theme_file(path: Traversable) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ThemeError(f"{path}: cannot read it as TOML: {err}") from err
    unknown = set(data) - {"theme", "variables"}
    if unknown:
        raise ThemeError(f"{path}: unknown section [{sorted(unknown)[0]}]")
    table = data.get("theme")
    if not isinstance(table, dict):
        raise ThemeError(f"{path}: needs a [theme] table")
    fields = _theme_fields(path, table)
    return Theme(**fields, variables=_variables(path, data.get("variables", {})))


def theme_files(folder: Traversable) -> list[Traversable]:
    """The folder's ``*.toml`` files by name; none when it does not exist."""
    if not folder.is_dir():
        return []
    found = [f for f in folder.iterdir() if f.name.endswith(".toml") and f.is_file()]
    return sorted(found, key=lambda f: f.name)


def load_themes(folders: Sequence[Traversable] | None = None) -> LoadedThemes:
    """Every theme in the folders (later folders win on a name clash)."""
    by_name: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders if folders is not None else [bundled_dir(), user_dir()]:
        for path in theme_files(folder):
            try:
                theme = load_theme_file(path)
            except ThemeError as err:
                problems.append(str(err))
                continue
            by_name[theme.name] = theme
    return LoadedThemes(list(by_name.values()), problems)
