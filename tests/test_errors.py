"""Golden error tests: each tests/fixtures/NAME__invalid.mech fails with exactly the
text in NAME__invalid.err (path shown as the file's name) when it is loaded and compiled
to the IR.  A fixture may start with `# set: name=value` lines, passed as --set overrides.
Every error, wherever it is raised, names its line and column and carries a hint.

Regenerate after an intended wording change with ``MECHDSL_REGOLD=1`` and review the diff.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mechdsl.compiler import MechError, MechSemanticError, MechSyntaxError, MechUsageError, load, loads
from mechdsl.compiler.build import build_ir

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
INVALID = sorted(FIXTURES.glob("*__invalid.mech"))
LOCATED = re.compile(r"^([\w.]+|--set):\d+:\d+: error: ")


def render(path: Path) -> MechError:
    overrides = dict(re.findall(r"^# set: (\w+)=(\S+)$", path.read_text(), re.M))
    with pytest.raises(MechError) as e:
        build_ir(load(path, overrides))
    return e.value


def test_enough_invalid_fixtures():
    assert len(INVALID) >= 15
    assert all(p.with_suffix(".err").exists() for p in INVALID)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name.removesuffix("__invalid.mech"))
def test_invalid_fixture(path):
    err = render(path)
    text = err.render().replace(str(path), path.name) + "\n"
    golden = path.with_suffix(".err")
    if os.environ.get("MECHDSL_REGOLD"):
        golden.write_text(text)
    expected = golden.read_text()
    assert text.splitlines()[0] == expected.splitlines()[0]
    assert text == expected
    # located: file:line:col (a --set value counts as the file "--set"), the source line,
    # a caret under the culprit, and a hint
    lines = text.split("\n")
    assert LOCATED.match(lines[0]), lines[0]
    assert lines[1].strip() and set(lines[2].strip()) == {"^"}
    assert lines[3].startswith("hint: ") and len(lines[3]) > len("hint: ")
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "name, kind",
    [
        ("syntax_missing_equals", MechSyntaxError),
        ("prob_sum", MechSemanticError),
        ("unknown_set", MechUsageError),
    ],
)
def test_error_classes(name, kind):
    assert isinstance(render(FIXTURES / f"{name}__invalid.mech"), kind)


def test_syntax_hint_lists_expected_tokens():
    err = render(FIXTURES / "syntax_set_commas__invalid.mech")
    assert "expected one of: ',', '}'" in err.hint


def test_missing_file_is_usage_error(tmp_path):
    missing = tmp_path / "nope.mech"
    with pytest.raises(MechUsageError) as e:
        load(missing)
    assert e.value.render().startswith(f"{missing}: error: no such spec file: {missing}")


def test_directory_is_usage_error(tmp_path):
    with pytest.raises(MechUsageError, match="cannot read spec file"):
        load(tmp_path)


def test_errors_know_their_file_and_text():
    text = "agent a { action m in {X} }\nleader { choose c in {X} }\nutility b = 0\nobjective = 0\n"
    with pytest.raises(MechSemanticError) as e:
        loads(text, "here.mech")
    err = e.value
    assert (err.path, err.source, err.span.line, err.span.column) == ("here.mech", text, 3, 9)
    assert err.render().splitlines() == [
        "here.mech:3:9: error: utility for unknown agent 'b'",
        "    utility b = 0",
        "            ^",
        "hint: agents are: a",
    ]


def test_no_traceback_from_a_user_error(tmp_path):
    # what a command-line front end does: print render() and exit 2
    bad = tmp_path / "bad.mech"
    bad.write_text("param x = 1 / 0\n")
    code = (
        "import sys, compiler\n"
        "try:\n    compiler.load(sys.argv[1])\n"
        "except compiler.MechError as e:\n    print(e.render(), file=sys.stderr); sys.exit(2)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith(f"{bad}:1:11: error: division by zero")
