"""Property tests on small random models built directly as `compiler.model.Model`s.

The fast batched evaluator (`mechdsl.evaluate`) must agree with the slow reference
(`compiler.reference`, which plays the game tree out) on every (i, t, a); the
equilibrium check (`mechdsl.dynamics.regret`) must be zero exactly at the pure
Bayes-Nash equilibria found by brute force; the IR must survive JSON.

Numbers in the random models are multiples of 1/4 so that every sum, product and
comparison is exact in float64: a mismatch is a semantic disagreement, never rounding.
"""
from __future__ import annotations

import itertools
import math
import os
import random
import re
from dataclasses import dataclass, field

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mechdsl.compiler.build import build_ir
from mechdsl.compiler.drawing import collapsed_graph, to_dot
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.model import (
    ActionRef, Aggregate, Binary, Choice, ChoiceRef, Const, Dynamics, Follower, If, Item,
    Leader, Model, Outcome, Rounds, Table, TypeField, TypeRef, Unary, Var,
)
from mechdsl.compiler.reference import reference_evaluate
from mechdsl.compiler.tree import game_tree
from mechdsl.dynamics import pure, regret
from mechdsl.evaluate import Policy, Tables, evaluate

QUARTERS = [k / 4 for k in range(-4, 13)]  # -1 .. 3
VALUES = [k / 4 for k in range(0, 13)]  # 0 .. 3
MAX_PROFILES = 150  # T * A, keeps the reference walk quick
SCALE = int(os.environ.get("MECHDSL_PROPERTY_SCALE", "1"))  # e.g. 20 for a long bug hunt
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------
# random models
# ---------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a random expression may refer to."""

    n: int
    m: int
    per_item: bool
    interest: bool
    actions: list[int]
    choices: list[Choice]
    rounds: bool
    bound: list[tuple[str, str]] = field(default_factory=list)  # (var, domain)


def _agent_index(draw, cx: Ctx):
    opts = [Const(value=k) for k in range(cx.n)]
    opts += [Var(name=v) for v, d in cx.bound if d == "agents"]
    opts += [ChoiceRef(name=c.name) for c in cx.choices if c.kind == "agent"]
    return draw(st.sampled_from(opts))


def _item_index(draw, cx: Ctx):
    opts = [Const(value=j) for j in range(cx.m)]
    opts += [Var(name=v) for v, d in cx.bound if d == "items" and cx.m]
    opts += [ChoiceRef(name=c.name) for c in cx.choices if c.kind == "item"]
    if cx.interest:
        opts += [TypeRef(agent=Const(value=k), field="interest") for k in range(cx.n)]
    return draw(st.sampled_from(opts))


def _table(draw, cx: Ctx):
    """A table indexed by 1-2 of: a follower's action, a choice, a bound var, an item."""
    axes = [(ActionRef(agent=Const(value=k)), cx.actions[k]) for k in range(cx.n)]
    axes += [(ChoiceRef(name=c.name), len(c.labels)) for c in cx.choices]
    axes += [(Var(name=v), cx.n if d == "agents" else cx.m) for v, d in cx.bound if (cx.m or d == "agents")]
    if cx.interest:
        axes.append((TypeRef(agent=Const(value=0), field="interest"), cx.m))
    chosen = draw(st.lists(st.sampled_from(axes), min_size=1, max_size=2))
    shape = [size for _, size in chosen]
    cells = draw(st.lists(st.sampled_from(QUARTERS), min_size=math.prod(shape), max_size=math.prod(shape)))

    def nest(flat, dims):
        if not dims:
            return flat[0]
        step = math.prod(dims[1:])
        return [nest(flat[k * step:(k + 1) * step], dims[1:]) for k in range(dims[0])]

    return Table(name="tab", values=nest(cells, shape), index=[ix for ix, _ in chosen])


