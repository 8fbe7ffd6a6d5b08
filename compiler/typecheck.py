"""Payoff expressions: bind every name and type-check a `Spec` expression into a `Model`
expression.  One recursive checker, used by the utility and objective passes.
"""
from __future__ import annotations

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import FUNCTIONS, arithmetic, as_whole, did_you_mean, evaluate, fmt
from mechdsl.compiler.lowering import over_others, participates, position, size
from mechdsl.compiler.model import Span
from mechdsl.compiler.passes.state import OUTCOMES, FiniteSet, State, TableInfo, article, error
from mechdsl.compiler.typed import (
    AXIS_HINT, COMPARE_HINT, NUMBER_HINT, NUMERIC, Scope, Typed, has, kind_word, known, label_sets, set_member,
    set_ref,
)


def number_expr(expr: s.SExpr, scope: Scope, st: State, what: str) -> m.Expr:
    t = resolve_expr(expr, scope, st)
    if t.ty not in NUMERIC:
        raise error(f"{what} must be a number, got {t.describe()}", expr, hint=NUMBER_HINT)
    return t.expr


def resolve_expr(e: s.SExpr, scope: Scope, st: State) -> Typed:
    """Dispatch on the syntax node; every branch returns a `Typed`."""
    st.payoff_work.charge(1, e.span)
    if isinstance(e, s.Num):
        return Typed(m.Const.make(value=e.value, span=e.span), "number")
    if isinstance(e, s.BoolLit):
        return Typed(m.Const.make(value=1.0 if e.value else 0.0, span=e.span), "bool")
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
            raise error(f"'{e.op}' needs {need}, got {operand.describe()}", e.operand, hint=NUMBER_HINT)
        if e.op == "-" and isinstance(operand.expr, m.Const):
            return Typed(m.Const.make(value=-operand.expr.value, span=e.span), "number")
        return Typed(m.Unary.make(op=e.op, operand=operand.expr, span=e.span), "number" if e.op == "-" else "bool")
    if isinstance(e, s.BinOp):
        return resolve_binary(e, scope, st)
    if isinstance(e, s.IfExpr):
        cond = resolve_expr(e.cond, scope, st)
        if cond.ty != "bool":
            raise error(f"the condition of 'if' must be a comparison or a bool, got {cond.describe()}", e.cond,
                        hint="write a comparison, e.g. if col == A then 1 else 0")
        then, orelse = resolve_expr(e.then, scope, st), resolve_expr(e.orelse, scope, st)
        for branch, node in ((then, e.then), (orelse, e.orelse)):
            if branch.ty not in NUMERIC:
                raise error(f"the branches of 'if' must be numbers, got {branch.describe()}", node, hint=NUMBER_HINT)
        ty = "bool" if then.ty == orelse.ty == "bool" else "number"
        return Typed(m.If.make(cond=cond.expr, then=then.expr, orelse=orelse.expr, span=e.span), ty)
    if isinstance(e, (s.ListLit, s.TupleLit)):
        raise error("lists and tuples cannot appear in a payoff expression", e,
                    hint="put them in a `table` and index it")
    if isinstance(e, s.StrLit):
        raise error("strings only appear in the training block", e, hint="write a number or an expression")
    raise error("this cannot appear in a payoff expression", e, hint=NUMBER_HINT)  # pragma: no cover


