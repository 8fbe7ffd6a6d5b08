"""How large a spec may grow, in one place: every limit the compiler enforces, and the
`Budget` that counts work no single limit bounds.

The compiler estimates a size before it allocates it; past a limit it raises
`MechSizeError` at the construct responsible, saying what to change -- never an
out-of-memory kill or a hang.  The limits are far above anything the shipped specs use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.model import Span

# ---- text --------------------------------------------------------------------------
MAX_SOURCE_CHARS = 200_000  # a whole spec file
MAX_TOKENS = 60_000  # its tokens (the parser spends about 25 µs on each)
MAX_DOC_CHARS = 100_000  # its docstring
MAX_NESTING = 100  # levels of one expression (operators, calls, lists inside each other)

# ---- constants and declarations ---------------------------------------------------------
MAX_LIST = 100_000  # values in one constant list (range, linspace, a joined list...)
MAX_CONST_VALUES = 5_000_000  # list values made while evaluating all constants
MAX_PAYOFF_NODES = 100_000  # payoff expression nodes resolved (a generic utility counts once per agent)
MAX_FOLLOWERS = 1_000
MAX_TYPE_PROFILES = 1_000_000  # product of the followers' type counts
MAX_SUB_EPISODES = 100_000  # dynamics `equilibrium` and `reward`

# ---- the game IR (compiler/build.py) -------------------------------------------------------
MAX_ACTION_PROFILES = 1_000_000  # product of the followers' action counts
MAX_PROFILE_PAIRS = 10_000_000_000  # type profiles x action profiles: exact mode checks its memory (mechdsl.memory); sampled mode never builds them
MAX_ACTIONS = 20_000  # leader actions per decision (choice combinations, or agent x prices)
MAX_BUNDLES = 4_096  # bundles a buyer may take in rounds (2^items when additive)
MAX_INFOSETS = 200_000  # leader information sets
MAX_POLICY_CELLS = 2_000_000  # information sets x actions (the policy table, legal mask, labels)
MAX_IR_CELLS = 3_000_000  # all per-information-set cells: actions, features, transitions, allocation

# ---- exports (compiler/strategic.py, compiler/gambit.py) --------------------------------------
MAX_EXPORT_POLICIES = 5_000  # leader pure policies written as strategies (no --policy)
MAX_EXPORT_WORK = 2_000_000  # payoff cells of an .nfg, nodes of an .efg, (profile x type) sums


@dataclass
class Budget:
    """Counts work shared by a whole compilation (one per `resolve`); `charge` raises
    `MechSizeError` at `span` once `limit` is passed."""

    limit: int
    what: str
    hint: str
    used: int = 0

    def charge(self, amount: int, span: Span | None) -> None:
        self.used += amount
        if self.used > self.limit:
            raise MechSizeError(f"{self.what} (more than {self.limit:,})", span=span, hint=self.hint)


def const_budget() -> Budget:
    return Budget(MAX_CONST_VALUES, "the constant lists of this spec hold too many values in all",
                  "use shorter ranges and lists (a list holds at most 100,000 values)")


def payoff_budget() -> Budget:
    return Budget(MAX_PAYOFF_NODES, "the payoff expressions are too large for this many agents",
                  "shorten the utility, or use fewer agents (a generic utility is resolved once per agent)")


def too_big(what: str, count: int, limit: int, where, hint: str, prefix: str = "") -> MechSizeError:
    """`MechSizeError` "<what>: <count>, more than the limit of <limit>" at `where` (a
    span, or a node that has one); `prefix` qualifies the count ("at least ")."""
    span = where if where is None or isinstance(where, Span) else getattr(where, "span", None)
    return MechSizeError(f"{what}: {prefix}{show(count)}, more than the limit of {limit:,}", span=span, hint=hint)


def show(count: int) -> str:
    """A count for a message: 12,345, or "about 10^40" (never a 4,000-digit number)."""
    if count < 10**12:
        return f"{count:,}"
    return f"about 10^{int(math.log10(count))}"


def check_game_size(model) -> None:
    """Estimate the IR's dense tables from the `Model` before `compiler.build` makes any,
    and refuse the first that is too large, at the declaration responsible."""
    followers = model.followers
    if not followers:
        return
    actions = [len(f.action_labels) for f in followers]
    types = [len(f.type_labels) for f in followers]
    widest = max(range(len(followers)), key=lambda i: actions[i])
    profiles = math.prod(actions)
    if profiles > MAX_ACTION_PROFILES:
        raise too_big(f"too many follower action profiles ({_per_agent(model, actions)} actions)", profiles,
                      MAX_ACTION_PROFILES, followers[widest].span,
                      "use fewer actions (e.g. a smaller --set messages=...) or fewer agents: the action sets multiply")
    pairs = profiles * math.prod(types)
    if pairs > MAX_PROFILE_PAIRS:
        biggest = max(range(len(followers)), key=lambda i: actions[i] * types[i])
        raise too_big("too many (type profile, action profile) pairs for the payoff tables", pairs,
                      MAX_PROFILE_PAIRS, followers[biggest].span,
                      "use fewer type values, actions or agents: every payoff table has one cell per pair")
    choices = model.leader.choices
    combos = math.prod(len(c.labels) for c in choices)
    if combos > MAX_ACTIONS:
        big = max(choices, key=lambda c: len(c.labels))
        raise too_big(f"too many leader actions ({' x '.join(str(len(c.labels)) for c in choices)} choices)",
                      combos, MAX_ACTIONS, big.span, "choose from smaller sets: the leader's choices multiply")
    classes = math.prod(actions[j] for j in set(model.leader.observe))  # one root information set each
    hint = "observe fewer followers, or give them fewer actions: the leader decides once per observation"
    where = choices[0].span if choices else model.leader.rounds.span if model.leader.rounds else None
    if classes > MAX_INFOSETS:
        raise too_big("too many leader information sets (one per observed action profile)", classes,
                      MAX_INFOSETS, where, hint)
    if choices and classes * combos > MAX_POLICY_CELLS:
        raise too_big(f"the leader's policy table is too large ({combos:,} actions per information set)",
                      classes * combos, MAX_POLICY_CELLS, where, hint)
    width = feature_width(model, combos)
    if classes * (combos + width) > MAX_IR_CELLS:
        raise too_big(f"the game's tables are too large ({combos:,} actions and {width:,} observed features "
                      "per information set)", classes * (combos + width), MAX_IR_CELLS, where, hint)
    rounds = model.leader.rounds
    if rounds is None:
        return
    m = len(model.items)
    bundles = m + 1 if rounds.valuation == "unit" else 2**m
    if rounds.price_kind == "grid":
        slots, what = (bundles - 1, "bundles") if rounds.bundle_prices else (m, "items")
        visited = len(rounds.order) if rounds.order else len(followers)
        per_visit = visited * len(rounds.grid) ** min(slots, 64)
        if per_visit > MAX_ACTIONS:
            raise too_big(f"too many leader actions per round ({visited} agents x {len(rounds.grid)} "
                          f"prices ^ {slots} {what})", per_visit, MAX_ACTIONS, rounds.span,
                          "use a coarser price grid, fewer items, or `price each bundle in interval [low, high]`"
                          if rounds.bundle_prices else
                          "use a coarser price grid, fewer items, or `price each item in interval [low, high]`")
    if bundles > MAX_BUNDLES:
        raise too_big(f"too many bundles for an additive buyer ({m} items)", bundles, MAX_BUNDLES, rounds.span,
                      "use fewer items, or `valuation unit-demand of ...` (each buyer takes at most one item)")


def feature_width(model, n_choose: int) -> int:
    """How many numbers the actor observes at each information set (`compiler.build._obs_features`)."""
    n, m = len(model.followers), len(model.items)
    width = sum(len(model.followers[j].action_labels) for j in set(model.leader.observe)) + 1
    if model.leader.rounds is not None:
        width += (n_choose if model.leader.choices else 0) + n + m + n * m
    return width


def _per_agent(model, counts: list[int]) -> str:
    shown = " x ".join(str(c) for c in counts[:8])
    return shown + (f" x ... ({len(counts)} agents)" if len(counts) > 8 else "")


class BuildMeter:
    """What `compiler.build` has made so far, counted as information sets are found: it
    raises as soon as one count passes its limit (at `span`), before the set is expanded.

    A choose set holds a row of the policy table and the actor's features; a round set
    also a row of transitions (agents x bundles) and the allocation so far."""

    def __init__(self, n_actions: int, width: int, per_round: int, span: Span | None):
        self.n_actions, self.width, self.per_round, self.span = n_actions, width, per_round, span
        self.infosets = self.cells = 0

    def infoset(self, kind: str) -> None:
        self.infosets += 1
        self.cells += self.n_actions + self.width + (self.per_round if kind == "round" else 0)
        hint = "use fewer agents, items, messages or prices, or `observe remaining` in rounds"
        if self.infosets > MAX_INFOSETS:
            raise too_big("too many leader information sets", self.infosets, MAX_INFOSETS, self.span, hint)
        if self.infosets * self.n_actions > MAX_POLICY_CELLS:
            raise too_big(f"the leader's policy table is too large ({self.n_actions:,} actions per information set)",
                          self.infosets * self.n_actions, MAX_POLICY_CELLS, self.span, hint)
        if self.cells > MAX_IR_CELLS:
            raise too_big(f"the game's tables are too large ({self.infosets:,} information sets so far)",
                          self.cells, MAX_IR_CELLS, self.span, hint)