LEAVES = ["const", "type", "action", "choice", "outcome"]
INNER = ["binary", "binary", "binary", "if", "unary", "aggregate", "table"]
ARITH = ["+", "-", "*", "min", "max", "/", "^"]
LOGIC = ["==", "!=", "<", "<=", ">", ">=", "and", "or"]


def expr(draw, cx: Ctx, depth: int):
    kinds = [k for k in LEAVES if (k != "choice" or cx.choices) and (k != "outcome" or cx.rounds)]
    if depth > 0:
        kinds = kinds + INNER
    k = draw(st.sampled_from(kinds))
    if k == "const":
        return Const(value=draw(st.sampled_from(QUARTERS)))
    if k == "type":
        if cx.interest and draw(st.booleans()):
            return TypeRef(agent=_agent_index(draw, cx), field="interest")
        item = _item_index(draw, cx) if cx.per_item else None
        return TypeRef(agent=_agent_index(draw, cx), field="value", item=item)
    if k == "action":
        return ActionRef(agent=_agent_index(draw, cx), numeric=draw(st.booleans()))
    if k == "choice":
        return ChoiceRef(name=draw(st.sampled_from([c.name for c in cx.choices])), numeric=draw(st.booleans()))
    if k == "outcome":
        what = draw(st.sampled_from(["units", "paid", "worth"]))
        item = _item_index(draw, cx) if what == "units" and draw(st.booleans()) else None
        return Outcome(what=what, agent=_agent_index(draw, cx), item=item)
    if k == "binary":
        op = draw(st.sampled_from(ARITH + LOGIC))
        left = expr(draw, cx, depth - 1)
        if op == "/":
            return Binary(op=op, left=left, right=Const(value=draw(st.sampled_from([0.5, 2.0, -4.0]))))
        if op == "^":
            return Binary(op=op, left=left, right=Const(value=draw(st.sampled_from([0.0, 1.0, 2.0]))))
        return Binary(op=op, left=left, right=expr(draw, cx, depth - 1))
    if k == "if":
        return If(cond=expr(draw, cx, depth - 1), then=expr(draw, cx, depth - 1), orelse=expr(draw, cx, depth - 1))
    if k == "unary":
        return Unary(op=draw(st.sampled_from(["-", "abs", "not"])), operand=expr(draw, cx, depth - 1))
    if k == "aggregate":
        var = f"v{len(cx.bound)}"
        domain = draw(st.sampled_from(["agents", "items"] if cx.m else ["agents"]))
        cx.bound.append((var, domain))
        try:
            body = expr(draw, cx, depth - 1)
        finally:
            cx.bound.pop()
        return Aggregate(func=draw(st.sampled_from(["sum", "max", "min"])), var=var, domain=domain, body=body)
    return _table(draw, cx)


def _choices(draw, n: int, m: int) -> list[Choice]:
    out: list[Choice] = []
    kinds = ["label", "number"] + (["item"] if m else []) + ["agent"]
    for q in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(kinds))
        mixed = draw(st.booleans())
        if kind == "item":
            labels, values = [f"i{j}" for j in range(m)], [None] * m
        elif kind == "agent":
            labels, values = [f"f{i}" for i in range(n)], [None] * n
        else:
            size = draw(st.integers(1, 3))
            labels = [f"c{q}_{k}" for k in range(size)]
            values = [draw(st.sampled_from(QUARTERS)) for _ in range(size)] if kind == "number" else [None] * size
        out.append(Choice(name=f"ch{q}", kind=kind, labels=labels, values=values, mixed=mixed))
    return out


def _prior(draw, counts: list[int]) -> list[float]:
    if draw(st.booleans()):  # independent types
        parts = [draw(st.lists(st.integers(1, 4), min_size=c, max_size=c)) for c in counts]
        w = [math.prod(p[t] for p, t in zip(parts, prof)) for prof in itertools.product(*[range(c) for c in counts])]
    else:  # correlated, some profiles (maybe whole types) impossible
        T = math.prod(counts)
        w = draw(st.lists(st.integers(0, 4), min_size=T, max_size=T))
        if not any(w):
            w[0] = 1
    total = sum(w)
    return [x / total for x in w]


