"""The interactive gate, conflict re-diffs and the diff rows, without a screen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kimitui.core.events import StepStarted, ToolCallDelta
from kimitui.core.gate import AskGate
from kimitui.tools import Decision, Workspace, apply_decision, make_edit
from kimitui.tools.edits import ProposedEdit, overwrite_edit, rebase_edit
from kimitui.tui import reviewstate
from kimitui.tui.diffrows import ADDED, CHUNK, HEADER, REMOVED, DiffRows
from kimitui.tui.reviewstate import ReviewState

BASE = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "a.py").write_text(BASE)
    return Workspace(tmp_path)


def write(ws: Workspace, text: str, call_id: str = "c1", path: str = "a.py") -> ProposedEdit:
    return make_edit(ws, call_id=call_id, tool="write_file", path=path, new_text=text)


def replace(ws: Workspace, old: str, new: str, call_id: str = "c1") -> ProposedEdit:
    text = (ws.read_text("a.py") or "").replace(old, new, 1)
    return make_edit(
        ws,
        call_id=call_id,
        tool="edit_file",
        path="a.py",
        new_text=text,
        old_string=old,
        new_string=new,
    )


# -- AskGate ---------------------------------------------------------------------


async def test_review_waits_for_the_front_end_and_the_pending_list_is_observable(
    ws: Workspace,
) -> None:
    gate = AskGate()
    seen: list[list[str]] = []
    gate.subscribe(lambda: seen.append([r.edit.id for r in gate.pending]))
    edit = write(ws, BASE + "more\n")
    task = asyncio.create_task(gate.review(edit))
    await asyncio.sleep(0)
    assert not task.done()
    assert gate.current is not None and gate.current.edit is edit
    assert gate.decide("other", Decision.reject()) is False
    assert gate.decide("c1", Decision.reject("no")) is True
    assert (await task) == Decision.reject("no")
    assert gate.pending == [] and gate.turn_reviews[0].status == "rejected"
    assert seen[0] == ["c1"] and seen[-1] == []


async def test_approve_turn_approves_pending_and_the_rest_of_the_turn_only(ws: Workspace) -> None:
    gate = AskGate()
    gate.observe(StepStarted(1))
    for index, name in enumerate(("write_file", "read_file", "edit_file")):
        gate.observe(ToolCallDelta(index, name, 10))
    assert gate.still_to_come == 2
    first = asyncio.create_task(gate.review(write(ws, "x\n", "c1")))
    await asyncio.sleep(0)
    assert gate.still_to_come == 1
    assert gate.approve_turn() == 1
    assert (await first).verdict == "approved"
    second = write(ws, "y\n", "c2")
    assert await gate.review(second) == Decision.approve_all(second)
    assert [r.status for r in gate.turn_reviews] == ["approved", "auto"]
    gate.observe(StepStarted(2))  # a new turn asks again
    third = asyncio.create_task(gate.review(write(ws, "z\n", "c3")))
    await asyncio.sleep(0)
    assert not third.done() and gate.turn_reviews[-1].turn == 2
    third.cancel()


async def test_session_toggle_and_cancelled_reviews(ws: Workspace) -> None:
    gate = AskGate()
    pending = asyncio.create_task(gate.review(write(ws, "x\n")))
    await asyncio.sleep(0)
    pending.cancel()  # the run was interrupted mid-review
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert gate.pending == [] and gate.turn_reviews[0].status == "cancelled"
    gate.set_auto(True)
    edit = write(ws, "y\n", "c2")
    assert (await gate.review(edit)).verdict == "approved"
    gate.set_auto(False)
    task = asyncio.create_task(gate.review(write(ws, "z\n", "c3")))
    await asyncio.sleep(0)
    assert not task.done()
    task.cancel()


# -- conflicts: re-diff, re-apply, overwrite -------------------------------------------


def test_edit_file_is_reapplied_onto_new_content_when_old_string_still_matches_once(
    ws: Workspace,
) -> None:
    edit = replace(ws, "line 3\n", "line three\n")
    (ws.root / "a.py").write_text(BASE.replace("line 15\n", "line fifteen\n"))
    rebased = rebase_edit(ws, edit)
    assert rebased is not None and rebased.id == edit.id
    message = apply_decision(ws, edit, Decision.approve_all(rebased).on(rebased, "reapplied"))
    expected = BASE.replace("line 15\n", "line fifteen\n").replace("line 3\n", "line three\n")
    assert (ws.root / "a.py").read_text() == expected
    assert message.startswith("a.py changed on disk while your edit waited for review; ")
    assert "re-applied onto the new content" in message and "Applied edit_file" in message


def test_no_reapply_when_old_string_is_gone_and_overwrite_is_explicit(ws: Workspace) -> None:
    edit = replace(ws, "line 3\n", "line three\n")
    mine = BASE.replace("line 3\n", "line 3 (mine)\n")
    (ws.root / "a.py").write_text(mine)
    assert rebase_edit(ws, edit) is None
    # Approving the stale proposal is refused at write time: nothing is clobbered.
    stale = apply_decision(ws, edit, Decision.approve_all(edit))
    assert "NOT applied" in stale and (ws.root / "a.py").read_text() == mine
    forced = overwrite_edit(ws, edit)
    assert forced.old_text == mine and forced.new_text == edit.new_text
    message = apply_decision(ws, edit, Decision.approve_all(forced).on(forced, "overwrite"))
    assert (ws.root / "a.py").read_text() == edit.new_text
    assert "the user chose to overwrite those changes with your version" in message


def test_write_hook_sees_before_and_after_only_for_applied_edits(ws: Workspace) -> None:
    calls: list[tuple[str, str | None, str]] = []

    def hook(edit: ProposedEdit, before: str | None, after: str) -> None:
        calls.append((edit.path, before, after))

    edit = write(ws, "new\n")
    apply_decision(ws, edit, Decision.reject("no"), on_write=hook)
    assert calls == []
    apply_decision(ws, edit, Decision.approve_all(edit), on_write=hook)
    assert calls == [("a.py", BASE, "new\n")]
    apply_decision(ws, edit, Decision.approve_all(edit), on_write=hook)  # stale now
    assert len(calls) == 1


def test_review_state_follows_the_disk(ws: Workspace) -> None:
    edit = replace(ws, "line 3\n", "line three\n")
    state = ReviewState.of(edit)
    assert state.recheck(ws) is False and state.can_apply
    (ws.root / "a.py").write_text(BASE + "tail\n")
    assert state.recheck(ws) is True
    assert state.conflict == "reapplied" and state.can_apply and "re-applied" in state.message
    (ws.root / "a.py").write_text("totally different\n")
    assert state.recheck(ws) is True
    assert state.conflict == "overwrite" and not state.can_apply and state.can_overwrite
    decision = state.selection({h.index for h in state.proposal.hunks})
    assert decision.against is state.proposal and decision.conflict == "overwrite"
    (ws.root / "a.py").write_text(BASE)
    assert state.recheck(ws) is True and state.proposal is edit and state.conflict == ""


def test_binary_and_huge_proposals_are_refused_a_diff(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "binary" in ReviewState.of(write(ws, "a\x00b")).refused
    monkeypatch.setattr(reviewstate, "MAX_ROWS", 50)
    huge = "".join(f"row {i}\n" for i in range(100))
    assert "too large" in ReviewState.of(write(ws, huge)).refused
    assert ReviewState.of(write(ws, BASE + "x\n")).refused == ""


# -- diff rows ---------------------------------------------------------------------


def test_rows_number_lines_and_pair_changes_side_by_side(ws: Workspace) -> None:
    edit = write(ws, BASE.replace("line 2\n", "line two\nline 2b\n"))
    rows = DiffRows(edit.hunks, "a.py")
    kinds = [r.kind for r in rows.unified]
    assert kinds[0] == HEADER and kinds.count(REMOVED) == 1 and kinds.count(ADDED) == 2
    removed = next(r for r in rows.unified if r.kind == REMOVED)
    assert removed.old_no == 2 and rows.old_lines[removed.old_at] == "line 2"
    paired = [r for r in rows.split if r.left and r.right and r.left.kind == REMOVED]
    assert len(paired) == 1 and paired[0].right is not None
    assert rows.new_lines[paired[0].right.new_at] == "line two"
    assert len(rows.split) == len(rows.unified) - 1  # the removed line shares a row


def test_a_ten_thousand_line_diff_is_cheap_to_build_and_highlight(tmp_path: Path) -> None:
    old = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(5000))
    new = old
    for i in range(0, 5000, 25):  # 200 hunks
        new = new.replace(f"return x + {i}\n", f"return x - {i}\n", 1)
    (tmp_path / "big.py").write_text(old)
    edit = make_edit(
        Workspace(tmp_path), call_id="c", tool="write_file", path="big.py", new_text=new
    )
    assert len(edit.hunks) == 200
    rows = DiffRows(edit.hunks, "big.py")
    middle = len(rows.unified) // 2
    for row in rows.unified[middle : middle + 50]:  # one screen, highlighted on demand
        rows.spans(row, 1)
        rows.spans(row, 0)
    # Only the chunks under that screen were lexed, not the 10,000 lines (the cost is
    # measured in the bench's review rows, not timed here).
    lexed = [c for side in (rows.old, rows.new) for c in range(side.chunk_count) if
             side.lexed(c * CHUNK)]  # fmt: skip
    assert 0 < len(lexed) <= 4 and rows.old.chunk_count > 10
