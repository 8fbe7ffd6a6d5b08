"""Gambit's game files: `.nfg` (strategic form) and `.efg` (extensive form), written from
`compiler.strategic`.

With a leader policy (``mechdsl compile --policy FILE``) the file is the *followers'
induced game*: the followers are the players, the leader's play under the policy is
folded into the payoffs (averaged where it mixes), and each outcome's label carries the
leader's objective.  The .efg is the Bayesian game as a tree (a chance node draws the type
profile with its prior, then each follower moves, knowing only its own type); the .nfg
is its ex-ante strategic form (a strategy maps each own type to an action; payoffs
are expectations over the prior).

Without a policy the file is the *Stackelberg game* over the leader's reduced pure
policies (player 1, "leader"), whose payoff is the objective.  The .efg has the leader
commit first, then chance draws types, then the followers move, seeing the commitment and
their own type: its subgame-perfect equilibria are the Stackelberg equilibria in pure
commitments (with followers at a Bayes-Nash equilibrium).  The .nfg is the same game
with every player choosing at once: commit the leader to a row (or a mix of rows) with a
Stackelberg solver; a plain Nash solver ignores the commitment.

Numbers are exact where they can be: a float within 1e-14 (relative) of a fraction with
denominator at most 10^5 is written as that fraction (17/9, not 1.88889; 0.1 + 0.2 as
3/10); any other float as its shortest decimal.

Format: NFG 1 R "title" { players } { { strategies } ... } "comment", then the payoffs
of each strategy profile, player 1's strategy changing fastest; EFG 2 R "title" { players }
"comment", then the nodes in depth-first order: ``c`` chance (probabilities), ``p``
personal (player, information set number within that player), ``t`` terminal
(outcome number, label, payoffs in player order).
"""
from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction
from typing import Optional

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.strategic import (
    Bayes, LeaderPolicy, Tables, bayes, check_work, full_actions, materialized, n_strategy_profiles,
    policy_label, pure_policies, require_finite, tables,
)

FORMATS = ("nfg", "efg")


def num(x: float) -> str:
    """A number as Gambit reads it: a small fraction when one is within float noise,
    else a plain decimal (no exponent)."""
    x = float(x)
    f = Fraction(x).limit_denominator(10**5)
    if abs(float(f) - x) <= 1e-14 * max(1.0, abs(x)):
        return str(f)
    return format(Decimal(repr(x)), "f")


def quote(text) -> str:
    s = str(text).replace("\\", "/").replace('"', "'").replace("\n", " ").replace("\r", " ")
    return f'"{s}"'


def _probabilities(ir: GameIR, b: Bayes) -> list[str]:
    """The prior of the positive type profiles as exact fractions summing to 1."""
    fr = [Fraction(ir.prior[t]).limit_denominator(10**9) for t in b.t_index]
    fr[-1] = 1 - sum(fr[:-1])
    return [str(f) for f in fr]


def _players(ir: GameIR) -> int:
    """How many followers are players: all but the chance state (the last follower, one
    action), which the chance node draws with the types and which moves nowhere."""
    return len(ir.model.people)


def _with_chance(ir: GameIR, b: Bayes, profile: list) -> list:
    """A profile of the players' strategies, completed with the chance state's only one."""
    return profile + [b.strategies[-1][0]] if ir.model.chance is not None else profile


def _type_label(ir: GameIR, own: tuple[int, ...]) -> str:
    return ", ".join(f"{f.name}:{f.type_labels[x]}" for f, x in zip(ir.model.followers, own))


def export(ir: GameIR, fmt: str, policy: Optional[LeaderPolicy] = None) -> str:
    """The .nfg or .efg text: the followers' induced game under `policy`, or the
    Stackelberg game over the leader's pure policies when `policy` is None."""
    require_finite(ir)
    if fmt not in FORMATS:
        raise MechUsageError(f"unknown export format {fmt!r}", hint="use nfg or efg")
    if policy is None:
        return stackelberg_nfg(ir) if fmt == "nfg" else stackelberg_efg(ir)
    if not ir.n_followers:
        raise MechUsageError("the spec has no followers: the induced game has no players",
                             hint="export the leader's decision problem without --policy")
    return induced_nfg(ir, policy) if fmt == "nfg" else induced_efg(ir, policy)


# ---------------------------------------------------------------------------
# strategic form
# ---------------------------------------------------------------------------