def resolve_name(e: s.Name, scope: Scope, st: State) -> Typed:
    name = e.name
    if name in scope.vars:
        return Typed(m.Var.make(name=name, span=e.span), scope.vars[name])
    if name == "self":
        if scope.self_agent is None:
            raise error(f"'self' has no meaning in {scope.where}", e,
                        hint="'self' is the agent whose utility is computed")
        return Typed(m.Const.make(value=scope.self_agent, span=e.span), "agent")
    if name in st.params:
        value = st.params[name]
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"param '{name}' is {fmt(value)}, not a number", e,
                        hint="list params can be used in constant lists, not in payoffs")
        return Typed(m.Const.make(value=value, span=e.span), "number")
    items, agents = st.item_index(), st.agent_index()
    if name in items:
        return Typed(m.Const.make(value=items[name], span=e.span), "item")
    if name in agents:
        return Typed(m.Const.make(value=agents[name], span=e.span), "agent")
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
    if name in st.outcomes:
        return outcome_ref(st.outcomes[name], e.span)
    if name in st.choice_groups:
        raise error(f"choice '{name}' is made once per agent", e, hint=f"name the agent: {name}[self], {name}[i], "
                    f"{name}[{st.agents[0].name}]")
    me = scope.self_agent
    for kind in ("field", "action"):
        if me is not None and has(st, me, name, kind):  # the agent's own: no need to look at the others
            return member_ref(m.Const.make(value=me), [me], name, e.span, st)
        having = [k for k in range(len(st.agents)) if k != me and has(st, k, name, kind)]  # nature too: its state
        if not having:
            continue
        if having[0] != scope.self_agent and len(having) > 1:
            who = ", ".join(st.agents[k].name for k in having[:3])
            what = f"{article(kind)} {kind} '{name}'"
            raise error(f"'{name}' is ambiguous in {scope.where}: agents {who} all have {what}", e,
                        hint=f"write {st.agents[having[0]].name}.{name}")
        return member_ref(m.Const.make(value=having[0]), [having[0]], name, e.span, st)
    if any(name in labels for labels in label_sets(st)):
        return Typed(None, "bare", name=name)
    names = set(scope.vars) | set(st.params) | set(items) | set(agents) | set(st.choices) | set(st.tables)
    for fields in st.fields:
        names |= set(fields)
    names |= {a.name for a in st.actions if a is not None}
    raise error(f"unknown name '{name}'", e,
                hint=did_you_mean(name, sorted(names), "declare it (a param, item, agent, choice or table) first"))


def outcome_ref(info, span: Span) -> Typed:
    """A random outcome: a variable until `compiler.passes.outcomes` sums it out."""
    var = m.Var.make(name="~" + info.name, span=span)
    if info.labels:
        return Typed(var, "label", labels=tuple(info.labels), size=len(info.labels))
    return Typed(var, "number", index=position(var, info.values, span), size=len(info.values))


def choice_ref(name: str, span: Span, st: State) -> Typed:
    values, _ = st.choices[name]
    if values.interval is not None:  # a number, with no position to index a table by
        return Typed(m.ChoiceRef.make(name=name, numeric=True, span=span), "number")
    return set_ref(m.ChoiceRef.make(name=name, span=span), m.ChoiceRef.make(name=name, numeric=True, span=span), values)


def per_agent_choice(e: s.Index, scope: Scope, st: State) -> Typed:
    """`pay[i]` of `choose pay[agents]`: agent i's own choice (a chain of ifs over the agents)."""
    name = e.obj.name
    if len(e.indices) != 1:
        raise error(f"'{name}' takes one agent index, got {len(e.indices)}", e, hint=f"write {name}[self] or {name}[i]")
    agent = resolve_expr(e.indices[0], scope, st)
    if agent.ty != "agent":
        raise error(f"'{name}' is indexed by an agent, got {agent.describe()}", e.indices[0],
                    hint=f"write {name}[self], {name}[i] inside sum(i in agents: ...), or {name}[{st.agents[0].name}]")
    refs = [choice_ref(c, e.span, st) for c in st.choice_groups[name]]
    if isinstance(agent.expr, m.Const):
        return refs[int(agent.expr.value)]

    def chain(parts: list[m.Expr]) -> m.Expr:
        out = parts[-1]
        for k in reversed(range(len(parts) - 1)):
            same = m.Binary.make(op="==", left=agent.expr, right=m.Const.make(value=k))
            out = m.If.make(cond=same, then=parts[k], orelse=out, span=e.span)
        return out

    first = refs[0]
    index = chain([r.index for r in refs]) if first.index is not None else None
    return Typed(chain([r.expr for r in refs]), first.ty, labels=first.labels, index=index, size=first.size)


