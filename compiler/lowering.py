"""Model expressions built for constructs the back end has no node of its own for:
`others`, a type value's position on a table axis, and taking part.  Each is written
with the existing nodes, so the evaluators and the trainer need nothing new.
"""
from __future__ import annotations

from typing import Optional

from mechdsl.compiler import model as m
from mechdsl.compiler.model import Span


def substitute(e: m.Expr, var: str, by: m.Expr) -> m.Expr:
    """`e` with the aggregate variable `var` replaced by `by` (names are never shadowed)."""
    if isinstance(e, m.Var):
        return by if e.name == var else e
    update = {}
    for name in type(e).model_fields:
        child = getattr(e, name)
        if isinstance(child, m._E):
            update[name] = substitute(child, var, by)
        elif isinstance(child, list) and child and isinstance(child[0], m._E):
            update[name] = [substitute(c, var, by) for c in child]
    return e.model_copy(update=update) if update else e


def balanced(op: str, parts: list[m.Expr], span: Optional[Span] = None) -> m.Expr:
    """parts[0] op parts[1] op ... as a balanced tree: many parts never nest deep."""
    while len(parts) > 1:
        pairs = [m.Binary.make(op=op, left=a, right=b, span=span) for a, b in zip(parts[::2], parts[1::2])]
        parts = pairs + parts[len(pairs) * 2:]
    return parts[0]


def first_other(of: m.Expr) -> m.Expr:
    """An agent other than `of`: agent 1 when `of` is agent 0, else agent 0."""
    if isinstance(of, m.Const):
        return m.Const.make(value=1.0 if int(of.value) == 0 else 0.0)
    return m.If.make(cond=m.Binary.make(op="==", left=of, right=m.Const.make(value=0.0)), then=m.Const.make(value=1.0),
                     orelse=m.Const.make(value=0.0))


def over_others(func: str, var: str, of: m.Expr, body: m.Expr, span: Optional[Span]) -> m.Expr:
    """`func(var in others of `of`: body)` over every agent but `of` (at least two agents).

    The agent `of` itself contributes 0 to a sum, and to a max or min the body at another
    agent, which leaves the result unchanged."""
    skip = m.Const.make(value=0.0) if func == "sum" else substitute(body, var, first_other(of))
    keep = m.Binary.make(op="!=", left=m.Var.make(name=var), right=of)
    return m.Aggregate.make(func=func, var=var, domain="agents", body=m.If.make(cond=keep, then=body, orelse=skip),
                            span=span)


def position(x: m.Expr, values: list[float], span: Optional[Span]) -> m.Expr:
    """The position of the number `x` in `values` (distinct): sum of k * (x == values[k])."""
    parts = [m.Binary.make(op="*", left=m.Const.make(value=k),
                           right=m.Binary.make(op="==", left=x, right=m.Const.make(value=v)))
             for k, v in enumerate(values) if k > 0]
    return balanced("+", parts, span) if parts else m.Const.make(value=0.0, span=span)


def participates(agent: m.Expr, outs: list[int], span: Optional[Span]) -> m.Expr:
    """Whether `agent` took part: its action is not its `out` (an agent that must take part
    has out index -1, which no action has)."""
    if isinstance(agent, m.Const):
        out: m.Expr = m.Const.make(value=outs[int(agent.value)])
    elif len(set(outs)) == 1:
        out = m.Const.make(value=outs[0])
    else:
        out = m.Table.make(name="out", values=[float(k) for k in outs], index=[agent])
    return m.Binary.make(op="!=", left=m.ActionRef.make(agent=agent), right=out, span=span)


def nodes(e: m.Expr):
    """Every node of `e`, walked without recursion (specs nest deeply)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        for name in type(node).model_fields:
            child = getattr(node, name)
            if isinstance(child, m._E):
                stack.append(child)
            elif isinstance(child, list) and child and isinstance(child[0], m._E):
                stack.extend(child)


def size(e: m.Expr, most: int) -> int:
    """Nodes of `e`; stops counting once past `most`."""
    count = 0
    for _ in nodes(e):
        count += 1
        if count > most:
            break
    return count
