"""`Spec` -> `Model`: bind every name, evaluate every constant, check every law.

`resolve` runs `PASSES` in order over one `State`; each pass reads what earlier passes
filled in and adds its own part.  Semantic problems raise `MechSemanticError` at the
span of the construct at fault; a bad `--set` raises `MechUsageError`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from compiler import model as m
from compiler import spec as s
from compiler.consts import (
    FUNCTIONS, ConstEnv, Value, arithmetic, as_whole, did_you_mean, evaluate, fmt, number, number_list, whole,
)
from compiler.errors import MechError, MechSemanticError, MechSizeError, MechUsageError
from compiler.model import Span

PROB_TOLERANCE = 1e-9
MAX_TYPE_PROFILES = 1_000_000
NAMED_OBJECTIVES = ("welfare", "revenue")
DYNAMICS_KEYS = ("step", "equilibrium", "reward", "normalize")
OUTCOMES = ("units", "paid", "worth")


# ---------------------------------------------------------------------------
# What the passes share.
# ---------------------------------------------------------------------------


@dataclass
class FiniteSet:
    """The values of an action or a leader choice."""

    kind: str  # "label" | "number" | "item" | "agent"
    labels: list[str]
    values: list[Optional[float]]

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
    kind: str  # "scalar" | "item" | "per_item"
    support: list  # floats, item indices, or lists of floats
    probs: Optional[list[float]]  # None: given by a `joint` block
    decl: s.TypeDecl
    joint: Optional[s.JointDecl] = None


@dataclass
class Action:
    name: str
    values: FiniteSet
    decl: s.ActionDecl


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
    dynamics: m.Dynamics = field(default_factory=m.Dynamics)
    training: dict = field(default_factory=dict)

    # ---- lookups used by several passes ----
    def statements(self, kind: type) -> list:
        return [st for st in self.spec.statements if isinstance(st, kind)]

    def item_index(self) -> dict[str, int]:
        return {it.name: i for i, it in enumerate(self.items)}

    def agent_index(self) -> dict[str, int]:
        return {a.name: i for i, a in enumerate(self.agents)}

    def env(self, with_support: bool = False) -> ConstEnv:
        return ConstEnv(
            params=dict(self.params),
            support=(lambda name: support_of(self, name)) if with_support else None,
            elsewhere=self.non_constants(),
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


def resolve(spec: s.Spec, overrides: Optional[dict[str, str]] = None) -> m.Model:
    """Run every pass and assemble the `Model`."""
    state = State(spec=spec, overrides=dict(overrides or {}))
    for step in PASSES:
        step(state)
    return build_model(state)


def build_model(st: State) -> m.Model:
    return m.Model(
        name=Path(st.spec.path).stem if st.spec.path else "spec",
        doc=st.spec.doc,
        path=st.spec.path,
        params={k: v for k, v in st.params.items() if isinstance(v, float)},
        items=st.items,
        followers=st.followers,
        prior=st.prior,
        leader=st.leader,
        utilities=st.utilities,
        objective=st.objective,
        objective_name=st.objective_name,
        dynamics=st.dynamics,
        training=st.training,
    )


def error(message: str, node, hint: str = "") -> MechSemanticError:
    span = node if isinstance(node, Span) else getattr(node, "span", None)
    return MechSemanticError(message, span=span, hint=hint)


def line_of(node) -> int:
    return node.span.line


# ---------------------------------------------------------------------------
# Passes, in order.
# ---------------------------------------------------------------------------


def check_statements(st: State) -> None:
    """Singleton blocks and lines appear at most once."""
    for kind, what in (
        (s.LeaderDecl, "leader block"),
        (s.ValuationDecl, "valuation line"),
        (s.TiesDecl, "ties line"),
        (s.ObjectiveDecl, "objective"),
        (s.DynamicsDecl, "dynamics block"),
        (s.TrainingDecl, "training block"),
    ):
        found = st.statements(kind)
        if len(found) > 1:
            raise error(f"a second {what}", found[1], hint=f"the first one is at line {line_of(found[0])}")
    generic = [u for u in st.statements(s.UtilityDecl) if u.agent is None]
    if len(generic) > 1:
        raise error(
            "a second generic `utility = ...` line", generic[1], hint=f"the first one is at line {line_of(generic[0])}"
        )


def evaluate_params(st: State) -> None:
    """Params in order, each over the earlier ones; --set replaces a param's value."""
    decls = st.statements(s.ParamDecl)
    names = [p.name.name for p in decls]
    for name in st.overrides:
        if name not in names:
            hint = did_you_mean(name, names) or (
                f"the spec's params are: {', '.join(names)}" if names else "the spec declares no params"
            )
            raise MechUsageError(f"unknown parameter '{name}' in --set {name}={st.overrides[name]}", hint=hint)
    for p in decls:
        name = p.name.name
        if name in st.params:
            first = next(q for q in decls if q.name.name == name)
            raise error(f"param '{name}' is declared twice", p.name, hint=f"first declared at line {line_of(first)}")
        if name in st.overrides:
            st.params[name] = override_value(name, st.overrides[name], st)
        else:
            st.params[name] = evaluate(p.value, st.env())


def override_value(name: str, text: str, st: State) -> Value:
    from compiler.parse import parse  # local: parse imports nothing from here, but keep stages apart
    from compiler.transform import to_spec

    try:
        return evaluate(to_spec(parse(text, start="value")), ConstEnv(params=dict(st.params)))
    except MechError as e:
        raise MechUsageError(f"bad value in --set {name}={text}: {e.message}", hint=e.hint) from None


def declare_items(st: State) -> None:
    """`item x [units n]` and `items a, b, c`, in order; units are positive whole numbers."""
    seen: dict[str, s.Ident] = {}
    for decl in st.spec.statements:
        if isinstance(decl, s.ItemDecl):
            names, units = [decl.name], decl.units
        elif isinstance(decl, s.ItemsDecl):
            names, units = decl.names, None
        else:
            continue
        count = 1
        if units is not None:
            value = number(units, st.env(), "a number of units")
            if value != int(value) or value < 1:
                raise error(f"units must be a positive whole number, got {fmt(value)}", units)
            count = int(value)
        for name in names:
            if name.name in seen:
                first = line_of(seen[name.name])
                raise error(f"item '{name.name}' is declared twice", name, hint=f"first declared at line {first}")
            seen[name.name] = name
            st.items.append(m.Item(name=name.name, units=count, span=decl.span))


def expand_agents(st: State) -> None:
    """`agent x {...}` is one follower; `agents x[n] {...}` is followers x1..xn."""
    for decl in st.spec.statements:
        if isinstance(decl, s.AgentDecl):
            st.agents.append(Agent(name=decl.name.name, decl=decl))
        elif isinstance(decl, s.AgentsDecl):
            n = whole(decl.count, st.env(), "a whole number of agents")
            if n < 1:
                raise error(f"an agent group needs at least 1 agent, got {n}", decl.count)
            start = len(st.agents)
            for k in range(1, n + 1):
                st.agents.append(Agent(name=f"{decl.name.name}{k}", decl=decl, group=decl.name.name))
            st.groups[decl.name.name] = list(range(start, start + n))
    if not st.agents:
        raise error("the spec declares no agent", _file_start(), hint="add `agent name { ... }`")


def _file_start() -> Span:
    return Span(line=1, column=1)


