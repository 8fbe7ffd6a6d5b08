"""The first passes: singleton statements, params (and --set), items, agents, and the one
namespace their names share."""
from __future__ import annotations

from typing import Optional

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import ConstEnv, Value, did_you_mean, evaluate, fmt, number, whole
from mechdsl.compiler.errors import MechError, MechUsageError
from mechdsl.compiler.limits import MAX_FOLLOWERS, MAX_LIST, too_big
from mechdsl.compiler.model import Span
from mechdsl.compiler.passes.state import NATURE, Agent, State, article, error, file_start, line_of


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
    known = set(names)
    for name in st.overrides:
        if name not in known:
            hint = did_you_mean(name, names) or (
                f"the spec's params are: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}"
                if names else "the spec declares no params"
            )
            raise MechUsageError(f"unknown parameter '{name}' in --set {name}={st.overrides[name]}", hint=hint,
                                 **set_position(name, st.overrides[name], None, at_name=True))
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
    """The value of `--set name=text`, over the params declared before `name`.  Its
    errors point into the text `name=text`, shown as the file "--set"."""
    from mechdsl.compiler.parse import parse  # local: parse imports nothing from here, but keep stages apart
    from mechdsl.compiler.transform import to_spec

    try:
        return evaluate(to_spec(parse(text, start="value")), ConstEnv(params=st.params, budget=st.budget))
    except MechError as e:
        raise MechUsageError(f"bad value in --set {name}={text}: {e.message}", hint=e.hint or "write a number",
                             **set_position(name, text, e.span)) from None


def set_position(name: str, text: str, span: Optional[Span], at_name: bool = False) -> dict:
    """Where in `--set name=text` an error is: `span` within `text` (None: all of it),
    or the name itself."""
    prefix = len(name) + 1
    if at_name:
        span = Span.make(line=1, column=1, end_line=1, end_column=prefix)
    elif span is None:
        span = Span.make(line=1, column=prefix + 1, end_line=1, end_column=prefix + 1 + len(text.split("\n")[0]))
    else:
        span = Span.make(line=span.line, column=span.column + (prefix if span.line == 1 else 0),
                         end_line=span.end_line, end_column=span.end_column + (prefix if span.end_line == 1 else 0))
    return {"path": "--set", "span": span, "source": f"{name}={text}"}


def declare_items(st: State) -> None:
    """`item x [units n]` and `items a, b, c`, in order; units are positive whole numbers."""
    seen: dict[str, s.Ident] = {}
    for decl in st.spec.statements:
        if isinstance(decl, s.ItemDecl):
            names, units = [decl.name], decl.units
        elif isinstance(decl, s.ItemsDecl) and decl.count is not None:
            names, units = numbered_items(decl, st), None
        elif isinstance(decl, s.ItemsDecl):
            names, units = decl.names, None
        else:
            continue
        count = 1
        if units is not None:
            value = number(units, st.env(), "a number of units")
            if value != int(value) or value < 1:
                raise error(f"units must be a positive whole number, got {fmt(value)}", units,
                            hint="write e.g. `item apple units 2`")
            count = int(value)
        for name in names:
            if name.name in seen:
                first = line_of(seen[name.name])
                raise error(f"item '{name.name}' is declared twice", name, hint=f"first declared at line {first}")
            seen[name.name] = name
            st.items.append(m.Item.make(name=name.name, units=int(count), span=decl.span))


def numbered_items(decl: s.ItemsDecl, st: State) -> list[s.Ident]:
    """`items slot[n]`: slot1..slotn, n a constant (usually a param)."""
    n = whole(decl.count, st.env(), "a whole number of items")
    if n < 1:
        raise error(f"an item group needs at least 1 item, got {n}", decl.count,
                    hint=f"write e.g. `items {decl.names[0].name}[2]`")
    if n > MAX_LIST:
        raise too_big("too many items", n, MAX_LIST, decl.count, "use fewer items; exact solving needs far fewer")
    return [s.Ident(name=f"{decl.names[0].name}{k}", span=decl.names[0].span) for k in range(1, n + 1)]


