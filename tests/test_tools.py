"""The Toolbox: schemas, argument handling, dispatch; write/edit only propose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimitui.tools import Decision, SandboxError, Toolbox, ToolResult, Workspace, apply_decision
from kimitui.tools.toolbox import parse_arguments

APP = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / ".env").write_text("MOONSHOT_API_KEY=sk-live-abc123\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return tmp_path


@pytest.fixture
def box(project: Path) -> Toolbox:
    return Toolbox(Workspace(project))


# -- schemas -----------------------------------------------------------------------


def test_schema_names_and_required_arguments(box: Toolbox) -> None:
    schemas = box.schemas()
    required = {s["function"]["name"]: s["function"]["parameters"]["required"] for s in schemas}
    assert required == {
        "list_files": [],
        "read_file": ["path"],
        "write_file": ["path", "content"],
        "edit_file": ["path", "old_string", "new_string"],
        "search": ["pattern"],
        "run_tests": [],
        "run_command": ["command"],
        # The project holds .git: the git tools are offered too.
        "git_status": [],
        "git_diff": [],
        "git_log": [],
        "git_commit": ["message"],
    }
    assert all(s["type"] == "function" for s in schemas)


def test_every_property_has_a_type(box: Toolbox) -> None:
    for schema in box.schemas():
        params = schema["function"]["parameters"]
        assert params["type"] == "object"
        for name, prop in params["properties"].items():
            assert prop.get("type") in {"string", "integer", "boolean", "array"}, name
            if prop["type"] == "array":
                assert prop["items"]["type"] == "string"
        assert set(params["required"]) <= set(params["properties"])
        assert len(schema["function"]["description"]) < 250


def test_schemas_are_byte_stable_and_not_shared(box: Toolbox, project: Path) -> None:
    first = box.schemas()
    first[0]["function"]["name"] = "mutated by a caller"
    other = Toolbox(Workspace(project), test_timeout=5)
    assert json.dumps(box.schemas()) == json.dumps(other.schemas())
    assert box.schemas()[0]["function"]["name"] == "list_files"


# -- model mistakes become tool errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "fragment"),
    [
        ("delete_everything", "{}", "unknown tool 'delete_everything'"),
        ("read_file", "{not json", "not valid JSON"),
        ("read_file", "[1, 2]", "must be a JSON object"),
        ("read_file", "{}", "read_file needs the argument(s): path (string)"),
        ("read_file", None, "needs the argument(s): path"),
        ("read_file", {"path": 7}, "'path' must be a string"),
        ("read_file", {"path": "app.py", "start_line": "two"}, "'start_line' must be an integer"),
        ("edit_file", {"path": "app.py", "old_string": "x"}, "new_string (string)"),
        ("run_tests", {"args": "-x; rm -rf /"}, "'args' must be an array of strings"),
        ("read_file", {"path": "../outside.txt"}, "outside the project folder"),
        ("read_file", {"path": "/etc/passwd"}, "outside the project folder"),
        ("write_file", {"path": ".git/HEAD", "content": "x"}, ".git/"),
        ("read_file", {"path": "missing.py"}, "does not exist"),
        ("read_file", {"path": "."}, "is a folder"),
    ],
)
async def test_model_mistakes_are_error_results(
    box: Toolbox, name: str, arguments: object, fragment: str
) -> None:
    result = await box.call("call_1", name, arguments)  # type: ignore[arg-type]
    assert isinstance(result, ToolResult)
    assert not result.ok and result.edit is None
    assert result.output.startswith("error: ")
    assert fragment in result.output


def test_parse_arguments_is_lenient() -> None:
    assert parse_arguments("") == {}
    assert parse_arguments("  ") == {}
    assert parse_arguments(None) == {}
    assert parse_arguments('{"content": "a\tb\nc"}') == {"content": "a\tb\nc"}  # raw controls
    assert parse_arguments({"path": "x"}) == {"path": "x"}


async def test_obvious_spellings_are_coerced(box: Toolbox) -> None:
    arguments = '{"path": "app.py", "start_line": "2", "end_line": 3.0}'
    result = await box.call("c", "read_file", arguments)
    assert result.ok
    assert result.output.splitlines()[1:] == ["2\t    return a + b", "3\t"]


async def test_unknown_extra_arguments_are_ignored(box: Toolbox) -> None:
    result = await box.call("c", "list_files", {"recursive": True})
    assert result.ok and "app.py" in result.output


# -- read / write / edit ------------------------------------------------------------------


async def test_read_file_marks_read_paths(box: Toolbox) -> None:
    assert "app.py" not in box.workspace.read_paths
    result = await box.call("c", "read_file", {"path": "./app.py"})
    assert result.ok and "1\tdef add(a, b):" in result.output
    assert box.workspace.read_paths == {"app.py"}


async def test_write_file_only_proposes(box: Toolbox, project: Path) -> None:
    result = await box.call("c7", "write_file", {"path": "pkg/new.py", "content": "X = 1\n"})
    assert result.ok and result.edit is not None
    assert not (project / "pkg").exists()
    assert result.edit.id == "c7" and result.edit.tool == "write_file"
    assert result.edit.old_text is None and result.edit.path == "pkg/new.py"
    assert "Proposed new file pkg/new.py (+1 -0" in result.output
    message = apply_decision(box.workspace, result.edit, Decision.approve_all(result.edit))
    assert message == "Applied write_file to pkg/new.py (+1 -0)."
    assert (project / "pkg" / "new.py").read_text() == "X = 1\n"


async def test_write_file_over_unread_file_is_flagged(box: Toolbox, project: Path) -> None:
    result = await box.call("c", "write_file", {"path": "app.py", "content": "pass\n"})
    assert result.edit is not None and result.edit.unread_overwrite
    assert "you have not read app.py" in result.output
    assert (project / "app.py").read_text() == APP
    await box.call("c", "read_file", {"path": "app.py"})
    again = await box.call("c", "write_file", {"path": "app.py", "content": "pass\n"})
    assert again.edit is not None and not again.edit.unread_overwrite


async def test_write_file_identical_content_proposes_nothing(box: Toolbox) -> None:
    result = await box.call("c", "write_file", {"path": "app.py", "content": APP})
    assert result.ok and result.edit is None and "nothing to do" in result.output


async def test_edit_file_only_proposes(box: Toolbox, project: Path) -> None:
    result = await box.call(
        "c", "edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a - b - 0"}
    )
    assert result.ok and result.edit is not None
    assert result.edit.old_string == "a - b" and result.edit.new_string == "a - b - 0"
    assert result.edit.new_text == APP.replace("a - b", "a - b - 0")
    assert (project / "app.py").read_text() == APP
    assert not result.edit.unread_overwrite
    assert result.output == (
        "Proposed change to app.py (+1 -1, 1 hunk); waiting for the user's review."
    )


async def test_edit_file_errors_name_count_and_lines(box: Toolbox) -> None:
    result = await box.call(
        "c", "edit_file", {"path": "app.py", "old_string": "(a, b)", "new_string": "(x, y)"}
    )
    assert not result.ok
    assert "matches 2 times in app.py (starting at lines 1, 5)" in result.output
    assert "replace_all" in result.output
    everything = await box.call(
        "c",
        "edit_file",
        {"path": "app.py", "old_string": "(a, b)", "new_string": "(x, y)", "replace_all": "true"},
    )
    assert everything.edit is not None and everything.edit.replace_all
    assert everything.edit.new_text.count("(x, y)") == 2


async def test_edit_file_on_missing_file_says_use_write_file(box: Toolbox) -> None:
    result = await box.call(
        "c", "edit_file", {"path": "nope.py", "old_string": "a", "new_string": "b"}
    )
    assert not result.ok and "use write_file" in result.output


async def test_edit_file_cannot_probe_a_secret(box: Toolbox) -> None:
    for guess in ("sk-live-abc123", "wrong"):
        result = await box.call(
            "c", "edit_file", {"path": ".env", "old_string": guess, "new_string": "x"}
        )
        assert not result.ok and "withheld" in result.output
        assert "match" not in result.output  # same answer whether or not the guess is right


async def test_secret_never_reaches_any_output(box: Toolbox) -> None:
    outputs = []
    for name, args in [
        ("read_file", {"path": ".env"}),
        ("read_file", {"path": str(box.workspace.root / ".env")}),
        ("search", {"pattern": "sk-live"}),
        ("search", {"pattern": "API_KEY", "path": ".env"}),
        ("list_files", {}),
        ("edit_file", {"path": ".env", "old_string": "MOONSHOT", "new_string": "X"}),
    ]:
        outputs.append((await box.call("c", name, args)).output)
    assert not any("sk-live-abc123" in out for out in outputs)
    assert ".env  [withheld: secret]" in outputs[4]


async def test_every_output_is_capped(project: Path) -> None:
    (project / "big.txt").write_text("".join(f"{'x' * 70} {i}\n" for i in range(5000)))
    box = Toolbox(Workspace(project), max_output_chars=2000)
    for name, args in [
        ("read_file", {"path": "big.txt"}),
        ("search", {"pattern": "x"}),
        ("write_file", {"path": "p" * 3000 + ".txt", "content": ""}),
    ]:
        result = await box.call("c", name, args)
        assert len(result.output) <= 2000, name


async def test_sandbox_error_is_exported(box: Toolbox) -> None:
    with pytest.raises(SandboxError):
        box.workspace.resolve("../x")


def test_tools_layer_imports_nothing_above_it() -> None:
    import ast

    import kimitui.tools

    banned = ("textual", "kimitui.core", "kimitui.tui", "kimitui.cli", "kimitui.headless")
    for source in Path(kimitui.tools.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(banned), f"{source.name} imports {name}"
