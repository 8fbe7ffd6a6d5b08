"""Payoffs: numeric tables over finite sets, each follower's utility, and the leader's
objective (expressions are checked by `compiler.typecheck`)."""
from __future__ import annotations

import collections
import math

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import did_you_mean, evaluate, fmt
from mechdsl.compiler.interpreter import TOL
from mechdsl.compiler.limits import MAX_PAYOFF_NODES, too_big
from mechdsl.compiler.lowering import participates
from mechdsl.compiler.passes.state import (
    NAMED_OBJECTIVES, FiniteSet, State, TableInfo, error, line_of, listing, support_of,
)
from mechdsl.compiler.typecheck import Scope, number_expr


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
        return FiniteSet("agent", [a.name for a in st.agents[:st.people]], [None] * st.people)
    if name in st.choices:
        if st.choices[name][0].interval is not None:
            raise error(f"the continuous choice '{name}' cannot be a table axis", axis,
                        hint="an axis runs over a finite set; compute the payoff from the number instead")
        return st.choices[name][0]
    if name in st.outcomes:
        info = st.outcomes[name]
        if info.labels:
            return FiniteSet("label", list(info.labels), [None] * len(info.labels))
        return FiniteSet("number", [fmt(v) for v in info.values], list(info.values))
    sets = [a.values for a in st.actions if a is not None and a.name == name]
    if sets:
        if any(x.labels != sets[0].labels for x in sets):
            raise error(f"agents disagree on the values of action '{name}'", axis,
                        hint="a table axis needs one set of values; give these agents the same action set")
        return sets[0]
    infos = [fields[name] for fields in st.fields if name in fields]
    if infos:
        return field_axis(axis, infos, st)
    known = list(st.choices) + sorted({a.name for a in st.actions if a is not None}) + ["items", "agents"]
    known += sorted({f for fields in st.fields for f in fields})
    raise error(f"unknown table axis '{name}'", axis,
                hint=did_you_mean(name, known)
                or "an axis is a leader choice, a follower action, a type field, items or agents")


def field_axis(axis: s.Ident, infos: list, st: State) -> FiniteSet:
    """An axis over a type field: its labels, the items, or support(field) for numbers."""
    name = axis.name
    kinds = {info.kind for info in infos}
    if len(kinds) > 1 or "per_item" in kinds:
        raise error(f"type field '{name}' cannot be a table axis: it is " + (
            "a per-item field" if "per_item" in kinds else f"of different kinds across agents ({', '.join(sorted(kinds))})"),
            axis, hint="an axis is a number, label or item field with one kind in every agent")
    kind = kinds.pop()
    if kind == "item":
        return FiniteSet("item", [it.name for it in st.items], [None] * len(st.items), field=name)
    if kind == "label":
        if any(info.labels != infos[0].labels for info in infos):
            raise error(f"agents disagree on the labels of field '{name}'", axis,
                        hint="a table axis needs one set of labels; give the field the same labels in every agent")
        return FiniteSet("label", list(infos[0].labels), [None] * len(infos[0].labels), field=name)
    values = support_of(st, s.Name(name=name, span=axis.span))
    for a, b in zip(values, values[1:]):
        if b - a <= TOL:  # payoffs compare numbers within TOL: the axis could not tell these apart
            raise error(f"field '{name}' has values {fmt(a)} and {fmt(b)}, too close to index a table by", axis,
                        hint="values on a table axis differ by more than 1e-9; round them")
    return FiniteSet("number", [fmt(v) for v in values], list(values), field=name)


def _cell_size(raw, depth: int, decl: s.TableDecl) -> int:
    cell = raw
    for _ in range(depth):
        if not isinstance(cell, list) or not cell:
            raise error(f"table '{decl.name.name}' needs {depth} levels of nested lists, one per axis", decl.value,
                        hint="write one list per axis: table t[row, col] = [[1, 2], [3, 4]]")
        cell = cell[0]
    return len(cell) if isinstance(cell, tuple) else 0


