"""Git for the model: ``git_status``, ``git_diff``, ``git_log``, and ``git_commit``
through the gate; and the auto-commit trail (``[git] auto_commit``).

Why the git CLI, not pygit2 or dulwich:

- hooks: only git itself runs the user's hooks as configured (``core.hooksPath``,
  pre-commit, commit-msg); a library commit would skip them, silently;
- the sandbox: every program kimitui starts for the model runs confined. A
  library runs inside kimitui's own process, where a hostile repository's
  config, filters and hooks would act unconfined; the CLI runs in the sandbox;
- portability: git is present wherever a work tree is, and reads every
  repository format it wrote (sha256, split index, worktrees, sparse); pygit2
  needs libgit2 wheels that lag git, dulwich misses index extensions;
- speed: status and diff are git's own C with its stat cache. A call costs one
  process (a few ms, ~40 ms with bubblewrap), a handful per commit.

Hardening of every git process: ``core.fsmonitor=false`` (a repository's config
could name a program), no pager, no colour, ``--no-ext-diff --no-textconv``,
no auto gc or maintenance, ``protocol.allow=never`` (never a fetch or push),
``GIT_TERMINAL_PROMPT=0``, ``GIT_OPTIONAL_LOCKS=0``. Read-only commands also get
``core.hooksPath=/dev/null`` and a read-only ``.git``; a commit the user
approved gets a writable git dir (its config and hooks stay read-only under
bubblewrap) and runs the user's hooks, in the sandbox, as the gate says.

What reaches the model: paths are confined to the project and passed as
``:(literal)`` pathspecs (no pathspec magic from the model), withheld files
are excluded from every diff, and secret values are redacted from the output.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kimitui.sandbox import Policy, Protected, RunResult, Sandbox, home_secrets, scan_protected
from kimitui.sandbox.env import secret_values
from kimitui.tools.errors import ToolError
from kimitui.tools.limits import tail_text
from kimitui.tools.testrun import redact
from kimitui.tools.workspace import Workspace

TRAILER = "Assisted-by: kimitui"
GIT_TIMEOUT = 60.0
COMMIT_TIMEOUT = 300.0  # hooks (a formatter, a test run) may take a while
MAX_MESSAGE_CHARS = 10_000
MAX_LOG = 200
DEFAULT_LOG = 20
SHOWN_DIFF_CHARS = 400_000  # the gate's copy; the comparison uses the whole diff
# Hooks that `git add` + `git commit` may run.
COMMIT_HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "post-index-change",
    "reference-transaction",
)
SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.pager=cat",
    "color.ui=false",
    "core.quotePath=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "protocol.allow=never",
)
DIFF_FLAGS = ("--no-ext-diff", "--no-textconv", "--no-color")
NEVER_COMMIT = (
    "kimitui is running with --approve never: nothing is committed. "
    "Say what you would commit instead."
)
# The palette's "Review my changes" (and /review): a review with read-only tools.
REVIEW_PROMPT = (
    "Review my uncommitted changes. Use only read-only tools: git_status, git_diff (and "
    "git_diff with staged=true), read_file and search for context. Do not edit, write, run "
    "or commit anything. Report, per file, bugs, risks, missing tests and anything unclear, "
    "most important first, with file:line references; say plainly if it looks good."
)
NO_APPROVER = "git_commit needs someone to approve it, and this front end cannot ask"

GIT_SCHEMAS: list[dict] = [
    {
        "type": "function",
        "function": {
            "name": "git_status",
            "description": "Show the branch and which project files are changed, staged or "
            "untracked (git status --short).",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "git_diff",
            "description": "Show uncommitted changes as a unified diff: the working tree "
            "against the index, or with staged=true the index against HEAD. Untracked files "
            "are listed, not diffed; withheld files are left out.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Only this file or folder."},
                    "staged": {"type": "boolean", "description": "Staged changes. Default: false."},
                },
                "required": [],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "git_log",
            "description": "Recent commits, newest first: short hash, date, author, subject.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Only commits touching this path."},
                    "limit": {
                        "type": "integer",
                        "description": f"Commits to show (default {DEFAULT_LOG}, max {MAX_LOG}).",
                    },
                },
                "required": [],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "git_commit",
            "description": "Commit after the user approves the message and exact diff; "
            "hooks run. With paths: exactly those files as on disk (new ones too), nothing "
            "else. Without paths: what is staged. Never pushes or amends.",
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {"type": "string", "description": "The commit message."},
                    "paths": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Files or folders to commit, relative to the project.",
                    },
                },
                "required": ["message"],
            },
        },
    },
]
GIT_TOOL_NAMES: tuple[str, ...] = tuple(s["function"]["name"] for s in GIT_SCHEMAS)


@dataclass(frozen=True)
class CommitRequest:
    """A commit as the gate shows it."""

    call_id: str
    message: str
    paths: tuple[str, ...]  # empty: what is staged
    files: tuple[str, ...]  # what the commit changes, relative to the project
    diff: str  # exactly what will be committed (capped for display)
    hooks: tuple[str, ...]  # hooks that will run, in the sandbox
    branch: str
    sandbox: str


@dataclass(frozen=True)
class CommitAnswer:
    """The user's answer: ``refusal`` None commits, with ``message`` if they edited it."""

    refusal: str | None = None
    message: str | None = None


