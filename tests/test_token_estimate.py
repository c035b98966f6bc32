"""Each message encoded once: the size estimate and the request body stay exact."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kimitui.core.compaction import TokenEstimator, shorten_old_tool_results
from kimitui.core.llm import ClientConfig, ModelClient

TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300)
message = st.one_of(
    st.builds(lambda t: {"role": "user", "content": t}, text),
    st.builds(lambda r, t: {"role": "assistant", "reasoning_content": r, "content": t}, text, text),
    st.builds(lambda t: {"role": "tool", "tool_call_id": "c1", "content": t * 20}, text),
)


def exact(messages: list[dict[str, Any]]) -> int:
    return len(json.dumps(messages, ensure_ascii=False)) + len(json.dumps(TOOLS))


@settings(max_examples=60, deadline=None)
@given(st.lists(message, max_size=12), st.lists(message, max_size=6), st.integers(0, 11))
def test_chars_matches_a_full_serialisation_through_appends_and_rewrites(
    first: list[dict[str, Any]], more: list[dict[str, Any]], cut: int
) -> None:
    client = ModelClient(ClientConfig(), session_id="s1")
    estimator = TokenEstimator(encoded=client.encoded)

    def check() -> None:
        assert estimator.chars(messages, TOOLS) == exact(messages)
        sent = json.loads(client.encode_request(messages, TOOLS))
        assert sent == client.build_request(messages, TOOLS)

    messages = list(first)
    check()
    messages += more  # a step adds messages
    check()
    shorten_old_tool_results(messages, keep_steps=1)  # compaction rewrites in place
    check()
    del messages[: min(cut, len(messages))]  # or drops earlier messages
    messages.insert(0, {"role": "system", "content": "summary"})
    check()
