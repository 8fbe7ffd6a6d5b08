"""Parsing and the syntax models: the grammar accepts every construct, keeps positions,
and turns bad text into `MechSyntaxError`s that say what was expected."""
from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from mechdsl.compiler import MechSemanticError, MechSyntaxError, parse, to_spec
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import ConstEnv, evaluate
from mechdsl.compiler.model import Span
from mechdsl.compiler.parse import COMMON_MISTAKES, parser

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.mech"))
FIXTURES = Path(__file__).parent / "fixtures"


def spec_of(text: str) -> s.Spec:
    return to_spec(parse(text, "t.mech"), "t.mech")


def expr_of(text: str):
    return to_spec(parse(text, "t.mech", start="value"))


def const(text: str):
    return evaluate(expr_of(text), ConstEnv())


def walk(node):
    """Every syntax model inside `node`."""
    if isinstance(node, BaseModel):
        yield node
        for name in type(node).model_fields:
            yield from walk(getattr(node, name))
    elif isinstance(node, list):
        for x in node:
            yield from walk(x)


def test_grammar_is_lalr_and_packaged():
    p = parser()
    assert p.options.parser == "lalr"
    assert p.options.propagate_positions


def test_shipped_tables_are_the_grammars():
    """grammar/tables.py was made from grammar/mech.lark as it is now (after changing the
    grammar, run `python -m mechdsl.grammar`), and with the installed Lark it is what
    `lark.Lark` builds, so the parser loads it instead of building the tables."""
    from mechdsl.compiler.lalr_cache import table_key
    from mechdsl.compiler.parse import LALR_OPTIONS, grammar_text
    from mechdsl.grammar import tables

    text = grammar_text()
    stale = "grammar/tables.py is stale: run `python -m mechdsl.grammar`"
    assert tables.GRAMMAR_SHA256 == hashlib.sha256(text.encode()).hexdigest(), stale
    if tables.LARK_VERSION != lark.__version__:
        pytest.skip(f"tables made with Lark {tables.LARK_VERSION}, Lark {lark.__version__} installed")
    assert tables.KEY == table_key(text, LALR_OPTIONS), stale
    assert parser().parse("param x = 1", start="start") is not None and not hasattr(parser(), "grammar")
    fresh = lark.Lark(text, **LALR_OPTIONS)
    for path in SPECS:
        src = path.read_text()
        assert parser().parse(src, start="start") == fresh.parse(src, start="start")


