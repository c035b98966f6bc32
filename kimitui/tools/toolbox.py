"""The tools the model may call: their schemas, argument checking and dispatch.

:meth:`Toolbox.call` never raises for a model mistake (unknown tool, arguments
that are not JSON, wrong types, a path outside the sandbox): the model gets an
``error: ...`` result saying what to do, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kimitui.sandbox import Sandbox
from kimitui.tools import files, search
from kimitui.tools.commands import CommandPolicy
from kimitui.tools.edits import EditError, ProposedEdit, make_edit, replace_exact
from kimitui.tools.eol import conform
from kimitui.tools.errors import ToolError
from kimitui.tools.git import GIT_SCHEMAS, CommitApprover, GitTools, find_worktree
from kimitui.tools.limits import DEFAULT_MAX_OUTPUT_CHARS, cap_text
from kimitui.tools.shell import DEFAULT_TIMEOUT, CommandRunner
from kimitui.tools.testrun import RunApprover, TestRunner
from kimitui.tools.workspace import SandboxError, Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: str
    edit: ProposedEdit | None = None


def _fn(name: str, description: str, props: dict[str, dict], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


def _p(type_: str, description: str, **extra: Any) -> dict:
    return {"type": type_, "description": description, **extra}


PATH = _p("string", "Path relative to the project root.")

GLOB_RULES = "Relative to path, e.g. *.py, src/**/*.py, *.{py,md}"

# Short, literal descriptions: vague ones make models invent arguments. Every
# request carries them, so each word must earn its tokens.
SCHEMAS: list[dict] = [
    _fn(
        "list_files",
        "List project files, skipping .gitignore'd files, .git, virtualenvs, node_modules "
        "and build output unless path names them. Big trees show folder counts first.",
        {
            "path": _p("string", "Folder to list. Default: all."),
            "pattern": _p("string", GLOB_RULES),
        },
        [],
    ),
    _fn(
        "read_file",
        "Read a text file as numbered lines (number, tab, text); long files come in parts. "
        "The header notes CRLF, BOM or no final newline.",
        {
            "path": PATH,
            "start_line": _p("integer", "First line to read, 1-based. Default: 1."),
            "end_line": _p("integer", "Last line to read, inclusive. Default: as many as fit."),
            "start_column": _p("integer", "Column to start start_line at (long lines)."),
        },
        ["path"],
    ),
    _fn(
        "write_file",
        "Create a file or replace its whole content; the user reviews it first. Prefer "
        "edit_file for existing files. Line endings and BOM are kept.",
        {"path": PATH, "content": _p("string", "The complete new file content.")},
        ["path", "content"],
    ),
    _fn(
        "edit_file",
        "Replace exact text in a file; the user reviews it first. old_string must match "
        "once (copy it from read_file without the number and tab) unless replace_all is "
        "true. Line endings and BOM are kept.",
        {
            "path": PATH,
            "old_string": _p("string", "Exact text to replace, including indentation."),
            "new_string": _p("string", "Replacement text."),
            "replace_all": _p("boolean", "Replace every match. Default: false."),
        },
        ["path", "old_string", "new_string"],
    ),
    _fn(
        "search",
        "Regex search of file contents (Python re syntax), skipping ignored files unless "
        "path names them. Returns path:line:text.",
        {
            "pattern": _p("string", "Regular expression to find."),
            "path": _p("string", "File or folder to search. Default: all."),
            "glob": _p("string", GLOB_RULES),
            "ignore_case": _p("boolean", "Match case-insensitively. Default: false."),
        },
        ["pattern"],
    ),
    _fn(
        "run_tests",
        "Run the project's tests (pytest) and return a summary line and the end of the output.",
        {
            "args": _p(
                "array",
                'Extra arguments for the test command, e.g. ["tests/test_app.py", "-x"].',
                items={"type": "string"},
            ),
        },
        [],
    ),
    _fn(
        "run_command",
        "Run a shell command (sh -c) in the project root, sandboxed: it writes only inside "
        "the project. The user may be asked first. Returns the exit code, then the output's end.",
        {
            "command": _p("string", "The command line, e.g. ruff check && pytest -x."),
            "timeout_s": _p("integer", "Seconds before it is killed."),
        },
        ["command"],
    ),
]
_SCHEMA_TEXT = json.dumps(SCHEMAS, sort_keys=False, ensure_ascii=False)
TOOL_NAMES: tuple[str, ...] = tuple(s["function"]["name"] for s in SCHEMAS)


# -- arguments -------------------------------------------------------------------


def parse_arguments(arguments: str | dict | None) -> dict[str, Any]:
    """Arguments as sent by the model; lenient about control characters in strings."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments, strict=False)
    except (ValueError, TypeError) as exc:
        raise ToolError(
            f'arguments are not valid JSON ({exc}); send one JSON object, e.g. {{"path": "app.py"}}'
        ) from None
    if not isinstance(value, dict):
        raise ToolError('arguments must be a JSON object, e.g. {"path": "app.py"}')
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _coerce(tool: str, name: str, value: Any, type_: str) -> Any:
    """Check one argument against its schema type, accepting obvious spellings."""
    if type_ == "string" and isinstance(value, str):
        return value
    if type_ == "integer" and (number := _as_int(value)) is not None:
        return number
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    if type_ == "array" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    kind = {"array": "an array of strings", "integer": "an integer"}.get(type_, f"a {type_}")
    raise ToolError(f"{tool}: argument {name!r} must be {kind}")


