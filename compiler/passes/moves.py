"""What each player can do: follower actions, the leader's observations and one-shot
choices, and sequential rounds."""
from __future__ import annotations

import math

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import did_you_mean, evaluate, fmt, number, number_list
from mechdsl.compiler.passes.state import (
    Action, FiniteSet, State, agent_ref, article, check_finite, error, file_start, line_of, listing,
)


def resolve_actions(st: State) -> None:
    """Each follower's action set (non-empty); then the `Follower` records."""
    for agent, fields, combos in zip(st.agents, st.fields, st.alt_index):
        decl = next((b for b in agent.decl.body if isinstance(b, s.ActionDecl)), None)
        action = None
        if decl is not None:
            action = Action(name=decl.name.name, values=finite_set(decl.domain, st, "action"), decl=decl)
        action = with_participation(agent, action, st)
        st.actions.append(action)
        labels, values = [], {f: [] for f in fields}
        for combo in combos:
            parts = []
            for (name, info), idx in zip(fields.items(), combo):
                v = info.support[idx]
                values[name].append(v)
                parts.append(f"{name}={info.show(v, st)}")
            labels.append(",".join(parts) if parts else "none")
        st.followers.append(
            m.Follower.make(
                name=agent.name,
                fields=[m.TypeField.make(name=f.name, kind=f.kind, labels=list(f.labels)) for f in fields.values()],
                type_labels=labels,
                type_values=values,
                action_name=action.name if action else "none",
                action_labels=list(action.values.labels) if action else ["none"],
                action_values=_floats(action.values.values) if action else [None],
                span=agent.decl.span,
            )
        )


PARTICIPATION = ("optional", "required")
OUT = "out"  # the label of staying out


def with_participation(agent, action, st: State):
    """`participation optional`: one more action, `out`, last (0 in a numeric set); without
    an action line the set is {in, out}.  The utility pass makes staying out worth 0."""
    decls = [b for b in agent.decl.body if isinstance(b, s.ParticipationDecl)]
    if len(decls) > 1:
        raise error("a second participation line", decls[1], hint=f"the first one is at line {line_of(decls[0])}")
    st.outs.append(-1)
    if not decls:
        return action
    mode = decls[0].mode
    if mode.name not in PARTICIPATION:
        raise error(f"participation is optional or required, got '{mode.name}'", mode,
                    hint=did_you_mean(mode.name, PARTICIPATION) or "write `participation optional`")
    if mode.name == "required":
        return action
    if st.rounds_decl() is not None:
        raise error("participation applies to one-shot mechanisms", decls[0],
                    hint="in rounds an agent already may buy nothing; remove this line")
    if action is None:
        st.outs[-1] = 1
        return Action(name="participation", values=FiniteSet("label", ["in", OUT], [None, None]), decl=None)
    values = action.values
    if values.kind not in ("number", "label"):
        raise error(f"an agent that may stay out needs a number or label action, not {values.kind}s", decls[0],
                    hint="staying out would leave no item or agent to read; pick from a list or a set of labels")
    if OUT in values.labels:
        raise error(f"the action '{action.name}' already has a value '{OUT}'", decls[0],
                    hint=f"staying out adds the value '{OUT}'; rename the other one")
    st.outs[-1] = len(values.labels)
    grown = FiniteSet(values.kind, values.labels + [OUT], values.values + [0.0 if values.kind == "number" else None])
    return Action(name=action.name, values=grown, decl=action.decl)


def finite_set(domain, st: State, what: str) -> FiniteSet:
    """`{A, B}`, `items`, `agents` or a constant list of numbers; never empty, no repeats."""
    if isinstance(domain, s.LabelSet):
        labels = [lab.name for lab in domain.labels]
        seen: set[str] = set()
        for lab in domain.labels:
            if lab.name in seen:
                raise error(f"label '{lab.name}' is listed twice", lab, hint="list each label once")
            seen.add(lab.name)
        result = FiniteSet("label", labels, [None] * len(labels))
    elif isinstance(domain, s.AllItems):
        result = FiniteSet("item", [it.name for it in st.items], [None] * len(st.items))
    elif isinstance(domain, s.AllAgents):
        result = FiniteSet("agent", [a.name for a in st.agents[:st.people]], [None] * st.people)
    else:
        values = number_list(domain, st.env(), f"a list of numbers or a set of labels {{A, B}} for this {what}")
        seen_values: set[float] = set()
        for v in values:
            check_finite(v, domain)
            if v in seen_values:
                raise error(f"value {fmt(v)} is listed twice", domain, hint="list each value once (unique(...) drops repeats)")
            seen_values.add(v)
        result = FiniteSet("number", [fmt(v) for v in values], list(values))
    if not result.labels:
        raise error(f"empty {what} set", domain, hint="list at least one value")
    return result


