"""Resolution: every shipped spec compiles to a valid `Model`, and the paper's settings
come out with the sizes, priors and payoffs the paper states (Sections 4, 7, App. E)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from mechdsl import compiler
from mechdsl.compiler import MechSemanticError, MechUsageError, load, loads
from mechdsl.compiler import model as m

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.mech"))
PAPER = ROOT / "specs" / "paper"
EXAMPLES = ROOT / "specs" / "examples"
FIXTURES = Path(__file__).parent / "fixtures"


def without_spans(x):
    if isinstance(x, list):
        return [without_spans(v) for v in x]
    if isinstance(x, dict):
        return {k: without_spans(v) for k, v in x.items() if k != "span"}
    if hasattr(x, "model_dump"):
        return without_spans(x.model_dump())
    return x


def evaluate(expr, *, actions=(), choices=None, types=(), outcome=None, env=None):
    """A tiny reference evaluator of resolved expressions (for spot checks only)."""
    choices, env = choices or {}, env or {}
    ev = lambda e: evaluate(e, actions=actions, choices=choices, types=types, outcome=outcome, env=env)  # noqa: E731
    if isinstance(expr, m.Const):
        return expr.value
    if isinstance(expr, m.Var):
        return env[expr.name]
    if isinstance(expr, m.ActionRef):
        index, value = actions[int(ev(expr.agent))]
        return value if expr.numeric else index
    if isinstance(expr, m.ChoiceRef):
        index, value = choices[expr.name]
        return value if expr.numeric else index
    if isinstance(expr, m.TypeRef):
        v = types[int(ev(expr.agent))][expr.field]
        return v[int(ev(expr.item))] if expr.item is not None else v
    if isinstance(expr, m.Table):
        cell = expr.values
        for i in expr.index:
            cell = cell[int(ev(i))]
        return cell
    if isinstance(expr, m.Unary):
        x = ev(expr.operand)
        return {"-": -x, "not": float(not x), "abs": abs(x)}[expr.op]
    if isinstance(expr, m.If):
        return ev(expr.then) if ev(expr.cond) else ev(expr.orelse)
    if isinstance(expr, m.Binary):
        a, b = ev(expr.left), ev(expr.right)
        ops = {
            "+": a + b, "-": a - b, "*": a * b, "==": float(a == b), "!=": float(a != b),
            "<": float(a < b), ">": float(a > b), "and": float(bool(a and b)), "or": float(bool(a or b)),
            "min": min(a, b), "max": max(a, b),
        }
        return ops[expr.op]
    if isinstance(expr, m.Outcome):
        return outcome(expr.what, int(ev(expr.agent)))
    if isinstance(expr, m.Aggregate):
        n = len(types) if expr.domain == "agents" else 0
        vals = [evaluate(expr.body, actions=actions, choices=choices, types=types, outcome=outcome,
                         env={**env, expr.var: k}) for k in range(n)]
        return {"sum": sum, "max": max, "min": min}[expr.func](vals)
    raise AssertionError(type(expr))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_spec_loads(path):
    model = load(path)
    assert isinstance(model, m.Model)
    assert model.name == path.stem and model.doc
    assert math.isclose(sum(model.prior), 1.0, abs_tol=1e-9)
    assert len(model.prior) == math.prod(model.type_counts)
    assert all(p >= 0 for p in model.prior)
    assert len(model.utilities) == len(model.followers)
    for f in model.followers:
        assert f.action_labels and len(f.action_labels) == len(f.action_values)
        for values in f.type_values.values():
            assert len(values) == len(f.type_labels)
    assert model.leader.choices or model.leader.rounds
    # the Model survives a JSON round trip (the back end may cache it)
    assert m.Model.model_validate_json(model.model_dump_json()) == model


def test_examples_are_at_least_five():
    names = {p.stem for p in EXAMPLES.glob("*.mech")}
    assert {"posted_price", "security_game", "spm_three_agents", "correlated"} <= names
    assert len(names) >= 5


# ---- normal-form games (Section 7.1, Appendix E) ------------------------------------


@pytest.mark.parametrize(
    "name, table",
    [
        ("maintain", [[(20, 15), (0, 0), (0, 0)], [(30, 0), (10, 5), (0, 0)], [(0, 0), (0, 0), (5, 10)]]),
        ("escape", [[(15, 15), (10, 10), (0, 0)], [(10, 10), (10, 10), (0, 0)], [(0, 0), (0, 0), (30, 30)]]),
    ],
)
def test_normal_form_payoffs(name, table):
    model = load(PAPER / f"{name}.mech")
    (follower,) = model.followers
    assert follower.action_labels == ["A", "B", "C"] and follower.action_values == [None] * 3
    assert model.type_counts == [1] and model.prior == [1.0]
    (row,) = model.leader.choices
    assert (row.name, row.kind, row.labels, row.mixed) == ("row", "label", ["A", "B", "C"], False)
    for r in range(3):
        for c in range(3):
            kw = dict(actions=[(c, None)], choices={"row": (r, None)}, types=[{}])
            assert evaluate(model.objective, **kw) == table[r][c][0]
            assert evaluate(model.utilities[0], **kw) == table[r][c][1]
    assert (model.dynamics.equilibrium, model.dynamics.reward) == (100, 10)


def test_maintain_mixed():
    model = load(PAPER / "maintain_mixed.mech")
    assert model.leader.choices[0].mixed
    assert without_spans(model.utilities) == without_spans(load(PAPER / "maintain.mech").utilities)


def test_table_index_folds_component():
    utility = load(PAPER / "maintain.mech").utilities[0]
    assert isinstance(utility, m.Table)
    row, col, comp = utility.index
    assert row == m.ChoiceRef(name="row", span=row.span)
    assert isinstance(col, m.ActionRef) and col.agent.value == 0 and not col.numeric
    assert comp.value == 1


# ---- matrix design (Section 7.2) ------------------------------------------------------


def test_matrix_design():
    model = load(PAPER / "matrix_design.mech")
    assert [f.name for f in model.followers] == ["row_player", "col_player"]
    assert model.action_counts == [2, 2]
    (tau,) = model.leader.choices
    assert tau.kind == "number" and tau.values == [float(t) for t in range(11)]
    base = {(0, 0): (3, 3), (0, 1): (6, 4), (1, 0): (4, 6), (1, 1): (2, 2)}
    for t in (0, 4, 10):
        for (r, c), (ur, uc) in base.items():
            kw = dict(actions=[(r, None), (c, None)], choices={"tau": (t, float(t))}, types=[{}, {}])
            assert evaluate(model.utilities[0], **kw) == ur + (t if (r, c) == (0, 0) else 0)
            assert evaluate(model.utilities[1], **kw) == uc + (t if (r, c) == (1, 1) else 0)
            assert evaluate(model.objective, **kw) == float(r != c)


def test_label_comparison_resolves_to_indices():
    model = load(PAPER / "matrix_design.mech")
    cond = model.utilities[0].right.cond  # row == A and col == A
    left = cond.left
    assert left.op == "==" and isinstance(left.left, m.ActionRef) and left.right.value == 0


# ---- simple allocation (Section 7.3) ------------------------------------------------


def test_allocation():
    model = load(PAPER / "allocation.mech")
    (buyer,) = model.followers
    assert buyer.type_labels == ["interest=a", "interest=b", "interest=c"]
    assert buyer.type_values == {"interest": [0, 1, 2]}
    assert buyer.fields == [m.TypeField(name="interest", kind="item")]
    assert model.prior == pytest.approx([1 / 3] * 3)
    assert buyer.action_labels == ["0", "1", "2"] and buyer.action_values == [0.0, 1.0, 2.0]
    assert model.leader.observe == [0]
    (give,) = model.leader.choices
    assert (give.kind, give.labels) == ("item", ["a", "b", "c"])
    assert (model.dynamics.equilibrium, model.dynamics.reward) == (1000, 100)
    for interest in range(3):
        for g in range(3):
            kw = dict(actions=[(0, 0.0)], choices={"give": (g, None)}, types=[{"interest": interest}])
            assert evaluate(model.objective, **kw) == evaluate(model.utilities[0], **kw) == float(g == interest)


@pytest.mark.parametrize("messages", [1, 2, 3])
def test_allocation_messages_override(messages):
    model = load(PAPER / "allocation.mech", {"messages": str(messages)})
    assert model.action_counts == [messages]
    assert model.params["messages"] == messages


# ---- sequential price mechanisms (Section 7.4) ----------------------------------------


def test_spm_messages():
    model = load(PAPER / "spm_messages.mech")
    b1, b2 = model.followers
    assert b1.type_values == {"value": [0.5, 2.5]} and b1.type_labels == ["value=0.5", "value=2.5"]
    assert b2.type_values == {"value": [0.0, 1.0]}
    # C order, follower 0 slowest: (0.5,0), (0.5,1), (2.5,0), (2.5,1)
    assert model.prior == pytest.approx([0.4, 0.4, 0.1, 0.1])
    assert model.action_counts == [2, 2] and model.leader.observe == [0, 1]
    rounds = model.leader.rounds
    assert rounds.price_kind == "grid" and rounds.grid == [0, 0.25, 0.75, 1.75]
    assert (rounds.valuation, rounds.value_field) == ("unit", "value")
    assert rounds.tie_buy and rounds.observe_allocation
    assert model.objective_name == "welfare"
    assert model.objective.func == "sum" and model.objective.body.what == "worth"
    # default utilities: quasi-linear
    for k, u in enumerate(model.utilities):
        assert u.op == "-" and u.left.what == "worth" and u.right.what == "paid" and u.left.agent.value == k
    assert model.params == {"eps": 0.2, "messages": 2.0}


def test_spm_messages_overrides():
    model = load(PAPER / "spm_messages.mech", {"messages": "1", "eps": "1/10"})
    assert model.action_counts == [1, 1]
    assert model.followers[0].type_values["value"] == [0.5, 5.0]
    assert model.prior == pytest.approx([0.45, 0.45, 0.05, 0.05])
    assert model.leader.rounds.grid == [0, 0.25, 0.75, 3.0]


def test_spm_messages_interval():
    rounds = load(PAPER / "spm_messages_interval.mech").leader.rounds
    assert (rounds.price_kind, rounds.low, rounds.high) == ("interval", 0.0, 2.5)


def test_spm_grid():
    model = load(PAPER / "spm_grid.mech")
    assert [f.name for f in model.followers] == ["bidder1", "bidder2"]
    assert model.type_counts == [5, 5] and model.prior == pytest.approx([1 / 25] * 25)
    assert model.leader.rounds.grid == [0, 0.125, 0.375, 0.625, 0.875]
    assert load(PAPER / "spm_grid.mech", {"types": "3"}).type_counts == [3, 3]


# ---- examples and features -------------------------------------------------------------


def test_posted_price_has_no_action_and_revenue():
    model = load(EXAMPLES / "posted_price.mech")
    (buyer,) = model.followers
    assert (buyer.action_name, buyer.action_labels, buyer.action_values) == ("none", ["none"], [None])
    assert model.objective_name == "revenue" and model.objective.body.what == "paid"
    assert model.leader.rounds.grid == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_security_game():
    model = load(EXAMPLES / "security_game.mech")
    assert model.leader.choices[0].mixed
    u = model.utilities[0]
    kw = dict(actions=[(0, None)], choices={"cover": (0, None)}, types=[{}])
    assert evaluate(u, **kw) == -4 and evaluate(model.objective, **kw) == 5
    kw["choices"] = {"cover": (1, None)}
    assert evaluate(u, **kw) == 8 and evaluate(model.objective, **kw) == -10


def test_spm_three_agents_per_item():
    model = load(EXAMPLES / "spm_three_agents.mech")
    assert [it.name for it in model.items] == ["left", "right"]
    assert model.type_counts == [4, 4, 4]
    assert model.followers[0].type_values["value"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert model.followers[0].type_labels[1] == "value=[0,1]"
    assert model.leader.rounds.observe_allocation is False


def test_correlated_joint_prior():
    model = load(EXAMPLES / "correlated.mech")
    assert model.prior == pytest.approx([0.0, 0.4, 0.4, 0.2])
    alice = evaluate(model.utilities[0], actions=[(0, 0.0)] * 2, choices={"winner": (0, None)},
                     types=[{"value": 1.0}, {"value": 0.0}])
    assert alice == 1.0
    assert evaluate(model.objective, actions=[(0, 0.0)] * 2, choices={"winner": (1, None)},
                    types=[{"value": 1.0}, {"value": 0.5}]) == 0.5


def test_features_fixture():
    model = load(FIXTURES / "features.mech")
    assert model.type_counts == [6, 6, 2]
    assert [it.units for it in model.items] == [2, 1, 1]
    assert model.followers[0].type_labels[0] == "value=[1,0,0],fav=apple"
    # bidder1 (value=[1,0,0], fav=apple), bidder2 (value=[0,1,1], fav=pear), seller cost=1
    assert model.prior[(0 * 6 + 4) * 2 + 1] == pytest.approx(0.5 * 0.5 * 0.5 * 0.75)
    # fav combinations outside the joint's support have probability 0
    assert model.prior[(0 * 6 + 0) * 2 + 1] == 0.0
    assert model.leader.observe == [0, 2]
    pick = model.leader.choices[1]
    assert (pick.kind, pick.labels, pick.mixed) == ("agent", ["bidder1", "bidder2", "seller"], True)
    rounds = model.leader.rounds
    assert (rounds.grid, rounds.valuation, rounds.tie_buy) == ([0.5, 1.0], "additive", False)
    assert model.dynamics == m.Dynamics(step=0.05, equilibrium=1000, reward=100, normalize=False)
    assert model.training == {"steps": 200000, "algo": "mappo", "centralized": True}
    assert model.params == {"k": 2.0, "half": 0.5}


def test_group_utility_binds_self_per_member():
    model = load(FIXTURES / "features.mech")
    for k in (0, 1):
        worth = model.utilities[k].left.left
        assert worth.what == "worth" and worth.agent.value == k


SMALL = """
agent a { type value ~ {1: 0.5, 2: 0.5}  action m in {X, Y} }
agent b { type value ~ uniform [3]  action m in {X, Y} }
leader { observe m  choose c in {X, Y} }
{rest}
"""


def small(rest: str, **kw) -> m.Model:
    return loads(SMALL.replace("{rest}", rest), "small.mech", **kw)


def test_generic_utility_and_bare_names():
    model = small("utility = if c == m then value else 0\nobjective = a.value + b.value")
    for k, u in enumerate(model.utilities):
        assert u.cond.right == m.ActionRef(agent=m.Const(value=k), span=u.cond.right.span)
        assert u.then.agent.value == k
    assert model.type_counts == [2, 1]


def test_label_on_the_left_and_numeric_bools():
    model = small("utility = 10 * (X == c) + (c != a.m)\nobjective = 0")
    u = model.utilities[0]
    eq = u.left.right
    assert eq.left.value == 0 and isinstance(eq.right, m.ChoiceRef)


def test_constant_folding_and_dynamics_defaults():
    model = small("utility = 2 * 3 - 1\nobjective = max(1, 2) + abs(-3)")
    assert model.utilities[0] == m.Const(value=5.0, span=model.utilities[0].span)
    assert (model.dynamics.equilibrium, model.dynamics.reward, model.dynamics.step) == (1000, 100, 0.1)


def test_joint_with_open_support():
    model = loads(
        "agent a { type v }\nagent b { type v }\njoint (a.v, b.v) ~ {(2, 1): 0.25, (1, 2): 0.75}\n"
        "leader { choose c in {X} }\nutility = v\nobjective = 0",
        "j.mech",
    )
    assert model.followers[0].type_values == {"v": [1.0, 2.0]}
    assert model.prior == pytest.approx([0, 0.75, 0.25, 0])


def test_unknown_override_is_usage_error():
    with pytest.raises(MechUsageError, match="unknown parameter 'mesages'") as e:
        load(PAPER / "allocation.mech", {"mesages": "2"})
    assert "did you mean 'messages'" in e.value.hint


def test_bad_override_value_is_usage_error():
    with pytest.raises(MechUsageError, match="bad value in --set messages=two"):
        load(PAPER / "allocation.mech", {"messages": "two"})


@pytest.mark.parametrize(
    "rest, message",
    [
        ("utility = value\nobjective = a.value + b", "'+' needs numbers, got an agent"),
        ("utility = c < X\nobjective = 0", "cannot order a label of {X, Y} with the label X"),
        ("utility = value[1]\nobjective = 0", "cannot index a number"),
        ("utility = if value then 1 else 0\nobjective = 0", "condition of 'if'"),
        ("utility = 1 / 0\nobjective = 0", "division by zero"),
        ("utility = units(self)\nobjective = 0", "has no rounds"),
        ("utility = sum(a in agents: 1)\nobjective = 0", "hides another name"),
        ("utility = sum(i in agents: i.m == X)\nobjective = 0", ""),
    ],
)
def test_expression_errors(rest, message):
    if not message:
        small(rest)  # well typed
        return
    with pytest.raises(MechSemanticError, match=re.escape(message)):
        small(rest)


def test_public_api():
    for name in ("parse", "to_spec", "resolve", "load", "MechError", "MechSyntaxError", "MechSemanticError",
                 "MechUsageError"):
        assert hasattr(compiler, name)


# ---- property: independent priors are outer products in C order ------------------------

_weights = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(st.lists(_weights, min_size=1, max_size=3))
def test_independent_prior_is_outer_product(weights):
    agents = []
    for k, ws in enumerate(weights):
        table = ", ".join(f"{v}: {w}/{sum(ws)}" for v, w in enumerate(ws))
        agents.append(f"agent a{k} {{ type value ~ {{{table}}} }}")
    text = "\n".join(agents) + "\nleader { choose c in {X} }\nutility = value\nobjective = 0\n"
    model = loads(text, "p.mech")
    expected = [1.0]
    for ws in weights:  # follower 0 slowest
        expected = [p * w / sum(ws) for p in expected for w in ws]
    assert model.type_counts == [len(ws) for ws in weights]
    assert model.prior == pytest.approx(expected)


# ---- models built unvalidated (`make`) are what validation would make ------------------


def typed(x):
    """`x` with every value's type beside it and fields in the order held (the order JSON
    is written in), so 1 and 1.0, or a list and a tuple, differ."""
    if isinstance(x, BaseModel):
        return type(x).__name__, [(k, typed(v)) for k, v in x.__dict__.items()]
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [typed(v) for v in x]
    if isinstance(x, dict):
        return "dict", [(k, typed(v)) for k, v in x.items()]
    return type(x).__name__, x


@pytest.mark.parametrize("path", SPECS + [FIXTURES / "features.mech"], ids=lambda p: p.name)
def test_made_models_are_what_validation_makes(path: Path) -> None:
    """The compiler builds its models with `make` (no validation, so `check` builds no
    pydantic schema); validating them again changes no value, type or field order."""
    from mechdsl.compiler.build import build_ir
    from mechdsl.compiler.ir import GameIR
    from mechdsl.compiler.parse import parse
    from mechdsl.compiler.spec import Spec
    from mechdsl.compiler.transform import to_spec

    spec = to_spec(parse(path.read_text(), str(path)), str(path))
    assert typed(Spec.model_validate(spec.model_dump())) == typed(spec)
    model = load(path)
    assert typed(m.Model.model_validate(model.model_dump())) == typed(model)
    ir = build_ir(model)
    assert typed(GameIR.model_validate(ir.model_dump())) == typed(ir)