CommitApprover = Callable[[CommitRequest], Awaitable[CommitAnswer]]


@dataclass(frozen=True)
class HeadInfo:
    """For the header: the branch (or a detached HEAD's commit) and the dirty count."""

    branch: str
    dirty: int


@dataclass
class _Plan:
    specs: list[str]  # literal pathspecs; empty: the index
    files: list[str]
    diff: str
    untracked: list[str] = field(default_factory=list)


def find_worktree(root: Path) -> Path | None:
    """The work tree holding ``root`` (a folder with ``.git``), None outside one or
    without a git program. Read from disk, no process: it decides which tools exist."""
    if shutil.which("git") is None:
        return None
    for folder in (root, *root.parents):
        marker = folder / ".git"
        if marker.is_dir() or marker.is_file():
            return folder
    return None


def literal(rel: str) -> str:
    return f":(literal){rel}"


class GitTools:
    """The git tools of one project; every git process runs in the sandbox."""

    def __init__(
        self,
        workspace: Workspace,
        sandbox: Sandbox,
        *,
        read_only: bool = False,
        approve: CommitApprover | None = None,
        api_key_env: str | None = None,
        timeout: float = GIT_TIMEOUT,
    ) -> None:
        self.workspace = workspace
        self.sandbox = sandbox
        self.read_only = read_only
        self.approve = approve
        self.api_key_env = api_key_env
        self.timeout = timeout
        # One scan of the project's protected paths serves the several git processes
        # of one tool call; each call starts with a fresh one (see _fresh).
        self._scan: Protected | None = None
        self._secrets: set[str] = set()

    def _fresh(self) -> None:
        self._scan = None

    # -- running git ---------------------------------------------------------

    async def git(
        self,
        *args: str,
        write: tuple[Path, ...] = (),
        timeout: float | None = None,
        user_hooks: bool = False,
    ) -> RunResult:
        """One git process in the sandbox; ``write``: git dirs an approved commit writes.

        ``user_hooks``: keep the user's hooksPath (a commit, or asking where it is)."""
        command = ["git", "--no-pager"]
        for setting in SAFE_CONFIG:
            command += ["-c", setting]
        if not (write or user_hooks):
            command += ["-c", "core.hooksPath=/dev/null"]  # read-only: no hook ever
        policy, secrets = self._policy(write)
        try:
            return await self.sandbox.run(
                [*command, *args],
                policy,
                timeout or self.timeout,
                secrets=secrets,
                extra_env=self._env(bool(write)),
            )
        except OSError as exc:
            raise ToolError(f"could not start git: {exc}") from None

    async def _out(self, *args: str, ok_codes: Sequence[int] = (0,)) -> str:
        run = await self.git(*args)
        if run.exit_code not in ok_codes:
            raise ToolError(self._failed(args[0], run))
        return run.output

    def _failed(self, what: str, run: RunResult) -> str:
        if run.timed_out:
            return f"git {what} timed out after {run.timeout:g}s"
        text, _ = tail_text(self._redact(run.output).strip(), 4000)
        return f"git {what} failed (exit {run.exit_code}): {text}"

    def _env(self, write: bool) -> dict[str, str]:
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "GIT_EDITOR": "true",  # nothing may wait for an editor
            "GIT_MERGE_AUTOEDIT": "no",
        }
        if not write:
            env["GIT_OPTIONAL_LOCKS"] = "0"  # status must not refresh the index
        # The sandbox's HOME is empty: the user's identity and hooksPath live here.
        home = Path(os.path.expanduser("~"))
        xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        for candidate in (home / ".gitconfig", xdg / "git" / "config"):
            if candidate.is_file():
                env["GIT_CONFIG_GLOBAL"] = str(candidate)
                break
        return env

    def _policy(self, write: tuple[Path, ...]) -> tuple[Policy, set[str]]:
        ws = self.workspace
        if self._scan is None:
            self._scan = scan_protected(ws.root, ws.is_secret, ws.is_write_denied)
        protected = self._scan
        gits = protected.git_dirs
        in_git = [p for p in protected.secrets if any(p.is_relative_to(g) for g in gits)]
        # git needs its own config to work (format, worktrees, identity): readable
        # here, and only its credential-like values are redacted from the output.
        others = tuple(p for p in protected.secrets if p not in in_git)
        key = os.environ.get(self.api_key_env or "", "")
        secrets = secret_values(others, [key]) | config_credentials(in_git)
        root = ws.root
        hidden = tuple(p for p in home_secrets() if not root.is_relative_to(p))
        policy = Policy(
            root=root,
            writable=bool(write),
            protected=replace(protected, secrets=others),
            hidden=hidden,
            git_writable=write,
        )
        self._secrets = secrets
        return policy, secrets

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # -- paths ---------------------------------------------------------------

    def _rel(self, path: str, *, tool: str) -> str:
        ws = self.workspace
        rel = ws.relpath(ws.resolve(path))
        if ws.is_secret(rel):
            raise ToolError(f"{tool}: {rel!r} is withheld (it may hold secrets)")
        return rel

    async def _withheld_excludes(self, *diff_args: str) -> list[str]:
        """Literal excludes for the withheld files among this diff's paths."""
        names = await self._out("diff", "--name-only", "-z", "--relative", *diff_args)
        ws = self.workspace
        return [f":(exclude,literal){n}" for n in names.split("\0") if n and ws.is_secret(n)]

    # -- the read-only tools -----------------------------------------------------

    async def status(self) -> str:
        self._fresh()
        out = await self._out(
            "-c", "status.relativePaths=true", "status", "--short", "--branch", "--", "."
        )
        lines = self._redact(out).rstrip("\n").splitlines()
        if len(lines) <= 1:
            lines.append("(no changes in the project: the working tree is clean)")
        return "\n".join(lines)

    async def diff(self, path: str | None = None, staged: bool = False) -> str:
        self._fresh()
        target = [literal(self._rel(path, tool="git_diff"))] if path else ["."]
        which = ["--cached"] if staged else []
        excludes = await self._withheld_excludes(*which, "--", *target)
        out = await self._out("diff", *DIFF_FLAGS, "--relative", *which, "--", *target, *excludes)
        text = self._redact(out).rstrip("\n")
        if not staged:
            untracked = await self._untracked(target)
            if untracked:
                names = ", ".join(untracked[:50]) + (" …" if len(untracked) > 50 else "")
                text += f"\n\nuntracked (not in the diff; read_file shows them): {names}"
        what = "staged" if staged else "unstaged"
        return text.strip("\n") or f"no {what} changes" + (f" in {path}" if path else "")

    async def _untracked(self, specs: list[str]) -> list[str]:
        out = await self._out("ls-files", "-z", "--others", "--exclude-standard", "--", *specs)
        return [n for n in out.split("\0") if n and not self.workspace.is_secret(n)]

    async def log(self, path: str | None = None, limit: int | None = None) -> str:
        self._fresh()
        count = min(max(limit or DEFAULT_LOG, 1), MAX_LOG)
        target = [literal(self._rel(path, tool="git_log"))] if path else ["."]
        if not await self._has_head():
            return "no commits yet"
        fmt = "--format=%h %ad %an: %s"
        out = await self._out("log", "--no-color", "--date=short", fmt, f"-n{count}", "--", *target)
        return self._redact(out).rstrip("\n") or "no commits touch this path"

    async def _has_head(self) -> bool:
        run = await self.git("rev-parse", "-q", "--verify", "HEAD^{commit}")
        return run.exit_code == 0

    async def head(self) -> HeadInfo:
        """Branch and dirty count for the header (quietly nothing when git fails)."""
        self._fresh()
        run = await self.git("status", "--porcelain=v2", "--branch", "-z", "--", ".")
        if not run.ok:
            return HeadInfo("", 0)
        return parse_head(run.output)

    # -- committing --------------------------------------------------------------

    async def commit(
        self, call_id: str, message: str, paths: Sequence[str] | None = None
    ) -> tuple[bool, str]:
        self._fresh()
        if self.read_only:
            raise ToolError(NEVER_COMMIT)
        message = clean_message(message)
        specs = [literal(self._rel(p, tool="git_commit")) for p in paths or []]
        plan = await self._plan(specs)
        if self.approve is None:
            raise ToolError(NO_APPROVER)
        request = CommitRequest(
            call_id=call_id,
            message=with_trailer(message),
            paths=tuple(paths or ()),
            files=tuple(plan.files),
            diff=_shown(plan.diff),
            hooks=await self.hooks(),
            branch=(await self.head()).branch,
            sandbox=self.sandbox.level.name,
        )
        answer = await self.approve(request)
        if answer.refusal is not None:
            raise ToolError(f"the user did not commit: {answer.refusal}")
        final = clean_message(answer.message) if answer.message else message
        self._fresh()  # minutes may have passed: scan again
        again = await self._plan(specs)
        if again.diff != plan.diff or again.files != plan.files:
            raise ToolError(
                "nothing was committed: the files changed while the user was reviewing the "
                "commit; call git_commit again to show the new diff"
            )
        return await self._commit(plan, with_trailer(final))

    async def auto_commit(self, paths: Sequence[str], summary: Sequence[str]) -> str:
        """Commit kimitui's applied edits (``[git] auto_commit``); returns what happened."""
        self._fresh()
        specs = [literal(p) for p in dict.fromkeys(paths) if not self.workspace.is_secret(p)]
        try:
            plan = await self._plan(specs)
        except ToolError as exc:
            return f"auto-commit skipped: {exc}"
        ok, text = await self._commit(plan, with_trailer(auto_message(plan.files, summary)))
        return text if ok else f"auto-commit failed: {text}"

    async def _plan(self, specs: list[str]) -> _Plan:
        """The exact diff a commit of ``specs`` (or of the index) would make."""
        if not specs:
            names = await self._out("diff", "--cached", "--name-only", "-z", "--relative")
            everything = await self._out("diff", "--cached", "--name-only", "-z")
            files = [n for n in names.split("\0") if n]
            if len([n for n in everything.split("\0") if n]) != len(files):
                raise ToolError(
                    "the staged changes include files outside the project; kimitui commits "
                    "only inside it: pass paths, or the user commits them"
                )
            if not files:
                raise ToolError("nothing is staged; pass paths to commit those files")
            self._refuse_withheld(files, staged=True)
            diff = await self._out("diff", *DIFF_FLAGS, "--cached", "--relative")
            return _Plan([], files, diff)
        base = "HEAD" if await self._has_head() else await self._empty_tree()
        names = await self._out("diff", "--name-only", "-z", "--relative", base, "--", *specs)
        tracked = [n for n in names.split("\0") if n]
        untracked = await self._untracked_all(specs)
        files = sorted({*tracked, *untracked})
        self._refuse_withheld(files, staged=False)
        if not files:
            raise ToolError(
                "nothing to commit in those paths: no changes (or they are ignored by .gitignore)"
            )
        diff = await self._out("diff", *DIFF_FLAGS, "--relative", base, "--", *specs)
        for name in untracked:
            diff += await self._out(
                "diff", *DIFF_FLAGS, "--no-index", "--", "/dev/null", name, ok_codes=(0, 1)
            )
        return _Plan(specs, files, diff, untracked)

    async def _untracked_all(self, specs: list[str]) -> list[str]:
        out = await self._out("ls-files", "-z", "--others", "--exclude-standard", "--", *specs)
        return [n for n in out.split("\0") if n]

    def _refuse_withheld(self, files: list[str], *, staged: bool) -> None:
        withheld = [f for f in files if self.workspace.is_secret(f)]
        if withheld:
            where = "the staged changes include" if staged else "these paths include"
            raise ToolError(
                f"{where} withheld files ({', '.join(withheld[:5])}), which may hold secrets "
                "and which kimitui never commits; leave them out (the user can commit them)"
            )

    async def _empty_tree(self) -> str:
        return (await self._out("hash-object", "-t", "tree", "/dev/null")).strip()

    async def hooks(self) -> tuple[str, ...]:
        """The commit hooks that will run (honours core.hooksPath)."""
        run = await self.git(
            "rev-parse", "--path-format=absolute", "--git-path", "hooks", user_hooks=True
        )
        if not run.ok:
            raise ToolError(self._failed("rev-parse", run))
        path = Path(run.output.strip())
        found = []
        for name in COMMIT_HOOKS:
            hook = path / name
            if hook.is_file() and os.access(hook, os.X_OK):
                found.append(name)
        return tuple(found)

    async def _git_dirs(self) -> tuple[Path, ...]:
        out = await self._out(
            "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"
        )
        dirs = tuple(dict.fromkeys(Path(line).resolve() for line in out.splitlines() if line))
        for folder in dirs:
            # A `.git` file may point anywhere: only a repository folder becomes writable.
            if ".git" not in folder.parts:
                raise ToolError(
                    f"the repository's git dir {folder} is not a .git folder; kimitui commits "
                    "only into one (commit this yourself)"
                )
        return dirs

    async def _commit(self, plan: _Plan, message: str) -> tuple[bool, str]:
        write = await self._git_dirs()
        hooks = await self.hooks()
        staged_note = ""
        if plan.specs:
            add = await self.git("add", "--", *plan.specs, write=write, timeout=COMMIT_TIMEOUT)
            if not add.ok:
                return False, self._failed("add", add)
            staged_note = " (the paths stay staged)"
            args = ["commit", "-q", "--cleanup=whitespace", "-m", message, "--only", "--"]
            args += plan.specs
        else:
            args = ["commit", "-q", "--cleanup=whitespace", "-m", message]
        run = await self.git(*args, write=write, timeout=COMMIT_TIMEOUT)
        hook_output = self._redact(run.output).strip()
        if not run.ok:
            return False, self._failed("commit", run) + f"\nnothing was committed{staged_note}"
        summary = (await self._out("log", "-1", "--format=%h %s")).strip()
        head = await self.head()
        count = len(plan.files)
        text = f"committed {summary} on {head.branch} ({count} file{'s' if count != 1 else ''})"
        if hooks:
            text += f"; hooks ran in the sandbox: {', '.join(hooks)}"
        if hook_output:
            shown, _ = tail_text(hook_output, 4000)
            text += f"\nhook output:\n{shown}"
        return True, text


