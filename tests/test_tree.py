"""The explicit game tree (`compiler.tree`) and the reference evaluator on hand-built models.

Node counts are derived by hand in each test's docstring, so a change in the tree's
shape has to be argued, not just re-recorded.
"""
from __future__ import annotations

import random
import re

import pytest
import torch

from mechdsl.compiler.build import build_ir
from mechdsl.compiler.drawing import collapsed_graph, to_dot
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.model import Rounds
from mechdsl.compiler.reference import reference_evaluate
from mechdsl.compiler.tree import KINDS, TreeError, game_tree, tree_summary
from handmade import ESCAPE, MAINTAIN, alloc_model, spm_model, table_model
from mechdsl.evaluate import Policy, Tables, evaluate

NODE = re.compile(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)", shape=\w+(?:, style=\w+)?\];$')
EDGE = re.compile(r'^  (n\d+) -> (n\d+) \[label="((?:[^"\\]|\\.)*)"\];$')


def parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Our DOT subset back into (node id -> label, edges); fails on any other line."""
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := NODE.match(line):
            nodes[m[1]] = m[2]
        elif m := EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        else:
            raise AssertionError(f"unexpected DOT line {line!r}")
    assert all(u in nodes and v in nodes for u, v, _ in edges)
    return nodes, edges


def unescape(label: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], label)


def first_legal(ir: GameIR) -> list[int]:
    return [row.index(True) for row in ir.legal]


def random_legal(ir: GameIR, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([k for k, ok in enumerate(row) if ok]) for row in ir.legal]


def fast(ir: GameIR, action, probs=None):
    pol = Policy(
        action=torch.tensor([action]),
        probs=torch.tensor([probs], dtype=torch.float64) if probs is not None else None,
    )
    return evaluate(Tables(ir), pol)


def spm_interval() -> GameIR:
    model = spm_model()
    model.leader.rounds = Rounds(price_kind="interval", low=0.0, high=3.0)
    return build_ir(model)


# ---------------------------------------------------------------------------
# shape of the tree
# ---------------------------------------------------------------------------


def test_table_game_tree() -> None:
    """1 chance + 1 follower (one type) + 3 leader nodes (one per column) + 3 x 3 terminals;
    the terminal under (column c, row r) carries (leader, follower) = MAINTAIN[r][c]."""
    ir = build_ir(table_model(MAINTAIN))
    g = game_tree(ir)
    assert tree_summary(ir) == {
        "view": "tree", "nodes": 14, "edges": 13, "depth": 3,
        "by_kind": {"chance": 1, "follower": 1, "leader": 3, "response": 0, "terminal": 9},
    }
    for leader in (u for u, k in g.nodes(data="kind") if k == "leader"):
        (follower,) = g.predecessors(leader)
        col = g.edges[follower, leader]["action"]
        assert g.nodes[leader]["infoset"] == 0  # the leader observes nothing
        for term in g.successors(leader):
            row = g.edges[leader, term]["action"]
            assert g.nodes[term]["payoffs"] == tuple(float(x) for x in MAINTAIN[row][col])


def test_allocation_tree_counts() -> None:
    """3 interest types, 2 messages, 3 items to give: 1 + 3 + 3*2 + 3*2*3 = 28 nodes; the
    leader sees the message, so its node under message a is information set a."""
    ir = build_ir(alloc_model(2))
    g = game_tree(ir)
    s = tree_summary(ir)
    assert s["nodes"] == 28 and s["by_kind"]["terminal"] == 18 and s["depth"] == 3
    followers = [d for _, d in g.nodes(data=True) if d["kind"] == "follower"]
    assert sorted(d["infoset"] for d in followers) == [(0, 0), (0, 1), (0, 2)]
    for u, v, d in g.edges(data=True):
        if g.nodes[v]["kind"] == "leader":
            assert g.nodes[v]["infoset"] == ir.root[ir.obs_class[d["action"]]]
    # payoff 1 exactly when the item given is the buyer's interest
    for u, v, d in g.edges(data=True):
        if g.nodes[v]["kind"] == "terminal":
            (follower,) = g.predecessors(u)
            interest = g.edges[0, follower]["action"]
            assert g.nodes[v]["payoffs"] == ((1.0, 1.0) if d["action"] == interest else (0.0, 0.0))


def test_sequential_price_tree_counts_by_hand() -> None:
    """Two bidders (values {0.5, 2.5} and {0, 1}), 2 messages each, one good, prices
    [0, .25, .75, 1.75], ties buy.  Under each of the 16 (type, message) leaves of the
    followers' layers: a leader node with 8 moves (2 agents x 4 prices), 8 responses and
    8 children.  A child is a terminal if the agent bought, else a leader node with 4
    moves, 4 responses, 4 terminals.  Refusals per type profile (a1 refuses .75 and 1.75
    at value .5; a2 refuses .25, .75, 1.75 at 0 and 1.75 at 1): 5, 3, 3, 1 = 12.
    Nodes: 1 + (4 + 8) + 4 messages x (4 x 17 + 8 x 12) = 669; terminals
    4 x (4 x 8 + 3 x 12) = 272; leader nodes 16 + 4 x 12 = 64; depth 7."""
    ir = build_ir(spm_model())
    s = tree_summary(ir)
    assert s == {
        "view": "tree", "nodes": 669, "edges": 668, "depth": 7,
        "by_kind": {"chance": 1, "follower": 12, "leader": 64, "response": 320, "terminal": 272},
    }


def test_leader_nodes_offer_exactly_the_legal_actions() -> None:
    for model in (spm_model(), alloc_model(3), table_model(ESCAPE)):
        ir = build_ir(model)
        g = game_tree(ir)
        for u, d in g.nodes(data=True):
            if d["kind"] == "leader":
                moves = sorted(g.edges[u, v]["action"] for v in g.successors(u))
                assert moves == [k for k, ok in enumerate(ir.legal[d["infoset"]]) if ok]
            if d["kind"] == "response":
                assert g.out_degree(u) == 1
            if d["kind"] == "chance":
                assert sum(g.edges[u, v]["prob"] for v in g.successors(u)) == pytest.approx(1.0)
        assert set(k for _, k in g.nodes(data="kind")) <= set(KINDS)


def test_too_large_or_interval_falls_back_to_collapsed() -> None:
    ir = build_ir(spm_model())
    assert game_tree(ir, max_nodes=668) is None
    assert game_tree(ir, max_nodes=669) is not None
    small = tree_summary(ir, max_nodes=100)
    assert small["view"] == "collapsed" and small["reason"] == "more than 100 nodes"
    iv = spm_interval()
    assert game_tree(iv) is None
    assert tree_summary(iv)["reason"] == "interval prices"
    with pytest.raises(ValueError, match="interval"):
        reference_evaluate(iv, first_legal(iv))


# ---------------------------------------------------------------------------
# collapsed graph and DOT
# ---------------------------------------------------------------------------


def test_collapsed_graph_of_sequential_prices() -> None:
    """4 message classes x (one first-round set + one second-round set per first agent) = 12
    information sets, plus start and end.  Every set is reached from start and reaches end."""
    import networkx as nx

    ir = build_ir(spm_model())
    g = collapsed_graph(ir)
    assert g.number_of_nodes() == 12 + 2
    reach = nx.descendants(g, "start")
    assert reach == set(range(12)) | {"end"}
    assert all(nx.has_path(g, s, "end") for s in range(12))
    first = ir.root[0]
    labels = {v: d["labels"] for _, v, d in g.out_edges(first, data=True)}
    assert sorted(labels["end"]) == ["a1 takes good", "a2 takes good"]
    assert tree_summary(ir, max_nodes=10)["nodes"] == 14
    iv = spm_interval()
    assert collapsed_graph(iv).number_of_nodes() == iv.n_infosets + 2


def test_dot_of_tree_parses_with_expected_counts() -> None:
    ir = build_ir(alloc_model(2))
    nodes, edges = parse_dot(to_dot(game_tree(ir)))
    assert len(nodes) == 28 and len(edges) == 27
    assert sum(1 for label in nodes.values() if label.startswith("(")) == 18  # terminals
    nodes, edges = parse_dot(to_dot(collapsed_graph(build_ir(spm_model()))))
    assert len(nodes) == 14 and len(edges) == 4 + 12 + 8


def test_dot_escapes_quotes_backslashes_newlines() -> None:
    import networkx as nx

    g = nx.DiGraph()
    tricky = 'say "hi" \\ then\nleave'
    g.add_node("a", kind="leader", label=tricky)
    g.add_node('b"', kind="terminal")
    g.add_edge("a", 'b"', label='x="1"')
    nodes, edges = parse_dot(to_dot(g, name='my "game"'))
    assert unescape(nodes["n0"]) == tricky
    assert unescape(nodes["n1"]) == 'b"'
    assert unescape(edges[0][2]) == 'x="1"'


# ---------------------------------------------------------------------------
# reference evaluator
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: table_model(MAINTAIN), lambda: table_model(ESCAPE),
                                  lambda: alloc_model(3), lambda: spm_model(), lambda: spm_model(M=1)],
                         ids=["maintain", "escape", "alloc", "spm", "spm1"])
def test_reference_matches_evaluate_on_handmade_models(make) -> None:
    ir = build_ir(make())
    tree = game_tree(ir)
    for seed in range(5):
        action = first_legal(ir) if seed == 0 else random_legal(ir, seed)
        U, V = reference_evaluate(ir, action)
        assert (U, V) == reference_evaluate(ir, action, tree=tree)
        pay = fast(ir, action)
        assert torch.allclose(pay.U[0], torch.tensor(U, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(pay.V[0], torch.tensor(V, dtype=torch.float64), atol=1e-12)


def test_reference_known_values() -> None:
    """Row B of MAINTAIN pays (30, 0), (10, 5), (0, 0) by column; a 1/2-1/2 mix of rows A
    and C pays the leader (20+0)/2, (0+0)/2, (0+5)/2 and the follower 7.5, 0, 5."""
    ir = build_ir(table_model(MAINTAIN))
    U, V = reference_evaluate(ir, [1])
    assert V == [[30.0, 10.0, 0.0]] and U == [[[0.0, 5.0, 0.0]]]
    mixed = build_ir(table_model(MAINTAIN, mixed=True))
    U, V = reference_evaluate(mixed, [0], probs=[[0.5, 0.0, 0.5]])
    assert V == [[10.0, 0.0, 2.5]] and U == [[[7.5, 0.0, 5.0]]]
    pay = fast(mixed, [0], [[0.5, 0.0, 0.5]])
    assert pay.V[0].tolist() == V and pay.U[0].tolist() == U


def test_reference_rejects_illegal_actions() -> None:
    ir = build_ir(spm_model())
    action = first_legal(ir)
    action[ir.root[0]] = 3  # visit a1 at 1.75: it refuses, a2 is next
    second = next(s.id for s in ir.infosets if s.cls == 0 and s.visited == [1, 0])
    action[second] = ir.legal[second].index(False)  # visit a1 again
    with pytest.raises(ValueError, match="not legal"):
        reference_evaluate(ir, action)


def test_tree_checks_the_ir_transitions() -> None:
    """A corrupted round_next (agent a1 refuses, but play jumps to another class's set)
    is caught while the tree is played out."""
    ir = build_ir(spm_model())
    bad = ir.model_copy(deep=True)
    s0 = ir.root[0]
    bad.round_next[s0][0][0] = ir.root[1]
    action = first_legal(bad)
    action[s0] = 3  # visit a1 at 1.75: both of its types refuse
    with pytest.raises(TreeError):
        reference_evaluate(bad, action)
    with pytest.raises(TreeError):
        game_tree(bad)


# ---------------------------------------------------------------------------
# the IR as data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: table_model(MAINTAIN, mixed=True), lambda: alloc_model(2),
                                  lambda: spm_model(), lambda: spm_model().model_copy()],
                         ids=["maintain_mixed", "alloc", "spm", "spm_copy"])
def test_json_round_trip_and_content_hash(make) -> None:
    ir = build_ir(make())
    back = GameIR.from_json(ir.to_json())
    assert back == ir
    assert back.content_hash() == ir.content_hash()
    for path in ("/a/b.mech", "relative/c.mech"):
        moved = ir.model_copy(update={"model": ir.model.model_copy(update={"path": path})})
        assert moved.content_hash() == ir.content_hash()


def test_content_hash_sees_meaning() -> None:
    assert build_ir(table_model(MAINTAIN)).content_hash() != build_ir(table_model(ESCAPE)).content_hash()
    assert build_ir(spm_model(eps=0.2)).content_hash() != build_ir(spm_model(eps=0.25)).content_hash()