def member_ref(agent: m.Expr, owners: list[int], name: str, span: Span, st: State) -> Typed:
    """Field or action `name` of `agent` (a constant, or a variable ranging over `owners`)."""
    if all(name in st.fields[k] for k in owners):
        kinds = {st.fields[k][name].kind for k in owners}
        if len(kinds) > 1:
            raise error(f"field '{name}' has different kinds across agents ({', '.join(sorted(kinds))})", span,
                        hint="give the field one kind in every agent, or name one agent: a1.field")
        kind = kinds.pop()
        if kind == "per_item":
            return Typed(None, "per_item", name=name, agent=agent)
        ref = m.TypeRef.make(agent=agent, field=name, span=span)
        if kind == "label":
            labels = {tuple(st.fields[k][name].labels) for k in owners}
            if len(labels) > 1:
                raise error(f"agents disagree on the labels of field '{name}'", span,
                            hint="give the field the same labels, in the same order, in every agent, "
                                 "or name one agent: a1.field")
            labels = labels.pop()
            return Typed(ref, "label", labels=labels, size=len(labels))
        return Typed(ref, "number" if kind == "scalar" else "item")
    if all(has(st, k, name, "action") for k in owners):
        sets = [st.actions[k].values for k in owners]
        first = sets[0]
        if any(x.kind != first.kind or (first.kind != "number" and x.labels != first.labels) for x in sets):
            raise error(f"agents disagree on the values of action '{name}'", span,
                        hint="give these agents the same action set, or name one agent: a1.action")
        return set_ref(m.ActionRef.make(agent=agent, span=span), m.ActionRef.make(agent=agent, numeric=True, span=span),
                       first)
    raise LookupError(name)


def resolve_attr(e: s.Attr, scope: Scope, st: State) -> Typed:
    owner = resolve_expr(e.obj, scope, st)
    if owner.ty != "agent":
        raise error(f"'.{e.name.name}' needs an agent on its left, got {owner.describe()}", e.obj,
                    hint="write agent.field, e.g. bidder1.value or self.value")
    if isinstance(owner.expr, m.Const):
        owners = [int(owner.expr.value)]
        label = f"agent '{st.agents[owners[0]].name}'"
    else:
        owners = list(range(st.people))
        label = "every agent"
    try:
        return member_ref(owner.expr, owners, e.name.name, e.span, st)
    except LookupError:
        names = set().union(*(set(st.fields[k]) for k in owners))
        names |= {st.actions[k].name for k in owners if st.actions[k] is not None}
        raise error(f"{label} has no field or action '{e.name.name}'", e.name,
                    hint=did_you_mean(e.name.name, sorted(names), f"it has: {', '.join(sorted(names)) or 'nothing'}")) from None


def resolve_index(e: s.Index, scope: Scope, st: State) -> Typed:
    # a chain t[a, b][c] on a table: gather all indices
    chain, root = [], e
    while isinstance(root, s.Index):
        chain = list(root.indices) + chain
        root = root.obj
    if isinstance(root, s.Name) and root.name in st.tables and root.name not in scope.vars:
        return table_ref(st.tables[root.name], chain, e, scope, st)
    if isinstance(e.obj, s.Name) and e.obj.name in st.choice_groups and e.obj.name not in scope.vars:
        return per_agent_choice(e, scope, st)
    obj = resolve_expr(e.obj, scope, st)
    if obj.ty != "per_item":
        raise error(f"cannot index {obj.describe()}", e.obj, hint="only tables and per-item fields take [...]")
    if len(e.indices) != 1:
        raise error(f"a per-item field takes one item index, got {len(e.indices)}", e, hint="write value[j]")
    item = resolve_expr(e.indices[0], scope, st)
    if item.ty != "item":
        raise error(f"a per-item field is indexed by an item, got {item.describe()}", e.indices[0],
                    hint="write value[apple], or value[j] inside sum(j in items: ...)")
    return Typed(m.TypeRef.make(agent=obj.agent, field=obj.name, item=item.expr, span=e.span), "number")


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
                raise error("a tuple component is a constant: [0], [1], ...", index, hint="write e.g. t[row, col][0]")
            k = as_whole(comp.expr.value, index.span, "a whole component number")
            if not 0 <= k < table.cell_size:
                raise error(f"component {k} is out of range: the cells of '{table.name}' have {table.cell_size} parts "
                            f"(0..{table.cell_size - 1})", index, hint="components count from 0")
            out.append(m.Const.make(value=k, span=index.span))
            continue
        axis, values = table.axes[pos]
        out.append(axis_index(index, axis, values, scope, st))
    return Typed(m.Table.make(name=table.name, values=table.values, index=out, span=e.span), "number")