def parse_head(output: str) -> HeadInfo:
    """``git status --porcelain=v2 --branch -z``: branch headers, then one entry per change."""
    branch, oid, dirty = "", "", 0
    records = iter(output.split("\0"))
    for record in records:
        if record.startswith("# branch.head "):
            branch = record.removeprefix("# branch.head ")
        elif record.startswith("# branch.oid "):
            oid = record.removeprefix("# branch.oid ")
        elif record.startswith("2 "):  # a rename: the original path follows
            dirty += 1
            next(records, None)
        elif record[:2] in ("1 ", "u ", "? "):
            dirty += 1
    if branch == "(detached)":
        branch = f"detached {oid[:7]}" if oid and oid != "(initial)" else "detached"
    return HeadInfo(branch, dirty)


def clean_message(message: str) -> str:
    text = message.replace("\r\n", "\n").strip()
    if not text:
        raise ToolError("git_commit: the message is empty; say what the commit changes")
    if "\x00" in text:
        raise ToolError("git_commit: the message must not contain NUL bytes")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ToolError(f"git_commit: the message is over {MAX_MESSAGE_CHARS:,} characters")
    return text


def with_trailer(message: str) -> str:
    if TRAILER.casefold() in message.casefold():
        return message
    return f"{message.rstrip()}\n\n{TRAILER}"


