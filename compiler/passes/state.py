"""What the passes share: the `State` they fill in, its records, and the helpers that
more than one pass uses; also the language's fixed limits and vocabularies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Union

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import ConstEnv, Value, did_you_mean, fmt
from mechdsl.compiler.errors import MechSemanticError
from mechdsl.compiler.limits import Budget, const_budget, payoff_budget
from mechdsl.compiler.model import Span


PROB_TOLERANCE = 1e-9
NAMED_OBJECTIVES = ("welfare", "revenue")
DYNAMICS_KEYS = ("step", "equilibrium", "reward", "normalize", "ties", "model", "learning_rate", "epsilon")
OUTCOMES = ("units", "paid", "worth")
NATURE = m.CHANCE  # the chance player's name (a keyword, so no agent can take it)


@dataclass
class FiniteSet:
    """The values of an action or a leader choice."""

    kind: str  # "label" | "number" | "item" | "agent"
    labels: list[str]
    values: list[Optional[float]]
    field: str = ""  # a table axis over this type field's values
    interval: Optional[tuple[float, float]] = None  # a continuous choice: no finite values

    def describe(self) -> str:
        return "{" + ", ".join(self.labels) + "}"


@dataclass
class Agent:
    """One follower after `agents x[n]` expansion, before its type is resolved."""

    name: str
    decl: Union[s.AgentDecl, s.AgentsDecl]
    group: str = ""


@dataclass
class FieldInfo:
    """One type field of one follower: its support and, unless a joint gives it, its law."""

    name: str
    kind: str  # "scalar" | "item" | "per_item" | "label"
    support: list  # floats, item indices, lists of floats, or label positions
    probs: Optional[list[float]]  # None: given by a `joint` block
    decl: s.TypeDecl
    joint: Optional[s.JointDecl] = None
    labels: list[str] = field(default_factory=list)  # a "label" field's labels, in declared order

    def show(self, value, st: "State") -> str:
        """One value of this field as the spec writes it."""
        if self.kind == "item":
            return st.items[value].name
        return self.labels[value] if self.kind == "label" else fmt(value)


@dataclass
class Action:
    name: str
    values: FiniteSet
    decl: Optional[s.ActionDecl]  # None: the {in, out} of an agent whose only choice is to take part


@dataclass
class TableInfo:
    name: str
    axes: list[tuple[str, FiniteSet]]
    values: list
    cell_size: int  # 0: number cells; k: k-tuples (one more axis)
    decl: s.TableDecl


@dataclass
class State:
    spec: s.Spec
    overrides: dict[str, str]
    params: dict[str, Value] = field(default_factory=dict)
    items: list[m.Item] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    groups: dict[str, list[int]] = field(default_factory=dict)
    fields: list[dict[str, FieldInfo]] = field(default_factory=list)
    actions: list[Optional[Action]] = field(default_factory=list)
    outs: list[int] = field(default_factory=list)  # per follower: index of its `out` action, -1 if it must take part
    followers: list[m.Follower] = field(default_factory=list)
    prior: list[float] = field(default_factory=list)
    choices: dict[str, tuple[FiniteSet, m.Choice]] = field(default_factory=dict)
    leader: Optional[m.Leader] = None
    rounds: Optional[m.Rounds] = None
    alt_index: list[list[tuple[int, ...]]] = field(default_factory=list)  # per follower, per type: support positions
    tables: dict[str, TableInfo] = field(default_factory=dict)
    utilities: list[m.Expr] = field(default_factory=list)
    objective: Optional[m.Expr] = None
    objective_name: str = "objective"
    dynamics: m.Dynamics = field(default_factory=m.Dynamics.make)
    training: dict = field(default_factory=dict)
    budget: Budget = field(default_factory=const_budget)  # list values made by constants
    payoff_work: Budget = field(default_factory=payoff_budget)  # payoff nodes resolved
    nature: int = -1  # the chance player's index (after every agent), -1 without `nature` lines
    plans: Optional[object] = None  # `compiler.passes.chance.Plans`: strategies that are maps
    outcomes: dict = field(default_factory=dict)  # name -> `compiler.passes.outcomes.OutcomeInfo`
    choice_groups: dict[str, list[str]] = field(default_factory=dict)  # `choose pay[agents]`: per-agent names
    _cache: dict = field(default_factory=dict)

    @property
    def people(self) -> int:
        """The agents proper: every follower but the chance player."""
        return self.nature if self.nature >= 0 else len(self.agents)

    # ---- lookups used by several passes (cached: passes only ever append) ----
    def statements(self, kind: type) -> list:
        key = ("statements", kind)
        if key not in self._cache:
            self._cache[key] = [st for st in self.spec.statements if isinstance(st, kind)]
        return self._cache[key]

    def _cached(self, name: str, make):
        key = (name, len(self.items), len(self.agents), len(self.fields), len(self.actions), len(self.choices))
        if self._cache.get(name, (None,))[0] != key:
            self._cache[name] = (key, make())
        return self._cache[name][1]

    def rounds_decl(self) -> Optional[s.RoundsDecl]:
        for leader in self.statements(s.LeaderDecl):
            for stmt in leader.body:
                if isinstance(stmt, s.RoundsDecl):
                    return stmt
        return None

    def item_index(self) -> dict[str, int]:
        return self._cached("items", lambda: {it.name: i for i, it in enumerate(self.items)})

    def agent_index(self) -> dict[str, int]:
        return self._cached("agents", lambda: {a.name: i for i, a in enumerate(self.agents[:self.people])})

    def env(self, with_support: bool = False) -> ConstEnv:
        """What constants may read; `params` is the live dict, so each param sees the earlier ones."""
        return ConstEnv(
            params=self.params,
            support=(lambda name: support_of(self, name)) if with_support else None,
            elsewhere=self._cached("elsewhere", self.non_constants),
            budget=self.budget,
        )

    def non_constants(self) -> dict[str, str]:
        out = {it.name: "an item" for it in self.items}
        out.update({a.name: "an agent" for a in self.agents})
        for st in self.statements(s.LeaderDecl):
            out.update({c.name.name: "a leader choice" for c in st.body if isinstance(c, s.ChooseDecl)})
        for fields in self.fields:
            out.update({f: "a type field" for f in fields})
        for action in self.actions:
            if action is not None:
                out[action.name] = "a follower action"
        return out


def error(message: str, node, hint: str = "") -> MechSemanticError:
    span = node if isinstance(node, Span) else getattr(node, "span", None)
    return MechSemanticError(message, span=span, hint=hint)


def line_of(node) -> int:
    return node.span.line


def file_start() -> Span:
    return Span.make(line=1, column=1)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def listing(names, most: int = 10) -> str:
    """ "a, b, c" -- at most `most` names, then "... (N in all)"."""
    names = list(names)
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f", ... ({len(names)} in all)"


def check_finite(value, node) -> None:
    for v in value if isinstance(value, list) else [value]:
        if not math.isfinite(v):
            raise error(f"type values must be finite numbers, got {fmt(v)}", node,
                        hint="rescale the values so they stay well below 1e308")


def agent_ref(name: s.Ident, agents: dict[str, int], st: State) -> int:
    if name.name not in agents:
        hint = did_you_mean(name.name, agents, f"agents are: {listing(agents)}")
        if name.name in st.groups:
            hint = f"'{name.name}' is a group; name one agent, e.g. {st.agents[st.groups[name.name][0]].name}"
        raise error(f"unknown agent '{name.name}'", name, hint=hint)
    return agents[name.name]


def support_of(st: State, name: s.Name) -> list[float]:
    """`support(field)`: sorted union of the field's values over all agents."""
    values: set[float] = set()
    found = False
    for fields in st.fields:
        info = fields.get(name.name)
        if info is None:
            continue
        found = True
        if info.kind in ("item", "label"):
            raise error(f"'{name.name}' holds {info.kind}s; support() needs a number field", name,
                        hint="use support() of a number (or per-item number) type field")
        for v in info.support:
            values.update(v if isinstance(v, list) else [v])
    if not found:
        every = sorted({f for fields in st.fields for f in fields})
        raise error(f"no agent has a type field '{name.name}'", name,
                    hint=did_you_mean(name.name, every, f"type fields are: {listing(every)}" if every
                                      else "declare one: `type value ~ ...` in an agent"))
    return sorted(values)
