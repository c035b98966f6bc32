"""Settings: defaults, overridden by config.toml, by env vars, then by flags."""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kimitui.mcp.config import McpConfigError, ServerConfig, parse_servers

DEFAULT_MODEL = "kimi-k2.7-code"
DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_KEY_ENV = "MOONSHOT_API_KEY"


class ConfigError(Exception):
    """The config file or a setting is wrong; the message names which and where."""


@dataclass
class Settings:
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_KEY_ENV
    temperature: float | None = None
    thinking: bool = True
    context_window: int | None = None
    idle_timeout: float = 90.0
    max_steps: int = 25
    token_budget: int | None = None
    time_budget: float | None = None
    cost_budget: float | None = None
    price_input: float | None = None
    price_cached_input: float | None = None
    price_output: float | None = None
    currency: str = "USD"
    deny_read: list[str] = field(default_factory=list)
    deny_write: list[str] = field(default_factory=list)
    allow_read: list[str] = field(default_factory=list)
    compact_at: float = 0.85
    test_command: list[str] | None = None
    test_timeout: float = 120.0
    test_args: bool = False
    sandbox_mechanism: str = "auto"
    sandbox_network: bool = False
    sandbox_pass_env: list[str] = field(default_factory=list)
    command_allow: list[str] = field(default_factory=list)
    command_deny: list[str] = field(default_factory=list)
    command_timeout: float = 120.0
    approve: str | None = None
    theme: str | None = None
    mcp_servers: list[ServerConfig] = field(default_factory=list)
    git_auto_commit: bool = False
    providers: dict[str, Provider] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    """``[providers.NAME]``: another endpoint a model can be reached at (``MODEL@NAME``)."""

    name: str
    base_url: str
    api_key_env: str
    price_input: float | None = None
    price_cached_input: float | None = None
    price_output: float | None = None
    currency: str = "USD"


_PROVIDER_KEYS = {"base_url", "api_key_env", "prices"}
_PRICE_KEYS = {"input", "cached_input", "output", "currency"}