def check_duplicate_names(st: State) -> None:
    """Params, items, agents, agent groups, tables and leader choices share one namespace."""
    seen: dict[str, tuple[str, Span]] = {}

    def claim(name: str, what: str, node) -> None:
        if name == "self":
            raise error("'self' is reserved (it means the agent whose utility is computed)", node)
        if name in seen:
            other, where = seen[name]
            again = "declared twice" if other == what else f"already {_article(other)} {other}"
            raise error(f"{what} '{name}' is {again}", node, hint=f"first declared at line {where.line}")
        seen[name] = (what, node.span)

    for p in st.statements(s.ParamDecl):
        claim(p.name.name, "param", p.name)
    for it in st.items:
        claim(it.name, "item", it)
    for a in st.agents:
        claim(a.name, "agent", a.decl.name)
    for decl in st.statements(s.AgentsDecl):
        claim(decl.name.name, "agent group", decl.name)
    for t in st.statements(s.TableDecl):
        claim(t.name.name, "table", t.name)
    for leader in st.statements(s.LeaderDecl):
        for c in leader.body:
            if isinstance(c, s.ChooseDecl):
                claim(c.name.name, "leader choice", c.name)
    # inside each agent: field and action names are distinct and do not hide a global name
    for decl in st.statements(s.AgentDecl) + st.statements(s.AgentsDecl):
        local: dict[str, Span] = {}
        actions = [b for b in decl.body if isinstance(b, s.ActionDecl)]
        if len(actions) > 1:
            raise error(
                "an agent has exactly one strategic action", actions[1],
                hint=f"the first `action` is at line {line_of(actions[0])}; use one action with more values",
            )
        for b in decl.body:
            name = b.name.name
            what = "field" if isinstance(b, s.TypeDecl) else "action"
            if name in local:
                raise error(f"{what} '{name}' is declared twice in agent '{decl.name.name}'", b.name,
                            hint=f"first declared at line {local[name].line}")
            if name in seen:
                other = seen[name][0]
                raise error(f"{what} '{name}' has the name of {_article(other)} {other}", b.name,
                            hint=f"pick another name ({other} '{name}' is declared at line {seen[name][1].line})")
            if name == "self":
                raise error("'self' is reserved (it means the agent whose utility is computed)", b.name)
            local[name] = b.name.span


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def resolve_types(st: State) -> None:
    """Each type field's support and (unless a joint gives it) its probabilities."""
    items = st.item_index()
    for agent in st.agents:
        fields: dict[str, FieldInfo] = {}
        for decl in agent.decl.body:
            if isinstance(decl, s.TypeDecl):
                fields[decl.name.name] = type_field(decl, items, st)
        st.fields.append(fields)


def type_field(decl: s.TypeDecl, items: dict[str, int], st: State) -> FieldInfo:
    if decl.kind != "scalar" and not items:
        raise error(f"'{decl.name.name}' is an item field but the spec declares no items", decl, hint="add `item name`")
    law = decl.law
    info = FieldInfo(name=decl.name.name, kind=decl.kind, support=[], probs=None, decl=decl)
    if law is None:
        return info  # support and law come from a `joint` block
    if isinstance(law, s.Support):
        info.support = support_values(law.over, decl.kind, items, st)
    elif isinstance(law, s.Uniform):
        info.support = support_values(law.over, decl.kind, items, st, where=law)
        info.probs = [1.0 / len(info.support)] * len(info.support)
    else:
        keyed = [(field_value(e.key, decl.kind, items, st), e) for e in law.entries]
        info.support = [v for v, _ in keyed]
        _no_repeats([(v, e.key) for v, e in keyed], decl.kind, st)
        info.probs = probabilities(law, st)
    return info


def support_values(over, kind: str, items: dict[str, int], st: State, where=None) -> list:
    """The values a field can take: numbers, item indices, or per-item vectors."""
    node = over if over is not None else where
    if kind == "item":
        if over is None or isinstance(over, s.AllItems):
            values, nodes = list(range(len(items))), [node] * len(items)
        elif isinstance(over, s.LabelSet):
            values, nodes = [_item_name(n, items) for n in over.labels], over.labels
        elif isinstance(over, s.ListLit):
            values, nodes = [field_value(x, kind, items, st) for x in over.items], over.items
        else:
            raise error("an item field's values are item names: [a, b] or `items`", node)
    else:
        if over is None:
            raise error("uniform needs the list of values, e.g. `uniform [0, 1]`", node)
        if isinstance(over, (s.LabelSet, s.AllItems, s.AllAgents)):
            raise error("a number field's values are numbers, e.g. [0, 0.5, 1]", over,
                        hint="for an item-valued field write `type name: item ~ uniform`")
        raw = evaluate(over, st.env())
        if not isinstance(raw, list):
            raise error(f"expected a list of values, got {fmt(raw)}", over)
        if kind == "scalar":
            values = number_list(over, st.env(), "a list of numbers")
        elif all(isinstance(v, float) and not isinstance(v, bool) for v in raw):
            # a per-item field over a list of numbers: each item independently
            values = [list(v) for v in itertools.product(raw, repeat=len(items))]
        else:
            values = [_vector(v, over, len(items)) for v in raw]
        nodes = [over] * len(values)
        for v in values:
            _check_finite(v, over)
    if not values:
        raise error("a type field needs at least one value", node)
    _no_repeats(list(zip(values, nodes)), kind, st)
    return values


def field_value(expr: s.SExpr, kind: str, items: dict[str, int], st: State):
    """One value of a field of `kind`, written as an expression (a distribution key)."""
    if kind == "item":
        if not isinstance(expr, s.Name):
            raise error("an item field's values are item names", expr)
        return _item_name(expr, items)
    value = evaluate(expr, st.env())
    if kind == "scalar":
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"a number field's values are numbers, got {fmt(value)}", expr)
        _check_finite(value, expr)
        return value
    vec = _vector(value, expr, len(items))
    _check_finite(vec, expr)
    return vec


def _vector(value, node, n_items: int) -> list[float]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, float) and not isinstance(v, bool) for v in value):
        raise error(f"a per-item value is a list of {n_items} numbers, got {fmt(value)}", node)
    if len(value) != n_items:
        raise error(f"a per-item value needs one number per item ({n_items}), got {len(value)}", node)
    return list(value)


def _check_finite(value, node) -> None:
    for v in value if isinstance(value, list) else [value]:
        if not math.isfinite(v):
            raise error(f"type values must be finite numbers, got {fmt(v)}", node)


def _item_name(name, items: dict[str, int]) -> int:
    text = name.name
    if text not in items:
        raise error(f"unknown item '{text}'", name, hint=did_you_mean(text, items) or f"items are: {', '.join(items)}")
    return items[text]


def _no_repeats(values: list[tuple], kind: str, st: State) -> None:
    seen = []
    for v, node in values:
        if v in seen:
            shown = st.items[v].name if kind == "item" else fmt(v)
            raise error(f"value {shown} is listed twice", node)
        seen.append(v)


def probabilities(dist: s.DistTable, st: State) -> list[float]:
    """Evaluate a table's probabilities: each non-negative, summing to 1."""
    probs = []
    for entry in dist.entries:
        p = number(entry.prob, st.env(), "a probability")
        if p < 0:
            raise error(f"probability {fmt(p)} is negative", entry.prob)
        probs.append(p)
    total = sum(probs)
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise error(f"probabilities sum to {total:.12g}, not 1", dist, hint="make the probabilities add up to 1")
    return probs


