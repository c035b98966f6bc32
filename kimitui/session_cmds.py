"""`kimitui sessions [PROJECT]` and `kimitui export ID`: reading saved sessions.

Neither command talks to a model, so neither imports the SDK or Textual.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kimitui.core.catalog import SessionSummary, find_session, summaries
from kimitui.core.safetext import safe, safe_line
from kimitui.core.transcript import SessionError, load_transcript

COMMANDS = ("sessions", "export")
TASK_WIDTH = 48


def sessions_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui sessions", description="List saved sessions, most recent first."
    )
    p.add_argument("project", nargs="?", metavar="PROJECT", help="only this project's sessions")
    return p


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui export", description="Print a saved session as Markdown or JSON."
    )
    p.add_argument("id", metavar="ID", help="session id, a unique prefix of one, or 'last'")
    p.add_argument("--format", choices=["md", "json"], default="md", help="default md")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return p


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    try:
        if command == "sessions":
            return list_command(sessions_parser().parse_args(rest))
        return export_command(export_parser().parse_args(rest))
    except SessionError as err:
        print(f"kimitui: {safe(str(err))}", file=sys.stderr)
        return 2


def list_command(args: argparse.Namespace) -> int:
    project = Path(args.project) if args.project else None
    if project is not None and not project.is_dir():
        raise SessionError(f"project folder {project} does not exist")
    found, problems = summaries(project)
    for problem in problems:
        print(f"kimitui: {safe(problem)}", file=sys.stderr)
    if not found:
        print("no saved sessions" + (f" for {project}" if project else ""))
        return 0
    print(format_table(found))
    return 0


def format_table(summaries: list[SessionSummary]) -> str:
    header = ("ID", "PROJECT", "STARTED", "STEPS", "TOKENS", "COST", "ENDED", "TASK")
    rows = [header, *(_row(s) for s in summaries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    right = {3, 4, 5}  # numbers line up on the right
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _row(s: SessionSummary) -> tuple[str, ...]:
    cost = "—" if s.cost is None else f"{s.cost:.4f}"
    cells = (
        s.id,
        Path(s.project).name,
        s.started_local,
        str(s.steps),
        f"{s.tokens:,}",
        cost,
        s.ended,
        s.task_within(TASK_WIDTH),
    )
    return tuple(safe_line(cell) for cell in cells)  # printed to a terminal


def export_command(args: argparse.Namespace) -> int:
    from kimitui.core.export import export_json, export_markdown

    transcript = load_transcript(find_session(args.id))
    text = export_json(transcript) if args.format == "json" else export_markdown(transcript)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
