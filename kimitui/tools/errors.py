"""The error a tool raises for a model mistake; its text is shown to the model."""

from __future__ import annotations


class ToolError(Exception):
    """Bad arguments or a request the tool cannot carry out; ``str(e)`` says what to do."""
