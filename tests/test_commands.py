"""The command parser, the allow/deny lists and the blast radius, as tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimitui.tools.commands import CommandPolicy, ParseError, check_command
from kimitui.tools.shparse import parse

ALLOW = ["pytest", "ruff check", "npm test", "git status", "ls", "cat", "echo", "grep"]
POLICY = CommandPolicy.from_config(ALLOW, ["curl", "git push"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "build" / "deep").mkdir(parents=True)
    for name in ("a.o", "b.o", "deep/c.o"):
        (root / "build" / name).write_text("x")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print(1)\n")
    (root / "src" / "util.py").write_text("x = 1\n")
    (root / "notes.txt").write_text("notes\n")
    return root


# (command, the argv of every program, in order)
PARSE_TABLE = [
    ("ruff check", [["ruff", "check"]]),
    ("ruff check; rm -rf ~", [["ruff", "check"], ["rm", "-rf", os.path.expanduser("~")]]),
    ("a && b || c | d & e", [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ("echo 'a b' \"c d\" e\\ f", [["echo", "a b", "c d", "e f"]]),
    ('echo "$(rm -rf x)"', [["echo", "$(rm -rf x)"], ["rm", "-rf", "x"]]),
    ("echo `ls \\`pwd\\``", [["echo", "`ls \\`pwd\\``"], ["ls", "`pwd`"], ["pwd"]]),
    ("(cd .. && rm -r y)", [["cd", ".."], ["rm", "-r", "y"]]),
    ("{ ls; pwd; }", [["ls"], ["pwd"]]),
    ("if true; then rm a; else rm b; fi", [["true"], ["rm", "a"], ["rm", "b"]]),
    ('for f in $(ls); do rm "$f"; done', [["ls"], ["rm", "$f"]]),
    ("while read x; do echo $x; done < in", [["read", "x"], ["echo", "$x"]]),
    ("r''m -rf x", [["rm", "-rf", "x"]]),
    ('"r"m -rf x', [["rm", "-rf", "x"]]),
    ("\\rm -rf x", [["rm", "-rf", "x"]]),
    ("echo hi # ; rm -rf x", [["echo", "hi"]]),
    ("echo a\\\nb", [["echo", "ab"]]),
    ("cat <<EOF\n$(not run) is fine? no\nEOF", None),  # refused: substitution in a heredoc
    ("cat <<'EOF'\nrm -rf /\nEOF\nls", [["cat"], ["ls"]]),
    ("diff <(ls a) <(ls b)", [["diff", "<(ls a)", "<(ls b)"], ["ls", "a"], ["ls", "b"]]),
    ("echo 2>err >out", [["echo"]]),
    ("! grep x f", [["grep", "x", "f"]]),
    ("X=1 Y=2 make", [["make"]]),
    ("echo $'\\x72m'", None),  # dash and bash disagree
    ("case x in a) rm y;; esac", None),
    ("f() { rm -rf x; }; f", None),
    ("echo 'unclosed", None),
    ('echo "unclosed', None),
    ("echo $(ls", None),
    ("echo )", None),
    ("[[ a < b ]]", None),
]


@pytest.mark.parametrize(("command", "programs"), PARSE_TABLE)
def test_parser_finds_every_program(command: str, programs: list[list[str]] | None) -> None:
    if programs is None:
        with pytest.raises(ParseError):
            parse(command)
        return
    got = [c.argv for c in parse(command).programs]
    assert got == programs


# (command, covered by the allow-list?)
ALLOW_TABLE = [
    ("pytest", True),
    ("pytest -x tests/test_a.py", True),
    ("ruff check src", True),
    ("ruff check && pytest", True),
    ("ls | grep x", True),
    ("ruff format", False),
    ("ruff", False),
    ("ruff check; rm -rf ~", False),
    ("ruff check && rm x", False),
    ("ruff check || curl evil", False),
    ("ruff check | sh", False),
    ("ruff check $(rm -rf x)", False),
    ("ruff check `rm -rf x`", False),
    ("echo $(pytest)", False),  # a substitution never matches, even of allowed commands
    ("eval pytest", False),
    ("sh -c pytest", False),
    ("bash -c 'ruff check'", False),
    ("PATH=/tmp/evil pytest", False),
    ("PYTHONPATH=x pytest", False),
    ("./pytest", False),
    ("/tmp/pytest", False),
    ("$CMD check", False),
    ("ruff{,} check", False),
    ("r*ff check", False),
    ("'ruff check'", False),  # one word, not two
    ("env pytest", False),
    ("command pytest", False),
    ("ruff check > src/app.py", False),  # truncates a file: flagged, so asked
    ("pytest; X=1", False),
    ("npm test", True),
    ("npm  test  --  -u", True),
    ("git status --short", True),
    ("git -c core.pager=rm status", False),
    # more ways to smuggle a second program past a prefix
    ("ruff check\nrm -rf x", False),
    ("ruff check & rm x", False),
    ("ruff check |& sh", False),
    ("ruff check # ; rm -rf x", True),  # a comment runs nothing
    ("ruff check <(rm -rf x)", False),
    ("ruff check > >(sh)", False),
    ("sh <<EOF\nrm -rf x\nEOF", False),
    ("ruff check; alias ruff='rm -rf x'", False),
    ("{ ruff check; rm x; }", False),
    ("if ruff check; then rm -rf x; fi", False),
    ("for f in x; do rm $f; done; ruff check", False),
    ("exec rm -rf x", False),
    ("ruff check ${X:-x}", True),  # a dynamic argument after the prefix is the tool's business
    ("ruff $(echo check)", False),
    ('ruff "check"', True),  # the same words once quotes are removed
    (r"ruff ch\eck", True),
]


@pytest.mark.parametrize(("command", "allowed"), ALLOW_TABLE)
def test_allow_list_on_parsed_argv(project: Path, command: str, allowed: bool) -> None:
    check = check_command(command, project, POLICY)
    assert check.allowed is allowed, (check.notes, check.flag_lines())


DENY_TABLE = [
    ("curl http://x", "curl"),
    ("ls && curl x", "curl"),
    ("/usr/bin/curl x", "curl"),
    ("env curl x", "curl"),
    ("xargs curl < urls", "curl"),
    ("echo $(curl x)", "curl"),
    ("sh -c 'curl x'", "curl"),
    ("git push origin main", "git push"),
    ("timeout 5 curl x", "curl"),
    ("ls", None),
    ("git pull", None),
]


@pytest.mark.parametrize(("command", "denied"), DENY_TABLE)
def test_deny_list_sees_through_wrappers(project: Path, command: str, denied: str | None) -> None:
    check = check_command(command, project, POLICY)
    if denied is None:
        assert check.denied_by is None
    else:
        assert check.denied_by is not None and " ".join(check.denied_by[0]) == denied


# (command, the flag kinds expected)
FLAG_TABLE = [
    ("rm -rf build", ["rm -r -f"]),
    ("rm -fr build", ["rm -r -f"]),
    ("rm -r -f build", ["rm -r -f"]),
    ("rm --recursive --force build", ["rm -r -f"]),
    ("rm -R build", ["rm -r"]),
    ("/bin/rm -r build", ["rm -r"]),
    ("command rm -r build", ["rm -r"]),
    ("env rm -r build", ["rm -r"]),
    ("env -u X FOO=1 rm -r build", ["rm -r"]),
    ("nice -n 5 rm -f notes.txt", ["rm -f"]),
    ("timeout 10 rm notes.txt", ["rm"]),
    ("sudo rm -rf /", ["rm -r -f"]),
    ("find . -name '*.o' | xargs rm -f", ["rm -f"]),
    ("find build -delete", ["find -delete"]),
    ("find build -name x -exec rm {} +", ["find -delete"]),
    ("'r''m' -rf build", ["rm -r -f"]),
    ("r\\m -rf build", ["rm -r -f"]),
    ("sh -c 'rm -rf build'", ["rm -r -f"]),
    ('bash -lc "cd src && rm -f app.py"', ["rm -f"]),
    ("eval 'rm -rf build'", ["rm -r -f"]),
    ("echo $(rm -rf build)", ["rm -r -f"]),
    ("git clean -fdx", ["git clean"]),
    ("git -C . reset --hard HEAD~1", ["git reset --hard"]),
    ("git checkout -- src/app.py", ["git checkout --"]),
    ("git restore src", ["git restore"]),
    ("git push --force origin main", ["git push --force"]),
    ("git push origin +main", ["git push --force"]),
    ("echo x > notes.txt", ["truncating >"]),
    ("echo x >| notes.txt", ["truncating >|"]),
    ("echo x > new.txt", []),
    ("echo x >> notes.txt", []),
    ("pytest > /dev/null 2>&1", []),
    ("dd if=/dev/zero of=notes.txt", ["dd"]),
    ("chmod -R 777 src", ["chmod -R"]),
    ("chmod 644 src/app.py", []),
    ("mv src/util.py src/app.py", ["mv over an existing file"]),
    ("mv src/util.py src/new.py", []),
    ("cp notes.txt src", []),
    ("cp src/app.py notes.txt", ["cp over an existing file"]),
    ("$X -rf build", ["program only known when it runs"]),
    ("curl x | sh", ["shell reading code from its input"]),
    ('sh -c "$CODE"', ["shell code only known when it runs"]),
    ("ls -la; cat notes.txt", []),
]


@pytest.mark.parametrize(("command", "kinds"), FLAG_TABLE)
def test_destructive_forms_are_flagged(project: Path, command: str, kinds: list[str]) -> None:
    check = check_command(command, project, POLICY)
    assert [f.kind for f in check.flags] == kinds, check.flag_lines()


def test_blast_radius_names_paths_and_counts(project: Path) -> None:
    check = check_command("rm -rf build src/app.py missing", project, POLICY)
    (flag,) = check.flags
    assert flag.describe() == (
        "rm -r -f: build (3 files), src/app.py (1 file), missing (does not exist)"
    )
    assert not check.outside


def test_globs_are_expanded_and_counted(project: Path) -> None:
    (flag,) = check_command("rm src/*.py", project, POLICY).flags
    assert flag.touched[0].files == 2
    assert "2 paths" in flag.touched[0].shown


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf ~",
        "rm -rf /",
        "rm -rf ../other",
        "cd .. && rm -rf other",
        "cd /tmp; rm -rf *",
        "rm -rf $HOME/x",
        "echo x > /etc/passwd",
        "find / -delete",
        "mv notes.txt ../",
    ],
)
def test_reaching_outside_the_project_is_marked(project: Path, command: str) -> None:
    check = check_command(command, project, POLICY)
    assert check.outside, check.flag_lines()


def test_cd_is_followed_inside_the_project(project: Path) -> None:
    (flag,) = check_command("cd build && rm -r deep", project, POLICY).flags
    assert flag.touched[0].files == 1 and not flag.outside


def test_empty_and_nul_are_refused(project: Path) -> None:
    for bad in ("", "   ", "ls\x00rm"):
        with pytest.raises(ParseError):
            check_command(bad, project, POLICY)


def test_suggested_prefix(project: Path) -> None:
    assert check_command("ruff format src", project, POLICY).suggested_prefix() == (
        "ruff",
        "format",
    )
    assert check_command("make -j4", project, POLICY).suggested_prefix() == ("make",)
    assert check_command("sh -c ls", project, POLICY).suggested_prefix() is None
    assert check_command("ls; pwd", project, POLICY).suggested_prefix() is None


def test_policy_entries_are_checked() -> None:
    with pytest.raises(ValueError, match="empty"):
        CommandPolicy.from_config([""])
    with pytest.raises(ValueError, match="cannot read"):
        CommandPolicy.from_config(["ruff 'check"])
    p = CommandPolicy.from_config(["pytest"]).with_allowed(("ruff", "check"))
    assert p.allow == (("pytest",), ("ruff", "check"))
