"""Strategies that are maps: a leader that observes a chance state (`nature`) and a
follower that observes the leader's realised choice (signalling).

Both are lowered to the existing game (followers move first, the leader then chooses)
by the strategic form: a leader choice that sees the state becomes a choice of a *plan*
(one value per observed state), and a follower that sees choices chooses a plan (one
action per observed value).  Payoffs read the planned value through a table indexed by
the plan and what was observed (`lower_maps`), so the evaluators, the solver and the
trainer need nothing new.  Under the followers' multiplicative weights, plans keep
product-form weights (a plan's payoff is a sum over what it observes), so MW over plans
is MW at each (type, observation) information set, updated by its reach probability.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import did_you_mean
from mechdsl.compiler.limits import MAX_ACTION_PROFILES, MAX_ACTIONS, too_big
from mechdsl.compiler.lowering import balanced, position, substitute
from mechdsl.compiler.passes.state import State, error, listing


@dataclass
class FollowerMap:
    choices: list[str]  # the leader choices it observes, in the order written
    plans: list[tuple[int, ...]]  # per plan: the action index for each observed combination
    numeric: list[float]  # numeric value of each original action (index where labels)


@dataclass
class Plans:
    fields: list[str] = field(default_factory=list)  # nature fields the leader observes
    combos: int = 1  # observed nature combinations
    choices: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)  # choice -> plans
    followers: dict[int, FollowerMap] = field(default_factory=dict)


def nature_fields(st: State) -> list[str]:
    return list(st.fields[st.nature]) if st.nature >= 0 else []


def resolve_maps(st: State) -> None:
    """Who observes what: the leader's chance fields, each follower's leader choices."""
    plans = Plans()
    leader = st.statements(s.LeaderDecl)[0]
    for stmt in leader.body:
        if isinstance(stmt, s.ObserveDecl):
            for target in stmt.targets:
                name = target.action.name
                if target.agent is None and name in nature_fields(st) and name not in plans.fields:
                    plans.fields.append(name)
    if plans.fields:
        order = nature_fields(st)
        plans.fields.sort(key=order.index)
        plans.combos = math.prod(len(st.fields[st.nature][f].support) for f in plans.fields)
        for values, choice in st.choices.values():
            if values.interval is not None:
                raise error(f"the leader observes a chance state, and '{choice.name}' is continuous", choice.span,
                            hint="a choice made per state needs a finite set; choose from a list")
            count = len(values.labels) ** plans.combos
            if count > MAX_ACTIONS:
                raise too_big(f"choice '{choice.name}' made for each observed chance state gives too many plans",
                              count, MAX_ACTIONS, choice.span, "observe fewer chance fields or choose from a smaller set")
            plans.choices[choice.name] = list(itertools.product(range(len(values.labels)), repeat=plans.combos))
    for k, agent in enumerate(st.agents[:st.people]):
        decls = [b for b in agent.decl.body if isinstance(b, s.ObserveDecl)]
        seen: list[str] = []
        for decl in decls:
            for target in decl.targets:
                seen.append(_observed_choice(target, agent.name, st))
        if seen:
            plans.followers[k] = _follower_map(k, list(dict.fromkeys(seen)), decls[0], st)
    st.plans = plans


def _observed_choice(target: s.ObserveTarget, me: str, st: State) -> str:
    """The leader choice an agent observes; of a per-agent choice (`choose pay[agents]`),
    the agent's own component, `pay[me]`."""
    name = target.action.name
    if target.agent is None and name in st.choice_groups:
        name = f"{name}[{me}]"
    elif target.agent is not None and target.agent.name in st.choice_groups:
        raise error(f"an agent observes its own component of '{target.agent.name}', not another's", target,
                    hint=f"write `observe {target.agent.name}`: agent '{me}' sees {target.agent.name}[{me}]")
    if target.agent is not None or name not in st.choices:
        if target.agent is not None or any(a is not None and a.name == name for a in st.actions) \
                or name in st.agent_index() or name in nature_fields(st):
            raise error(f"an agent observes only the leader's choices, not '{target.action.name}'", target,
                        hint="private information is a `type` field (correlated with `joint`); "
                             "the leader observes agents")
        raise error(f"no leader choice named '{name}'", target.action,
                    hint=did_you_mean(name, list(st.choices)) or (
                        f"the leader's choices are: {listing(st.choices)}" if st.choices else "the leader makes no choice"))
    if st.choices[name][0].interval is not None:
        raise error(f"an agent observes the continuous choice '{name}'", target,
                    hint="an agent answers each observed value; observe a choice from a finite set")
    return name


def _follower_map(k: int, names: list[str], decl: s.ObserveDecl, st: State) -> FollowerMap:
    agent = st.agents[k]
    if k in st.leader.observe:
        raise error(f"agent '{agent.name}' observes the leader, and the leader observes it", decl,
                    hint="one of them moves first: remove this line or the leader's `observe`")
    if st.outs[k] >= 0:
        raise error(f"agent '{agent.name}' may stay out and observes the leader", decl,
                    hint="staying out is decided before the leader moves; drop `participation optional` or this line")
    action = st.actions[k]
    n_actions = len(action.values.labels) if action is not None else 1
    seen = math.prod(len(st.choices[c][0].labels) for c in names)
    if n_actions ** seen > MAX_ACTION_PROFILES:
        raise too_big(f"agent '{agent.name}' answers each observed choice: too many strategies",
                      n_actions ** seen, MAX_ACTION_PROFILES, decl,
                      "observe a choice with fewer values, or give the agent fewer actions")
    plans = list(itertools.product(range(n_actions), repeat=seen))
    values = action.values.values if action is not None else [None]
    numeric = [float(v) if v is not None else float(i) for i, v in enumerate(values)]
    combos = [", ".join(parts) for parts in itertools.product(*[st.choices[c][0].labels for c in names])]
    follower = st.followers[k]
    labels = ["; ".join(f"{c}->{follower.action_labels[a]}" for c, a in zip(combos, plan)) for plan in plans]
    st.followers[k] = follower.model_copy(update={"action_labels": labels, "action_values": [None] * len(plans)})
    return FollowerMap(choices=names, plans=plans, numeric=numeric)


