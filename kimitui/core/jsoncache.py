"""Each message of the conversation serialised once, not once per step.

Every request re-sends the whole conversation, so encoding it from scratch
made each step cost O(conversation): 8 ms a step by step 500 on a plain
benchmark. A step only appends messages, so the JSON of the previous request's
messages is reused when they are still there, unchanged. Compaction rewrites
``content`` in place or replaces messages; either shows in the check below,
and then everything is encoded again (rare, and no dearer than before).
"""

from __future__ import annotations

import json
from itertools import repeat
from typing import Any

Message = dict[str, Any]


class EncodedMessages:
    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._contents: list[Any] = []
        self._texts: list[str] = []

    def texts(self, messages: list[Message]) -> list[str]:
        """``json.dumps(m, ensure_ascii=False)`` for each message, in order."""
        # Both comparisons run in C: identity (or equality) per message, then per content.
        contents = list(map(dict.get, messages, repeat("content")))
        known = len(self._messages)
        appended = (
            len(messages) >= known
            and messages[:known] == self._messages
            and contents[:known] == self._contents
        )
        keep = known if appended else 0
        new = [json.dumps(m, ensure_ascii=False) for m in messages[keep:]]
        self._texts = self._texts[:keep] + new
        self._messages, self._contents = list(messages), contents
        return self._texts

    def array(self, messages: list[Message]) -> str:
        """The messages as a JSON array, exactly as ``json.dumps`` would write it."""
        return "[" + ", ".join(self.texts(messages)) + "]"
