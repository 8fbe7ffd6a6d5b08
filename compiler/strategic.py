"""The game as other solvers see it: the leader's reduced pure policies, the followers'
Bayesian strategies (type -> action maps), and the payoffs of both, computed by playing
the tree out with `compiler.reference` -- what `compiler.gambit` writes as .nfg/.efg.

Two games are on offer:

* the *followers' induced game* under a fixed leader policy: the followers are the
  players; the leader's (possibly mixed) play is folded into the payoffs;
* the *Stackelberg game*: the leader's reduced pure policies (an action at every
  information set the policy itself can reach) are its strategies, so a Stackelberg
  solver can commit the leader to one of them, or to a mix.

Pure Python over the tree: no numpy, torch or scipy.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.limits import MAX_EXPORT_POLICIES, MAX_EXPORT_WORK, too_big


@dataclass
class LeaderPolicy:
    """A leader policy over every information set: ``actions[s]`` (a legal action index),
    and for mixed choose sets ``probs[s][k]``; ``source`` says where it came from."""

    actions: list[int]
    probs: Optional[list[list[float]]] = None
    source: str = ""


@dataclass
class Tables:
    """Payoffs under one leader policy: ``V[t][a]`` the leader's objective and
    ``U[i][t][a]`` follower i's utility, for type profile t and action profile a."""

    V: list[list[float]]
    U: list[list[list[float]]]


@dataclass
class Bayes:
    """The followers' side of the game: the type profiles with positive probability,
    each follower's pure strategies (one action per own type) and their labels."""

    ir: GameIR
    types: list[tuple[int, ...]] = field(default_factory=list)  # per positive t: own type of each follower
    t_index: list[int] = field(default_factory=list)  # their index into the prior
    strategies: list[list[tuple[int, ...]]] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)

    def action_profile(self, actions: Sequence[int]) -> int:
        flat = 0
        for a, c in zip(actions, self.ir.action_counts):
            flat = flat * c + a
        return flat

    def expected(self, tables: Tables, profile: Sequence[tuple[int, ...]]) -> list[float]:
        """Ex-ante (objective, utility of each follower) when each follower plays its
        type -> action map in `profile`."""
        ir = self.ir
        out = [0.0] * (ir.n_followers + 1)
        for t, own in zip(self.t_index, self.types):
            a = self.action_profile([s[x] for s, x in zip(profile, own)])
            p = ir.prior[t]
            out[0] += p * tables.V[t][a]
            for i in range(ir.n_followers):
                out[i + 1] += p * tables.U[i][t][a]
        return out


def bayes(ir: GameIR) -> Bayes:
    """Type profiles with positive prior and every follower's pure Bayesian strategies."""
    b = Bayes(ir)
    for t, prof in enumerate(itertools.product(*[range(c) for c in ir.type_counts])):
        if ir.prior[t] > 0:
            b.types.append(prof)
            b.t_index.append(t)
    for f, A, T in zip(ir.model.followers, ir.action_counts, ir.type_counts):
        strats = list(itertools.product(range(A), repeat=T))
        b.strategies.append(strats)
        if T == 1:
            b.labels.append([f.action_labels[s[0]] for s in strats])
        else:
            b.labels.append([", ".join(f"{f.type_labels[x]}: {f.action_labels[a]}" for x, a in enumerate(s))
                             for s in strats])
    return b


def require_finite(ir: GameIR) -> None:
    """Interval prices and continuous choices have no finite tree: nothing to export."""
    if ir.interval is not None:
        raise MechUsageError("prices drawn from an interval give no finite game to export",
                             hint="use a price grid, e.g. `price each item in [0, 0.5, 1]`")
    if ir.continuous:
        raise MechUsageError("a continuous choice gives no finite game to export",
                             hint="choose from a grid, e.g. `choose tau in linspace(0, 10, 21)`")


def tables(ir: GameIR, policy: LeaderPolicy, tree=None) -> Tables:
    """Payoffs of every (type profile, action profile) under `policy` (mixed choose sets
    averaged with its probabilities), played out on the tree."""
    from mechdsl.compiler.reference import reference_evaluate

    require_finite(ir)
    U, V = reference_evaluate(ir, policy.actions, policy.probs, tree=tree)
    return Tables(V=V, U=U)


def materialized(ir: GameIR):
    """The game tree once, with its payoffs, when it is small enough to keep (many
    policies are played out on it); else None (the lazy walk is used)."""
    from mechdsl.compiler.tree import game_tree

    return game_tree(ir, max_nodes=50_000)