def test_parser_writes_no_cache_with_shipped_tables(tmp_path: Path):
    """With the tables shipped for this Lark, a fresh process parses without building or caching."""
    from mechdsl.grammar import tables

    if tables.LARK_VERSION != lark.__version__:
        pytest.skip(f"tables made with Lark {tables.LARK_VERSION}, Lark {lark.__version__} installed")
    code = "from mechdsl.compiler.parse import parse; parse('param x = 1')"
    env = {**os.environ, "MECHDSL_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("path", SPECS + [FIXTURES / "features.mech"], ids=lambda p: p.name)
def test_every_spec_parses_with_spans(path):
    spec = to_spec(parse(path.read_text(), str(path)), str(path))
    assert spec.path == str(path)
    assert spec.doc, "every shipped spec starts with a docstring"
    nodes = list(walk(spec))
    assert len(nodes) > 5
    for node in nodes:
        if isinstance(node, s.Node):
            assert isinstance(node.span, Span)
            assert node.span.line >= 1 and node.span.column >= 1


def test_statement_kinds_and_docstring():
    spec = spec_of(
        '"""  Title.\n\n  More.  """\n'
        "param eps = 0.2 # comment\n"
        "item good\nitem apple units 2\nitems a, b, c,\n"
        "agent x { type v ~ uniform [0, 1]  action m in range(2) }\n"
        "agents y[2] { type i: item ~ uniform  type w[item] in [0, 1] }\n"
        "joint (x.v, y1.w) ~ {(0, [0, 0, 0, 0]): 1}\n"
        "leader { observe m, x.m  choose r in {A, B} mixed  choose g in items  choose z in agents\n"
        "  rounds { visit remaining agent  price each item in interval [0, 1]  observe remaining } }\n"
        "valuation unit-demand of w\nties pass\n"
        "table t[r, items] = [[1, 2, 3, 4], [5, 6, 7, 8]]\n"
        "utility x = 1\nutility = 2\nobjective welfare\nobjective = 3\n"
        "dynamics { step = 0.1 }\ntraining { algo = \"ppo\" }\n"
    )
    assert spec.doc == "Title.\n\nMore."
    kinds = [type(st).__name__ for st in spec.statements]
    assert kinds == [
        "ParamDecl", "ItemDecl", "ItemDecl", "ItemsDecl", "AgentDecl", "AgentsDecl", "JointDecl", "LeaderDecl",
        "ValuationDecl", "TiesDecl", "TableDecl", "UtilityDecl", "UtilityDecl", "ObjectiveDecl", "ObjectiveDecl",
        "DynamicsDecl", "TrainingDecl",
    ]
    agents = spec.statements[5]
    assert [b.kind for b in agents.body] == ["item", "per_item"]
    leader = spec.statements[7]
    observe, choose_r, choose_g, choose_z, rounds = leader.body
    assert [(t.agent.name if t.agent else None, t.action.name) for t in observe.targets] == [(None, "m"), ("x", "m")]
    assert choose_r.mixed and not choose_g.mixed
    assert isinstance(choose_g.domain, s.AllItems) and isinstance(choose_z.domain, s.AllAgents)
    assert [type(b).__name__ for b in rounds.body] == ["VisitDecl", "PriceInterval", "RoundsObserve"]
    assert spec.statements[8].kind == "unit" and spec.statements[9].buy is False
    assert spec.statements[-1].settings[0].value.value == "ppo"


def test_positions_point_at_tokens():
    spec = spec_of("param a = 1\n\nagent   bob {\n  action m in {A, B}\n}\n")
    agent = spec.statements[1]
    assert (agent.name.span.line, agent.name.span.column) == (3, 9)
    assert (agent.span.line, agent.span.end_line) == (3, 5)
    labels = agent.body[0].domain.labels
    assert [(lab.span.line, lab.span.column) for lab in labels] == [(4, 16), (4, 19)]


def test_newlines_are_whitespace():
    one = spec_of("utility = 1 +\n   2 *\n 3\nobjective = 0")
    assert one.statements[0].expr.op == "+"
    assert len(one.statements) == 2


@pytest.mark.parametrize(
    "text, value",
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("-2 ^ 2", -4.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("10 - 4 - 3", 3.0),
        ("12 / 3 / 2", 2.0),
        ("if 1 < 2 and not 3 <= 2 then 5 else 6", 5.0),
        ("1 == 1 or 1 / 1 == 2", True),
        ("[0] + midpoints([0, 0.5, 1, 2.5])", [0.0, 0.25, 0.75, 1.75]),
        ("linspace(0, 1, 5)", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("range(3)", [0.0, 1.0, 2.0]),
        ("range(1, 3)", [1.0, 2.0]),
        ("sorted(unique([3, 1, 3, 2]))", [1.0, 2.0, 3.0]),
        ("max([1, 4, 2]) + min(5, 3) + abs(-1) + len([1, 2]) + sum([1, 1])", 12.0),
        ("(1, 2)", (1.0, 2.0)),
        ("1.5e2 + .5", 150.5),
    ],
)
def test_constant_expressions(text, value):
    assert const(text) == value


def test_constant_errors_carry_spans():
    with pytest.raises(MechSemanticError, match="division by zero") as e:
        const("1 + 2 / (1 - 1)")
    assert (e.value.span.line, e.value.span.column) == (1, 5)
    with pytest.raises(MechSemanticError, match="unknown function 'rnage'") as e:
        const("rnage(3)")
    assert "did you mean 'range'" in e.value.hint
    with pytest.raises(MechSemanticError, match="whole number"):
        const("range(2.5)")
    with pytest.raises(MechSemanticError, match="cannot apply"):
        const("[1] * 2")
    with pytest.raises(MechSemanticError, match="support"):
        const("support(value)")


@pytest.mark.parametrize(
    "text, line, column, message, expected",
    [
        ("param x 2", 1, 9, "unexpected number 2", "expected '='"),
        ("agent a {\n  action m in {A B}\n}", 2, 18, "unexpected name 'B'", "expected one of: ',', '}'"),
        ("agent a {\n  type v ~ uniform [0, 1]\n", 2, 26, "unexpected end of file", "'}'"),
        ("param x = 3 @ 1", 1, 13, "unexpected character '@'", ""),
        ("param price = 1", 1, 7, "unexpected 'price'", "keyword"),
        ("utility = 1 +\nagent a {}", 2, 1, "unexpected 'agent'", "expected an expression"),
        ("leader { choose r {A} }", 1, 19, "unexpected '{'", "`choose name in {A, B}`"),
        ("param x = 1\nparam y = 2 3", 2, 13, "unexpected number 3", "a new statement"),
    ],
)
def test_syntax_errors(text, line, column, message, expected):
    with pytest.raises(MechSyntaxError) as e:
        parse(text, "bad.mech")
    err = e.value
    assert (err.span.line, err.span.column) == (line, column)
    assert err.message == message
    assert expected in err.hint
    rendered = err.render()
    assert rendered.startswith(f"bad.mech:{line}:{column}: error: {message}")
    assert "^" in rendered


@pytest.mark.parametrize("label, example", [(k, x) for k, xs in COMMON_MISTAKES.items() for x in xs])
def test_common_mistakes_get_their_hint(label, example):
    with pytest.raises(MechSyntaxError) as e:
        parse(example, "m.mech")
    assert e.value.hint.startswith(label)


def test_units_is_a_keyword_and_an_outcome():
    spec = spec_of("item a units 2\nutility = units(self, a)\nobjective = 0")
    call = spec.statements[1].expr
    assert call.func.name == "units" and len(call.args) == 2


def test_validation_errors_become_mech_errors():
    # A tree the grammar cannot produce: the transformer must still answer with our error.
    tree = parse("param p = 1\nobjective = sum(i in agents: 1)", "x.mech")
    domain = next(tree.find_data("agg_domain"))
    domain.children = [lark.Token("NAME", "teams")]
    with pytest.raises(MechSemanticError, match="malformed aggregate") as e:
        to_spec(tree)
    assert (e.value.span.line, e.value.span.column) == (2, 13)


# ---- property: constant arithmetic agrees with Python's -----------------------------

_numbers = st.integers(min_value=0, max_value=50).map(str)


@st.composite
def arith(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        n = draw(_numbers)
        return n, float(n)
    op = draw(st.sampled_from(["+", "-", "*"]))
    (lt, lv), (rt, rv) = draw(arith(depth - 1)), draw(arith(depth - 1))
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv}[op]
    return f"({lt} {op} {rt})", value


@settings(max_examples=60, deadline=None)
@given(arith())
def test_arithmetic_matches_python(case):
    text, value = case
    assert math.isclose(const(text), value)