def axis_index(index: s.SExpr, axis: str, values: FiniteSet, scope: Scope, st: State) -> m.Expr:
    """Resolve one table index against its axis's set (labels by name, refs by position)."""
    is_label = isinstance(index, s.Name) and index.name in values.labels and index.name not in scope.vars
    if values.kind == "label" and is_label:
        return m.Const.make(value=values.labels.index(index.name), span=index.span)
    if values.kind == "label" and isinstance(index, s.Name) and not known(index.name, scope, st):
        raise error(f"'{index.name}' is not a value of axis '{axis}' {values.describe()}", index,
                    hint=did_you_mean(index.name, values.labels, f"its values are {values.describe()}"))
    t = resolve_expr(index, scope, st)
    if t.ty == "bare":
        raise error(f"'{t.name}' is not a value of axis '{axis}' {values.describe()}", index, hint=AXIS_HINT)
    if t.ty in ("label", "item", "agent") and values.kind == t.ty:
        if t.ty == "label" and list(t.labels) != values.labels:
            raise error(f"axis '{axis}' takes a label of {values.describe()}, got {t.describe()}", index,
                        hint=AXIS_HINT)
        return t.expr
    if t.ty == "number" and t.index is not None and values.kind == "number" and t.size == len(values.labels):
        return t.index
    if values.field and t.ty == "number" and isinstance(t.expr, m.TypeRef) and t.expr.field == values.field:
        return position(t.expr, values.values, index.span)
    if values.field and values.kind == "number" and not isinstance(t.expr, m.Const):
        raise error(f"axis '{axis}' takes the type field '{values.field}' of an agent, got {t.describe()}", index,
                    hint=f"write {values.field}, self.{values.field} or j.{values.field}; a constant is a position")
    if t.ty == "number" and isinstance(t.expr, m.Const):
        k = as_whole(t.expr.value, index.span, "a whole position")
        if not 0 <= k < len(values.labels):
            raise error(f"position {k} is out of range for axis '{axis}' ({len(values.labels)} values)", index,
                        hint="positions count from 0")
        return m.Const.make(value=k, span=index.span)
    raise error(f"axis '{axis}' takes {set_member(values)}, got {t.describe()}", index, hint=AXIS_HINT)


def resolve_call(e: s.Call, scope: Scope, st: State) -> Typed:
    func = e.func.name
    if func in OUTCOMES:
        return resolve_outcome(e, scope, st)
    if func == "participates":
        if len(e.args) != 1:
            raise error(f"participates() takes 1 argument, got {len(e.args)}", e, hint="write participates(i)")
        agent = resolve_expr(e.args[0], scope, st)
        if agent.ty != "agent":
            raise error(f"participates() needs an agent, got {agent.describe()}", e.args[0],
                        hint="write participates(self), participates(bidder1) or participates(i) in an aggregate")
        return Typed(participates(agent.expr, st.outs, e.span), "bool")
    if func == "abs":
        if len(e.args) != 1:
            raise error(f"abs() takes 1 argument, got {len(e.args)}", e, hint="write abs(x)")
        x = _numeric_arg(e.args[0], scope, st, "abs()")
        return Typed(m.Unary.make(op="abs", operand=x, span=e.span), "number")
    if func in ("min", "max") and len(e.args) >= 2:
        args = [_numeric_arg(a, scope, st, f"{func}()") for a in e.args]
        while len(args) > 1:  # a balanced tree: many arguments never nest deep
            pairs = [m.Binary.make(op=func, left=a, right=b, span=e.span) for a, b in zip(args[::2], args[1::2])]
            args = pairs + args[len(pairs) * 2:]
        return Typed(args[0], "number")
    if func in FUNCTIONS:  # a constant such as max(support(value)) or len([..])
        value = evaluate(e, st.env(with_support=True))
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"{func}(...) gives {fmt(value)} here; a payoff needs a number", e, hint=NUMBER_HINT)
        return Typed(m.Const.make(value=value, span=e.span), "number")
    raise error(f"unknown function '{func}'", e.func,
                hint=did_you_mean(func, ["abs", "min", "max", "participates", *OUTCOMES])
                or "payoffs may use abs, min, max, participates, units, paid, worth and sum/max/min(i in agents: ...)")