# ---------------------------------------------------------------------------
# the leader's reduced pure policies
# ---------------------------------------------------------------------------


def _legal(ir: GameIR, s: int) -> list[int]:
    return [k for k, ok in enumerate(ir.legal[s]) if ok]


def next_sets(ir: GameIR, s: int, k: int) -> list[int]:
    """Information sets action k at s can lead to (after any feasible response)."""
    info = ir.infosets[s]
    if info.kind == "choose":
        nxt = ir.choose_next[s][k] if ir.choose_next[s] else -1
        return [nxt] if nxt >= 0 else []
    agent = ir.round_actions[k][0]
    out = set()
    for b, nxt in enumerate(ir.round_next[s][agent]):
        if nxt >= 0 and all(x <= st for x, st in zip(ir.bundles[b], info.stock)):
            out.add(nxt)
    return sorted(out)


def count_policies(ir: GameIR) -> int:
    """Reduced pure policies, counted as if no information set were reached two ways
    (exact for trees, an upper bound otherwise); Python integers, never overflowing."""
    cap = 10**100  # counts saturate here: the message only needs the order of magnitude
    count = [0] * ir.n_infosets
    for s in range(ir.n_infosets - 1, -1, -1):  # transitions lead to later sets
        count[s] = min(cap, sum(math.prod(count[c] for c in next_sets(ir, s, k)) for k in _legal(ir, s)))
    return min(cap, math.prod(count[r] for r in sorted(set(ir.root))))


def pure_policies(ir: GameIR, limit: int = MAX_EXPORT_POLICIES) -> list[dict[int, int]]:
    """Every reduced pure policy: {information set: action} over the sets it can reach
    itself, depth first (the first is 'first legal action everywhere').  Past `limit`,
    `MechSizeError` at the leader's declaration."""
    total = count_policies(ir)
    if total > limit:
        _too_many_policies(ir, total, limit)
    out: list[dict[int, int]] = []
    stack: list[tuple[dict[int, int], tuple[int, ...]]] = [({}, tuple(sorted(set(ir.root), reverse=True)))]
    while stack:
        assign, todo = stack.pop()
        rest = list(todo)
        while rest and rest[-1] in assign:
            rest.pop()
        if not rest:
            out.append(assign)
            continue
        s = rest.pop()
        for k in reversed(_legal(ir, s)):
            stack.append(({**assign, s: k}, tuple(rest) + tuple(reversed(next_sets(ir, s, k)))))
    return out


def _too_many_policies(ir: GameIR, total: int, limit: int):
    leader = ir.model.leader
    where = leader.choices[0].span if leader.choices else leader.rounds.span if leader.rounds else None
    raise too_big("too many leader pure policies to export the Stackelberg game", total, limit, where,
                  "fix the leader's policy with --policy FILE (e.g. from `mechdsl solve --json`) to export "
                  "the followers' induced game, or make the spec smaller")


def full_actions(ir: GameIR, assign: dict[int, int]) -> LeaderPolicy:
    """A reduced policy as a full action vector (sets it never reaches: first legal action)."""
    actions = [assign.get(s, (_legal(ir, s) or [0])[0]) for s in range(ir.n_infosets)]
    return LeaderPolicy(actions=actions)


def policy_label(ir: GameIR, assign: dict[int, int]) -> str:
    """A reduced policy in words: 'set: action; ...' (just the action with one set)."""
    if len(assign) == 1:
        (s, k), = assign.items()
        return ir.action_labels[s][k]
    return "; ".join(f"{ir.infosets[s].label or f'#{s}'}: {ir.action_labels[s][k]}" for s, k in sorted(assign.items()))


def check_work(ir: GameIR, what: str, amount: int, where=None) -> None:
    """Refuse an export whose payoff table or tree is past `MAX_EXPORT_WORK` cells."""
    if amount > MAX_EXPORT_WORK:
        if where is None and ir.model.followers:
            where = max(ir.model.followers, key=lambda f: len(f.action_labels) ** len(f.type_labels))
        raise too_big(what, amount, MAX_EXPORT_WORK, where,
                      "fix the leader's policy with --policy FILE, or use fewer types, actions or agents: "
                      "each follower's strategies are its actions to the power of its types")


def n_strategy_profiles(ir: GameIR) -> int:
    return math.prod(A ** T for A, T in zip(ir.action_counts, ir.type_counts))