def resolve_joint_priors(st: State) -> None:
    """Attach each `joint` law to its fields, then build every follower's type table and the prior."""
    agents = st.agent_index()
    items = st.item_index()
    factors: list[tuple[list[tuple[int, str]], dict[tuple, float]]] = []
    for joint in st.statements(s.JointDecl):
        refs = []
        for ref in joint.fields:
            k = _agent_ref(ref.agent, agents, st)
            info = st.fields[k].get(ref.field.name)
            if info is None:
                raise error(f"agent '{ref.agent.name}' has no type field '{ref.field.name}'", ref.field,
                            hint=did_you_mean(ref.field.name, st.fields[k]))
            if info.probs is not None:
                raise error(f"{ref.agent.name}.{ref.field.name} already has its own distribution", ref,
                            hint=f"declare it as `type {info.name} in [...]` to give its law here")
            if info.joint is not None:
                where = line_of(info.joint)
                raise error(f"{ref.agent.name}.{ref.field.name} is already in the joint at line {where}", ref)
            if (k, info.name) in refs:
                raise error(f"{ref.agent.name}.{ref.field.name} is listed twice", ref)
            info.joint = joint
            refs.append((k, info.name))
        factors.append((refs, joint_table(joint, refs, st, items)))
    for agent, fields in zip(st.agents, st.fields):
        for info in fields.values():
            if info.probs is None and info.joint is None:
                raise error(f"type field '{info.name}' of agent '{agent.name}' has no distribution", info.decl,
                            hint=f"write `type {info.name} ~ ...` or give its law in a `joint` block")
    build_followers_types(st, factors)


def _agent_ref(name: s.Ident, agents: dict[str, int], st: State) -> int:
    if name.name not in agents:
        hint = did_you_mean(name.name, agents)
        if name.name in st.groups:
            hint = f"'{name.name}' is a group; name one agent, e.g. {st.agents[st.groups[name.name][0]].name}"
        raise error(f"unknown agent '{name.name}'", name, hint=hint)
    return agents[name.name]


def joint_table(joint: s.JointDecl, refs: list[tuple[int, str]], st: State, items) -> dict[tuple, float]:
    """Map (support index per listed field) -> probability, filling supports left open."""
    infos = [st.fields[k][f] for k, f in refs]
    dist = joint.dist
    if isinstance(dist, s.Uniform):
        if dist.over is None or not isinstance(dist.over, s.ListLit):
            raise error("a uniform joint law lists its value tuples: uniform [(0, 1), (1, 0)]", dist)
        keys = dist.over.items
        probs = [1.0 / len(keys)] * len(keys) if keys else []
    else:
        keys = [e.key for e in dist.entries]
        probs = probabilities(dist, st)
    if not keys:
        raise error("a joint law needs at least one entry", dist)
    rows = []
    for key in keys:
        parts = key.items if isinstance(key, s.TupleLit) else [key]
        if len(parts) != len(infos):
            raise error(f"each key of this joint law lists {len(infos)} value(s), one per field; got {len(parts)}", key)
        rows.append([field_value(part, info.kind, items, st) for part, info in zip(parts, infos)])
    for col, info in enumerate(infos):
        if not info.support:  # `type value` with no support: take the values the joint uses
            values = []
            for row in rows:
                if row[col] not in values:
                    values.append(row[col])
            info.support = sorted(values) if info.kind != "per_item" else values
    table: dict[tuple, float] = {}
    for key, row, p in zip(keys, rows, probs):
        index = []
        for part, value, info, (k, f) in zip(key.items if isinstance(key, s.TupleLit) else [key], row, infos, refs):
            if value not in info.support:
                shown = st.items[value].name if info.kind == "item" else fmt(value)
                raise error(f"{shown} is not a value of {st.agents[k].name}.{f}", part,
                            hint=f"its values are {_show_support(info, st)}")
            index.append(info.support.index(value))
        if tuple(index) in table:
            raise error("this combination is listed twice", key)
        table[tuple(index)] = p
    return table


def _show_support(info: FieldInfo, st: State) -> str:
    if info.kind == "item":
        return "[" + ", ".join(st.items[v].name for v in info.support) + "]"
    return "[" + ", ".join(fmt(v) for v in info.support) + "]"


def build_followers_types(st: State, factors) -> None:
    """Type alternatives (product of field supports, first field slowest) and the dense prior."""
    counts = []
    alt_index: list[list[tuple[int, ...]]] = []  # per follower: support index of each field, per alternative
    for fields in st.fields:
        combos = list(itertools.product(*[range(len(f.support)) for f in fields.values()]))
        alt_index.append(combos)
        counts.append(len(combos))
    if math.prod(counts) > MAX_TYPE_PROFILES:
        raise MechSizeError(
            f"{math.prod(counts)} type profiles (per agent: {counts}) are more than {MAX_TYPE_PROFILES}",
            span=st.spec.span, hint="use fewer type values",
        )
    prior = np.ones(counts)
    for k, fields in enumerate(st.fields):
        for pos, info in enumerate(fields.values()):
            if info.probs is None:
                continue
            marginal = np.array([info.probs[combo[pos]] for combo in alt_index[k]])
            shape = [1] * len(counts)
            shape[k] = counts[k]
            prior = prior * marginal.reshape(shape)
    for refs, table in factors:
        involved = sorted({k for k, _ in refs})
        positions = [list(st.fields[k]).index(f) for k, f in refs]
        sub = np.zeros([counts[k] for k in involved])
        for alts in itertools.product(*[range(counts[k]) for k in involved]):
            chosen = dict(zip(involved, alts))
            key = tuple(alt_index[k][chosen[k]][pos] for (k, _), pos in zip(refs, positions))
            sub[alts] = table.get(key, 0.0)
        shape = [counts[k] if k in involved else 1 for k in range(len(counts))]
        prior = prior * sub.reshape(shape)
    st.prior = [float(p) for p in prior.reshape(-1)]
    st.alt_index = alt_index


def resolve_actions(st: State) -> None:
    """Each follower's action set (non-empty); then the `Follower` records."""
    for agent, fields, combos in zip(st.agents, st.fields, st.alt_index):
        decl = next((b for b in agent.decl.body if isinstance(b, s.ActionDecl)), None)
        action = None
        if decl is not None:
            action = Action(name=decl.name.name, values=finite_set(decl.domain, st, "action"), decl=decl)
        st.actions.append(action)
        labels, values = [], {f: [] for f in fields}
        for combo in combos:
            parts = []
            for (name, info), idx in zip(fields.items(), combo):
                v = info.support[idx]
                values[name].append(v)
                parts.append(f"{name}={st.items[v].name if info.kind == 'item' else fmt(v)}")
            labels.append(",".join(parts) if parts else "none")
        st.followers.append(
            m.Follower(
                name=agent.name,
                fields=[m.TypeField(name=f.name, kind=f.kind) for f in fields.values()],
                type_labels=labels,
                type_values=values,
                action_name=action.name if action else "none",
                action_labels=action.values.labels if action else ["none"],
                action_values=action.values.values if action else [None],
                span=agent.decl.span,
            )
        )