def auto_message(files: Sequence[str], summary: Sequence[str]) -> str:
    """``kimitui: edit app.py, util.py`` and one body line per applied edit."""
    names = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    body = "\n".join(f"- {line}" for line in summary[:30])
    return f"kimitui: edit {names}" + (f"\n\n{body}" if body else "")


_CREDENTIAL_KEY = re.compile(
    r"^\s*(url|pushurl|extraheader|\w*token\w*|\w*password\w*)\s*=\s*(.+)$", re.IGNORECASE
)
_USERINFO = re.compile(r"://([^/\s@]+)@")


def config_credentials(configs: Sequence[Path]) -> set[str]:
    """Values in git config files that may carry credentials: a URL's user info,
    a token or an auth header. Identity and branch names stay readable."""
    values: set[str] = set()
    for path in configs:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            match = _CREDENTIAL_KEY.match(line)
            if not match:
                continue
            value = match.group(2).strip().strip('"')
            userinfo = _USERINFO.search(value)
            if userinfo:
                values.add(userinfo.group(1))
            elif match.group(1).lower() not in ("url", "pushurl") and len(value) >= 8:
                values.add(value)
    return values


def _shown(diff: str) -> str:
    if len(diff) <= SHOWN_DIFF_CHARS:
        return diff
    cut = len(diff) - SHOWN_DIFF_CHARS
    return diff[:SHOWN_DIFF_CHARS] + f"\n[… {cut:,} more characters of the diff not shown]\n"
