"""A small scalar interpreter of resolved expressions: the payoffs at one terminal of the
game tree, written apart from `mechdsl.evaluate` so that each can check the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from mechdsl.compiler.errors import MechSemanticError
from mechdsl.compiler.model import Model, Span


TOL = 1e-9  # numbers this close compare equal; a utility within TOL of 0 counts as 0


class PayoffError(ValueError):
    """A payoff expression has no finite value at some terminal (division by zero,
    overflow); `span` is the operation at fault."""

    def __init__(self, reason: str, span: Optional[Span]):
        super().__init__(reason)
        self.reason, self.span = reason, span


@dataclass
class Scope:
    """Everything an expression may read at one terminal of the game."""

    model: Model
    types: tuple[int, ...]  # type index per follower
    actions: tuple[int, ...]  # action index per follower
    choice: Optional[tuple[int, ...]]  # index per declared leader choice (None: no choice made)
    alloc: tuple[tuple[int, ...], ...]  # units of each item held by each follower
    paid: tuple[float, ...]  # total paid by each follower


def _at(seq: Sequence, i: int, what: str):
    if not 0 <= i < len(seq):
        raise IndexError(f"{what} index {i} out of range 0..{len(seq) - 1}")
    return seq[i]


def _truth(x: float) -> float:
    return 1.0 if x != 0 else 0.0


def worth(model: Model, agent: int, type_index: int, held: Sequence[int]) -> float:
    """The value of a bundle to a follower under the declared valuation (0 without rounds)."""
    rounds = model.leader.rounds
    if rounds is None or not any(held):
        return 0.0
    vals = item_values(model, agent, type_index)
    if rounds.valuation == "additive":
        return sum(h * v for h, v in zip(held, vals))
    return max(v for h, v in zip(held, vals) if h > 0)


def item_values(model: Model, agent: int, type_index: int) -> list[float]:
    """The follower's value for each item (a scalar value field counts for every item)."""
    f = model.followers[agent]
    v = f.type_values[model.leader.rounds.value_field][type_index]
    return [float(x) for x in v] if isinstance(v, list) else [float(v)] * len(model.items)


def value(e, sc: Scope, env: Optional[dict[str, int]] = None) -> float:
    """The number a resolved expression stands for at one terminal.

    Bools are 0/1, items/agents/labels their indices; comparisons hold within `TOL`.
    """
    env = env if env is not None else {}
    model = sc.model
    k = e.kind
    if k == "const":
        return float(e.value)
    if k == "var":
        return float(env[e.name])
    if k == "type":
        i = index(e.agent, sc, env)
        f = _at(model.followers, i, "agent")
        v = f.type_values[e.field][sc.types[i]]
        if isinstance(v, list):
            if e.item is None:
                raise ValueError(f"per-item field {e.field} used without an item")
            return float(_at(v, index(e.item, sc, env), "item"))
        return float(v)
    if k == "action":
        i = index(e.agent, sc, env)
        f = _at(model.followers, i, "agent")
        a = sc.actions[i]
        num = f.action_values[a]
        return float(num) if e.numeric and num is not None else float(a)
    if k == "choice":
        q = next(q for q, c in enumerate(model.leader.choices) if c.name == e.name)
        if sc.choice is None:
            raise ValueError(f"choice {e.name} read before the leader chose")
        c = model.leader.choices[q]
        if c.interval is not None:
            raise ValueError(f"choice {e.name} is continuous: the scalar interpreter reads finite choices only")
        idx = sc.choice[q]
        num = c.values[idx]
        return float(num) if e.numeric and num is not None else float(idx)
    if k == "outcome":
        i = index(e.agent, sc, env)
        _at(model.followers, i, "agent")
        if e.what == "paid":
            return float(sc.paid[i])
        held = sc.alloc[i]
        if e.what == "units":
            if e.item is None:
                return float(sum(held))
            return float(_at(held, index(e.item, sc, env), "item"))
        return worth(model, i, sc.types[i], held)
    if k == "table":
        cell = e.values
        for ix in e.index:
            cell = _at(cell, index(ix, sc, env), f"table {e.name}")
        return float(cell)
    if k == "unary":
        x = value(e.operand, sc, env)
        if e.op == "-":
            return -x
        if e.op == "abs":
            return abs(x)
        return 1.0 - _truth(x)
    if k == "binary":
        return _checked_binary(e, value(e.left, sc, env), value(e.right, sc, env))
    if k == "if":
        return value(e.then if _truth(value(e.cond, sc, env)) else e.orelse, sc, env)
    if k == "aggregate":
        count = len(model.followers) if e.domain == "agents" else len(model.items)
        parts = [value(e.body, sc, {**env, e.var: j}) for j in range(count)]
        if not parts:
            return 0.0
        if e.func == "sum":
            total = parts[0]
            for p in parts[1:]:
                total += p
            if not math.isfinite(total):
                raise PayoffError("the sum overflows", e.span)
            return total
        return max(parts) if e.func == "max" else min(parts)
    raise ValueError(f"unknown expression kind {k}")