def finite_set(domain, st: State, what: str) -> FiniteSet:
    """`{A, B}`, `items`, `agents` or a constant list of numbers; never empty, no repeats."""
    if isinstance(domain, s.LabelSet):
        labels = [lab.name for lab in domain.labels]
        for i, lab in enumerate(domain.labels):
            if lab.name in labels[:i]:
                raise error(f"label '{lab.name}' is listed twice", lab)
        result = FiniteSet("label", labels, [None] * len(labels))
    elif isinstance(domain, s.AllItems):
        result = FiniteSet("item", [it.name for it in st.items], [None] * len(st.items))
    elif isinstance(domain, s.AllAgents):
        result = FiniteSet("agent", [a.name for a in st.agents], [None] * len(st.agents))
    else:
        values = number_list(domain, st.env(), f"a list of numbers or a set of labels {{A, B}} for this {what}")
        for i, v in enumerate(values):
            _check_finite(v, domain)
            if v in values[:i]:
                raise error(f"value {fmt(v)} is listed twice", domain)
        result = FiniteSet("number", [fmt(v) for v in values], list(values))
    if not result.labels:
        raise error(f"empty {what} set", domain, hint="list at least one value")
    return result


def resolve_leader(st: State) -> None:
    """What the leader observes, and its one-shot choices."""
    if not st.statements(s.LeaderDecl):
        raise error("the spec has no leader block", _file_start(),
                    hint="add `leader { choose ... }` or `leader { rounds { ... } }`")
    leader = st.statements(s.LeaderDecl)[0]
    observe: set[int] = set()
    choices = []
    for stmt in leader.body:
        if isinstance(stmt, s.ObserveDecl):
            for target in stmt.targets:
                observe |= observed(target, st)
        elif isinstance(stmt, s.ChooseDecl):
            values = finite_set(stmt.domain, st, "choice")
            choice = m.Choice(name=stmt.name.name, kind=values.kind, labels=values.labels, values=values.values,
                              mixed=stmt.mixed, span=stmt.span)
            st.choices[choice.name] = (values, choice)
            choices.append(choice)
    rounds = [r for r in leader.body if isinstance(r, s.RoundsDecl)]
    if len(rounds) > 1:
        raise error("a second rounds block", rounds[1], hint=f"the first one is at line {line_of(rounds[0])}")
    if not choices and not rounds:
        raise error("the leader decides nothing", leader, hint="add `choose name in {...}` or a `rounds { ... }` block")
    st.leader = m.Leader(observe=sorted(observe), choices=choices)


def observed(target: s.ObserveTarget, st: State) -> set[int]:
    agents = st.agent_index()
    if target.agent is not None:
        k = _agent_ref(target.agent, agents, st)
        action = st.actions[k]
        if action is None or action.name != target.action.name:
            has = f"its action is '{action.name}'" if action else "it has no action"
            raise error(f"agent '{target.agent.name}' has no action '{target.action.name}'", target.action, hint=has)
        return {k}
    name = target.action.name
    found = {k for k, a in enumerate(st.actions) if a is not None and a.name == name}
    if found:
        return found
    members = [agents[name]] if name in agents else st.groups.get(name, [])
    if members:
        silent = [st.agents[k].name for k in members if st.actions[k] is None]
        if silent:
            raise error(f"agent '{silent[0]}' has no action to observe", target)
        return set(members)
    actions = sorted({a.name for a in st.actions if a is not None})
    raise error(f"no agent has an action named '{name}'", target.action,
                hint=did_you_mean(name, actions + list(agents)) or (
                    f"actions are: {', '.join(actions)}" if actions else "no agent has an action"))


def resolve_rounds(st: State) -> None:
    """Sequential rounds: the price set, the valuation and tie rule."""
    leader = st.statements(s.LeaderDecl)[0]
    decl = next((r for r in leader.body if isinstance(r, s.RoundsDecl)), None)
    valuation = st.statements(s.ValuationDecl)
    ties = st.statements(s.TiesDecl)
    if decl is None:
        for extra in valuation + ties:
            raise error("valuation and ties only apply to sequential rounds", extra,
                        hint="add a `rounds { ... }` block to the leader, or remove this line")
        return
    if not st.items:
        raise error("rounds sell items, but the spec declares none", decl, hint="add `item name`")
    prices = [p for p in decl.body if isinstance(p, (s.PriceGrid, s.PriceInterval))]
    for kind, what in ((s.VisitDecl, "visit"), (s.RoundsObserve, "observe")):
        found = [b for b in decl.body if isinstance(b, kind)]
        if len(found) > 1:
            raise error(f"a second `{what}` line in rounds", found[1])
    if not prices:
        raise error("rounds need prices", decl, hint="add `price each item in [0, 0.5, 1]`")
    if len(prices) > 1:
        raise error("a second `price` line in rounds", prices[1], hint=f"the first one is at line {line_of(prices[0])}")
    price = prices[0]
    rounds = {"span": decl.span}
    if isinstance(price, s.PriceGrid):
        grid = number_list(price.grid, st.env(with_support=True), "a list of prices")
        if not grid:
            raise error("empty price grid", price.grid, hint="list at least one price")
        for p in grid:
            if not math.isfinite(p):
                raise error(f"prices must be finite numbers, got {fmt(p)}", price.grid)
        rounds.update(price_kind="grid", grid=list(dict.fromkeys(grid)))
    else:
        env = st.env(with_support=True)
        low, high = number(price.low, env, "a price"), number(price.high, env, "a price")
        for v, node in ((low, price.low), (high, price.high)):
            if not math.isfinite(v):
                raise error(f"prices must be finite numbers, got {fmt(v)}", node)
        if low > high:
            raise error(f"interval low {fmt(low)} is above high {fmt(high)}", price, hint="write interval [low, high]")
        rounds.update(price_kind="interval", low=low, high=high)
    field_name, where = "value", decl
    if valuation:
        rounds["valuation"] = valuation[0].kind
        field_name, where = valuation[0].field.name, valuation[0].field
    for agent, fields in zip(st.agents, st.fields):
        info = fields.get(field_name)
        if info is None:
            hint = ("add `valuation unit-demand of <field>`" if not valuation
                    else did_you_mean(field_name, fields) or "the valued field must exist in every agent")
            raise error(f"the rounds value bundles by field '{field_name}', but agent '{agent.name}' has no such field",
                        where, hint=hint)
        if info.kind == "item":
            raise error(f"field '{field_name}' of agent '{agent.name}' holds an item, not a value", where,
                        hint="the valued field is a number or a per-item number `value[item]`")
    rounds["value_field"] = field_name
    if ties:
        rounds["tie_buy"] = ties[0].buy
    seen = [b for b in decl.body if isinstance(b, s.RoundsObserve)]
    if seen:
        rounds["observe_allocation"] = seen[0].what == "allocation"
    st.rounds = m.Rounds(**rounds)
    st.leader = st.leader.model_copy(update={"rounds": st.rounds})


def support_of(st: State, name: s.Name) -> list[float]:
    """`support(field)`: sorted union of the field's values over all agents."""
    values: set[float] = set()
    found = False
    for fields in st.fields:
        info = fields.get(name.name)
        if info is None:
            continue
        found = True
        if info.kind == "item":
            raise error(f"'{name.name}' holds items; support() needs a number field", name)
        for v in info.support:
            values.update(v if isinstance(v, list) else [v])
    if not found:
        every = sorted({f for fields in st.fields for f in fields})
        raise error(f"no agent has a type field '{name.name}'", name, hint=did_you_mean(name.name, every))
    return sorted(values)


def resolve_tables(st: State) -> None:
    """Numeric tables: axes name finite sets; the literal's shape matches them."""
    for decl in st.statements(s.TableDecl):
        axes = [(axis.name, axis_set(axis, st)) for axis in decl.axes]
        raw = evaluate(decl.value, st.env())
        cell_size = _cell_size(raw, len(axes), decl)
        values = _table_values(raw, axes, cell_size, decl, [], decl.value)
        st.tables[decl.name.name] = TableInfo(decl.name.name, axes, values, cell_size, decl)