# ---------------------------------------------------------------------------
# payoffs read the planned values
# ---------------------------------------------------------------------------


def lower_maps(st: State) -> None:
    """Rewrite every payoff so choices and actions that are plans read their planned value;
    the leader's choices become choices of plans."""
    plans: Plans = st.plans
    if st.nature < 0 and not plans.followers:
        return
    st.utilities = [_lower(u, st) for u in st.utilities]
    for info in st.outcomes.values():  # checked after this pass, as the payoffs read them
        info.probs = [_lower(p, st) for p in info.probs]
    st.objective = _lower(st.objective, st)
    if plans.choices:
        combos = _nature_combos(st)
        choices = []
        for c in st.leader.choices:
            labels = ["; ".join(f"{o}->{c.labels[v]}" for o, v in zip(combos, plan)) for plan in plans.choices[c.name]]
            choices.append(c.model_copy(update={"kind": "label", "labels": labels, "values": [None] * len(labels)}))
        st.leader = st.leader.model_copy(update={"choices": choices})


def _nature_combos(st: State) -> list[str]:
    infos = [st.fields[st.nature][f] for f in st.plans.fields]
    shown = [[info.show(v, st) for v in info.support] for info in infos]
    return [",".join(parts) for parts in itertools.product(*shown)]


def _lower(e: m.Expr, st: State) -> m.Expr:
    """Post-order rewrite: agent aggregates unrolled over the agents proper, every agent
    reference made constant, then choices and actions that are plans looked up."""
    update = {}
    for name in type(e).model_fields:
        child = getattr(e, name)
        if isinstance(child, m._E):
            update[name] = _lower(child, st)
        elif isinstance(child, list) and child and isinstance(child[0], m._E):
            update[name] = [_lower(c, st) for c in child]
    if update:
        e = e.model_copy(update=update)
    return _node(e, st)


def _node(e: m.Expr, st: State) -> m.Expr:
    """One node whose children are lowered already."""
    if isinstance(e, m.Aggregate) and e.domain == "agents":
        parts = [substitute(e.body, e.var, m.Const.make(value=k)) for k in range(st.people)]
        return balanced("+" if e.func == "sum" else e.func, parts, e.span)
    if isinstance(e, (m.TypeRef, m.ActionRef, m.Outcome)) and not isinstance(e.agent, m.Const):
        chain = _node(e.model_copy(update={"agent": m.Const.make(value=st.people - 1)}), st)
        for k in reversed(range(st.people - 1)):
            same = m.Binary.make(op="==", left=e.agent, right=m.Const.make(value=k))
            chain = m.If.make(cond=same, then=_node(e.model_copy(update={"agent": m.Const.make(value=k)}), st),
                              orelse=chain, span=e.span)
        return chain
    if isinstance(e, m.ChoiceRef) and e.name in st.plans.choices:
        return _planned_choice(e, st)
    if isinstance(e, m.ActionRef) and int(e.agent.value) in st.plans.followers:
        return _planned_action(e, st)
    return e


def _nature_index(st: State) -> m.Expr:
    """The position of the observed chance combination (first observed field slowest)."""
    index: m.Expr = m.Const.make(value=0.0)
    me = m.Const.make(value=st.nature)
    for f in st.plans.fields:
        info = st.fields[st.nature][f]
        ref = m.TypeRef.make(agent=me, field=f)
        pos = position(ref, info.support, None) if info.kind == "scalar" else ref
        scaled = m.Binary.make(op="*", left=index, right=m.Const.make(value=len(info.support)))
        index = m.Binary.make(op="+", left=scaled, right=pos)
    return index


def _planned_choice(e: m.ChoiceRef, st: State) -> m.Expr:
    values, _ = st.choices[e.name]
    numbers = [float(v) if (e.numeric and v is not None) else float(i) for i, v in enumerate(values.values)]
    table = [[numbers[v] for v in plan] for plan in st.plans.choices[e.name]]
    return m.Table.make(name=f"{e.name} by state", values=table,
                        index=[m.ChoiceRef.make(name=e.name), _nature_index(st)], span=e.span)


def _planned_action(e: m.ActionRef, st: State) -> m.Expr:
    fmap: FollowerMap = st.plans.followers[int(e.agent.value)]
    seen: m.Expr = m.Const.make(value=0.0)
    for c in fmap.choices:
        size = len(st.choices[c][0].labels)
        realised = _node(m.ChoiceRef.make(name=c), st)
        scaled = m.Binary.make(op="*", left=seen, right=m.Const.make(value=size))
        seen = m.Binary.make(op="+", left=scaled, right=realised)
    table = [[fmap.numeric[a] if e.numeric else float(a) for a in plan] for plan in fmap.plans]
    return m.Table.make(name=f"{st.agents[int(e.agent.value)].name} plan", values=table,
                        index=[m.ActionRef.make(agent=e.agent), seen], span=e.span)