def index(e, sc: Scope, env: dict[str, int]) -> int:
    """An expression used as an index (agent, item, table axis): its value, rounded."""
    return int(round(value(e, sc, env)))


def _checked_binary(e, a: float, b: float) -> float:
    """`_binary`, but a division by zero or a result too large is a `PayoffError`."""
    if e.op == "/" and b == 0 or e.op == "^" and a == 0 and b < 0:
        raise PayoffError("division by zero", e.span)
    try:
        out = _binary(e.op, a, b)
    except (OverflowError, ValueError, ZeroDivisionError):
        out = math.inf
    if isinstance(out, complex):
        raise PayoffError(f"{a:g} ^ {b:g} is not a real number", e.span)
    if not math.isfinite(out):
        raise PayoffError(f"{a:g} {e.op} {b:g} is too large to represent", e.span)
    return out


def _binary(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "^":
        return a**b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    if op == "and":
        return _truth(a) * _truth(b)
    if op == "or":
        return max(_truth(a), _truth(b))
    holds = {
        "==": abs(a - b) <= TOL,
        "!=": abs(a - b) > TOL,
        "<": a < b - TOL,
        "<=": a <= b + TOL,
        ">": a > b + TOL,
        ">=": a >= b - TOL,
    }[op]
    return 1.0 if holds else 0.0


def weight(e, model: Model) -> int:
    """How many nodes `value` visits to evaluate `e` once (an aggregate counts its body
    once per agent or item): the cost the tree walks budget for."""
    k = e.kind
    if k in ("const", "var", "choice"):
        return 1
    if k in ("type", "action", "outcome"):
        return 1 + sum(weight(x, model) for x in (e.agent, getattr(e, "item", None)) if x is not None)
    if k == "table":
        return 1 + sum(weight(x, model) for x in e.index)
    if k == "unary":
        return 1 + weight(e.operand, model)
    if k == "binary":
        return 1 + weight(e.left, model) + weight(e.right, model)
    if k == "if":
        return 1 + weight(e.cond, model) + max(weight(e.then, model), weight(e.orelse, model))
    if k == "aggregate":
        count = len(model.followers) if e.domain == "agents" else len(model.items)
        return 1 + count * weight(e.body, model)
    raise ValueError(f"unknown expression kind {k}")


def checked_payoff(model: Model, k: int, e, sc: Scope, where) -> float:
    """Payoff `k` (0: the objective, i: follower i's utility) at one play: a division by
    zero or an overflow is a `MechSemanticError` at the operation at fault, whose hint
    says `where()` it happens (called only then: describing a play costs)."""

    try:
        x = value(e, sc)
        if not math.isfinite(x):
            raise PayoffError("the result is too large to represent", e.span)
    except PayoffError as err:
        whose = "the objective" if k == 0 else f"the utility of '{model.followers[k - 1].name}'"
        raise MechSemanticError(
            f"{err.reason} in {whose}", span=err.span or e.span, path=model.path,
            hint=f"it happens {where()}; " + ("guard it, e.g. if x != 0 then y / x else 0"
                                               if "zero" in err.reason else "rescale the numbers in this payoff"),
        ) from None
    return x
