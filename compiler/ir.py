"""The game-tree IR: fixed facts first, then the dense arrays every later stage reads.

The leader's policy is a dense table over *leader information sets* (OpenSpiel's
TabularPolicy): one row per information set, one column per action index, with a
legal-action mask.  Two kinds of information set exist:

* ``choose``: the one-shot decision (a row, a payment, an item...), made after the
  leader sees the observed followers' actions; action ``k`` means
  ``choose_actions[k]`` (one index per declared choice).
* ``round``: a sequential-price round; action ``k`` means ``round_actions[k]``
  (visit an agent, post a price per item), after which the visited agent takes its
  best bundle ``b`` and play moves to ``round_next[s][agent][b]`` (-1: terminal).

The networkx game tree (`compiler.tree`) is derived from these arrays for pictures
and for the slow reference evaluator used in tests.
"""
from __future__ import annotations

import hashlib
from typing import Literal, Optional

from mechdsl.compiler.model import Model, Trusted


PLAIN_DUMP_SIZE = 20_000  # content_hash: values past which pydantic dumps the IR quicker


class InfoSet(Trusted):
    id: int
    kind: Literal["choose", "round"]
    cls: int  # observation class (what the leader saw of the followers' actions)
    choice: int = -1  # the one-shot choice already made (round sets), -1 if none
    visited: list[int] = []  # round sets: 1 per agent already visited
    alloc: list[list[int]] = []  # round sets: units of each item held by each agent
    stock: list[int] = []  # round sets: units of each item left
    label: str = ""


class GameIR(Trusted):
    """A compiled mechanism.  Serializes to JSON and back without loss (reading JSON validates)."""

    version: int = 1
    model: Model
    # -- fixed facts ---------------------------------------------------------
    n_followers: int
    type_counts: list[int]
    action_counts: list[int]
    n_type_profiles: int
    n_action_profiles: int
    prior: list[float]  # [T] flattened C order
    utility_bounds: list[tuple[float, float]]  # per follower, a sound [lo, hi]
    objective_bounds: tuple[float, float]
    # -- leader ----------------------------------------------------------------
    obs_class: list[int]  # [A] action profile -> observation class
    class_labels: list[str]
    root: list[int]  # per class: first information set
    infosets: list[InfoSet]
    n_actions: int  # K: width of the policy table
    legal: list[list[bool]]  # [S][K]
    action_labels: list[list[str]]  # [S][K] human-readable ('' where illegal)
    mixed: bool = False  # choose sets may randomize
    choose_actions: list[list[int]] = []  # [Kc][n_choices]
    round_actions: list[tuple[int, list[int]]] = []  # [Kr] (agent, price index per item)
    price_grid: list[float] = []
    interval: Optional[tuple[float, float]] = None  # continuous prices when set
    bundles: list[list[int]] = []  # [NB][m] 0/1 per item; bundle 0 is empty
    round_next: list[list[list[int]]] = []  # [S][n][NB] -> next info set, -1 terminal
    choose_next: list[list[int]] = []  # [S][Kc] -> next info set (rounds), -1 terminal
    max_rounds: int = 0
    obs_features: list[list[float]]  # [S][F] the actor's observation of each info set
    obs_feature_names: list[str]

    # -- derived helpers ---------------------------------------------------------
    @property
    def n_infosets(self) -> int:
        return len(self.infosets)

    @property
    def n_items(self) -> int:
        return len(self.model.items)

    @property
    def choice_intervals(self) -> dict[str, tuple[float, float]]:
        """Continuous one-shot choices: name -> [low, high]; the policy's `prices` hold their
        values at each choose set, one slot per choice in this order."""
        return {c.name: c.interval for c in self.model.leader.choices if c.interval is not None}

    @property
    def continuous(self) -> bool:
        """Whether the leader decides a number from an interval (prices or a choice)."""
        return self.interval is not None or bool(self.choice_intervals)

    def chance_law(self) -> dict[str, float]:
        """The chance state's law (its marginal of the prior, which may correlate it with
        the types), by its type labels; empty without `nature` lines."""
        k = self.model.chance
        if k is None:
            return {}
        law = [0.0] * self.type_counts[k]
        for t, p in enumerate(self.prior):  # C order: the chance player (last) is fastest
            law[t % self.type_counts[k]] += p
        return dict(zip(self.model.followers[k].type_labels, law))

    @property
    def price_slots(self) -> list[list[int]]:
        """The items each posted price covers, in the order of a round's prices: one item
        each, or (bundle prices) one non-empty bundle each."""
        rounds = self.model.leader.rounds
        if rounds is None:
            return []
        if rounds.bundle_prices:
            return [[j for j, x in enumerate(b) if x] for b in self.bundles[1:]]
        return [[j] for j in range(self.n_items)]

    @property
    def price_slot_names(self) -> list[str]:
        """`a`, `b` (a price per item) or `a`, `b`, `a+b` (a price per bundle)."""
        return ["+".join(self.model.items[j].name for j in slot) for slot in self.price_slots]

    @property
    def bayesian(self) -> bool:
        return any(c > 1 for c in self.type_counts)

    def to_json(self, indent: Optional[int] = None) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "GameIR":
        return cls.model_validate_json(text)

    def content_hash(self) -> str:
        """A stable hash of what the game means (not where its file lives)."""
        import json  # not on `mechdsl check`'s path

        # plain() reads the fields in Python: quicker than building pydantic's schemas (~25 ms,
        # most of `mechdsl compile`'s start-up) until the arrays hold some tens of thousands of values
        size = len(self.prior) + len(self.obs_class) + len(self.infosets) * self.n_actions
        data = self.plain() if size < PLAIN_DUMP_SIZE else self.model_dump(mode="json")
        data["model"].pop("path", None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