def axis_set(axis: s.Ident, st: State) -> FiniteSet:
    name = axis.name
    if name == "items":
        return FiniteSet("item", [it.name for it in st.items], [None] * len(st.items))
    if name == "agents":
        return FiniteSet("agent", [a.name for a in st.agents], [None] * len(st.agents))
    if name in st.choices:
        return st.choices[name][0]
    sets = [a.values for a in st.actions if a is not None and a.name == name]
    if sets:
        if any(x.labels != sets[0].labels for x in sets):
            raise error(f"agents disagree on the values of action '{name}'", axis)
        return sets[0]
    known = list(st.choices) + sorted({a.name for a in st.actions if a is not None}) + ["items", "agents"]
    raise error(f"unknown table axis '{name}'", axis,
                hint=did_you_mean(name, known) or "an axis is a leader choice, a follower action, items or agents")


def _cell_size(raw, depth: int, decl: s.TableDecl) -> int:
    cell = raw
    for _ in range(depth):
        if not isinstance(cell, list) or not cell:
            raise error(f"table '{decl.name.name}' needs {depth} levels of nested lists, one per axis", decl.value)
        cell = cell[0]
    return len(cell) if isinstance(cell, tuple) else 0


def _table_values(raw, axes, cell_size: int, decl: s.TableDecl, at: list[int], node: s.SExpr):
    """Check the literal against the axes level by level; errors point at the row at fault."""
    if len(at) == len(axes):
        cell = raw
        where = f"cell {decl.name.name}[{', '.join(axes[i][1].labels[k] for i, k in enumerate(at))}]"
        if cell_size:
            if not isinstance(cell, tuple) or len(cell) != cell_size:
                raise error(f"{where} should be a {cell_size}-tuple like the first cell, got {fmt(cell)}", node)
            parts = list(cell)
        else:
            parts = [cell]
        for v in parts:
            if not isinstance(v, float) or isinstance(v, bool) or not math.isfinite(v):
                raise error(f"{where} holds {fmt(v)}; table cells are numbers or tuples of numbers", node)
        return parts if cell_size else parts[0]
    name, values = axes[len(at)]
    if not isinstance(raw, list) or len(raw) != len(values.labels):
        got = f"{len(raw)} entries" if isinstance(raw, list) else fmt(raw)
        raise error(
            f"table '{decl.name.name}': axis '{name}' has {len(values.labels)} values {values.describe()}, "
            f"but the table gives {got} here", node,
        )
    inner = node.items if isinstance(node, s.ListLit) and len(node.items) == len(raw) else [node] * len(raw)
    return [_table_values(r, axes, cell_size, decl, at + [i], n) for i, (r, n) in enumerate(zip(raw, inner))]


def resolve_utilities(st: State) -> None:
    """One utility per follower: its own line, the generic line with `self`, or quasi-linear."""
    agents = st.agent_index()
    own: dict[int, s.UtilityDecl] = {}
    generic = None
    for decl in st.statements(s.UtilityDecl):
        if decl.agent is None:
            generic = decl
            continue
        name = decl.agent.name
        members = [agents[name]] if name in agents else st.groups.get(name)
        if not members:
            raise error(f"utility for unknown agent '{name}'", decl.agent,
                        hint=did_you_mean(name, list(agents) + list(st.groups)) or f"agents are: {', '.join(agents)}")
        for k in members:
            if k in own:
                raise error(f"a second utility for agent '{st.agents[k].name}'", decl.agent,
                            hint=f"the first one is at line {line_of(own[k])}")
            own[k] = decl
    for k, agent in enumerate(st.agents):
        decl = own.get(k, generic)
        if decl is not None:
            scope = Scope(self_agent=k, where=f"the utility of '{agent.name}'")
            st.utilities.append(number_expr(decl.expr, scope, st, "a utility"))
        elif st.rounds is not None:
            me = m.Const(value=k)
            st.utilities.append(m.Binary(op="-", left=m.Outcome(what="worth", agent=me),
                                         right=m.Outcome(what="paid", agent=me)))
        else:
            raise error(f"agent '{agent.name}' has no utility", agent.decl.name,
                        hint=f"add `utility {agent.name} = ...` or a generic `utility = ...` line")


def resolve_objective(st: State) -> None:
    """The leader's objective: an expression, or `welfare` / `revenue` over the rounds."""
    decls = st.statements(s.ObjectiveDecl)
    if not decls:
        raise error("the spec has no objective", st.statements(s.LeaderDecl)[0],
                    hint="add `objective = ...`, `objective welfare` or `objective revenue`")
    decl = decls[0]
    if decl.named is not None:
        name = decl.named.name
        if name not in NAMED_OBJECTIVES:
            raise error(f"unknown objective '{name}'", decl.named,
                        hint=did_you_mean(name, NAMED_OBJECTIVES)
                        or "write `objective welfare`, `objective revenue` or `objective = ...`")
        if st.rounds is None:
            raise error(f"objective {name} sums the rounds' outcomes, but the leader has no rounds", decl.named,
                        hint="write `objective = ...` instead")
        what = "worth" if name == "welfare" else "paid"
        st.objective = m.Aggregate(func="sum", var="i", domain="agents",
                                   body=m.Outcome(what=what, agent=m.Var(name="i")), span=decl.span)
        st.objective_name = name
    else:
        st.objective = number_expr(decl.expr, Scope(self_agent=None, where="the objective"), st, "the objective")


def resolve_dynamics(st: State) -> None:
    """Paper defaults (T=1000,R=100 with private types, else T=100,R=10), then the block."""
    bayesian = any(len(f.type_labels) > 1 for f in st.followers)
    values: dict = {"equilibrium": 1000 if bayesian else 100, "reward": 100 if bayesian else 10}
    for decl in st.statements(s.DynamicsDecl):
        for setting in _settings(decl, DYNAMICS_KEYS):
            key, expr, env = setting.name.name, setting.value, st.env()
            if key == "step":
                value = number(expr, env, "a step size")
                if not value > 0 or not math.isfinite(value):
                    raise error(f"step must be a positive number, got {fmt(value)}", expr)
            elif key == "normalize":
                value = evaluate(expr, env)
                if not isinstance(value, bool):
                    raise error(f"normalize is true or false, got {fmt(value)}", expr)
            else:
                value = whole(expr, env, f"a whole number of {key} sub-episodes")
                if value < 1:
                    raise error(f"{key} must be at least 1, got {value}", expr)
            values[key] = value
    st.dynamics = m.Dynamics(**values)


def resolve_training(st: State) -> None:
    """Defaults for `mechdsl train`: numbers (whole ones as int), bools and strings."""
    for decl in st.statements(s.TrainingDecl):
        for setting in _settings(decl, None):
            value = evaluate(setting.value, st.env())
            if isinstance(value, (list, tuple)):
                raise error("a training setting is a number, true/false or a \"string\"", setting.value)
            if isinstance(value, float) and value == int(value) and abs(value) < 2**53:
                value = int(value)
            st.training[setting.name.name] = value


def _settings(decl, allowed) -> list[s.Setting]:
    seen: dict[str, s.Setting] = {}
    for setting in decl.settings:
        key = setting.name.name
        if allowed is not None and key not in allowed:
            raise error(f"unknown setting '{key}'", setting.name,
                        hint=did_you_mean(key, allowed) or f"settings are: {', '.join(allowed)}")
        if key in seen:
            raise error(f"'{key}' is set twice", setting.name, hint=f"first set at line {line_of(seen[key])}")
        seen[key] = setting
    return list(seen.values())


