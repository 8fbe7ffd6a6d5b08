"""The explicit game tree, derived from the IR: for pictures and for the reference evaluator.

The tree reads top to bottom as one play of the game:

    chance (type profile, with its prior probability)
      -> follower 0 decides, then follower 1, ... (simultaneous moves written one after
         another; follower i's information set is (i, own type))
      -> leader nodes, each labelled with its IR information set, one edge per LEGAL action
         (a one-shot choice, or: visit an agent and post a price per item)
      -> in rounds, a response node for the visited agent: one edge, the bundle its type
         takes (the best feasible non-empty bundle, first in ``ir.bundles`` on ties,
         bought when its utility is >= 0, or > 0 under ``ties pass``)
      -> ... -> terminal nodes with ``payoffs`` = (leader objective, follower 0, ..., n-1).

Terminal payoffs come from `compiler.interpreter.value`, a small scalar interpreter
of the resolved expressions written apart from `mechdsl.evaluate` so that the two can
be checked against each other.  While it walks, the tree also checks the IR's transitions
(`round_next`, `choose_next`, legal masks) against the state it tracks itself and
raises `TreeError` on any disagreement.

Prices drawn from an interval cannot be enumerated: `game_tree` returns None for such
games and `compiler.drawing.collapsed_graph` (information sets and transitions) is the
view to show.
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Sequence

from mechdsl.compiler.interpreter import TOL, Scope, checked_payoff, weight, worth
from mechdsl.compiler.ir import GameIR

if TYPE_CHECKING:  # networkx is imported where a tree is built: `check` never needs it
    import networkx as nx

KINDS = ("chance", "follower", "leader", "response", "terminal")
MAX_NODES = 200_000
SUMMARY_NODES = 100_000  # tree_summary counts a tree up to this size (as far as payoff_range walks)
MAX_WALK_WORK = 5_000_000  # payoff_range gives up (keeping interval bounds) past this many steps


class TreeError(ValueError):
    """The IR's transitions disagree with the game the tree plays out (a compiler bug)."""


# ---------------------------------------------------------------------------
# the game, one node at a time
# ---------------------------------------------------------------------------


class _State(NamedTuple):
    """Where play stands; the tree's nodes are these, expanded by `_Game.children`
    (a named tuple: `_replace` is cheap, and a walk makes hundreds of thousands)."""

    kind: str
    types: tuple[int, ...] = ()
    actions: tuple[int, ...] = ()  # follower actions chosen so far
    infoset: int = -1  # leader and response nodes: the IR information set
    choice: int = -1  # the choose action taken (-1: none)
    visited: tuple[int, ...] = ()
    alloc: tuple[tuple[int, ...], ...] = ()
    paid: tuple[float, ...] = ()
    stock: tuple[int, ...] = ()
    agent: int = -1  # response nodes: who was visited
    prices: tuple[float, ...] = ()  # response nodes: the cost of each bundle (0 for the empty one)


Edge = dict  # label, action (the index the move picks), prob (chance edges)