@st.composite
def models(draw, rounds=None) -> Model:
    """A small random model: 1-3 followers with 1-3 types and 1-3 actions each, and either
    one-shot leader choices or sequential rounds (sometimes after a choice)."""
    has_rounds = draw(st.booleans()) if rounds is None else rounds
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, 2)) if has_rounds else draw(st.integers(0, 2))
    items = [Item(name=f"i{j}", units=draw(st.integers(1, 2))) for j in range(m)]
    per_item = m > 0 and draw(st.booleans())
    interest = m > 0 and draw(st.booleans())
    tcounts = [draw(st.integers(1, 3)) for _ in range(n)]
    acounts = [draw(st.integers(1, 3)) for _ in range(n)]
    for i in reversed(range(n)):  # keep T * A small
        while math.prod(tcounts) * math.prod(acounts) > MAX_PROFILES and max(tcounts[i], acounts[i]) > 1:
            if tcounts[i] >= acounts[i]:
                tcounts[i] -= 1
            else:
                acounts[i] -= 1
    followers = []
    for i in range(n):
        fields = [TypeField(name="value", kind="per_item" if per_item else "scalar")]
        if per_item:
            vals = [[draw(st.sampled_from(VALUES)) for _ in range(m)] for _ in range(tcounts[i])]
        else:
            vals = [draw(st.sampled_from(VALUES)) for _ in range(tcounts[i])]
        type_values: dict[str, list] = {"value": vals}
        if interest:
            fields.append(TypeField(name="interest", kind="item"))
            type_values["interest"] = [draw(st.integers(0, m - 1)) for _ in range(tcounts[i])]
        numeric = draw(st.booleans())
        followers.append(Follower(
            name=f"f{i}", fields=fields, type_labels=[f"t{k}" for k in range(tcounts[i])],
            type_values=type_values, action_name="act", action_labels=[f"a{k}" for k in range(acounts[i])],
            action_values=[draw(st.sampled_from(QUARTERS)) if numeric else None for _ in range(acounts[i])],
        ))
    choices = _choices(draw, n, m) if (not has_rounds or draw(st.integers(0, 3)) == 0) else []
    rounds_decl = None
    if has_rounds:
        grid = sorted(set(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3))))
        rounds_decl = Rounds(
            price_kind="grid", grid=grid, valuation=draw(st.sampled_from(["unit", "additive"])),
            tie_buy=draw(st.booleans()), observe_allocation=draw(st.booleans()),
        )
    observe = sorted(draw(st.sets(st.integers(0, n - 1))))
    cx = Ctx(n, m, per_item, interest, acounts, choices, has_rounds)
    depth = draw(st.integers(1, 3))

    def quasi_linear(i: int):
        return Binary(op="-", left=Outcome(what="worth", agent=Const(value=i)), right=Outcome(what="paid", agent=Const(value=i)))

    utilities = [
        quasi_linear(i) if has_rounds and draw(st.booleans()) else expr(draw, cx, depth) for i in range(n)
    ]
    objective = expr(draw, cx, depth)
    return Model(
        name="random", items=items, followers=followers, prior=_prior(draw, tcounts),
        leader=Leader(observe=observe, choices=choices, rounds=rounds_decl),
        utilities=utilities, objective=objective, dynamics=Dynamics(),
    )


@dataclass
class Game:
    """A random model, its IR and a random legal policy (short repr for failure reports)."""

    model: Model
    ir: GameIR
    action: list[int]
    probs: list[list[float]] | None

    def __repr__(self) -> str:
        return (f"Game(model={self.model.model_dump_json(exclude_none=True)}, "
                f"action={self.action}, probs={self.probs})")

    def _repr_pretty_(self, p, cycle) -> None:  # hypothesis prints failing examples with this
        p.text(repr(self))


