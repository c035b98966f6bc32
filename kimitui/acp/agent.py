"""The ACP agent: the protocol's methods, each mapped onto the engine.

``session/new`` builds an engine Agent for the project, ``session/prompt``
runs it (streaming its events as updates), ``session/cancel`` stops it,
``session/load`` picks a saved session up again after replaying it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    EmbeddedResourceContentBlock,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PermissionOption,
    PromptCapabilities,
    PromptResponse,
    ResourceContentBlock,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    TextContentBlock,
    TextResourceContents,
    ToolCallUpdate,
    Usage,
)

from kimitui import __version__
from kimitui.acp.gate import Ask
from kimitui.acp.session import AcpSession, Options, close_all, open_session
from kimitui.acp.updates import Update, usage_meta
from kimitui.core.budget import TokenUsage
from kimitui.core.catalog import find_session
from kimitui.core.events import Done
from kimitui.core.transcript import SessionError, Transcript, load_transcript

log = logging.getLogger(__name__)

# How each way a run ends is told to the client.
STOP_REASONS = {
    "finished": "end_turn",
    "interrupted": "cancelled",
    "max_steps": "max_turn_requests",
    "token_budget": "max_tokens",
    "time_budget": "end_turn",
    "cost_budget": "end_turn",
}


def invalid(message: str) -> RequestError:
    """A request the client got wrong: its message says what and what to do."""
    return RequestError(-32602, message)


class KimiAgent:
    """Implements the SDK's Agent protocol over kimitui's engine."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.client: Client | None = None
        self.sessions: dict[str, AcpSession] = {}

    def on_connect(self, conn: Client) -> None:
        self.client = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
                # Streamable HTTP and stdio servers, as kimitui's own config takes them.
                mcp_capabilities=McpCapabilities(http=True),
            ),
            agent_info=Implementation(name="kimitui", title="kimitui", version=__version__),
            auth_methods=[],
        )

    async def authenticate(self, method_id: str, **kwargs: Any) -> None:
        return None  # the API key comes from the environment

    # -- sessions -----------------------------------------------------------------

    def project_for(self, cwd: str) -> Path:
        """The project a session works in; a cwd outside PROJECT is refused."""
        fixed = self.options.project
        if fixed is not None and self.options.any_cwd:
            return fixed
        path = Path(cwd)
        if not path.is_absolute():
            raise invalid(f"cwd must be an absolute path, got {cwd!r}")
        resolved = path.resolve()
        if fixed is not None and not resolved.is_relative_to(fixed):
            raise invalid(
                f"cwd {resolved} is outside the project {fixed} this kimitui was started "
                f"for; open a folder inside it, or start `kimitui acp` with that folder"
            )
        if not resolved.is_dir():
            raise invalid(f"cwd {resolved} is not an existing folder")
        return fixed or resolved

    async def _open(
        self, cwd: str, mcp_servers: list[Any] | None, resumed: Transcript | None = None
    ) -> AcpSession:
        project = self.project_for(cwd)
        if resumed is not None and Path(resumed.project) != project:
            raise invalid(f"session {resumed.id} belongs to {resumed.project}, not {project}")
        session = await open_session(
            self.options,
            project,
            mcp_servers,
            send=self._send,
            ask=self._asker,
            resumed=resumed,
        )
        self.sessions[session.id] = session
        for notice in session.notices:
            log.info("session %s: %s", session.id, notice)
        return session

    async def new_session(
        self, cwd: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> NewSessionResponse:
        session = await self._open(cwd, mcp_servers)
        meta = {"kimitui": {"project": str(session.project), "notices": session.notices}}
        return NewSessionResponse(session_id=session.id, modes=modes(session), field_meta=meta)

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> LoadSessionResponse:
        try:
            transcript = load_transcript(find_session(session_id))
        except SessionError as err:
            raise invalid(str(err)) from err
        if transcript.id != session_id:
            raise invalid(f"no session {session_id!r}; give its whole id")
        old = self.sessions.pop(session_id, None)
        if old is not None:  # loaded again in this process: start from the file
            await old.aclose()
        session = await self._open(cwd, mcp_servers, transcript)
        await session.replay(transcript)
        meta = {"kimitui": {"project": str(session.project), "notices": session.notices}}
        return LoadSessionResponse(modes=modes(session), field_meta=meta)

    async def set_session_mode(
        self, session_id: str, mode_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        """The editor's mode picker: edits asked about, or applied as they come."""
        session = self._session(session_id)
        if mode_id not in MODES:
            raise invalid(f"no mode {mode_id!r}; kimitui has {', '.join(MODES)}")
        session.gate.set_auto(mode_id == "auto")
        return SetSessionModeResponse()

    # -- prompts --------------------------------------------------------------------

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        session = self._session(session_id)
        if session.running:
            raise RequestError(
                -32600, "a prompt is already running in this session; cancel it first"
            )
        text = prompt_text(prompt)
        if not text.strip():
            raise invalid("the prompt has no text; kimitui takes text and file context")
        done, spent = await session.run(text)
        if done.reason == "error":
            # The conversation stays valid: the next prompt continues it.
            raise RequestError(-32603, done.message or "the run failed", {"reason": "error"})
        return PromptResponse(
            stop_reason=STOP_REASONS[done.reason],  # type: ignore[arg-type]
            usage=_usage(spent),
            field_meta={"kimitui": {**usage_meta(session.agent.budget), **_done(done)}},
        )

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.cancel()

    def _session(self, session_id: str) -> AcpSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise invalid(f"no open session {session_id!r}; call session/new or session/load")
        return session

    # -- talking to the client --------------------------------------------------------

    async def _send(self, session_id: str, update: Update) -> None:
        if self.client is not None:
            await self.client.session_update(session_id=session_id, update=update)

    def _asker(self, session_id: str) -> Ask:
        async def ask(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
            if self.client is None:
                return None
            response = await self.client.request_permission(
                session_id=session_id, tool_call=call, options=options
            )
            outcome = response.outcome
            return outcome.option_id if isinstance(outcome, AllowedOutcome) else None

        return ask

    async def aclose(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await close_all(sessions)


# Only edits switch: commands, MCP calls and commits are asked in both, as in the TUI.
MODES = {
    "ask": ("Ask", "Every edit waits for your answer"),
    "auto": ("Apply edits", "Edits are applied as they come; commands, MCP calls and commits ask"),
}


def modes(session: AcpSession) -> SessionModeState:
    return SessionModeState(
        current_mode_id="auto" if session.gate.auto_approve else "ask",
        available_modes=[
            SessionMode(id=mode, name=name, description=text)
            for mode, (name, text) in MODES.items()
        ],
    )


def prompt_text(blocks: list[Any]) -> str:
    """The user's message: text as typed, a file the editor attached as its path and text."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"@{_path(block.uri)}")
        elif isinstance(block, EmbeddedResourceContentBlock):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                parts.append(f"\n<file {_path(resource.uri)}>\n{resource.text}\n</file>\n")
    return "".join(parts)


def _path(uri: str) -> str:
    return uri.removeprefix("file://")


def _usage(spent: TokenUsage) -> Usage:
    return Usage(
        total_tokens=spent.total,
        input_tokens=spent.prompt,
        output_tokens=spent.completion,
        thought_tokens=spent.reasoning,
        cached_read_tokens=spent.cached,
    )


def _done(done: Done) -> dict[str, Any]:
    # A finished run's message is the answer just streamed: not sent twice.
    message = "" if done.reason == "finished" else done.message
    return {"done": {"reason": done.reason, "message": message}}
