"""Language v2: labelled type values, tables over type fields, `others`, counts from
params, `mixed if`, participation, and the gallery specs they make expressible.

Each construct is checked against the scalar interpreter at every terminal (or the
model it compiles to), and each gallery spec's `solve` value is pinned to the value
derived by hand in docs/solutions.md.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mechdsl.compiler import loads
from mechdsl.compiler.build import build_ir
from mechdsl.compiler.interpreter import Scope, value
from mechdsl.compiler.model import TypeField
from tests.checks import assert_matches_reference

ROOT = Path(__file__).resolve().parent.parent


def terminals(model, choice=(0,)):
    """Every (types, actions) profile of a one-shot model, with a fixed leader choice."""
    for types in itertools.product(*[range(c) for c in model.type_counts]):
        for actions in itertools.product(*[range(c) for c in model.action_counts]):
            yield Scope(model=model, types=types, actions=actions, choice=choice,
                        alloc=tuple(() for _ in model.followers), paid=tuple(0.0 for _ in model.followers))


# ---- labelled type values ---------------------------------------------------------

LABELS = """
agent buyer {
    type kind ~ {low: 0.6, high: 0.4}
    action respond in {accept, reject}
}
leader { choose p in [1, 2] }
table worth[kind] = [1.5, 2.5]
utility buyer = if respond == accept then worth[kind] - p else 0
objective = if buyer.respond == accept and kind == high then p else 0
"""


def test_labelled_field_resolves_to_label_positions():
    model = loads(LABELS)
    buyer = model.followers[0]
    assert buyer.fields == [TypeField(name="kind", kind="label", labels=["low", "high"])]
    assert buyer.type_labels == ["kind=low", "kind=high"]
    assert buyer.type_values["kind"] == [0, 1]
    assert model.prior == pytest.approx([0.6, 0.4])


def test_labelled_field_in_comparisons_and_table_axes():
    model = loads(LABELS)
    for sc in terminals(model):
        kind, accept = sc.types[0], sc.actions[0] == 0
        assert value(model.utilities[0], sc) == pytest.approx((1.5, 2.5)[kind] - 1 if accept else 0)
        assert value(model.objective, sc) == (1.0 if accept and kind == 1 else 0.0)


def test_labelled_field_in_a_joint_and_as_bare_support():
    model = loads("""
    agent a1 { type kind in {low, high} }
    agent a2 { type kind }
    joint (a1.kind, a2.kind) ~ {(low, low): 0.25, (high, high): 0.75}   # a2: labels as first named
    leader { choose p in [1] }
    utility = 0
    objective = sum(i in agents: i.kind == high)
    """)
    assert model.followers[1].fields[0].labels == ["low", "high"]
    assert model.prior == pytest.approx([0.25, 0, 0, 0.75])
    # a bare field takes the declared order of a same-named labelled field, not the joint's
    model = loads("""
    agent a1 { type kind in {low, high} }
    agent a2 { type kind }
    joint (a1.kind, a2.kind) ~ {(low, high): 0.25, (high, low): 0.75}
    leader { choose p in [1] }
    utility = 0
    objective = sum(i in agents: i.kind == high)
    """)
    assert model.followers[1].fields[0].labels == ["low", "high"]
    assert model.prior == pytest.approx([0, 0.25, 0.75, 0])


def test_fields_without_labels_serialize_as_before():
    assert TypeField(name="v", kind="scalar").model_dump() == {"name": "v", "kind": "scalar"}
    labelled = TypeField(name="k", kind="label", labels=["a", "b"])
    assert TypeField.model_validate_json(labelled.model_dump_json()) == labelled


# ---- tables over numeric and item type fields ---------------------------------------


def test_table_indexed_by_a_number_field_reads_its_value():
    model = loads("""
    agents bidder[2] {
        type value ~ uniform [0, 0.5, 2]
    }
    agent judge { type value ~ uniform [3] }
    leader { choose p in [1] }
    table bonus[value] = [10, 20, 30, 40]      # support(value) = 0, 0.5, 2, 3
    utility = bonus[value] + bonus[1]
    objective = sum(i in agents: bonus[i.value])
    """)
    support = [0, 0.5, 2, 3]
    table = dict(zip(support, [10, 20, 30, 40]))
    for sc in terminals(model):
        vals = [model.followers[k].type_values["value"][t] for k, t in enumerate(sc.types)]
        for k in range(3):
            assert value(model.utilities[k], sc) == table[vals[k]] + 20
        assert value(model.objective, sc) == sum(table[v] for v in vals)


def test_table_indexed_by_an_item_field():
    model = loads("""
    items a, b, c
    agent buyer { type fav: item ~ uniform [b, c] }
    leader { choose give in items }
    table worth[fav] = [1, 2, 3]
    utility buyer = if give == fav then worth[fav] else 0
    objective = worth[fav]
    """)
    got = [value(model.objective, sc) for sc in terminals(model)]
    assert got == [2.0, 3.0]


# ---- others ------------------------------------------------------------------------

OTHERS = """
param n = 3
agents bidder[n] {
    type value ~ uniform [0, 1]
    action bid in [0, 1, 2]
}
leader { choose r in [0] }
utility = max(j in others: j.bid) + 10 * sum(j in others: j.bid) + 100 * min(j in others: j.bid)
objective = sum(i in agents: max(j in others of i: j.bid * (j.value + 1)))
"""


def test_others_leaves_out_self_and_the_named_agent():
    model = loads(OTHERS)
    assert len(model.followers) == 3
    for sc in itertools.islice(terminals(model), 0, None, 7):
        bids = [float(a) for a in sc.actions]
        for k in range(3):
            rest = bids[:k] + bids[k + 1:]
            assert value(model.utilities[k], sc) == max(rest) + 10 * sum(rest) + 100 * min(rest)
        weighted = [b * (t + 1) for b, t in zip(bids, sc.types)]
        assert value(model.objective, sc) == sum(max(weighted[:i] + weighted[i + 1:]) for i in range(3))


def test_others_with_two_agents_is_the_other_one():
    model = loads(OTHERS, "x.mech", {"n": "2"})
    for sc in terminals(model):
        assert value(model.utilities[0], sc) == 111 * sc.actions[1]
        assert value(model.utilities[1], sc) == 111 * sc.actions[0]


# ---- counts from params, mixed if ------------------------------------------------------

COUNTS = """
param k = 2
param n = 2
param commit = true
items slot[k]
agents bidder[n] { type value[item] ~ uniform [0, 1] }
leader { choose give in items mixed if commit }
utility = value[give]
objective = 0
"""


def test_item_and_agent_counts_and_mixed_follow_params():
    model = loads(COUNTS)
    assert [it.name for it in model.items] == ["slot1", "slot2"]
    assert [f.name for f in model.followers] == ["bidder1", "bidder2"]
    assert model.leader.choices[0].mixed
    model = loads(COUNTS, "x.mech", {"k": "3", "n": "1", "commit": "false"})
    assert [it.name for it in model.items] == ["slot1", "slot2", "slot3"]
    assert [f.name for f in model.followers] == ["bidder1"]
    assert not model.leader.choices[0].mixed
    assert not build_ir(model).mixed


# ---- participation -----------------------------------------------------------------

PARTICIPATION = """
agent buyer {
    type value ~ uniform [1, 3]
    participation optional
}
agent bidder {
    type value ~ uniform [1, 3]
    action bid in [1, 2]
    participation optional
}
agent voter {
    action vote in {yes, no}
    participation optional
}
leader { observe buyer, bidder, voter  choose fee in [2] }
utility = value - fee
utility voter = if vote == yes then 1 else -1
objective = sum(i in agents: participates(i)) + 10 * bidder.bid + 100 * (voter.vote == out)
"""


def test_participation_adds_out_and_makes_staying_out_worth_zero():
    model = loads(PARTICIPATION)
    assert [f.action_labels for f in model.followers] == [["in", "out"], ["1", "2", "out"], ["yes", "no", "out"]]
    assert model.followers[1].action_values == [1.0, 2.0, 0.0]
    outs = [1, 2, 2]
    for sc in terminals(model):
        inside = [a != o for a, o in zip(sc.actions, outs)]
        for k, follower in enumerate(model.followers):
            if k < 2:
                expected = follower.type_values["value"][sc.types[k]] - 2
            else:
                expected = 1.0 if sc.actions[2] == 0 else -1.0
            assert value(model.utilities[k], sc) == (expected if inside[k] else 0.0)
        bid = model.followers[1].action_values[sc.actions[1]]
        assert value(model.objective, sc) == sum(inside) + 10 * bid + 100 * (not inside[2])


# ---- the gallery -----------------------------------------------------------------------


@pytest.mark.parametrize("name, value_, choice", [
    ("bilateral_trade", 0.5, "p=1.5"),
    ("reserve_auction", 21 / 16, "reserve=1.5"),
])
def test_gallery_solve_values(name, value_, choice, one_thread):
    import mechdsl
    from mechdsl.solve import solve

    path = ROOT / "specs" / "examples" / f"{name}.mech"
    ir = mechdsl.compile(mechdsl.load(str(path)))
    sol = solve(ir)
    assert sol.value == pytest.approx(value_, abs=1e-9)
    assert not sol.supremum
    assert ir.n_infosets == 1 and ir.action_labels[0][sol.actions[0]] == choice
    assert f"Value: {value_:g}" in path.read_text() or f"= {value_:g}" in path.read_text()  # the docstring's value


# ---- the batched evaluator agrees with the reference on every new construct ------------


@pytest.mark.parametrize("text", [LABELS, OTHERS, PARTICIPATION], ids=["labels", "others", "participation"])
def test_batched_evaluator_matches_the_reference(text):
    assert_matches_reference(build_ir(loads(text)))


# ---- the syntax models ----------------------------------------------------------------


def test_new_forms_parse_to_their_syntax_models():
    from mechdsl.compiler import spec as s
    from mechdsl.compiler.parse import parse
    from mechdsl.compiler.transform import to_spec

    spec = to_spec(parse("""
    items slot[k]
    agent a { type kind ~ uniform {low, high}  participation optional }
    leader { choose c in {X, Y} mixed if commit  choose d in {X} mixed }
    objective = sum(i in agents: max(j in others of i: 1)) + sum(j in others: 1)
    """))
    items, agent, leader, objective = spec.statements
    assert isinstance(items, s.ItemsDecl) and items.count.name == "k" and items.names[0].name == "slot"
    law = agent.body[0].law
    assert isinstance(law, s.Uniform) and [x.name for x in law.over.labels] == ["low", "high"]
    assert isinstance(agent.body[1], s.ParticipationDecl) and agent.body[1].mode.name == "optional"
    c, d = leader.body
    assert (c.mixed, c.mixed_if.name, d.mixed, d.mixed_if) == (True, "commit", True, None)
    inner = objective.expr.left.body
    assert (inner.domain, inner.of.name) == ("others", "i")
    assert (objective.expr.right.domain, objective.expr.right.of) == ("others", None)