def _table_values(raw, axes, cell_size: int, decl: s.TableDecl, at: list[int], node: s.SExpr):
    """Check the literal against the axes level by level; errors point at the row at fault."""
    if len(at) == len(axes):
        cell = raw
        where = f"cell {decl.name.name}[{', '.join(axes[i][1].labels[k] for i, k in enumerate(at))}]"
        if cell_size:
            if not isinstance(cell, tuple) or len(cell) != cell_size:
                raise error(f"{where} should be a {cell_size}-tuple like the first cell, got {fmt(cell)}", node,
                            hint="every cell of a table has the same form: a number, or tuples of one length")
            parts = list(cell)
        else:
            parts = [cell]
        for v in parts:
            if not isinstance(v, float) or isinstance(v, bool) or not math.isfinite(v):
                raise error(f"{where} holds {fmt(v)}; table cells are numbers or tuples of numbers", node,
                            hint="write finite numbers, or tuples of them such as (1, 0)")
        return parts if cell_size else parts[0]
    name, values = axes[len(at)]
    if not isinstance(raw, list) or len(raw) != len(values.labels):
        got = f"{len(raw)} entries" if isinstance(raw, list) else fmt(raw)
        raise error(
            f"table '{decl.name.name}': axis '{name}' has {len(values.labels)} values {values.describe()}, "
            f"but the table gives {got} here", node, hint=f"give one entry per value of '{name}', in its order",
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
                        hint=did_you_mean(name, list(agents) + list(st.groups), f"agents are: {listing(agents)}"))
        for k in members:
            if k in own:
                raise error(f"a second utility for agent '{st.agents[k].name}'", decl.agent,
                            hint=f"the first one is at line {line_of(own[k])}")
            own[k] = decl
    uses = collections.Counter(id(own.get(k, generic)) for k in range(st.people))
    for decl in [generic, *own.values()]:
        if decl is not None and uses[id(decl)] * expr_size(decl.expr) > MAX_PAYOFF_NODES:
            raise too_big(f"this utility is resolved for {uses[id(decl)]} agents: too many expression nodes",
                          uses[id(decl)] * expr_size(decl.expr), MAX_PAYOFF_NODES, decl,
                          "shorten the utility, or use fewer agents (a generic utility is resolved once per agent)")
    for k, agent in enumerate(st.agents):
        decl = own.get(k, generic)
        if k == st.nature:  # the chance player gains nothing (it has one action)
            st.utilities.append(m.Const.make(value=0.0))
        elif decl is not None:
            scope = Scope(self_agent=k, where=f"the utility of '{agent.name}'")
            st.utilities.append(number_expr(decl.expr, scope, st, "a utility"))
        elif st.rounds is not None:
            me = m.Const.make(value=k)
            st.utilities.append(m.Binary.make(op="-", left=m.Outcome.make(what="worth", agent=me),
                                              right=m.Outcome.make(what="paid", agent=me)))
        else:
            raise error(f"agent '{agent.name}' has no utility", agent.decl.name,
                        hint=f"add `utility {agent.name} = ...` or a generic `utility = ...` line")
        if st.outs[k] >= 0:  # staying out is worth 0
            u = st.utilities[-1]
            st.utilities[-1] = m.If.make(cond=participates(m.Const.make(value=k), st.outs, u.span), then=u,
                                         orelse=m.Const.make(value=0.0), span=u.span)


def expr_size(expr: s.SExpr) -> int:
    """Nodes of a syntax expression, counted without recursion."""
    count, stack = 0, [expr]
    while stack:
        node = stack.pop()
        count += 1
        for name in type(node).model_fields:
            child = getattr(node, name)
            if isinstance(child, list):
                stack.extend(c for c in child if isinstance(c, s.Node) and not isinstance(c, s.Ident))
            elif isinstance(child, s.Node) and not isinstance(child, s.Ident):
                stack.append(child)
    return count


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
        st.objective = m.Aggregate.make(func="sum", var="i", domain="agents",
                                        body=m.Outcome.make(what=what, agent=m.Var.make(name="i")), span=decl.span)
        st.objective_name = name
    else:
        st.objective = number_expr(decl.expr, Scope(self_agent=None, where="the objective"), st, "the objective")