@st.composite
def games(draw, rounds=None) -> Game:
    """A random model and a random legal policy (probs[S][K] for mixed choose sets)."""
    model = draw(models(rounds=rounds))
    ir = build_ir(model)
    rng = draw(st.randoms(use_true_random=False))
    action = [rng.choice([k for k, ok in enumerate(row) if ok]) for row in ir.legal]
    probs = None
    if ir.mixed:
        probs = []
        for row in ir.legal:
            w = [rng.randint(0, 3) if ok else 0 for ok in row]
            if not any(w):
                w[row.index(True)] = 1
            probs.append([x / sum(w) for x in w])
    return Game(model, ir, action, probs)


def fast(ir: GameIR, action, probs):
    tb = Tables(ir, dtype=torch.float64)
    pol = Policy(
        action=torch.tensor([action], dtype=torch.long),
        probs=torch.tensor([probs], dtype=torch.float64) if probs is not None else None,
    )
    return tb, evaluate(tb, pol)


def assert_same(ir: GameIR, action, probs) -> None:
    _, pay = fast(ir, action, probs)
    U, V = reference_evaluate(ir, action, probs)
    for t in range(ir.n_type_profiles):
        for a in range(ir.n_action_profiles):
            got, want = float(pay.V[0, t, a]), V[t][a]
            assert abs(got - want) <= 1e-9, f"objective at t={t} a={a}: evaluate {got}, reference {want}"
            for i in range(ir.n_followers):
                got, want = float(pay.U[0, i, t, a]), U[i][t][a]
                assert abs(got - want) <= 1e-9, f"U[{i}] at t={t} a={a}: evaluate {got}, reference {want}"


# ---------------------------------------------------------------------------
# evaluate == reference
# ---------------------------------------------------------------------------


@settings(max_examples=200 * SCALE, **SETTINGS)
@given(games(rounds=False))
def test_one_shot_evaluate_matches_reference(game):
    assert_same(game.ir, game.action, game.probs)


@settings(max_examples=200 * SCALE, **SETTINGS)
@given(games(rounds=True))
def test_rounds_evaluate_matches_reference(game):
    ir = game.ir
    every = [list(b) for b in itertools.product((0, 1), repeat=ir.n_items)]
    if ir.model.leader.rounds.valuation == "unit":
        every = [b for b in every if sum(b) <= 1]
    assert ir.bundles[0] == [0] * ir.n_items and sorted(ir.bundles) == sorted(every)
    assert_same(game.ir, game.action, game.probs)


@settings(max_examples=40 * SCALE, **SETTINGS)
@given(games(), st.randoms(use_true_random=False))
def test_batched_policies_match_single_runs(game, rng):
    """A batch of two policies gives each policy's own payoffs."""
    ir = game.ir
    other = [rng.choice([k for k, ok in enumerate(row) if ok]) for row in ir.legal]
    probs = None if game.probs is None else [game.probs, game.probs]
    pay = evaluate(Tables(ir), Policy(
        action=torch.tensor([game.action, other]),
        probs=torch.tensor(probs, dtype=torch.float64) if probs is not None else None,
    ))
    for b, action in enumerate([game.action, other]):
        U, V = reference_evaluate(ir, action, game.probs)
        assert torch.allclose(pay.U[b], torch.tensor(U, dtype=torch.float64), rtol=0, atol=1e-9)
        assert torch.allclose(pay.V[b], torch.tensor(V, dtype=torch.float64), rtol=0, atol=1e-9)


