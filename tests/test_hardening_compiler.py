"""Hardening of the compiler: no traceback, no silent NaN or inf, no out-of-memory or hang
on hostile input -- every failure is a located `MechError` with a hint.

The reproducers that read best as a spec and its message are golden fixtures
(tests/fixtures/*__invalid.mech, checked by test_errors.py); the rest are here.
"""
from __future__ import annotations

import ast
import itertools
import math
from pathlib import Path

import pytest

from mechdsl import compiler
from mechdsl.compiler import MechError, MechSemanticError, MechSizeError, MechSyntaxError, MechUsageError, load, loads
from mechdsl.compiler.bounds import expr_bounds
from mechdsl.compiler.build import build_ir
from mechdsl.compiler.consts import fmt
from mechdsl.compiler.errors import source_excerpt
from mechdsl.compiler.model import Span
from mechdsl.compiler.parse import parse
from mechdsl.compiler.tree import _size_floor, game_tree, tree_summary

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
SPECS = sorted((ROOT / "specs").rglob("*.mech")) + [FIXTURES / "features.mech"]
TAIL = "leader { choose row in {A, B} }\nutility = 0\nobjective = 0\n"


def compile_text(text: str, overrides=None):
    return build_ir(loads(text, "t.mech", overrides))


def error_of(text: str, overrides=None) -> MechError:
    with pytest.raises(MechError) as e:
        compile_text(text, overrides)
    err = e.value
    assert err.span is not None and err.hint, err.render()
    return err


# ---- numbers that are not finite -----------------------------------------------------


@pytest.mark.parametrize("value, shown", [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (1e300, "1e+300")])
def test_fmt_never_fails(value, shown):
    assert fmt(value) == shown
    assert fmt([value, 1.0]) == f"[{shown},1]"


@pytest.mark.parametrize("text", ["param x = 1e309 * 1", "param x = 1e309", "param x = 9" + "9" * 400])
def test_overflowing_literal_is_located(text):
    err = error_of(text + "\nagent a { action m in {A} }\n" + TAIL)
    assert "too large" in err.message and err.span.line == 1


def test_tiny_set_value_overflowing_later_is_located():
    err = error_of((ROOT / "specs/paper/spm_messages.mech").read_text(), {"eps": "1e-320"})
    assert isinstance(err, MechSemanticError) and "cannot compute 1 /" in err.message
    assert "1/(2*eps)" in err.render()


@pytest.mark.parametrize("text", ["sum(range(1e5)) * 1e306", "max(linspace(0, 1e308, 3)) * 10", "midpoints([1e308, 1e308])[0]"])
def test_functions_never_return_infinity(text):
    with pytest.raises(MechError) as e:
        loads(f"param x = {text}\nagent a {{ action m in {{A}} }}\n" + TAIL)
    assert e.value.span is not None


def test_payoff_bounds_never_raise():
    model = loads("agent a { action m in [0, 1e300] }\nleader { choose c in [-2, 0, 2] }\n"
                  "utility = m ^ c * m ^ 3\nobjective = 0 ^ c\n")
    for e in [model.objective, *model.utilities]:
        lo, hi = expr_bounds(e, model)  # inf where it overflows, never an exception
        assert not (math.isnan(lo) or math.isnan(hi))


def test_unbounded_payoff_that_cannot_be_walked_is_an_error():
    # interval prices cannot be walked and worth() depends on the play: only interval
    # bounds are left, and an overflow there is an error, not inf
    with pytest.raises(MechSemanticError, match="may be too large to represent"):
        compile_text("item good\nagent a { type value ~ uniform [1]\n action m in [1, 1e200] }\n"
                     "leader { rounds { price each item in interval [0, 1] } }\n"
                     "utility = worth(self) * m * m\nobjective welfare\n")


# ---- deep nesting -------------------------------------------------------------------------


def test_nesting_up_to_the_limit_compiles():
    deep = "-" * 99 + "1"
    ir = compile_text(f"param x = {deep}\nagent a {{ action m in {{A}} }}\nleader {{ choose c in {{A}} }}\n"
                      f"utility = {deep}\nobjective = x\n")
    assert ir.objective_bounds == (-1.0, -1.0)
    assert ir.model.model_validate_json(ir.model.model_dump_json()) == ir.model