def _nfg(title: str, comment: str, players: list[str], labels: list[list[str]], rows) -> str:
    """NFG 1 R text; `rows` yields each profile's payoffs, player 1 fastest."""
    out = [f"NFG 1 R {quote(title)} {{ {' '.join(quote(p) for p in players)} }}", "{"]
    out += ["{ " + " ".join(quote(s) for s in strats) + " }" for strats in labels]
    out += ["}", quote(comment), ""]
    out += [" ".join(num(x) for x in pay) for pay in rows]
    return "\n".join(out) + "\n"


def _profiles(counts: list[int]):
    """Strategy index profiles, player 1 changing fastest (Gambit's order)."""
    for combo in itertools.product(*[range(c) for c in reversed(counts)]):
        yield combo[::-1]


def induced_nfg(ir: GameIR, policy: LeaderPolicy) -> str:
    b = bayes(ir)
    check_work(ir, "the followers' strategic form is too large to export (strategy profiles x type profiles)",
               n_strategy_profiles(ir) * len(b.types))
    tb = tables(ir, policy)

    n = _players(ir)

    def rows():
        for idx in _profiles([len(s) for s in b.strategies[:n]]):
            yield b.expected(tb, _with_chance(ir, b, [b.strategies[i][j] for i, j in enumerate(idx)]))[1:n + 1]

    comment = (f"Followers' induced game of {ir.model.name} under the leader policy {policy.source or 'given'}: "
               "ex-ante strategic form of the Bayesian game (a strategy maps each own type to an action; "
               "payoffs are expected utilities over the prior). Written by mechdsl.")
    return _nfg(ir.model.name, comment, [f.name for f in ir.model.followers[:n]], b.labels[:n], rows())


def _policies(ir: GameIR, cells_per_policy: int, what: str) -> tuple[list[dict[int, int]], list[Tables]]:
    """Every reduced pure policy and its payoff tables (the tree walked once per policy),
    refused before any walk when the policies times `cells_per_policy` are too many."""
    assigns = pure_policies(ir)
    check_work(ir, what, len(assigns) * cells_per_policy)
    tree = materialized(ir)
    per_policy = tree.number_of_nodes() if tree is not None else 50_000
    check_work(ir, "the Stackelberg game is too large to export (policies x tree nodes)", len(assigns) * per_policy)
    return assigns, [tables(ir, full_actions(ir, a), tree) for a in assigns]


def stackelberg_nfg(ir: GameIR) -> str:
    b = bayes(ir)
    assigns, tbs = _policies(ir, n_strategy_profiles(ir) * len(b.types),
                             "the Stackelberg strategic form is too large to export (policies x strategy profiles "
                             "x type profiles)")

    n = _players(ir)

    def rows():
        for idx in _profiles([len(assigns)] + [len(s) for s in b.strategies[:n]]):
            yield b.expected(tbs[idx[0]], _with_chance(ir, b, [b.strategies[i][j] for i, j in enumerate(idx[1:])]))[:n + 1]

    comment = (f"Stackelberg game of {ir.model.name}: player 1 (leader) picks a reduced pure policy "
               f"(payoff: the objective, {ir.model.objective_name}), each follower a map from its own type to an "
               "action; payoffs are expectations over the prior. Commit the leader to a row (or a mix of rows) "
               "with a Stackelberg solver; a Nash equilibrium of this table ignores the commitment. "
               "Written by mechdsl.")
    players = ["leader"] + [f.name for f in ir.model.followers[:n]]
    return _nfg(ir.model.name, comment, players, [[policy_label(ir, a) for a in assigns]] + b.labels[:n], rows())


# ---------------------------------------------------------------------------
# extensive form
# ---------------------------------------------------------------------------