def _floats(values) -> list:
    """Numbers as the model declares them: floats (None stays None)."""
    return [None if v is None else float(v) for v in values]


def resolve_leader(st: State) -> None:
    """What the leader observes, and its one-shot choices."""
    if not st.statements(s.LeaderDecl):
        raise error("the spec has no leader block", file_start(),
                    hint="add `leader { choose ... }` or `leader { rounds { ... } }`")
    leader = st.statements(s.LeaderDecl)[0]
    observe: set[int] = set()
    choices = []
    for stmt in leader.body:
        if isinstance(stmt, s.ObserveDecl):
            for target in stmt.targets:
                observe |= observed(target, st)
        elif isinstance(stmt, s.ChooseDecl):
            values = interval_set(stmt, st) if stmt.interval else finite_set(stmt.domain, st, "choice")
            names = [stmt.name.name]
            if stmt.per_agent:  # `choose pay[agents]`: pay[bidder1], pay[bidder2], ...
                names = [f"{stmt.name.name}[{a.name}]" for a in st.agents[:st.people]]
                st.choice_groups[stmt.name.name] = names
            for name in names:
                choice = m.Choice.make(name=name, kind=values.kind, labels=list(values.labels),
                                       values=_floats(values.values), mixed=stmt.mixed and mixed_when(stmt, st),
                                       interval=tuple(_floats(values.interval)) if stmt.interval else None,
                                       span=stmt.span)
                st.choices[choice.name] = (values, choice)
                choices.append(choice)
    rounds = [r for r in leader.body if isinstance(r, s.RoundsDecl)]
    if len(rounds) > 1:
        raise error("a second rounds block", rounds[1], hint=f"the first one is at line {line_of(rounds[0])}")
    if not choices and not rounds:
        raise error("the leader decides nothing", leader, hint="add `choose name in {...}` or a `rounds { ... }` block")
    st.leader = m.Leader.make(observe=sorted(observe), choices=choices)


def interval_set(stmt: s.ChooseDecl, st: State) -> FiniteSet:
    """`choose tau in interval [low, high]`: a number the trainer's continuous head picks;
    one placeholder label, so the choice tables and the choose sets stay as they are."""
    if stmt.mixed:
        raise error(f"a continuous choice ('{stmt.name.name}') cannot be mixed", stmt,
                    hint="drop `mixed`: a number from an interval is already one of infinitely many")
    if st.rounds_decl() is not None:
        raise error(f"a continuous choice ('{stmt.name.name}') with sequential rounds", stmt,
                    hint="the continuous values go to round prices there; choose from a list instead")
    low_node, high_node = stmt.domain.items
    low, high = number(low_node, st.env(), "a bound"), number(high_node, st.env(), "a bound")
    for v, node in ((low, low_node), (high, high_node)):
        if not math.isfinite(v):
            raise error(f"bounds must be finite numbers, got {fmt(v)}", node, hint="rescale the bounds")
    if low > high:
        raise error(f"interval low {fmt(low)} is above high {fmt(high)}", stmt, hint="write interval [low, high]")
    values = FiniteSet("number", [f"[{fmt(low)}, {fmt(high)}]"], [None])
    values.interval = (low, high)
    return values


def mixed_when(stmt: s.ChooseDecl, st: State) -> bool:
    """`mixed if commit`: a constant bool (usually a param, switched with --set commit=false)."""
    if stmt.mixed_if is None:
        return True
    value = evaluate(stmt.mixed_if, st.env())
    if not isinstance(value, bool):
        raise error(f"`mixed if` needs true or false, got {fmt(value)}", stmt.mixed_if,
                    hint="write a bool param: `param commit = true`, then `mixed if commit`")
    return value


