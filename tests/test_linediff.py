"""The patience matcher behind big diffs: its blocks are true, and rebuild the new text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kimitui.tools.edits import apply_hunks, make_hunks
from kimitui.tools.linediff import BIG, LineMatcher, matching_blocks

# Few distinct lines make repeats (no anchors); many make unique anchors.
lines = st.lists(st.sampled_from([f"line {i}\n" for i in range(12)] + ["\n", "}\n"]), max_size=60)
unique = st.lists(st.integers(0, 10_000).map(lambda n: f"value_{n}\n"), max_size=60, unique=True)
text_lines = st.one_of(lines, unique, st.tuples(lines, unique).map(lambda p: p[0] + p[1]))


@settings(max_examples=300, deadline=None)
@given(text_lines, text_lines)
def test_blocks_are_equal_runs_in_order_and_opcodes_rebuild_b(a: list[str], b: list[str]) -> None:
    blocks = matching_blocks(a, b)
    assert blocks[-1] == (len(a), len(b), 0)
    end_a = end_b = 0
    for i, j, n in blocks[:-1]:
        assert n > 0 and i >= end_a and j >= end_b
        assert a[i : i + n] == b[j : j + n]
        end_a, end_b = i + n, j + n
    rebuilt: list[str] = []
    for tag, a1, a2, b1, b2 in LineMatcher(a, b).get_opcodes():
        rebuilt += a[a1:a2] if tag == "equal" else b[b1:b2]
    assert rebuilt == b


def test_a_big_file_diffs_with_anchors_and_applies_exactly() -> None:
    old = [f"value_{i:05} = {i}\n" for i in range(BIG)]
    new = list(old)
    for i in range(5, BIG, 97):
        new[i] = f"value_{i:05} = {i} + 1\n"
    new.insert(350, "\n")  # far from the changed lines: a hunk of its own
    old_text, new_text = "".join(old), "".join(new)
    hunks = make_hunks(old_text, new_text)
    assert len(hunks) == len(range(5, BIG, 97)) + 1
    assert apply_hunks(old_text, hunks, range(len(hunks))) == new_text
    assert apply_hunks(old_text, hunks, []) == old_text