def test_many_parentheses_are_no_nesting():
    parse("param x = " + "(" * 5000 + "1" + ")" * 5000)  # LALR: iterative; parentheses make no node


@pytest.mark.parametrize("expr", ["[" * 500 + "]" * 500, "abs(" * 200 + "1" + ")" * 200, " + ".join(["x"] * 300)])
def test_too_deep_is_a_located_size_error(expr):
    with pytest.raises(MechSizeError) as e:
        parse(f"param x = 1\nparam y = {expr}\n", "t.mech")
    assert (e.value.span.line, e.value.span.column) == (2, 11) and e.value.hint


def test_min_max_of_many_arguments_stay_shallow():
    args = ", ".join(str(k) for k in range(90))
    ir = compile_text(f"agent a {{ action m in [0, 1] }}\nleader {{ choose c in {{A}} }}\n"
                      f"utility = max(m, {args})\nobjective = min(m, {args})\n")
    assert ir.utility_bounds[0] == (89.0, 89.0)


# ---- many agents ----------------------------------------------------------------------------


def test_more_agents_than_numpy_dimensions():
    model = loads("agents a[70] { action m in {X} }\nagent b { type v ~ {0: 0.5, 1: 0.5} }\n" + TAIL)
    assert len(model.followers) == 71 and model.prior == [0.5, 0.5]
    assert build_ir(model).n_type_profiles == 2


def test_prior_is_the_product_of_marginals_and_joints():
    """The flat prior (built without one numpy axis per agent) against the spec read by hand."""
    model = load(FIXTURES / "features.mech")
    value = {"value=[1,0,0]": 0.5, "value=[0,1,1]": 0.5}
    joint = {("apple", "pear"): 0.5, ("plum", "plum"): 0.5}
    cost = {"cost=0": 0.25, "cost=1": 0.75}
    expected = []
    for b1, b2, seller in itertools.product(*[f.type_labels for f in model.followers]):
        (v1, f1), (v2, f2) = b1.split(",fav="), b2.split(",fav=")
        expected.append(value[v1] * value[v2] * joint.get((f1, f2), 0.0) * cost["cost=" + seller.split(",cost=")[1]])
    assert model.prior == pytest.approx(expected, abs=1e-15)


def test_type_profile_error_quotes_the_whole_count():
    """The error stops resolving at the first agent past the limit, but quotes every
    agent's count (the family's members count alike), not where it stopped."""
    err = error_of("agents b[20] { type v ~ uniform [0, 0.2, 0.4, 0.6, 0.8, 1]\n action m in range(2) }\n" + TAIL)
    assert isinstance(err, MechSizeError) and err.span.line == 1
    assert "about 10^15" in err.message and "(20 agents)" in err.message, err.message  # 6^20 = 3.7e15
    assert "1,679,616" not in err.message  # 6^8, where the count went past the limit


def test_agent_count_limit():
    err = error_of("agents a[1e6] { action m in {A} }\n" + TAIL)
    assert isinstance(err, MechSizeError) and err.span.line == 1


# ---- size guards, each located and fast ---------------------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("agent a { action m in range(100) + range(100000) }\n" + TAIL, 1),
    ("param big = range(99999)\n" + "".join(f"param p{k} = len(sorted(big))\n" for k in range(60))
     + "agent a { action m in {A} }\n" + TAIL, 51),  # 5,000,000 list values made in all
    ("agent a { action m in unique(range(1e9)) }\n" + TAIL, 1),
    ("items " + ", ".join(f"i{k}" for k in range(12)) + "\nagents a[3] { type v[item] ~ uniform [0, 1] }\n" + TAIL, 2),
    ("agent a { type v ~ uniform range(1001)\n type w ~ uniform range(1000)\n action m in {A} }\n" + TAIL, 1),
    ("agent a { action m in range(2000) }\nleader { observe m\n choose c in range(2000) }\nutility = 0\nobjective = 0\n", 3),
    ("agents a[3] { action m in range(99) }\nleader { observe m\n choose c in {A, B} }\nutility = 0\nobjective = 0\n", 3),
    ("agents a[1000] { type value ~ uniform [1] }\nleader { choose c in {A} }\nutility = max("
     + ", ".join(f"{k} * value" for k in range(300)) + ")\nobjective = 0\n", 3),
    ("items x, y, z, u, v, w, q, r\nagents a[8] { type value ~ uniform [1] }\n"
     "leader { rounds { price each item in interval [0, 1] } }\nobjective welfare\n", 3),
])
def test_size_guards(text, line):
    err = error_of(text)
    assert isinstance(err, MechSizeError), err.render()
    assert err.span.line == line, err.render()