def parse_providers(table: Any, source: str) -> dict[str, Provider]:
    """The ``[providers.NAME]`` tables; every mistake names the provider and the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: 'providers' must hold [providers.NAME] tables")
    return {
        name: _provider(name, entry, f"{source}: [providers.{name}]")
        for name, entry in table.items()
    }


def _provider(name: str, entry: Any, where: str) -> Provider:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with base_url and api_key_env")
    unknown = sorted(set(entry) - _PROVIDER_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting {unknown[0]} (known: base_url, api_key_env, prices)"
        )
    for key in ("base_url", "api_key_env"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f'{where}: {key} is missing; e.g. {key} = "{_EXAMPLE[key]}"')
    prices = entry.get("prices", {})
    if not isinstance(prices, dict) or set(prices) - _PRICE_KEYS:
        raise ConfigError(f"{where}: prices must be a table of {', '.join(sorted(_PRICE_KEYS))}")
    for key in ("input", "cached_input", "output"):
        value = prices.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}: prices.{key} must be a number (per million tokens)")
    if not isinstance(prices.get("currency", "USD"), str):
        raise ConfigError(f"{where}: prices.currency must be a string")
    return Provider(
        name=name,
        base_url=entry["base_url"].strip(),
        api_key_env=entry["api_key_env"].strip(),
        price_input=prices.get("input"),
        price_cached_input=prices.get("cached_input"),
        price_output=prices.get("output"),
        currency=prices.get("currency", "USD"),
    )


_EXAMPLE = {"base_url": "http://localhost:8000/v1", "api_key_env": "VLLM_API_KEY"}


# config.toml section/key -> Settings field
_TOML_KEYS: dict[tuple[str, str], str] = {
    ("model", "name"): "model",
    ("model", "base_url"): "base_url",
    ("model", "api_key_env"): "api_key_env",
    ("model", "temperature"): "temperature",
    ("model", "thinking"): "thinking",
    ("model", "context_window"): "context_window",
    ("model", "idle_timeout"): "idle_timeout",
    ("model", "compact_at"): "compact_at",
    ("budget", "max_steps"): "max_steps",
    ("budget", "token_budget"): "token_budget",
    ("budget", "time_budget"): "time_budget",
    ("budget", "cost_budget"): "cost_budget",
    ("prices", "input"): "price_input",
    ("prices", "cached_input"): "price_cached_input",
    ("prices", "output"): "price_output",
    ("prices", "currency"): "currency",
    ("tools", "deny_read"): "deny_read",
    ("tools", "deny_write"): "deny_write",
    ("tools", "allow_read"): "allow_read",
    ("tools", "test_command"): "test_command",
    ("tools", "test_timeout"): "test_timeout",
    ("tools", "test_args"): "test_args",
    ("sandbox", "mechanism"): "sandbox_mechanism",
    ("sandbox", "network"): "sandbox_network",
    ("sandbox", "pass_env"): "sandbox_pass_env",
    ("commands", "allow"): "command_allow",
    ("commands", "deny"): "command_deny",
    ("commands", "timeout"): "command_timeout",
    ("ui", "approve"): "approve",
    ("ui", "theme"): "theme",
    ("git", "auto_commit"): "git_auto_commit",
}

_ENV_KEYS = {"KIMITUI_MODEL": "model", "KIMITUI_BASE_URL": "base_url"}


def config_path() -> Path:
    explicit = os.environ.get("KIMITUI_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path

    return user_config_path("kimitui") / "config.toml"


def _check_type(name: str, value: Any, source: str) -> None:
    expected = {f.name: f.type for f in fields(Settings)}[name]
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }
    # "list[str]" names str too, but a bare string is not a list of them.
    kinds = ["list"] if "list" in str(expected) else [k for k in ok if k in str(expected)]
    if not any(ok[k] for k in kinds):
        raise ConfigError(f"{source}: expected {' or '.join(kinds)}, got {value!r}")


_CHOICES = {"sandbox_mechanism": ("auto", "bwrap", "landlock", "seatbelt", "none")}


def _check_choice(name: str, value: Any, source: str) -> None:
    choices = _CHOICES.get(name)
    if choices and value not in choices:
        raise ConfigError(f"{source}: expected one of {', '.join(choices)}, got {value!r}")


def _check_command_entries(name: str, value: Any, source: str) -> None:
    """[commands] allow/deny entries are argv prefixes: each must split into words."""
    if name == "command_timeout" and value <= 0:
        raise ConfigError(f"{source}: must be a positive number of seconds, got {value!r}")
    if name not in ("command_allow", "command_deny"):
        return
    for entry in value:
        try:
            words = shlex.split(entry)
        except ValueError as err:
            raise ConfigError(f"{source}: cannot read {entry!r} ({err})") from err
        if not words:
            raise ConfigError(f'{source}: an entry is empty; give a command like "ruff check"')


def read_config_file(path: Path) -> dict[str, Any]:
    """Settings fields from a config.toml; a missing file means no overrides."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    values: dict[str, Any] = {}
    for section, table in data.items():
        if section == "mcp":  # nested tables, one per server: parsed on their own
            try:
                values["mcp_servers"] = parse_servers(table, str(path))
            except McpConfigError as err:
                raise ConfigError(str(err)) from err
            continue
        if section == "providers":  # one table per endpoint, for `kimitui compare`
            values["providers"] = parse_providers(table, str(path))
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: '{section}' must be a [table]")
        for key, value in table.items():
            name = _TOML_KEYS.get((section, key))
            if name is None:
                raise ConfigError(f"{path}: unknown setting [{section}] {key}")
            _check_type(name, value, f"{path}: [{section}] {key}")
            _check_choice(name, value, f"{path}: [{section}] {key}")
            _check_command_entries(name, value, f"{path}: [{section}] {key}")
            values[name] = value
    return values


def load_settings(flags: dict[str, Any]) -> Settings:
    """Merge the layers; ``flags`` holds only the flags the user actually gave."""
    settings = Settings()
    layers = [read_config_file(config_path()), _env_values(), flags]
    for layer in layers:
        for name, value in layer.items():
            setattr(settings, name, value)
    return settings


def _env_values() -> dict[str, Any]:
    return {name: os.environ[var] for var, name in _ENV_KEYS.items() if os.environ.get(var)}


_SECTION = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")


def write_ui_theme(path: Path, theme: str) -> None:
    """Set ``[ui] theme`` in config.toml, keeping every other line as it is."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entry = f"theme = {json.dumps(theme)}"
    lines = _set_in_section(lines, "ui", "theme", entry)
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text).get("ui", {}).get("theme") != theme:
        raise ConfigError(f"{path}: could not set [ui] theme; edit the file by hand")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _set_in_section(lines: list[str], section: str, key: str, entry: str) -> list[str]:
    start = next((i for i, line in enumerate(lines) if _header(line) == section), None)
    if start is None:
        gap = [""] if lines and lines[-1].strip() else []
        return [*lines, *gap, f"[{section}]", entry]
    end = next((i for i in range(start + 1, len(lines)) if _header(lines[i])), len(lines))
    key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, end):
        if key_line.match(lines[i]):
            return [*lines[:i], entry, *lines[i + 1 :]]
    return [*lines[: start + 1], entry, *lines[start + 1 :]]


def _header(line: str) -> str | None:
    match = _SECTION.match(line)
    return match.group(1).strip() if match else None