def expand_agents(st: State) -> None:
    """`agent x {...}` is one follower; `agents x[n] {...}` is followers x1..xn."""
    for decl in st.spec.statements:
        if isinstance(decl, s.AgentDecl):
            if len(st.agents) >= MAX_FOLLOWERS:
                raise too_big("too many agents", len(st.agents) + 1, MAX_FOLLOWERS, decl.name,
                              "use fewer agents; exact solving and learning need far fewer")
            st.agents.append(Agent(name=decl.name.name, decl=decl))
        elif isinstance(decl, s.AgentsDecl):
            n = whole(decl.count, st.env(), "a whole number of agents")
            if n < 1:
                raise error(f"an agent group needs at least 1 agent, got {n}", decl.count,
                            hint=f"write e.g. `agents {decl.name.name}[2] {{ ... }}`")
            if len(st.agents) + n > MAX_FOLLOWERS:
                raise too_big("too many agents", len(st.agents) + n, MAX_FOLLOWERS, decl.count,
                              "use fewer agents; exact solving and learning need far fewer")
            start = len(st.agents)
            for k in range(1, n + 1):
                st.agents.append(Agent(name=f"{decl.name.name}{k}", decl=decl, group=decl.name.name))
            st.groups[decl.name.name] = list(range(start, start + n))
    if not st.agents:
        raise error("the spec declares no agent", file_start(), hint="add `agent name { ... }`")
    add_nature(st)


def add_nature(st: State) -> None:
    """`nature x ~ ...` lines: one chance player after the agents, with those fields as its
    type and a single action, so the prior and payoffs read it like any type (its law may be
    a `joint` with the agents' fields); the passes leave it out of `agents` (`State.people`)."""
    decls = st.statements(s.NatureDecl)
    if not decls:
        return
    st.nature = len(st.agents)
    name = s.Ident(name=NATURE, span=decls[0].span)
    st.agents.append(Agent(name=NATURE, decl=s.AgentDecl(name=name, body=[d.field for d in decls], span=decls[0].span)))


def check_duplicate_names(st: State) -> None:
    """Params, items, agents, agent groups, tables and leader choices share one namespace."""
    seen: dict[str, tuple[str, Span]] = {}

    def claim(name: str, what: str, node) -> None:
        if name == "self":
            raise error("'self' is reserved (it means the agent whose utility is computed)", node,
                        hint="pick another name")
        if name in seen:
            other, where = seen[name]
            again = "declared twice" if other == what else f"already {article(other)} {other}"
            raise error(f"{what} '{name}' is {again}", node, hint=f"first declared at line {where.line}")
        seen[name] = (what, node.span)

    for p in st.statements(s.ParamDecl):
        claim(p.name.name, "param", p.name)
    for it in st.items:
        claim(it.name, "item", it)
    for a in st.agents[:st.people]:
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
    nature = [st.agents[st.nature].decl] if st.nature >= 0 else []
    for decl in st.statements(s.AgentDecl) + st.statements(s.AgentsDecl) + nature:
        local: dict[str, Span] = {}
        actions = [b for b in decl.body if isinstance(b, s.ActionDecl)]
        if len(actions) > 1:
            raise error(
                "an agent has exactly one strategic action", actions[1],
                hint=f"the first `action` is at line {line_of(actions[0])}; use one action with more values",
            )
        for b in decl.body:
            if isinstance(b, (s.ParticipationDecl, s.ObserveDecl)):
                continue
            name = b.name.name
            what = "field" if isinstance(b, s.TypeDecl) else "action"
            if name in local:
                raise error(f"{what} '{name}' is declared twice in agent '{decl.name.name}'", b.name,
                            hint=f"first declared at line {local[name].line}")
            if name in seen:
                other = seen[name][0]
                raise error(f"{what} '{name}' has the name of {article(other)} {other}", b.name,
                            hint=f"pick another name ({other} '{name}' is declared at line {seen[name][1].line})")
            if name == "self":
                raise error("'self' is reserved (it means the agent whose utility is computed)", b.name,
                            hint="pick another name")
            local[name] = b.name.span