def test_many_params_resolve():
    text = "".join(f"param p{k} = p{k - 1} + 1\n" if k else "param p0 = 0\n" for k in range(8000))
    model = loads(text + "agent a { action m in {A} }\n" + TAIL)
    assert model.params["p7999"] == 7999.0


def test_long_unique():
    model = loads("agent a { action m in unique(range(50000) + range(50000)) }\n" + TAIL)
    assert len(model.followers[0].action_labels) == 50000


def test_big_docstring_and_big_file():
    with pytest.raises(MechSizeError, match="the docstring is 150,000 characters") as e:
        loads('"""' + "x" * 150_000 + '"""\n')
    assert (e.value.span.line, e.value.span.column) == (1, 1)
    with pytest.raises(MechSizeError, match="the spec is 10,000,007 characters long") as e:
        loads('"""' + "x" * 10_000_000 + '"""\n')
    with pytest.raises(MechSizeError, match="characters") as e:
        loads('"""' + "x" * 500 + '"""\n' + "# " + "y" * 2_000_000 + "\n")
    assert (e.value.span.line, e.value.span.column) == (2, 200_000 - 507 + 1) and e.value.hint


def test_too_many_tokens_is_refused_before_parsing():
    with pytest.raises(MechSizeError, match="more than 60,000 tokens") as e:
        loads("param x = [" + "1, " * 40_000 + "1]\n")
    assert e.value.span.line == 1 and e.value.hint


def test_docstring_regex_is_linear():
    # a docstring just under the limit lexes without the backtracking stack the old regex needed
    model = loads('"""' + "x\n" * 49_000 + '"""\nagent a { action m in {A} }\n' + TAIL)
    assert len(model.doc) > 90_000


def test_build_errors_name_the_file_and_position(tmp_path):
    path = tmp_path / "big.mech"
    path.write_text("agent a { action m in {A} }\nleader {\n    choose x in range(1000)\n    choose y in range(1000)\n}\n"
                    "utility = 0\nobjective = 0\n")
    with pytest.raises(MechSizeError) as e:
        build_ir(load(path))
    text = e.value.render()
    assert text.startswith(f"{path}:3:5: error: too many leader actions")
    assert "    choose x in range(1000)" in text


# ---- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["\x0c", "\u2028", "\u2029", "\x0b", "\x1c", "\x85", "\r"])
def test_line_breaks_the_parser_does_not_count(sep):
    err = error_of(f"# a{sep}b\nagent a {{ action m in {{A}} }}\n{TAIL.replace('objective = 0', 'objective = 1 / 0')}")
    lines = err.render().split("\n")
    assert lines[1] == "    objective = 1 / 0" and lines[2] == "                ^^^^^"


def test_caret_under_tabs_and_in_long_lines():
    assert source_excerpt("\tparam x = 1", Span(line=1, column=8, end_line=1, end_column=9)) == [
        "    \tparam x = 1", "    \t      ^"]
    long = "x" * 200 + "param" + "y" * 500
    text, caret = source_excerpt(long, Span(line=1, column=201, end_line=1, end_column=206))
    assert text.startswith("    ...") and text.endswith("...") and len(text) < 120
    assert text[caret.index("^"):caret.index("^") + 5] == "param"


def test_control_characters_are_shown_as_one_column():
    text, caret = source_excerpt("a\x00b\x1bc = 1", Span(line=1, column=6))
    assert text == "    a?b?c = 1" and caret == "         ^"