def _numeric_arg(arg: s.SExpr, scope: Scope, st: State, where: str) -> m.Expr:
    t = resolve_expr(arg, scope, st)
    if t.ty not in NUMERIC:
        raise error(f"{where} needs a number, got {t.describe()}", arg, hint=NUMBER_HINT)
    return t.expr


def resolve_outcome(e: s.Call, scope: Scope, st: State) -> Typed:
    func = e.func.name
    if st.rounds is None:
        raise error(f"{func}(...) is an outcome of sequential rounds, but the leader has no rounds", e,
                    hint="add `rounds { ... }` to the leader block, or compute the payoff from choices")
    most = 2 if func == "units" else 1
    if not 1 <= len(e.args) <= most:
        form = "units(agent) or units(agent, item)" if func == "units" else f"{func}(agent)"
        raise error(f"{func}() takes {form}", e, hint=f"write e.g. {func}(self)")
    agent = resolve_expr(e.args[0], scope, st)
    if agent.ty != "agent":
        raise error(f"{func}() needs an agent, got {agent.describe()}", e.args[0],
                    hint=f"write {func}(self), {func}(bidder1) or {func}(i) inside sum(i in agents: ...)")
    item = None
    if len(e.args) == 2:
        t = resolve_expr(e.args[1], scope, st)
        if t.ty != "item":
            raise error(f"units() needs an item as its second argument, got {t.describe()}", e.args[1],
                        hint="write units(self, apple) or units(i, j) inside sum(j in items: ...)")
        item = t.expr
    return Typed(m.Outcome.make(what=func, agent=agent.expr, item=item, span=e.span), "number")


def resolve_aggregate(e: s.AggExpr, scope: Scope, st: State) -> Typed:
    func, var = e.func.name, e.var.name
    if func not in ("sum", "max", "min"):
        raise error(f"unknown aggregate '{func}'", e.func,
                    hint=did_you_mean(func, ["sum", "max", "min"]) or "use sum, max or min")
    taken = (scope.vars, st.params, st.item_index(), st.agent_index(), st.choices, st.tables)
    if any(var in names for names in taken) or var == "self":
        raise error(f"the variable '{var}' hides another name", e.var, hint="pick a fresh name, e.g. i or j")
    of = others_of(e, scope, st) if e.domain == "others" else None
    kind = "item" if e.domain == "items" else "agent"
    inner = Scope(self_agent=scope.self_agent, where=scope.where, vars={**scope.vars, var: kind})
    body = resolve_expr(e.body, inner, st)
    if body.ty not in NUMERIC:
        raise error(f"{func}(...) adds up numbers, got {body.describe()}", e.body, hint=NUMBER_HINT)
    if of is not None:
        if func != "sum":
            st.payoff_work.charge(size(body.expr, st.payoff_work.limit), e.span)  # the body is copied once
        return Typed(over_others(func, var, of, body.expr, e.span), "number")
    return Typed(m.Aggregate.make(func=func, var=var, domain=e.domain, body=body.expr, span=e.span), "number")