class _Game:
    """The game tree implied by the IR, expanded lazily (shared by `game_tree` and the
    reference evaluator, so both play exactly the same game)."""

    def __init__(self, ir: GameIR):
        if ir.continuous:
            raise ValueError("the game tree cannot enumerate prices drawn from an interval")
        self.ir = ir
        self.model = ir.model
        self.n, self.m = ir.n_followers, ir.n_items
        self.type_profiles = list(itertools.product(*[range(c) for c in ir.type_counts]))
        self.units = tuple(it.units for it in self.model.items)
        self._worth: dict[tuple[int, int], list[float]] = {}
        self._legal = [[k for k, ok in enumerate(row) if ok] for row in ir.legal]
        self._took = ["takes " + (", ".join(it.name for it, x in zip(self.model.items, b) if x) or "nothing")
                      for b in ir.bundles]

    # -- helpers -----------------------------------------------------------------
    def action_profile(self, actions: Sequence[int]) -> int:
        flat = 0
        for a, c in zip(actions, self.ir.action_counts):
            flat = flat * c + a
        return flat

    def _fresh(self, st: _State, infoset: int, choice: int) -> _State:
        n, m = self.n, self.m
        rounds = self.model.leader.rounds
        order = rounds.order if rounds is not None and rounds.order else range(n)
        return st._replace(  # agents left out of a visiting order count as visited
            kind="leader", infoset=infoset, choice=choice, visited=tuple(0 if i in order else 1 for i in range(n)),
            alloc=((0,) * m,) * n, paid=(0.0,) * n, stock=self.units,
        )

    def _check(self, st: _State) -> None:
        """The IR's information set must describe the state the tree reached."""
        info = self.ir.infosets[st.infoset]
        cls = self.ir.obs_class[self.action_profile(st.actions)]
        ok = info.cls == cls
        if info.kind == "round":
            rounds = self.model.leader.rounds
            ok = ok and info.choice == st.choice and tuple(info.visited) == st.visited
            ok = ok and tuple(info.stock) == st.stock
            if rounds.observe_allocation:
                ok = ok and tuple(tuple(r) for r in info.alloc) == st.alloc
        elif st.choice != -1:
            ok = False
        if not ok:
            raise TreeError(f"information set {st.infoset} ({info.label}) does not match the play {st}")

    def _end(self, st: _State) -> _State:
        return st._replace(kind="terminal", infoset=-1, agent=-1, prices=())

    def _after_followers(self, st: _State) -> _State:
        s = self.ir.root[self.ir.obs_class[self.action_profile(st.actions)]]
        nxt = self._fresh(st, s, -1)
        self._check(nxt)
        return nxt

    def response(self, st: _State) -> int:
        """The bundle the visited agent takes: best feasible non-empty bundle (first on
        ties), bought iff its utility is >= 0 (> 0 under `ties pass`); else bundle 0."""
        rounds = self.model.leader.rounds
        i = st.agent
        key = (i, st.types[i])
        if key not in self._worth:  # worth of every bundle to this agent and type, computed once
            self._worth[key] = [worth(self.model, i, st.types[i], bundle) for bundle in self.ir.bundles]
        worths = self._worth[key]
        best, best_u = 0, -math.inf
        for b, bundle in enumerate(self.ir.bundles):
            if b == 0 or any(x > s for x, s in zip(bundle, st.stock)):
                continue
            u = worths[b] - st.prices[b]
            if u > best_u:
                best, best_u = b, u
        buys = best_u >= -TOL if rounds.tie_buy else best_u > TOL
        return best if best and buys else 0

    # -- the tree ----------------------------------------------------------------
    def root(self) -> _State:
        return _State(kind="chance")

    def payoffs(self, st: _State) -> tuple[float, ...]:
        """(objective, utility of each follower) at a terminal; a payoff that is not a
        finite number there is a `MechSemanticError` at the operation at fault."""
        choice = tuple(self.ir.choose_actions[st.choice]) if st.choice >= 0 else None
        sc = Scope(self.model, st.types, st.actions, choice, st.alloc, st.paid)
        out = []
        for k, e in enumerate([self.model.objective, *self.model.utilities]):
            x = checked_payoff(self.model, k, e, sc, lambda: self.describe(st))
            out.append(x)
        return tuple(out)

    def describe(self, st: _State) -> str:
        """When `st` is reached, in words (types, actions, the leader's choice)."""
        model = self.model
        parts = [f"{f.name} has type {f.type_labels[t]}" for f, t in zip(model.followers, st.types)
                 if len(f.type_labels) > 1]
        parts += [f"{f.name}.{f.action_name}={f.action_labels[a]}" for f, a in zip(model.followers, st.actions)
                  if len(f.action_labels) > 1]
        if st.choice >= 0:
            parts += [f"{c.name}={c.labels[v]}" for c, v in zip(model.leader.choices, self.ir.choose_actions[st.choice])]
        if model.leader.rounds is not None and any(st.paid):
            parts.append("after the rounds, paid " + ", ".join(f"{p:g}" for p in st.paid))
        text = "when " + ", ".join(parts) if parts else "in some play of the game"
        return text if len(text) <= 300 else text[:297] + "..."

    def node_attrs(self, st: _State) -> dict:
        model = self.model
        if st.kind == "chance":
            return {"kind": "chance", "label": "types"}
        if st.kind == "follower":
            i = len(st.actions)
            f = model.followers[i]
            return {
                "kind": "follower", "player": i, "infoset": (i, st.types[i]),
                "label": f"{f.name} [{f.type_labels[st.types[i]]}]",
            }
        if st.kind == "leader":
            return {"kind": "leader", "infoset": st.infoset, "label": self.ir.infosets[st.infoset].label}
        if st.kind == "response":
            f = model.followers[st.agent]
            if model.leader.rounds.bundle_prices:
                names = ["+".join(it.name for it, x in zip(model.items, b) if x) for b in self.ir.bundles[1:]]
                at = ", ".join(f"{name}={p:g}" for name, p in zip(names, st.prices[1:]))
            else:  # the singletons come first, in item order: their costs are the item prices
                at = ", ".join(f"{it.name}={p:g}" for it, p in zip(model.items, st.prices[1:]))
            return {"kind": "response", "agent": st.agent, "label": f"{f.name} at {at}"}
        pay = self.payoffs(st)
        return {"kind": "terminal", "payoffs": pay, "label": "(" + ", ".join(f"{x:g}" for x in pay) + ")"}

    def children(self, st: _State) -> list[tuple[Edge, _State]]:
        ir, model = self.ir, self.model
        if st.kind == "chance":
            out = []
            for t, prof in enumerate(self.type_profiles):
                label = ", ".join(f"{f.name}:{f.type_labels[x]}" for f, x in zip(model.followers, prof))
                child = st._replace(kind="follower", types=prof)
                out.append(({"label": label, "action": t, "prob": ir.prior[t]},
                            child if self.n else self._after_followers(child)))
            return out
        if st.kind == "follower":
            f = model.followers[len(st.actions)]
            out = []
            for a, label in enumerate(f.action_labels):
                child = st._replace(actions=st.actions + (a,))
                if len(child.actions) == self.n:
                    child = self._after_followers(child)
                out.append(({"label": label, "action": a}, child))
            return out
        if st.kind == "leader":
            return self._leader_moves(st)
        if st.kind == "response":
            return [self._respond(st)]
        return []

    def _leader_moves(self, st: _State) -> list[tuple[Edge, _State]]:
        ir = self.ir
        s = st.infoset
        info = ir.infosets[s]
        out = []
        for k in self._legal[s]:
            edge = {"label": ir.action_labels[s][k], "action": k}
            if info.kind == "choose":
                nxt = ir.choose_next[s][k] if ir.choose_next[s] else -1
                if nxt < 0:
                    if self.model.leader.rounds is not None:
                        raise TreeError(f"choose set {s} ends the game before the rounds")
                    out.append((edge, self._end(st._replace(choice=k))))
                else:
                    child = self._fresh(st, nxt, k)
                    self._check(child)
                    out.append((edge, child))
                continue
            agent, pidx = ir.round_actions[k]
            if st.visited[agent]:
                raise TreeError(f"information set {s} lets the leader visit {agent} twice")
            prices = tuple(ir.price_grid[p] for p in pidx)
            if not self.model.leader.rounds.bundle_prices:  # the cost of each bundle: its items' prices
                prices = tuple(sum(p * x for p, x in zip(prices, b)) for b in ir.bundles[1:])
            prices = (0.0,) + prices
            out.append((edge, st._replace(kind="response", agent=agent, prices=prices)))
        return out

    def _respond(self, st: _State) -> tuple[Edge, _State]:
        ir = self.ir
        i = st.agent
        b = self.response(st)
        bundle = ir.bundles[b]
        visited = st.visited[:i] + (1,) + st.visited[i + 1:]
        alloc = st.alloc[:i] + (tuple(h + x for h, x in zip(st.alloc[i], bundle)),) + st.alloc[i + 1:]
        spent = st.prices[b]
        paid = st.paid[:i] + (st.paid[i] + spent,) + st.paid[i + 1:]
        stock = tuple(s - x for s, x in zip(st.stock, bundle))
        nxt = ir.round_next[st.infoset][i][b]
        over = all(visited) or not any(stock)
        if (nxt < 0) != over:
            raise TreeError(f"round_next[{st.infoset}][{i}][{b}] = {nxt}, but play is {'over' if over else 'not over'}")
        edge = {"label": self._took[b], "action": b}
        child = st._replace(visited=visited, alloc=alloc, paid=paid, stock=stock, agent=-1, prices=())
        if nxt < 0:
            return edge, self._end(child)
        child = child._replace(kind="leader", infoset=nxt)
        self._check(child)
        return edge, child