def test_choose_then_rounds_with_finished_plays():
    """Minimal case: choose among 3 labels, then rounds over 2 agents and 1 good at price 0
    under `ties pass`.  f0 (value 0 or 1) is visited first: at value 1 it buys and play
    ends after one round, at value 0 play goes on -- so round 2 runs with a finished lane."""
    def follower(name, values):
        return Follower(name=name, fields=[TypeField(name="value", kind="scalar")],
                        type_labels=[f"v={v:g}" for v in values], type_values={"value": values},
                        action_name="none", action_labels=["none"], action_values=[None])

    def quasi_linear(i):
        return Binary(op="-", left=Outcome(what="worth", agent=Const(value=i)),
                      right=Outcome(what="paid", agent=Const(value=i)))

    model = Model(
        name="choose_then_rounds", items=[Item(name="good")],
        followers=[follower("f0", [0.0, 1.0]), follower("f1", [1.0])], prior=[0.5, 0.5],
        leader=Leader(choices=[Choice(name="c", kind="label", labels=["x", "y", "z"], values=[None] * 3)],
                      rounds=Rounds(price_kind="grid", grid=[0.0], tie_buy=False)),
        utilities=[quasi_linear(0), quasi_linear(1)], objective=ChoiceRef(name="c"),
    )
    ir = build_ir(model)
    action = [2] + [row.index(True) for row in ir.legal[1:]]  # choose z; visit f0 first
    U, V = reference_evaluate(ir, action)
    assert V == [[2.0], [2.0]] and U == [[[0.0], [1.0]], [[1.0], [0.0]]]
    assert_same(ir, action, None)


@settings(max_examples=60 * SCALE, **SETTINGS)
@given(games())
def test_materialized_tree_walk_matches_lazy_walk(game):
    """Walking the networkx tree and walking the lazily expanded game give the same payoffs."""
    ir, action, probs = game.ir, game.action, game.probs
    tree = game_tree(ir, max_nodes=3_000)
    if tree is None:
        return
    assert reference_evaluate(ir, action, probs, tree=tree) == reference_evaluate(ir, action, probs)
    assert tree.number_of_nodes() == tree.number_of_edges() + 1
    assert all(tree.out_degree(u) == 0 for u, k in tree.nodes(data="kind") if k == "terminal")


@settings(max_examples=40 * SCALE, **SETTINGS)
@given(models())
def test_collapsed_graph_connects_start_every_set_and_end(model):
    ir = build_ir(model)
    g = collapsed_graph(ir)
    assert nx.descendants(g, "start") == set(range(ir.n_infosets)) | {"end"}
    assert all(nx.has_path(g, s, "end") for s in range(ir.n_infosets))
    dot = to_dot(g)
    assert len(re.findall(r"^  n\d+ \[label=", dot, flags=re.M)) == ir.n_infosets + 2
    assert len(re.findall(r"^  n\d+ -> n\d+ ", dot, flags=re.M)) == g.number_of_edges()


# ---------------------------------------------------------------------------
# regret == 0 exactly at pure Bayes-Nash equilibria
# ---------------------------------------------------------------------------


def deviation_values(ir: GameIR, U, profile: list[list[int]], i: int, ti: int):
    """Follower i's expected payoff, with type t_i, for each of its actions, over the prior
    given t_i and the others' pure play `profile[j][t_j]`; None when t_i has probability 0."""
    tprofs = list(itertools.product(*[range(c) for c in ir.type_counts]))
    strides = [math.prod(ir.action_counts[j + 1:]) for j in range(ir.n_followers)]
    mass = sum(ir.prior[t] for t, prof in enumerate(tprofs) if prof[i] == ti)
    if mass == 0:
        return None
    out = []
    for dev in range(ir.action_counts[i]):
        total = 0.0
        for t, prof in enumerate(tprofs):
            if prof[i] == ti:
                acts = [dev if j == i else profile[j][prof[j]] for j in range(ir.n_followers)]
                total += ir.prior[t] * U[i][t][sum(x * s for x, s in zip(acts, strides))]
        out.append(total / mass)
    return out