# ---------------------------------------------------------------------------
# Payoff expressions: name resolution and type checking.
# ---------------------------------------------------------------------------


@dataclass
class Scope:
    """Where an expression is read: `self_agent` is bound in utilities (None in the objective)."""

    self_agent: Optional[int]
    where: str
    vars: dict[str, str] = field(default_factory=dict)  # aggregate variable -> "agent" | "item"


@dataclass
class Typed:
    """A resolved expression and its type.

    `ty`: number, bool, item, agent, label (of `labels`), per_item (a field still to be
    indexed by an item: `field` of `agent`), bare (a label name not yet placed in a set).
    `index`: for references to a numeric set, the position form (used by tables).
    """

    expr: Optional[m.Expr]
    ty: str
    labels: tuple = ()
    index: Optional[m.Expr] = None
    size: int = 0
    name: str = ""
    agent: Optional[m.Expr] = None

    def describe(self) -> str:
        if self.ty == "label":
            return "a label of {" + ", ".join(self.labels) + "}"
        if self.ty == "bare":
            return f"the label {self.name}"
        if self.ty == "per_item":
            return f"the per-item field '{self.name}'"
        return {"number": "a number", "bool": "a bool", "item": "an item", "agent": "an agent"}[self.ty]


NUMERIC = ("number", "bool")


def number_expr(expr: s.SExpr, scope: Scope, st: State, what: str) -> m.Expr:
    t = resolve_expr(expr, scope, st)
    if t.ty not in NUMERIC:
        raise error(f"{what} must be a number, got {t.describe()}", expr)
    return t.expr


def resolve_expr(e: s.SExpr, scope: Scope, st: State) -> Typed:
    """Dispatch on the syntax node; every branch returns a `Typed`."""
    if isinstance(e, s.Num):
        return Typed(m.Const(value=e.value, span=e.span), "number")
    if isinstance(e, s.BoolLit):
        return Typed(m.Const(value=1.0 if e.value else 0.0, span=e.span), "bool")
    if isinstance(e, s.Name):
        return resolve_name(e, scope, st)
    if isinstance(e, s.Attr):
        return resolve_attr(e, scope, st)
    if isinstance(e, s.Index):
        return resolve_index(e, scope, st)
    if isinstance(e, s.Call):
        return resolve_call(e, scope, st)
    if isinstance(e, s.AggExpr):
        return resolve_aggregate(e, scope, st)
    if isinstance(e, s.UnaryOp):
        operand = resolve_expr(e.operand, scope, st)
        want = NUMERIC if e.op == "-" else ("bool",)
        if operand.ty not in want:
            need = "a number" if e.op == "-" else "a bool"
            raise error(f"'{e.op}' needs {need}, got {operand.describe()}", e.operand)
        if e.op == "-" and isinstance(operand.expr, m.Const):
            return Typed(m.Const(value=-operand.expr.value, span=e.span), "number")
        return Typed(m.Unary(op=e.op, operand=operand.expr, span=e.span), "number" if e.op == "-" else "bool")
    if isinstance(e, s.BinOp):
        return resolve_binary(e, scope, st)
    if isinstance(e, s.IfExpr):
        cond = resolve_expr(e.cond, scope, st)
        if cond.ty != "bool":
            raise error(f"the condition of 'if' must be a comparison or a bool, got {cond.describe()}", e.cond)
        then, orelse = resolve_expr(e.then, scope, st), resolve_expr(e.orelse, scope, st)
        for branch, node in ((then, e.then), (orelse, e.orelse)):
            if branch.ty not in NUMERIC:
                raise error(f"the branches of 'if' must be numbers, got {branch.describe()}", node)
        ty = "bool" if then.ty == orelse.ty == "bool" else "number"
        return Typed(m.If(cond=cond.expr, then=then.expr, orelse=orelse.expr, span=e.span), ty)
    if isinstance(e, (s.ListLit, s.TupleLit)):
        raise error("lists and tuples cannot appear in a payoff expression", e,
                    hint="put them in a `table` and index it")
    if isinstance(e, s.StrLit):
        raise error("strings only appear in the training block", e)
    raise error("this cannot appear in a payoff expression", e)  # pragma: no cover


def resolve_name(e: s.Name, scope: Scope, st: State) -> Typed:
    name = e.name
    if name in scope.vars:
        return Typed(m.Var(name=name, span=e.span), scope.vars[name])
    if name == "self":
        if scope.self_agent is None:
            raise error(f"'self' has no meaning in {scope.where}", e,
                        hint="'self' is the agent whose utility is computed")
        return Typed(m.Const(value=scope.self_agent, span=e.span), "agent")
    if name in st.params:
        value = st.params[name]
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"param '{name}' is {fmt(value)}, not a number", e)
        return Typed(m.Const(value=value, span=e.span), "number")
    items, agents = st.item_index(), st.agent_index()
    if name in items:
        return Typed(m.Const(value=items[name], span=e.span), "item")
    if name in agents:
        return Typed(m.Const(value=agents[name], span=e.span), "agent")
    if name in st.choices:
        return choice_ref(name, e.span, st)
    if name in st.tables:
        table = st.tables[name]
        axes = ", ".join(a for a, _ in table.axes)
        component = "[0]" if table.cell_size else ""
        raise error(f"table '{name}' needs indices", e, hint=f"write {name}[{axes}]{component}")
    if name in st.groups:
        raise error(f"'{name}' names a group of agents", e,
                    hint=f"pick one ({st.agents[st.groups[name][0]].name}, ...) or use sum(i in agents: ...)")
    owners = [scope.self_agent] if scope.self_agent is not None else []
    owners += [k for k in range(len(st.agents)) if k != scope.self_agent]
    for kind in ("field", "action"):
        having = [k for k in owners if _has(st, k, name, kind)]
        if not having:
            continue
        if having[0] != scope.self_agent and len(having) > 1:
            who = ", ".join(st.agents[k].name for k in having[:3])
            what = f"{_article(kind)} {kind} '{name}'"
            raise error(f"'{name}' is ambiguous in {scope.where}: agents {who} all have {what}", e,
                        hint=f"write {st.agents[having[0]].name}.{name}")
        return member_ref(m.Const(value=having[0]), [having[0]], name, e.span, st)
    if any(name in labels for labels in _label_sets(st)):
        return Typed(None, "bare", name=name)
    known = set(scope.vars) | set(st.params) | set(items) | set(agents) | set(st.choices) | set(st.tables)
    for fields in st.fields:
        known |= set(fields)
    known |= {a.name for a in st.actions if a is not None}
    raise error(f"unknown name '{name}'", e, hint=did_you_mean(name, sorted(known)))


def _has(st: State, k: int, name: str, kind: str) -> bool:
    if kind == "field":
        return name in st.fields[k]
    action = st.actions[k]
    return action is not None and action.name == name


def _label_sets(st: State) -> list[list[str]]:
    sets = [values.labels for values, _ in st.choices.values() if values.kind == "label"]
    sets += [a.values.labels for a in st.actions if a is not None and a.values.kind == "label"]
    return sets


def set_ref(expr_index: m.Expr, expr_value: m.Expr, values: FiniteSet) -> Typed:
    """A reference to a member of a finite set, typed by the set's kind."""
    if values.kind == "number":
        return Typed(expr_value, "number", index=expr_index, size=len(values.labels))
    if values.kind == "label":
        return Typed(expr_index, "label", labels=tuple(values.labels), size=len(values.labels))
    return Typed(expr_index, values.kind, size=len(values.labels))