class _Efg:
    """EFG 2 R text, written node by node in depth-first order, outcomes shared by
    equal payoffs and labels, information sets numbered per player on first use (Gambit
    wants each information set's label unique for its player, chance included)."""

    def __init__(self, title: str, comment: str, players: list[str]):
        self.lines = [f"EFG 2 R {quote(title)} {{ {' '.join(quote(p) for p in players)} }}", quote(comment), ""]
        self.outcomes: dict[tuple, int] = {}
        self.infosets: dict[tuple, int] = {}
        self.chance = 0

    def infoset(self, player: int, key) -> int:
        k = (player, key)
        if k not in self.infosets:
            self.infosets[k] = 1 + sum(1 for p, _ in self.infosets if p == player)
        return self.infosets[k]

    def chance_node(self, name: str, labels: list[str], probs: list[str]) -> None:
        self.chance += 1
        moves = " ".join(f"{quote(a)} {p}" for a, p in zip(labels, probs))
        self.lines.append(f"c \"\" {self.chance} {quote(name)} {{ {moves} }} 0")

    def personal(self, player: int, key, name: str, actions: list[str]) -> None:
        number = self.infoset(player, key)
        self.lines.append(f"p \"\" {player} {number} {quote(name)} {{ {' '.join(quote(a) for a in actions)} }} 0")

    def terminal(self, label: str, payoffs: list[float]) -> None:
        shown = [num(x) for x in payoffs]
        key = (label, *shown)
        if key not in self.outcomes:
            self.outcomes[key] = len(self.outcomes) + 1
        self.lines.append(f"t \"\" {self.outcomes[key]} {quote(label)} {{ {', '.join(shown)} }}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _efg_nodes(ir: GameIR, b: Bayes) -> int:
    """Nodes below one chance draw: the chance node and, per type profile, the followers' layers."""
    layers, prod = 0, 1
    for A in ir.action_counts:
        layers += prod
        prod *= A
    return 1 + len(b.types) * (layers + prod)


def _followers(efg: _Efg, ir: GameIR, b: Bayes, tb: Tables, first: int, key, leader: Optional[str]) -> None:
    """The chance draw of types, then each follower's move, then the terminals.
    Player numbers start at `first`; `key` tells information sets apart across commitments;
    `leader` (the commitment's label) makes the leader a player, else its objective is
    written in the outcome labels."""
    model = ir.model
    if len(b.types) > 1:
        efg.chance_node("types" if leader is None else f"types | {leader}",
                        [_type_label(ir, own) for own in b.types], _probabilities(ir, b))
    n = _players(ir)
    for t, own in zip(b.t_index, b.types):
        def move(i: int, actions: tuple[int, ...]) -> None:
            if i == n:  # the chance state, if any, takes its only action
                a = b.action_profile(actions + (0,) * (ir.n_followers - n))
                pay = [tb.V[t][a]] + [tb.U[j][t][a] for j in range(n)]
                if leader is None:
                    efg.terminal(f"{model.objective_name} = {num(pay[0])}", pay[1:])
                else:
                    efg.terminal("", pay)
                return
            f = model.followers[i]
            name = f.name if len(f.type_labels) == 1 else f"{f.name} [{f.type_labels[own[i]]}]"
            efg.personal(first + i, (key, own[i]), name if leader is None else f"{name} | {leader}",
                         list(f.action_labels))
            for a in range(ir.action_counts[i]):
                move(i + 1, actions + (a,))

        move(0, ())


def induced_efg(ir: GameIR, policy: LeaderPolicy) -> str:
    b = bayes(ir)
    check_work(ir, "the followers' game tree is too large to export (nodes)", _efg_nodes(ir, b))
    tb = tables(ir, policy)
    comment = (f"Followers' induced game of {ir.model.name} under the leader policy {policy.source or 'given'}: "
               "chance draws the type profile with its prior; each follower moves knowing only its own type "
               "(simultaneous moves); payoffs are the followers' utilities, the leader's play folded in; "
               f"outcome labels give the leader's objective ({ir.model.objective_name}). Written by mechdsl.")
    efg = _Efg(ir.model.name, comment, [f.name for f in ir.model.followers[:_players(ir)]])
    _followers(efg, ir, b, tb, 1, 0, None)
    return efg.text()


def stackelberg_efg(ir: GameIR) -> str:
    b = bayes(ir)
    assigns, tbs = _policies(ir, _efg_nodes(ir, b),
                             "the Stackelberg game tree is too large to export (policies x nodes)")
    comment = (f"Stackelberg game of {ir.model.name}: the leader (player 1, payoff: the objective, "
               f"{ir.model.objective_name}) commits to a reduced pure policy; chance draws the type profile; "
               "each follower moves seeing the commitment and its own type. Subgame-perfect equilibria are "
               "Stackelberg equilibria in pure commitments. Written by mechdsl.")
    efg = _Efg(ir.model.name, comment, ["leader"] + [f.name for f in ir.model.followers[:_players(ir)]])
    efg.personal(1, "commit", "commitment", [policy_label(ir, a) for a in assigns])
    for p, (assign, tb) in enumerate(zip(assigns, tbs)):
        _followers(efg, ir, b, tb, 2, p, policy_label(ir, assign))
    return efg.text()
