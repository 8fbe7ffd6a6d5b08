"""The slow, obviously correct evaluator: play the game tree out, one profile at a time.

For every type profile t and follower action profile a, follow the leader's policy
down the tree of `compiler.tree` (its lazily expanded form, or a materialized
`game_tree` passed as ``tree``) and read the terminal's payoffs.  Mixed choose sets
average their children with the policy's probabilities.  Tests hold the fast batched
evaluator (`mechdsl.evaluate`) to this, entry by entry.

>>> from tests.handmade import table_model, MAINTAIN       # doctest: +SKIP
>>> U, V = reference_evaluate(build_ir(table_model(MAINTAIN)), [1])  # doctest: +SKIP
>>> V[0]                                                     # doctest: +SKIP
[30.0, 10.0, 0.0]
"""
from __future__ import annotations

from typing import Optional, Sequence

import networkx as nx

from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.tree import walker


def reference_evaluate(
    ir: GameIR,
    action: Sequence[int],
    probs: Optional[Sequence[Sequence[float]]] = None,
    tree: Optional[nx.DiGraph] = None,
) -> tuple[list[list[list[float]]], list[list[float]]]:
    """U[i][t][a] (follower i's payoff) and V[t][a] (the leader's objective) under the
    leader policy ``action[s]`` (a legal action per information set).

    ``probs[s][k]``: when the IR is mixed and probs are given, choose sets randomize
    with these weights (rows should sum to 1), like `mechdsl.evaluate.Policy.probs`.
    Raises ValueError for interval prices (the tree cannot enumerate them) and for a
    policy that picks an illegal action.
    """
    root, attrs, children = walker(ir, tree)
    action = list(action.tolist() if hasattr(action, "tolist") else action)
    if probs is not None and hasattr(probs, "tolist"):
        probs = probs.tolist()
    randomize = ir.mixed and probs is not None
    n, T, A = ir.n_followers, ir.n_type_profiles, ir.n_action_profiles
    U = [[[0.0] * A for _ in range(T)] for _ in range(n)]
    V = [[0.0] * A for _ in range(T)]

    def expect(node) -> list[float]:
        """Expected (objective, follower payoffs) below a leader-stage node."""
        at = attrs(node)
        if at["kind"] == "terminal":
            return list(at["payoffs"])
        moves = children(node)
        if at["kind"] == "response":
            (_, child), = moves
            return expect(child)
        if at["kind"] != "leader":
            raise ValueError(f"unexpected {at['kind']} node below the leader")
        s = at["infoset"]
        if randomize and ir.infosets[s].kind == "choose":
            total = [0.0] * (n + 1)
            for edge, child in moves:
                w = float(probs[s][edge["action"]])
                if w:
                    total = [x + w * y for x, y in zip(total, expect(child))]
            return total
        for edge, child in moves:
            if edge["action"] == action[s]:
                return expect(child)
        raise ValueError(f"action {action[s]} is not legal at information set {s}")

    def follow(node, t: int, a: int) -> None:
        """Descend the followers' layers, building the action profile index a."""
        at = attrs(node)
        if at["kind"] == "follower":
            count = ir.action_counts[at["player"]]
            for edge, child in children(node):
                follow(child, t, a * count + edge["action"])
            return
        pay = expect(node)
        V[t][a] = pay[0]
        for i in range(n):
            U[i][t][a] = pay[1 + i]

    for edge, child in children(root):
        follow(child, edge["action"], 0)
    return U, V