def others_of(e: s.AggExpr, scope: Scope, st: State) -> m.Expr:
    """The agent `others` leaves out: self, or the agent named by `others of x`."""
    if e.of is None:
        if scope.self_agent is None:
            raise error(f"'others' means every agent but self, and {scope.where} has no self", e,
                        hint="inside sum(i in agents: ...) write `others of i`")
        of = Typed(m.Const.make(value=scope.self_agent), "agent")
    else:
        of = resolve_expr(s.Name(name=e.of.name, span=e.of.span), scope, st)
        if of.ty != "agent":
            raise error(f"'others of' needs an agent, got {of.describe()}", e.of,
                        hint="write `others of i` with i an agent variable, an agent's name or self")
    if st.people < 2 and e.func.name != "sum":
        raise error(f"{e.func.name}(... in others ...) has no agent to range over: the spec has one agent", e,
                    hint="`others` needs at least two agents")
    return of.expr


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
                raise error(f"'{e.op}' needs bools (comparisons), got {t.describe()}", node,
                            hint=f"write comparisons on both sides: a == A {e.op} b > 0")
        return Typed(m.Binary.make(op=e.op, left=left.expr, right=right.expr, span=e.span), "bool")
    if e.op in ARITHMETIC:
        for t, node in ((left, e.left), (right, e.right)):
            if t.ty == "label" or t.ty == "bare":
                raise error(f"arithmetic on labels: '{e.op}' needs numbers, got {t.describe()}", node,
                            hint="compare labels (col == A) and use the bool as 0/1, or put numbers in a table")
            if t.ty not in NUMERIC:
                raise error(f"type mismatch: '{e.op}' needs numbers, got {t.describe()}", node, hint=NUMBER_HINT)
        if isinstance(right.expr, m.Const) and right.expr.value == 0 and e.op == "/":
            raise error("division by zero", e, hint="the divisor is 0")
        if isinstance(left.expr, m.Const) and isinstance(right.expr, m.Const):
            folded = arithmetic(e.op, left.expr.value, right.expr.value, e.span)
            return Typed(m.Const.make(value=folded, span=e.span), "number")
        return Typed(m.Binary.make(op=e.op, left=left.expr, right=right.expr, span=e.span), "number")
    # comparisons
    if left.ty in NUMERIC and right.ty in NUMERIC:
        pass
    elif e.op in ORDERING:
        bad = left if left.ty not in NUMERIC else right
        other = right if bad is left else left
        raise error(f"type mismatch: cannot order {bad.describe()} with {other.describe()}", e,
                    hint="<, <=, > and >= compare numbers")
    elif left.ty != right.ty:
        raise error(f"type mismatch: cannot compare {kind_word(left)} with {kind_word(right)}", e, hint=COMPARE_HINT)
    elif left.ty == "label" and left.labels != right.labels:
        raise error(f"type mismatch: cannot compare {left.describe()} with {right.describe()}", e, hint=COMPARE_HINT)
    elif left.ty in ("per_item", "bare"):
        raise error(f"cannot compare {left.describe()}", e, hint=COMPARE_HINT)
    return Typed(m.Binary.make(op=e.op, left=left.expr, right=right.expr, span=e.span), "bool")


def _equality_sides(e: s.BinOp, scope: Scope, st: State) -> tuple[Typed, Typed]:
    """Resolve both sides of == / !=, reading a bare label against the other side's set."""
    if isinstance(e.left, s.Name) and not known(e.left.name, scope, st):
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
            raise error(f"type mismatch: cannot compare the label {t.name} with {kind_word(other)}", e, hint=COMPARE_HINT)
    return left, right


def _side(node: s.SExpr, other: Typed, scope: Scope, st: State) -> Typed:
    if other.ty == "label" and isinstance(node, s.Name) and node.name not in scope.vars:
        if node.name in other.labels:
            index = m.Const.make(value=other.labels.index(node.name), span=node.span)
            return Typed(index, "label", labels=other.labels)
        if not known(node.name, scope, st):
            raise error(f"'{node.name}' is not one of the labels {{{', '.join(other.labels)}}}", node,
                        hint=did_you_mean(node.name, other.labels, f"write one of: {', '.join(other.labels)}"))
    return resolve_expr(node, scope, st)
