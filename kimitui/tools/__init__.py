"""The workspace sandbox and the tools the model may call (no Textual, no core imports)."""

from kimitui.tools.edits import (
    Decision,
    Hunk,
    ProposedEdit,
    apply_decision,
    apply_hunks,
    make_edit,
)
from kimitui.tools.errors import ToolError
from kimitui.tools.toolbox import TOOL_NAMES, Toolbox, ToolResult
from kimitui.tools.workspace import SandboxError, Workspace

__all__ = [
    "TOOL_NAMES",
    "Decision",
    "Hunk",
    "ProposedEdit",
    "SandboxError",
    "ToolError",
    "ToolResult",
    "Toolbox",
    "Workspace",
    "apply_decision",
    "apply_hunks",
    "make_edit",
]