def brute_force_gains(ir: GameIR, U, profile: list[list[int]]) -> list[list[float]]:
    """gain[i][t_i]: the most follower i of type t_i gains by deviating from profile[i][t_i]."""
    gains = []
    for i in range(ir.n_followers):
        row = []
        for ti in range(ir.type_counts[i]):
            vals = deviation_values(ir, U, profile, i, ti)
            row.append(0.0 if vals is None else max(vals) - vals[profile[i][ti]])
        gains.append(row)
    return gains


def _profiles(ir: GameIR, rng: random.Random, limit: int = 48) -> list[list[list[int]]]:
    """All pure strategy profiles when few, else a sample."""
    per = [list(itertools.product(range(a), repeat=t)) for a, t in zip(ir.action_counts, ir.type_counts)]
    if math.prod(len(p) for p in per) <= limit:
        return [[list(s) for s in combo] for combo in itertools.product(*per)]
    return [[list(rng.choice(p)) for p in per] for _ in range(limit)]


def _best_response_profile(ir: GameIR, U, sweeps: int = 10) -> list[list[int]]:
    """Best-response iteration from all-zeros (often ends at an equilibrium)."""
    prof = [[0] * t for t in ir.type_counts]
    for _ in range(sweeps):
        changed = False
        for i in range(ir.n_followers):
            for ti in range(ir.type_counts[i]):
                vals = deviation_values(ir, U, prof, i, ti)
                if vals is not None and max(vals) > vals[prof[i][ti]] + 1e-9:
                    prof[i][ti] = vals.index(max(vals))
                    changed = True
        if not changed:
            break
    return prof


def test_regret_known_values():
    """The leader plays row B of MAINTAIN; the follower earns 0, 5, 0 by column: column B
    is the unique equilibrium, column A regrets 5 and column C regrets 5."""
    from handmade import MAINTAIN, table_model

    ir = build_ir(table_model(MAINTAIN))
    tb, pay = fast(ir, [1], None)
    reg = regret(tb, pay.U.expand(3, -1, -1, -1), pure([torch.tensor([[0], [1], [2]])], tb))
    assert reg[:, 0, 0].tolist() == [5.0, 0.0, 5.0]


@settings(max_examples=100 * SCALE, **SETTINGS)
@given(games(), st.randoms(use_true_random=False))
def test_regret_is_zero_exactly_at_bayes_nash(game, rng):
    ir, action, probs = game.ir, game.action, game.probs
    tb, pay = fast(ir, action, probs)
    U = pay.U[0].tolist()
    profiles = _profiles(ir, rng) + [_best_response_profile(ir, U)]
    B = len(profiles)
    idx = [torch.tensor([p[i] for p in profiles], dtype=torch.long) for i in range(ir.n_followers)]
    reg = regret(tb, pay.U.expand(B, -1, -1, -1), pure(idx, tb))
    seen = set()
    for b, prof in enumerate(profiles):
        gains = brute_force_gains(ir, U, prof)
        is_bne = all(g <= 1e-9 for row in gains for g in row)
        seen.add(is_bne)
        assert (float(reg[b].max()) <= 1e-9) == is_bne, (prof, gains, reg[b])
        for i, row in enumerate(gains):
            for ti, g in enumerate(row):
                assert abs(float(reg[b, i, ti]) - g) <= 1e-9, (prof, i, ti)
    for is_bne in seen:
        event("some profile is a BNE" if is_bne else "some profile is not a BNE")


# ---------------------------------------------------------------------------
# the IR survives JSON
# ---------------------------------------------------------------------------


@settings(max_examples=50 * SCALE, **SETTINGS)
@given(models())
def test_json_round_trip_and_hash(model):
    ir = build_ir(model)
    back = GameIR.from_json(ir.to_json())
    assert back == ir
    assert back.content_hash() == ir.content_hash()
    moved = build_ir(model.model_copy(update={"path": "/somewhere/else.mech"}))
    assert moved.content_hash() == ir.content_hash()
    assert GameIR.from_json(back.to_json(indent=2)).content_hash() == ir.content_hash()