# ---------------------------------------------------------------------------
# public views
# ---------------------------------------------------------------------------


def _size_floor(ir: GameIR) -> int:
    """Nodes every tree of this IR has at least -- so hopeless sizes are refused without
    building anything.  Below each leader information set the tree has at least one node
    per legal move and, after a visit, the smallest subtree any response leads to."""
    below = [0] * ir.n_infosets  # the fewest nodes of a subtree rooted at this information set
    for s in range(ir.n_infosets - 1, -1, -1):  # transitions always lead to later sets
        total = 1
        info = ir.infosets[s]
        after: dict[int, int] = {}  # per visited agent: the smallest subtree after its response
        for k, ok in enumerate(ir.legal[s]):
            if not ok:
                continue
            if info.kind == "choose":
                nxt = ir.choose_next[s][k] if ir.choose_next[s] else -1
                total += 1 if nxt < 0 else below[nxt]
            else:
                agent = ir.round_actions[k][0]
                if agent not in after:
                    row = ir.round_next[s][agent] if ir.round_next[s] else []
                    after[agent] = min((1 if x < 0 else below[x] for x in row), default=1)
                total += 1 + after[agent]
        below[s] = total
    T = ir.n_type_profiles
    layers = sum(math.prod(ir.action_counts[:i]) for i in range(ir.n_followers))
    return 1 + T * layers + T * sum(below[ir.root[c]] for c in ir.obs_class)