# ---- every raise site gives a hint -----------------------------------------------------------------

RAISERS = {"error": 2, "MechSemanticError": None, "MechSyntaxError": None, "MechSizeError": None,
           "MechUsageError": None, "MechError": None, "too_big": 4}


def test_every_error_raised_in_the_compiler_has_a_hint():
    """Each construction of an error in compiler/ passes a hint that cannot be empty
    (a `did_you_mean` needs its `otherwise`)."""
    missing = []
    for path in sorted((ROOT / "compiler").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in RAISERS:
                continue
            hint = next((k.value for k in node.keywords if k.arg == "hint"), None)
            if hint is None and RAISERS[name] is not None and len(node.args) > RAISERS[name]:
                hint = node.args[RAISERS[name]]
            empty = hint is None or isinstance(hint, ast.Constant) and not hint.value
            bare_guess = isinstance(hint, ast.Call) and getattr(hint.func, "id", "") == "did_you_mean" \
                and len(hint.args) < 3 and not hint.keywords
            if empty or bare_guess:
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not missing, "errors without a hint:\n" + "\n".join(missing)


def test_every_golden_error_has_a_hint():
    for err in sorted(FIXTURES.glob("*__invalid.err")):
        assert "\nhint: " in err.read_text(), err.name


# ---- the Python API -------------------------------------------------------------------------------


def test_overrides_may_be_numbers():
    path = ROOT / "specs/paper/allocation.mech"
    assert load(path, {"messages": 2}).followers[0].action_labels == ["0", "1"]
    assert load(path, {"messages": 2.0}).followers[0].action_labels == ["0", "1"]
    assert load(path, {"messages": "1+1"}) == load(path, {"messages": 2})
    with pytest.raises(MechUsageError, match="bad value"):
        load(path, {"messages": [2]})
    with pytest.raises(MechUsageError):
        load(path, {"messages": math.inf})
    with pytest.raises(MechUsageError):
        load(path, [("messages", 2)])


def test_bytes_input():
    text = (ROOT / "specs/paper/allocation.mech").read_bytes()
    assert loads(text, "a.mech").followers[0].action_labels == ["0", "1", "2"]
    with pytest.raises(MechSyntaxError, match="not UTF-8") as e:
        loads(b"agent a {\n  action m in {A\xff} }\n", "a.mech")
    assert (e.value.span.line, e.value.span.column) == (2, 17) and "offset 26" in e.value.message
    with pytest.raises(MechUsageError):
        loads(12)


def test_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.mech"
    path.write_bytes(b"\xef\xbb\xbf" + (ROOT / "specs/paper/allocation.mech").read_bytes())
    assert load(path).followers[0].action_labels == ["0", "1", "2"]


def test_file_that_is_not_utf8_is_located(tmp_path):
    path = tmp_path / "latin.mech"
    path.write_bytes("# café\n".encode("latin-1"))
    with pytest.raises(MechSyntaxError) as e:
        load(path)
    assert e.value.render().startswith(f"{path}:1:6: error: the file is not UTF-8 text")


def test_set_errors_point_into_the_set_text():
    with pytest.raises(MechUsageError) as e:
        load(ROOT / "specs/paper/allocation.mech", {"messages": "2 +"})
    lines = e.value.render().split("\n")
    assert lines[0].startswith("--set:1:") and lines[1] == "    messages=2 +"


# ---- the tree walks stay bounded and agree with the tree -------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_tree_summary_and_size_floor_agree_with_the_tree(path):
    ir = build_ir(load(path))
    g = game_tree(ir)
    summary = tree_summary(ir)
    if g is None:
        assert summary["view"] == "collapsed"
        return
    assert _size_floor(ir) <= g.number_of_nodes()
    assert summary["nodes"] == g.number_of_nodes() and summary["edges"] == g.number_of_edges()
    assert summary["depth"] == max(d for _, d in g.nodes(data="depth"))


def test_features_spec_compiles():
    ir = build_ir(load(FIXTURES / "features.mech"))
    assert tree_summary(ir)["nodes"] > 0


def test_front_door_names():
    assert {"load", "loads", "MechSizeError"} <= set(compiler.__all__)
