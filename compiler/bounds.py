"""Sound [lo, hi] bounds of a payoff expression, by interval arithmetic.

Used to normalize followers' payoffs for multiplicative weights and the leader's
reward to [0, 1].  Bounds may be loose but never wrong.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Optional

from mechdsl.compiler.interpreter import weight
from mechdsl.compiler.model import Model

Interval = tuple[float, float]
MAX_BOUNDS_WORK = 100_000  # past this, an aggregate's body is bounded once for all its indices


def _leaves(x):
    """The numbers of a nested list, in order."""
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _leaves(y)
    else:
        yield x


def _hull(xs: list[Interval]) -> Interval:
    return (min(x[0] for x in xs), max(x[1] for x in xs))


def _mul(a: Interval, b: Interval) -> Interval:
    ps = [_times(x, y) for x in a for y in b]
    return (min(ps), max(ps))


def _times(x: float, y: float) -> float:
    """x * y with 0 * inf = 0 (a bound of 0 times an unbounded factor is still 0)."""
    return 0.0 if x == 0 or y == 0 else x * y


def _power(x: float, y: float) -> Optional[float]:
    """x ** y as a float (inf on overflow), or None where it is not a real number."""
    if x == 0 and y < 0:
        return math.inf
    try:
        out = x**y
    except OverflowError:
        return math.inf if x > 0 or float(y) % 2 == 0 else -math.inf
    except (ValueError, ZeroDivisionError):
        return None
    return None if isinstance(out, complex) else float(out)


@dataclass(frozen=True)
class _Any:
    """An aggregate variable bound to no one index: any of `count`."""

    count: int


def _indices(e, model: Model, env: dict, count: int) -> list[int]:
    """The index values an index expression may take (all of them unless constant)."""
    if e is None:
        return list(range(count))
    if e.kind == "const":
        return [int(e.value)]
    if e.kind == "var" and not isinstance(env[e.name], _Any):
        return [env[e.name]]
    return list(range(count))


def _type_values(model: Model, agent: int, field: str, items: list[int]) -> list[float]:
    f = model.followers[agent]
    kind = next(t.kind for t in f.fields if t.name == field)
    vals = f.type_values[field]
    if kind == "per_item":
        return [float(v[j]) for v in vals for j in items]
    return [float(v) for v in vals]


def _worth_bounds(model: Model, agent: int) -> Interval:
    r = model.leader.rounds
    if r is None:
        return (0.0, 0.0)
    m = len(model.items)
    vals = _type_values(model, agent, r.value_field, list(range(m)))
    lo, hi = min(vals + [0.0]), max(vals + [0.0])
    if r.valuation == "additive":
        return (min(0.0, lo * m), max(0.0, hi * m))
    return (min(0.0, lo), max(0.0, hi))


def _paid_bounds(model: Model) -> Interval:
    r = model.leader.rounds
    if r is None:
        return (0.0, 0.0)
    prices = list(r.grid) if r.price_kind == "grid" else [r.low, r.high]
    m = len(model.items) if r.valuation == "additive" else 1
    return (min(0.0, min(prices) * m), max(0.0, max(prices) * m))


def expr_bounds(e, model: Model, env: Optional[dict] = None) -> Interval:
    env = env or {}
    k = e.kind
    n, m = len(model.followers), len(model.items)
    if k == "const":
        return (e.value, e.value)
    if k == "var":
        v = env.get(e.name, 0)
        return (0.0, float(max(v.count - 1, 0))) if isinstance(v, _Any) else (v, v)
    if k == "type":
        agents = _indices(e.agent, model, env, n)
        out = []
        for a in agents:
            f = model.followers[a]
            kind = next(t.kind for t in f.fields if t.name == e.field)
            if kind == "item":
                out.append((0.0, float(m - 1)))
            else:
                vals = _type_values(model, a, e.field, _indices(e.item, model, env, m))
                out.append((min(vals), max(vals)))
        return _hull(out)
    if k == "action":
        out = []
        for a in _indices(e.agent, model, env, n):
            f = model.followers[a]
            if e.numeric:
                vals = [v for v in f.action_values if v is not None] or [0.0]
                out.append((min(vals), max(vals)))
            else:
                out.append((0.0, float(len(f.action_labels) - 1)))
        return _hull(out)
    if k == "choice":
        c = next(c for c in model.leader.choices if c.name == e.name)
        if c.interval is not None:
            return (float(c.interval[0]), float(c.interval[1]))
        if e.numeric:
            vals = [v for v in c.values if v is not None] or [0.0]
            return (min(vals), max(vals))
        return (0.0, float(len(c.labels) - 1))
    if k == "outcome":
        agents = _indices(e.agent, model, env, n)
        if e.what == "units":
            if e.item is None:
                return (0.0, float(sum(it.units for it in model.items)))
            return (0.0, float(max(model.items[j].units for j in _indices(e.item, model, env, m))))
        if e.what == "paid":
            return _paid_bounds(model)
        return _hull([_worth_bounds(model, a) for a in agents])
    if k == "table":
        cells = [e.values]  # the cells the index may pick, narrowed axis by axis
        for ix in e.index:
            if ix.kind == "const":
                cells = [c[int(ix.value)] for c in cells]
            elif ix.kind == "var" and not isinstance(env[ix.name], _Any):
                cells = [c[env[ix.name]] for c in cells]
            else:
                cells = [x for c in cells for x in c]
        values = [float(x) for x in _leaves(cells)]
        if any(math.isnan(x) for x in values):
            return (math.nan, math.nan)
        return (min(values), max(values))
    if k == "unary":
        lo, hi = expr_bounds(e.operand, model, env)
        if e.op == "-":
            return (-hi, -lo)
        if e.op == "not":
            return (0.0, 1.0)
        if lo >= 0:
            return (lo, hi)
        if hi <= 0:
            return (-hi, -lo)
        return (0.0, max(-lo, hi))
    if k == "binary":
        a = expr_bounds(e.left, model, env)
        b = expr_bounds(e.right, model, env)
        op = e.op
        if op == "+":
            return (a[0] + b[0], a[1] + b[1])
        if op == "-":
            return (a[0] - b[1], a[1] - b[0])
        if op == "*":
            return _mul(a, b)
        if op == "/":
            if b[0] > 0 or b[1] < 0:
                return _mul(a, (1 / b[1], 1 / b[0]))
            big = max(abs(a[0]), abs(a[1])) * 1e6
            return (-big, big)
        if op == "^":
            cands = [_power(x, y) for x, y in itertools.product(a, b) if x > 0 or float(y).is_integer()]
            cands = [c for c in cands if c is not None]
            return (min(cands + [0.0]), max(cands + [0.0]))
        if op == "min":
            return (min(a[0], b[0]), min(a[1], b[1]))
        if op == "max":
            return (max(a[0], b[0]), max(a[1], b[1]))
        return (0.0, 1.0)
    if k == "if":
        return _hull([expr_bounds(e.then, model, env), expr_bounds(e.orelse, model, env)])
    if k == "aggregate":
        count = n if e.domain == "agents" else m
        if count * weight(e.body, model) > MAX_BOUNDS_WORK:  # one bound for every index, then sum
            part = expr_bounds(e.body, model, {**env, e.var: _Any(count)})
            parts = [part] * count if e.func == "sum" else [part]
        else:
            parts = [expr_bounds(e.body, model, {**env, e.var: i}) for i in range(count)]
        if not parts:
            return (0.0, 0.0)
        if e.func == "sum":
            return (sum(p[0] for p in parts), sum(p[1] for p in parts))
        if e.func == "max":
            return (max(p[0] for p in parts), max(p[1] for p in parts))
        return (min(p[0] for p in parts), min(p[1] for p in parts))
    raise ValueError(f"unknown expression kind {k}")