def game_tree(ir: GameIR, max_nodes: int = MAX_NODES) -> Optional[nx.DiGraph]:
    """The full extensive-form tree (nodes numbered breadth first, root 0), or None when
    it has more than `max_nodes` nodes or prices come from an interval.

    Node attributes: ``kind`` (chance/follower/leader/response/terminal), ``label``,
    ``depth``; followers ``player`` and ``infoset`` = (i, own type); leader nodes
    ``infoset`` (IR id); response nodes ``agent``; terminals ``payoffs`` (objective,
    then each follower).  Edge attributes: ``label``, ``action`` (type-profile index,
    action index, policy column, or bundle index), chance edges ``prob``.
    """
    if ir.continuous or _size_floor(ir) > max_nodes:
        return None
    import networkx as nx

    game = _Game(ir)
    g = nx.DiGraph()
    root = game.root()
    g.add_node(0, depth=0, **game.node_attrs(root))
    queue = deque([(0, root)])
    while queue:
        u, st = queue.popleft()
        depth = g.nodes[u]["depth"] + 1
        for edge, child in game.children(st):
            v = g.number_of_nodes()
            if v >= max_nodes:
                return None
            g.add_node(v, depth=depth, **game.node_attrs(child))
            g.add_edge(u, v, **edge)
            queue.append((v, child))
    return g


def tree_summary(ir: GameIR, max_nodes: int = SUMMARY_NODES) -> dict:
    """Node counts by kind and depth of the full tree, or the collapsed graph's size
    (``view == "collapsed"``, with the reason) when the tree cannot be drawn.  Counts
    the lazily expanded tree: nothing is stored and no payoff is computed."""
    counts = dict.fromkeys(KINDS, 0)
    depth = 0
    if not ir.continuous and _size_floor(ir) <= max_nodes:
        game = _Game(ir)
        stack = [(game.root(), 0)]
        while stack and sum(counts.values()) <= max_nodes:
            st, d = stack.pop()
            counts[st.kind] += 1
            depth = max(depth, d)
            stack.extend((child, d + 1) for _, child in game.children(st))
    nodes = sum(counts.values())
    if not nodes or nodes > max_nodes:
        from mechdsl.compiler.drawing import collapsed_size

        n_nodes, n_edges = collapsed_size(ir)
        reason = ("interval prices" if ir.interval is not None else "a continuous choice") if ir.continuous else f"more than {max_nodes} nodes"
        return {"view": "collapsed", "reason": reason, "infosets": ir.n_infosets, "nodes": n_nodes, "edges": n_edges}
    return {"view": "tree", "nodes": nodes, "edges": nodes - 1, "by_kind": counts, "depth": depth}


# ---------------------------------------------------------------------------
# access to either form of the tree, for the reference evaluator
# ---------------------------------------------------------------------------


def walker(ir: GameIR, tree: Optional[nx.DiGraph] = None):
    """(root, node_attrs, children) over the lazily expanded tree, or over a
    materialized `game_tree` when one is given."""
    if tree is None:
        game = _Game(ir)
        return game.root(), game.node_attrs, game.children
    root = next(u for u, d in tree.in_degree() if d == 0)
    attrs: Callable = lambda u: tree.nodes[u]
    children: Callable = lambda u: [(tree.edges[u, v], v) for v in tree.successors(u)]
    return root, attrs, children


def payoff_range(ir: GameIR, max_nodes: int = 100_000) -> Optional[list[tuple[float, float]]]:
    """The exact [lo, hi] of the objective and of each follower's utility over every play
    of the game (all types, actions and leader moves), or None when the game has more
    than `max_nodes` nodes or continuous prices.  Tighter than interval arithmetic, so
    normalized payoffs fill [0, 1] and the followers' dynamics move at the declared pace."""
    if ir.continuous or _size_floor(ir) > max_nodes:
        return None
    game = _Game(ir)
    model = ir.model
    per_terminal = sum(weight(e, model) for e in [model.objective, *model.utilities])
    per_response = len(ir.bundles) * (ir.n_items + 1)
    lo: list[float] = []
    hi: list[float] = []
    stack = [game.root()]
    seen = work = 0
    while stack:
        st = stack.pop()
        seen += 1
        work += per_terminal if st.kind == "terminal" else per_response if st.kind == "response" else 1
        if seen > max_nodes or work > MAX_WALK_WORK:
            return None
        if st.kind == "terminal":
            pay = game.payoffs(st)
            if not lo:
                lo, hi = list(pay), list(pay)
            else:
                lo = [min(a, b) for a, b in zip(lo, pay)]
                hi = [max(a, b) for a, b in zip(hi, pay)]
            continue
        stack.extend(child for _, child in game.children(st))
    return list(zip(lo, hi)) if lo else None