def choice_ref(name: str, span: Span, st: State) -> Typed:
    values, _ = st.choices[name]
    return set_ref(m.ChoiceRef(name=name, span=span), m.ChoiceRef(name=name, numeric=True, span=span), values)


def member_ref(agent: m.Expr, owners: list[int], name: str, span: Span, st: State) -> Typed:
    """Field or action `name` of `agent` (a constant, or a variable ranging over `owners`)."""
    if all(name in st.fields[k] for k in owners):
        kinds = {st.fields[k][name].kind for k in owners}
        if len(kinds) > 1:
            raise error(f"field '{name}' has different kinds across agents ({', '.join(sorted(kinds))})", span)
        kind = kinds.pop()
        if kind == "per_item":
            return Typed(None, "per_item", name=name, agent=agent)
        return Typed(m.TypeRef(agent=agent, field=name, span=span), "number" if kind == "scalar" else "item")
    if all(_has(st, k, name, "action") for k in owners):
        sets = [st.actions[k].values for k in owners]
        first = sets[0]
        if any(x.kind != first.kind or (first.kind != "number" and x.labels != first.labels) for x in sets):
            raise error(f"agents disagree on the values of action '{name}'", span)
        return set_ref(m.ActionRef(agent=agent, span=span), m.ActionRef(agent=agent, numeric=True, span=span), first)
    raise LookupError(name)


def resolve_attr(e: s.Attr, scope: Scope, st: State) -> Typed:
    owner = resolve_expr(e.obj, scope, st)
    if owner.ty != "agent":
        raise error(f"'.{e.name.name}' needs an agent on its left, got {owner.describe()}", e.obj)
    if isinstance(owner.expr, m.Const):
        owners = [int(owner.expr.value)]
        label = f"agent '{st.agents[owners[0]].name}'"
    else:
        owners = list(range(len(st.agents)))
        label = "every agent"
    try:
        return member_ref(owner.expr, owners, e.name.name, e.span, st)
    except LookupError:
        names = set().union(*(set(st.fields[k]) for k in owners))
        names |= {st.actions[k].name for k in owners if st.actions[k] is not None}
        raise error(f"{label} has no field or action '{e.name.name}'", e.name,
                    hint=did_you_mean(e.name.name, sorted(names))) from None


def resolve_index(e: s.Index, scope: Scope, st: State) -> Typed:
    # a chain t[a, b][c] on a table: gather all indices
    chain, root = [], e
    while isinstance(root, s.Index):
        chain = list(root.indices) + chain
        root = root.obj
    if isinstance(root, s.Name) and root.name in st.tables and root.name not in scope.vars:
        return table_ref(st.tables[root.name], chain, e, scope, st)
    obj = resolve_expr(e.obj, scope, st)
    if obj.ty != "per_item":
        raise error(f"cannot index {obj.describe()}", e.obj, hint="only tables and per-item fields take [...]")
    if len(e.indices) != 1:
        raise error(f"a per-item field takes one item index, got {len(e.indices)}", e)
    item = resolve_expr(e.indices[0], scope, st)
    if item.ty != "item":
        raise error(f"a per-item field is indexed by an item, got {item.describe()}", e.indices[0])
    return Typed(m.TypeRef(agent=obj.agent, field=obj.name, item=item.expr, span=e.span), "number")


def table_ref(table: TableInfo, indices: list, e: s.Index, scope: Scope, st: State) -> Typed:
    want = len(table.axes) + (1 if table.cell_size else 0)
    if len(indices) != want:
        axes = ", ".join(a for a, _ in table.axes)
        hint = f"write {table.name}[{axes}]" + ("[0]" if table.cell_size else "")
        if table.cell_size and len(indices) == len(table.axes):
            raise error(f"the cells of table '{table.name}' are {table.cell_size}-tuples; pick a component", e,
                        hint=hint)
        raise error(f"table '{table.name}' takes {want} indices, got {len(indices)}", e, hint=hint)
    out = []
    for pos, index in enumerate(indices):
        if pos == len(table.axes):  # tuple component: a constant position
            comp = resolve_expr(index, scope, st)
            if not isinstance(comp.expr, m.Const) or comp.ty != "number":
                raise error("a tuple component is a constant: [0], [1], ...", index)
            k = as_whole(comp.expr.value, index.span, "a whole component number")
            if not 0 <= k < table.cell_size:
                raise error(f"component {k} is out of range: the cells of '{table.name}' have {table.cell_size} parts "
                            f"(0..{table.cell_size - 1})", index)
            out.append(m.Const(value=k, span=index.span))
            continue
        axis, values = table.axes[pos]
        out.append(axis_index(index, axis, values, scope, st))
    return Typed(m.Table(name=table.name, values=table.values, index=out, span=e.span), "number")


def axis_index(index: s.SExpr, axis: str, values: FiniteSet, scope: Scope, st: State) -> m.Expr:
    """Resolve one table index against its axis's set (labels by name, refs by position)."""
    is_label = isinstance(index, s.Name) and index.name in values.labels and index.name not in scope.vars
    if values.kind == "label" and is_label:
        return m.Const(value=values.labels.index(index.name), span=index.span)
    if values.kind == "label" and isinstance(index, s.Name) and not _known(index.name, scope, st):
        raise error(f"'{index.name}' is not a value of axis '{axis}' {values.describe()}", index,
                    hint=did_you_mean(index.name, values.labels))
    t = resolve_expr(index, scope, st)
    if t.ty == "bare":
        raise error(f"'{t.name}' is not a value of axis '{axis}' {values.describe()}", index)
    if t.ty in ("label", "item", "agent") and values.kind == t.ty:
        if t.ty == "label" and list(t.labels) != values.labels:
            raise error(f"axis '{axis}' takes a label of {values.describe()}, got {t.describe()}", index)
        return t.expr
    if t.ty == "number" and t.index is not None and values.kind == "number" and t.size == len(values.labels):
        return t.index
    if t.ty == "number" and isinstance(t.expr, m.Const):
        k = as_whole(t.expr.value, index.span, "a whole position")
        if not 0 <= k < len(values.labels):
            raise error(f"position {k} is out of range for axis '{axis}' ({len(values.labels)} values)", index)
        return m.Const(value=k, span=index.span)
    raise error(f"axis '{axis}' takes {_set_member(values)}, got {t.describe()}", index)


def _set_member(values: FiniteSet) -> str:
    return {"label": f"a label of {values.describe()}", "item": "an item", "agent": "an agent",
            "number": f"a value of {values.describe()}"}[values.kind]


def resolve_call(e: s.Call, scope: Scope, st: State) -> Typed:
    func = e.func.name
    if func in OUTCOMES:
        return resolve_outcome(e, scope, st)
    if func == "abs":
        if len(e.args) != 1:
            raise error(f"abs() takes 1 argument, got {len(e.args)}", e)
        x = _numeric_arg(e.args[0], scope, st, "abs()")
        return Typed(m.Unary(op="abs", operand=x, span=e.span), "number")
    if func in ("min", "max") and len(e.args) >= 2:
        args = [_numeric_arg(a, scope, st, f"{func}()") for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = m.Binary(op=func, left=out, right=a, span=e.span)
        return Typed(out, "number")
    if func in FUNCTIONS:  # a constant such as max(support(value)) or len([..])
        value = evaluate(e, st.env(with_support=True))
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"{func}(...) gives {fmt(value)} here; a payoff needs a number", e)
        return Typed(m.Const(value=value, span=e.span), "number")
    raise error(f"unknown function '{func}'", e.func,
                hint=did_you_mean(func, ["abs", "min", "max", *OUTCOMES])
                or "payoffs may use abs, min, max, units, paid, worth and sum/max/min(i in agents: ...)")