def observed(target: s.ObserveTarget, st: State) -> set[int]:
    """The followers an `observe` target names (a chance field: none; `compiler.passes.chance`)."""
    agents = st.agent_index()
    if target.agent is None and st.nature >= 0 and target.action.name in st.fields[st.nature]:
        return set()
    if target.agent is not None:
        k = agent_ref(target.agent, agents, st)
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
            raise error(f"agent '{silent[0]}' has no action to observe", target,
                        hint="give it an `action` line, or remove it from `observe`")
        return set(members)
    actions = sorted({a.name for a in st.actions if a is not None})
    raise error(f"no agent has an action named '{name}'", target.action,
                hint=did_you_mean(name, actions + list(agents)) or (
                    f"actions are: {listing(actions)}" if actions else "no agent has an action"))


def visiting_order(visit: s.VisitDecl, st: State) -> list[int]:
    """`visit in order a2, a1`: these agents in this order (the others are never visited);
    `visit in order`: every agent, as declared."""
    if not visit.order:
        return list(range(st.people))
    agents, order = st.agent_index(), []
    for name in visit.order:
        members = [agents[name.name]] if name.name in agents else st.groups.get(name.name)
        if members is None:
            raise error(f"unknown agent '{name.name}' in the visiting order", name,
                        hint=did_you_mean(name.name, list(agents) + list(st.groups), f"agents are: {listing(agents)}"))
        for k in members:
            if k in order:
                raise error(f"agent '{st.agents[k].name}' is visited twice in the order", name,
                            hint="list each agent once")
            order.append(k)
    return order


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
    if st.nature >= 0:
        raise error("a chance state with sequential rounds", st.statements(s.NatureDecl)[0],
                    hint="rounds visit every agent; a chance state informs one-shot `choose` lines only")
    if not st.items:
        raise error("rounds sell items, but the spec declares none", decl, hint="add `item name`")
    prices = [p for p in decl.body if isinstance(p, (s.PriceGrid, s.PriceInterval))]
    for kind, what in ((s.VisitDecl, "visit"), (s.RoundsObserve, "observe")):
        found = [b for b in decl.body if isinstance(b, kind)]
        if len(found) > 1:
            raise error(f"a second `{what}` line in rounds", found[1], hint=f"the first one is at line {line_of(found[0])}")
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
                raise error(f"prices must be finite numbers, got {fmt(p)}", price.grid,
                            hint="rescale the prices so they stay well below 1e308")
        rounds.update(price_kind="grid", grid=_floats(dict.fromkeys(grid)), bundle_prices=price.per == "bundle")
    else:
        env = st.env(with_support=True)
        low, high = number(price.low, env, "a price"), number(price.high, env, "a price")
        for v, node in ((low, price.low), (high, price.high)):
            if not math.isfinite(v):
                raise error(f"prices must be finite numbers, got {fmt(v)}", node,
                            hint="rescale the prices so they stay well below 1e308")
        if low > high:
            raise error(f"interval low {fmt(low)} is above high {fmt(high)}", price, hint="write interval [low, high]")
        rounds.update(price_kind="interval", low=float(low), high=float(high), bundle_prices=price.per == "bundle")
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
        if info.kind in ("item", "label"):
            raise error(f"field '{field_name}' of agent '{agent.name}' holds {article(info.kind)} {info.kind}, "
                        "not a value", where,
                        hint="the valued field is a number or a per-item number `value[item]`")
    rounds["value_field"] = field_name
    if ties:
        rounds["tie_buy"] = ties[0].buy
    seen = [b for b in decl.body if isinstance(b, s.RoundsObserve)]
    if seen:
        rounds["observe_allocation"] = seen[0].what == "allocation"
    visit = next((b for b in decl.body if isinstance(b, s.VisitDecl)), None)
    if visit is not None and visit.order is not None:
        rounds["order"] = visiting_order(visit, st)
    st.rounds = m.Rounds.make(**rounds)
    st.leader = st.leader.model_copy(update={"rounds": st.rounds})
