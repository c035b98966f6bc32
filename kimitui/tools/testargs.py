"""run_tests arguments are selectors, not options.

pytest options can write files anywhere (``--junitxml``, ``--basetemp``,
``-o cache_dir=``), read them (``-c``), or load code (``-p``), in many
spellings (``--junit-xml=X``, ``-oX``, ``--junit``, ``@argfile``). So the
model may pass node ids and paths inside the project and a short allowlist of
options; everything else is refused, whatever its spelling.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from kimitui.tools.errors import ToolError
from kimitui.tools.workspace import SandboxError

FLAGS = frozenset(
    {"-x", "--exitfirst", "-q", "--quiet", "-v", "--verbose", "-s", "-l", "--showlocals",
     "--collect-only", "--co", "--no-header", "--strict-markers"}
)  # fmt: skip
SHORT_FLAGS = frozenset("xqvsl")  # combinable: -xq, -vv
VALUED = {
    "-k": None,  # any expression: pytest's own mini-language, it runs nothing
    "-m": None,
    "--maxfail": re.compile(r"[0-9]{1,6}"),
    "--tb": re.compile(r"auto|long|short|line|native|no"),
    "-r": re.compile(r"[fEsxXpPaAwN]{1,12}"),
    "--durations": re.compile(r"[0-9]{1,4}"),
}
ALLOWED_TEXT = (
    "node ids or paths inside the project (e.g. tests/test_app.py::test_login), and "
    "-k EXPR, -m MARKEXPR, -x, --maxfail=N, -q, -v, -s, -l, --tb=auto|long|short|line|"
    "native|no, -r CHARS, --durations=N, --collect-only, --no-header, --strict-markers"
)


def is_pytest(command: Sequence[str]) -> bool:
    names = [os.path.basename(part) for part in command]
    return (
        "pytest" in names
        or "py.test" in names
        or any(command[i : i + 2] == ["-m", "pytest"] for i in range(len(command)))
    )


def check_args(args: Sequence[str], resolve: Callable[[str], Path]) -> list[str]:
    """``args`` unchanged when every one is allowed; else a ToolError naming it.

    ``resolve`` maps a path the model wrote to one inside the project, raising
    when it leads outside.
    """
    out: list[str] = []
    pending: str | None = None  # an option whose value comes next
    for arg in args:
        if pending is not None:
            _check_value(pending, arg)
            pending = None
        elif arg.startswith("-"):
            pending = _check_option(arg)
        else:
            _check_selector(arg, resolve)
        out.append(arg)
    if pending is not None:
        raise ToolError(f"run_tests: {pending} needs a value. Allowed: {ALLOWED_TEXT}")
    return out


def _check_option(arg: str) -> str | None:
    """None when ``arg`` is complete; the option name when its value follows."""
    if arg in FLAGS:
        return None
    name, eq, value = arg.partition("=")
    if name in VALUED and name.startswith("--"):
        if not eq:
            return name
        _check_value(name, value)
        return None
    short = arg[:2]
    if short in VALUED:  # -k EXPR, -kEXPR, -rfE
        if len(arg) == 2:
            return short
        _check_value(short, arg[2:].removeprefix("="))
        return None
    if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) <= SHORT_FLAGS:
        return None
    raise ToolError(f"run_tests: the option {arg!r} is not allowed. Allowed: {ALLOWED_TEXT}")


def _check_value(option: str, value: str) -> None:
    rule = VALUED[option]
    if value.startswith("-") or (rule is not None and not rule.fullmatch(value)):
        raise ToolError(
            f"run_tests: {value!r} is not a valid value for {option}. Allowed: {ALLOWED_TEXT}"
        )


def _check_selector(arg: str, resolve: Callable[[str], Path]) -> None:
    if arg.startswith("@"):
        raise ToolError(f"run_tests: argument files ({arg!r}) are not allowed")
    path = arg.split("::", 1)[0]
    if not path:
        raise ToolError(f"run_tests: {arg!r} is not a path or node id. Allowed: {ALLOWED_TEXT}")
    try:
        resolve(path)
    except SandboxError as exc:  # the workspace's own message says why
        raise ToolError(f"run_tests: {exc}") from None