def _numeric_arg(arg: s.SExpr, scope: Scope, st: State, where: str) -> m.Expr:
    t = resolve_expr(arg, scope, st)
    if t.ty not in NUMERIC:
        raise error(f"{where} needs a number, got {t.describe()}", arg)
    return t.expr


def resolve_outcome(e: s.Call, scope: Scope, st: State) -> Typed:
    func = e.func.name
    if st.rounds is None:
        raise error(f"{func}(...) is an outcome of sequential rounds, but the leader has no rounds", e,
                    hint="add `rounds { ... }` to the leader block, or compute the payoff from choices")
    most = 2 if func == "units" else 1
    if not 1 <= len(e.args) <= most:
        form = "units(agent) or units(agent, item)" if func == "units" else f"{func}(agent)"
        raise error(f"{func}() takes {form}", e)
    agent = resolve_expr(e.args[0], scope, st)
    if agent.ty != "agent":
        raise error(f"{func}() needs an agent, got {agent.describe()}", e.args[0])
    item = None
    if len(e.args) == 2:
        t = resolve_expr(e.args[1], scope, st)
        if t.ty != "item":
            raise error(f"units() needs an item as its second argument, got {t.describe()}", e.args[1])
        item = t.expr
    return Typed(m.Outcome(what=func, agent=agent.expr, item=item, span=e.span), "number")


def resolve_aggregate(e: s.AggExpr, scope: Scope, st: State) -> Typed:
    func, var = e.func.name, e.var.name
    if func not in ("sum", "max", "min"):
        raise error(f"unknown aggregate '{func}'", e.func,
                    hint=did_you_mean(func, ["sum", "max", "min"]) or "use sum, max or min")
    taken = set(scope.vars) | set(st.params) | set(st.item_index()) | set(st.agent_index())
    taken |= set(st.choices) | set(st.tables)
    if var in taken or var == "self":
        raise error(f"the variable '{var}' hides another name", e.var, hint="pick a fresh name, e.g. i or j")
    inner = Scope(self_agent=scope.self_agent, where=scope.where, vars={**scope.vars, var: e.domain[:-1]})
    body = resolve_expr(e.body, inner, st)
    if body.ty not in NUMERIC:
        raise error(f"{func}(...) adds up numbers, got {body.describe()}", e.body)
    return Typed(m.Aggregate(func=func, var=var, domain=e.domain, body=body.expr, span=e.span), "number")


ARITHMETIC = ("+", "-", "*", "/", "^")
ORDERING = ("<", "<=", ">", ">=")


def resolve_binary(e: s.BinOp, scope: Scope, st: State) -> Typed:
    if e.op in ("==", "!="):
        left, right = _equality_sides(e, scope, st)
    else:
        left, right = resolve_expr(e.left, scope, st), resolve_expr(e.right, scope, st)
    if e.op in ("and", "or"):
        for t, node in ((left, e.left), (right, e.right)):
            if t.ty != "bool":
                raise error(f"'{e.op}' needs bools (comparisons), got {t.describe()}", node)
        return Typed(m.Binary(op=e.op, left=left.expr, right=right.expr, span=e.span), "bool")
    if e.op in ARITHMETIC:
        for t, node in ((left, e.left), (right, e.right)):
            if t.ty == "label" or t.ty == "bare":
                raise error(f"arithmetic on labels: '{e.op}' needs numbers, got {t.describe()}", node)
            if t.ty not in NUMERIC:
                raise error(f"type mismatch: '{e.op}' needs numbers, got {t.describe()}", node)
        if isinstance(right.expr, m.Const) and right.expr.value == 0 and e.op == "/":
            raise error("division by zero", e, hint="the divisor is 0")
        if isinstance(left.expr, m.Const) and isinstance(right.expr, m.Const):
            folded = arithmetic(e.op, left.expr.value, right.expr.value, e.span)
            return Typed(m.Const(value=folded, span=e.span), "number")
        return Typed(m.Binary(op=e.op, left=left.expr, right=right.expr, span=e.span), "number")
    # comparisons
    if left.ty in NUMERIC and right.ty in NUMERIC:
        pass
    elif e.op in ORDERING:
        bad = left if left.ty not in NUMERIC else right
        other = right if bad is left else left
        raise error(f"type mismatch: cannot order {bad.describe()} with {other.describe()}", e,
                    hint="<, <=, > and >= compare numbers")
    elif left.ty != right.ty:
        raise error(f"type mismatch: cannot compare {_kind(left)} with {_kind(right)}", e)
    elif left.ty == "label" and left.labels != right.labels:
        raise error(f"type mismatch: cannot compare {left.describe()} with {right.describe()}", e)
    elif left.ty in ("per_item", "bare"):
        raise error(f"cannot compare {left.describe()}", e)
    return Typed(m.Binary(op=e.op, left=left.expr, right=right.expr, span=e.span), "bool")


def _kind(t: Typed) -> str:
    return {"number": "number", "bool": "bool", "item": "item", "agent": "agent", "label": "label",
            "bare": f"label {t.name}", "per_item": "per-item field"}[t.ty]


def _equality_sides(e: s.BinOp, scope: Scope, st: State) -> tuple[Typed, Typed]:
    """Resolve both sides of == / !=, reading a bare label against the other side's set."""
    if isinstance(e.left, s.Name) and not _known(e.left.name, scope, st):
        right = resolve_expr(e.right, scope, st)  # `A == row`: read the set first
        left = _side(e.left, right, scope, st)
    else:
        left = resolve_expr(e.left, scope, st)
        right = _side(e.right, left, scope, st)
    if left.ty == "bare" and right.ty == "label":
        left = _side(e.left, right, scope, st)
    for t in (left, right):
        if t.ty == "bare":
            other = right if t is left else left
            raise error(f"type mismatch: cannot compare the label {t.name} with {_kind(other)}", e)
    return left, right


def _side(node: s.SExpr, other: Typed, scope: Scope, st: State) -> Typed:
    if other.ty == "label" and isinstance(node, s.Name) and node.name not in scope.vars:
        if node.name in other.labels:
            return Typed(m.Const(value=other.labels.index(node.name), span=node.span), "label", labels=other.labels)
        if not _known(node.name, scope, st):
            raise error(f"'{node.name}' is not one of the labels {{{', '.join(other.labels)}}}", node,
                        hint=did_you_mean(node.name, other.labels))
    return resolve_expr(node, scope, st)


def _known(name: str, scope: Scope, st: State) -> bool:
    """Whether `name` means something other than a label."""
    if name in scope.vars or name == "self" or name in st.params or name in st.choices or name in st.tables:
        return True
    if name in st.item_index() or name in st.agent_index() or name in st.groups:
        return True
    return any(name in fields for fields in st.fields) or any(a is not None and a.name == name for a in st.actions)


PASSES = (
    check_statements,
    evaluate_params,
    declare_items,
    expand_agents,
    check_duplicate_names,
    resolve_types,
    resolve_joint_priors,
    resolve_actions,
    resolve_leader,
    resolve_rounds,
    resolve_tables,
    resolve_utilities,
    resolve_objective,
    resolve_dynamics,
    resolve_training,
)