def validate(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    params = _SCHEMA_BY_NAME[tool]["function"]["parameters"]
    missing = [n for n in params["required"] if args.get(n) is None]
    if missing:
        wanted = ", ".join(f"{n} ({params['properties'][n]['type']})" for n in missing)
        raise ToolError(f"{tool} needs the argument(s): {wanted}")
    clean: dict[str, Any] = {}
    for name, value in args.items():
        prop = params["properties"].get(name)
        if prop is None or value is None:
            continue  # unknown extras are ignored rather than failing the call
        clean[name] = _coerce(tool, name, value, prop["type"])
    return clean


_SCHEMA_BY_NAME = {s["function"]["name"]: s for s in [*SCHEMAS, *GIT_SCHEMAS]}
_GIT_SCHEMA_TEXT = json.dumps(GIT_SCHEMAS, ensure_ascii=False)


# -- the toolbox -------------------------------------------------------------------

Handler = Callable[..., Awaitable[ToolResult]]


class ExtraTools(Protocol):
    """More tools from elsewhere (MCP servers): offered after the built-in ones."""

    def start(self) -> None: ...

    async def wait_ready(self) -> None: ...

    def schemas(self) -> list[dict]: ...

    def handles(self, name: str) -> bool: ...

    async def call(self, call_id: str, name: str, args: dict[str, Any]) -> tuple[bool, str]: ...

    def watch(self, listener: Callable[[Any], None]) -> None: ...

    async def aclose(self) -> None: ...


class Toolbox:
    """Runs tool calls against one Workspace."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        test_command: Sequence[str] | None = None,
        test_timeout: float = 120.0,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        api_key_env: str | None = None,
        sandbox: Sandbox | None = None,
        test_args: bool = False,
        read_only: bool = False,
        approve_run: RunApprover | None = None,
        search_timeout: float = search.SEARCH_TIMEOUT,
        command_policy: CommandPolicy | None = None,
        command_timeout: float = DEFAULT_TIMEOUT,
        extra: ExtraTools | None = None,
        approve_commit: CommitApprover | None = None,
    ) -> None:
        self.workspace = workspace
        self.extra = extra
        self.search_timeout = search_timeout
        self.max_output_chars = max_output_chars
        self.sandbox = sandbox or Sandbox()
        self.tests = TestRunner(
            workspace,
            self.sandbox,
            command=test_command,
            timeout=test_timeout,
            allow_args=test_args,
            read_only=read_only,
            approve=approve_run,
            api_key_env=api_key_env,
        )
        self.commands = CommandRunner(
            workspace,
            self.sandbox,
            policy=command_policy,
            timeout=command_timeout,
            read_only=read_only,
            approve=approve_run,
            api_key_env=api_key_env,
        )
        self.checkpoints: Any = None  # kimitui.core.checkpoints.Checkpoints, when wired
        self._handlers: dict[str, Handler] = {
            "list_files": self._list_files,
            "read_file": self._read_file,
            "write_file": self._write_file,
            "edit_file": self._edit_file,
            "search": self._search,
            "run_tests": self._run_tests,
            "run_command": self._run_command,
        }
        # The git tools exist only inside a work tree.
        self.git: GitTools | None = None
        if find_worktree(workspace.root) is not None:
            self.git = GitTools(
                workspace,
                self.sandbox,
                read_only=read_only,
                approve=approve_commit,
                api_key_env=api_key_env,
            )
            self._handlers.update(
                git_status=self._git_status,
                git_diff=self._git_diff,
                git_log=self._git_log,
                git_commit=self._git_commit,
            )

    def schemas(self) -> list[dict]:
        """The OpenAI ``tools`` list; identical bytes on every call (cached prefix)."""
        schemas = json.loads(_SCHEMA_TEXT)
        if self.git is not None:
            schemas += json.loads(_GIT_SCHEMA_TEXT)
        return schemas + (self.extra.schemas() if self.extra else [])

    async def extra_ready(self) -> None:
        """Wait for the extra tools (MCP servers starting in the background), if any."""
        if self.extra is not None:
            await self.extra.wait_ready()

    async def aclose(self) -> None:
        """Stop what the extra tools started (MCP server processes)."""
        if self.extra is not None:
            await self.extra.aclose()

    async def call(self, call_id: str, name: str, arguments: str | dict | None) -> ToolResult:
        try:
            if self.extra is not None and self.extra.handles(name):
                ok, text = await self.extra.call(call_id, name, parse_arguments(arguments))
                return ToolResult(ok, cap_text(text, self.max_output_chars))
            handler = self._handlers.get(name)
            if handler is None:
                raise ToolError(f"unknown tool {name!r}; the tools are: {', '.join(TOOL_NAMES)}")
            args = validate(name, parse_arguments(copy.deepcopy(arguments)))
            result = await handler(call_id, **args)
        except (ToolError, SandboxError) as exc:
            return ToolResult(False, cap_text(f"error: {exc}", self.max_output_chars))
        except Exception as exc:  # a bug in one tool must not end the session
            log.exception("tool %s failed", name)
            return ToolResult(
                False,
                cap_text(
                    f"error: {name} failed: {type(exc).__name__}: {exc}", self.max_output_chars
                ),
            )
        return ToolResult(result.ok, cap_text(result.output, self.max_output_chars), result.edit)

    # -- handlers ---------------------------------------------------------------

    async def _list_files(
        self, call_id: str, path: str = ".", pattern: str | None = None
    ) -> ToolResult:
        text = await asyncio.to_thread(
            files.list_files,
            self.workspace,
            path or ".",
            pattern or None,
            budget=self.max_output_chars,
        )
        return ToolResult(True, text)

    async def _read_file(
        self,
        call_id: str,
        path: str,
        start_line: int | None = None,
        end_line: int | None = None,
        start_column: int | None = None,
    ) -> ToolResult:
        text = await asyncio.to_thread(
            files.read_file,
            self.workspace,
            path,
            start_line,
            end_line,
            start_column=start_column,
            budget=self.max_output_chars,
        )
        return ToolResult(True, text)

    async def _write_file(self, call_id: str, path: str, content: str) -> ToolResult:
        ws = self.workspace
        rel = ws.relpath(ws.check_writable(path))
        # The file's line endings, BOM and final newline survive a whole rewrite.
        new_text = conform(ws.read_text(rel), content)
        edit = make_edit(ws, call_id=call_id, tool="write_file", path=rel, new_text=new_text)
        if edit.old_text == edit.new_text:
            return ToolResult(True, f"{edit.path} already has exactly this content; nothing to do")
        return ToolResult(True, describe_edit(edit), edit)

    async def _edit_file(
        self,
        call_id: str,
        path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
    ) -> ToolResult:
        ws = self.workspace
        # Readable first: match/no-match answers would otherwise leak a withheld file.
        rel = ws.relpath(ws.check_readable(path))
        ws.check_writable(rel)
        text = ws.read_text(rel)
        if text is None:
            raise ToolError(f"{rel} does not exist; use write_file to create it")
        if _has_undecodable(text):
            raise ToolError(
                f"{rel} is not valid UTF-8, so edit_file cannot match its text; "
                "use write_file to replace it whole (it will be saved as UTF-8)"
            )
        try:
            new_text = replace_exact(
                text, old_string, new_string, replace_all=replace_all, path=rel
            )
        except EditError as exc:
            raise ToolError(str(exc)) from None
        if new_text == text:
            raise ToolError(
                f"this edit changes nothing in {rel}: it only adds or removes the final "
                "newline, and edits keep each file's line endings, BOM and final newline "
                "(or lack of one) as they are"
            )
        edit = make_edit(
            ws,
            call_id=call_id,
            tool="edit_file",
            path=rel,
            new_text=new_text,
            old_string=old_string,
            new_string=new_string,
            replace_all=replace_all,
        )
        return ToolResult(True, describe_edit(edit), edit)

    async def _search(
        self,
        call_id: str,
        pattern: str,
        path: str = ".",
        glob: str | None = None,
        ignore_case: bool = False,
    ) -> ToolResult:
        # The worker thread cannot be killed: it stops at its next check of this flag
        # (between lines, and inside a regex call within its timeout).
        cancel = threading.Event()
        try:
            text = await asyncio.to_thread(
                search.search,
                self.workspace,
                pattern,
                path or ".",
                glob or None,
                ignore_case=ignore_case,
                budget=self.max_output_chars,
                timeout=self.search_timeout,
                cancel=cancel,
            )
        except asyncio.CancelledError:
            cancel.set()
            raise
        except search.SearchCancelled:
            raise ToolError("search was cancelled") from None
        return ToolResult(True, text)

    async def _run_tests(self, call_id: str, args: list[str] | None = None) -> ToolResult:
        ok, text = await self.tests.run(call_id, args or [])
        return ToolResult(ok, text)

    async def _run_command(
        self, call_id: str, command: str, timeout_s: int | None = None
    ) -> ToolResult:
        ok, text = await self.commands.run(call_id, command, timeout_s)
        return ToolResult(ok, text)

    # -- git (present only inside a work tree) ------------------------------------

    def _git_tools(self) -> GitTools:
        assert self.git is not None  # registered only when there is one
        return self.git

    async def _git_status(self, call_id: str) -> ToolResult:
        return ToolResult(True, await self._git_tools().status())

    async def _git_diff(
        self, call_id: str, path: str | None = None, staged: bool = False
    ) -> ToolResult:
        return ToolResult(True, await self._git_tools().diff(path or None, staged))

    async def _git_log(
        self, call_id: str, path: str | None = None, limit: int | None = None
    ) -> ToolResult:
        return ToolResult(True, await self._git_tools().log(path or None, limit))

    async def _git_commit(
        self, call_id: str, message: str, paths: list[str] | None = None
    ) -> ToolResult:
        ok, text = await self._git_tools().commit(call_id, message, paths)
        return ToolResult(ok, text)


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # surrogate escapes from Workspace.read_text


def _has_undecodable(text: str) -> bool:
    return _UNDECODABLE.search(text) is not None


def describe_edit(edit: ProposedEdit) -> str:
    """What the model sees while its edit waits for the user's review."""
    what = "new file" if edit.old_text is None else "change to"
    hunks = f", {len(edit.hunks)} hunk{'s' if len(edit.hunks) != 1 else ''}"
    text = (
        f"Proposed {what} {edit.path} (+{edit.added} -{edit.removed}{hunks}); "
        "waiting for the user's review."
    )
    if edit.unread_overwrite and edit.tool == "write_file":
        text += f" Note: you have not read {edit.path} in this session; this replaces it whole."
    return text
