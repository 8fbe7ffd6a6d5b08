"""Constant expressions: params, supports, action sets, price grids, table literals.

A small tree-walking evaluator over spec expressions -- never `eval`.  Values are
floats, bools, strings, lists and tuples.

>>> from mechdsl.compiler.parse import parse
>>> from mechdsl.compiler.transform import to_spec
>>> evaluate(to_spec(parse("[0] + midpoints([0, 0.5, 1])", start="value")), ConstEnv())
[0.0, 0.25, 0.75]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from mechdsl.compiler import spec as s
from mechdsl.compiler.errors import MechSemanticError
from mechdsl.compiler.limits import MAX_LIST, Budget, const_budget, too_big
from mechdsl.compiler.model import Span

Value = Union[float, bool, str, list, tuple]


@dataclass
class ConstEnv:
    """What a constant may refer to.

    `params`: name -> value of the params declared so far; `support`: answers
    `support(field)` (None where field values are not known yet); `elsewhere`: names
    that exist but are not constants (name -> what they are), for a better message;
    `budget`: counts the list values made, shared by one whole compilation.
    """

    params: dict[str, Value] = field(default_factory=dict)
    support: Optional[Callable[[s.Name], list[float]]] = None
    elsewhere: dict[str, str] = field(default_factory=dict)
    budget: Budget = field(default_factory=const_budget)


def evaluate(expr: s.SExpr, env: ConstEnv) -> Value:
    """The value of a constant expression (raises MechSemanticError at the bad node)."""
    return _EVAL[type(expr)](expr, env)


def number(expr: s.SExpr, env: ConstEnv, what: str = "a number") -> float:
    value = evaluate(expr, env)
    if isinstance(value, bool) or not isinstance(value, float):
        raise MechSemanticError(f"expected {what}, got {describe(value)}", span=expr.span,
                                hint="write a number or an arithmetic expression over params")
    return value


def whole(expr: s.SExpr, env: ConstEnv, what: str = "a whole number") -> int:
    return as_whole(number(expr, env, what), expr.span, what)


def as_whole(value: float, span: Span, what: str = "a whole number") -> int:
    if not math.isfinite(value) or value != int(value):
        raise MechSemanticError(f"expected {what}, got {fmt(value)}", span=span,
                                hint="write a whole number such as 3")
    return int(value)


def number_list(expr: s.SExpr, env: ConstEnv, what: str = "a list of numbers") -> list[float]:
    value = evaluate(expr, env)
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        raise MechSemanticError(f"expected {what}, got {describe(value)}", span=expr.span,
                                hint="write a list such as [0, 0.5, 1], range(n) or linspace(a, b, n)")
    return value


def describe(value: Value) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, float):
        return f"the number {fmt(value)}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return f"a {len(value)}-tuple"
    return f"a list of {len(value)}"


def fmt(value) -> str:
    """Short display of a constant: 0.5, 2, [1,0], (1,2)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # inf, -inf, nan
        return f"{value:g}" if value != int(value) or abs(value) >= 1e15 else str(int(value))
    if isinstance(value, (list, tuple)):
        inner = ",".join(fmt(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return str(value)


def did_you_mean(name: str, candidates, otherwise: str = "") -> str:
    """ "did you mean 'x'?" for the closest candidate, else `otherwise` (long names are
    not compared: difflib takes time quadratic in their length)."""
    if len(name) > 64:
        return otherwise
    import difflib  # only when a name is wrong

    close = difflib.get_close_matches(name, [c for c in candidates if len(c) <= 64], n=1)
    return f"did you mean '{close[0]}'?" if close else otherwise


def _is_number(v) -> bool:
    return isinstance(v, float) and not isinstance(v, bool)


def _finite(value: float, span: Span) -> float:
    if not math.isfinite(value):
        raise MechSemanticError(f"the result {fmt(value)} is not a finite number", span=span,
                                hint="the numbers are too large; rescale the units of this spec")
    return value


def _checked(value: Value, span: Span) -> Value:
    """A function's result: every number in it finite."""
    if isinstance(value, float):
        return _finite(value, span)
    if isinstance(value, list) and not all(math.isfinite(v) for v in value if _is_number(v)):
        raise MechSemanticError("the result holds a number too large to represent", span=span,
                                hint="the numbers are too large; rescale the units of this spec")
    return value


def sized(count: int, what: str, span: Span) -> None:
    """Refuse a list of `count` values before making it."""
    if count > MAX_LIST:
        raise too_big(f"{what} makes too many values", count, MAX_LIST, span,
                      "use fewer values: an action set, price grid or support this long is too large to solve")


# ---- one function per node ---------------------------------------------------


def _num(e: s.Num, env: ConstEnv) -> Value:
    return e.value


def _bool(e: s.BoolLit, env: ConstEnv) -> Value:
    return e.value


def _str(e: s.StrLit, env: ConstEnv) -> Value:
    return e.value


def _name(e: s.Name, env: ConstEnv) -> Value:
    if e.name in env.params:
        return env.params[e.name]
    if e.name in env.elsewhere:
        raise MechSemanticError(
            f"'{e.name}' is {env.elsewhere[e.name]}, not a constant",
            span=e.span,
            hint="only numbers and params may appear here",
        )
    raise MechSemanticError(f"unknown name '{e.name}'", span=e.span,
                            hint=did_you_mean(e.name, env.params, "declare it first with `param name = value`"))


def _list(e: s.ListLit, env: ConstEnv) -> Value:
    env.budget.charge(len(e.items), e.span)
    return [evaluate(x, env) for x in e.items]


def _tuple(e: s.TupleLit, env: ConstEnv) -> Value:
    return tuple(evaluate(x, env) for x in e.items)


def _unary(e: s.UnaryOp, env: ConstEnv) -> Value:
    if e.op == "not":
        value = evaluate(e.operand, env)
        if not isinstance(value, bool):
            raise MechSemanticError(f"'not' needs a bool, got {describe(value)}", span=e.operand.span,
                                    hint="'not' applies to a comparison or true/false")
        return not value
    return -number(e.operand, env)


def _binary(e: s.BinOp, env: ConstEnv) -> Value:
    left, right = evaluate(e.left, env), evaluate(e.right, env)
    if e.op in ("and", "or"):
        for side, v in ((e.left, left), (e.right, right)):
            if not isinstance(v, bool):
                raise MechSemanticError(f"'{e.op}' needs bools, got {describe(v)}", span=side.span,
                                        hint=f"'{e.op}' joins comparisons or true/false")
        return (left and right) if e.op == "and" else (left or right)
    if e.op == "+" and isinstance(left, list) and isinstance(right, list):
        sized(len(left) + len(right), "joining these lists", e.span)
        env.budget.charge(len(left) + len(right), e.span)
        return left + right
    for side, v in ((e.left, left), (e.right, right)):
        if not _is_number(v):
            raise MechSemanticError(
                f"cannot apply '{e.op}' to {describe(left)} and {describe(right)}",
                span=e.span,
                hint="'+' joins two lists; other operators take numbers" if e.op == "+" else
                f"'{e.op}' takes numbers",
            )
    return arithmetic(e.op, left, right, e.span)


def arithmetic(op: str, left: float, right: float, span: Span) -> Value:
    """`left op right` on numbers (comparisons give bools); division by zero is an error at `span`."""
    if op == "/" and right == 0:
        raise MechSemanticError("division by zero", span=span, hint="the divisor evaluates to 0")
    if op == "^" and left == 0 and right < 0:
        raise MechSemanticError("division by zero", span=span, hint="0 raised to a negative power")
    try:
        result = _ARITH[op](left, right)
    except (OverflowError, ValueError, ZeroDivisionError):
        raise MechSemanticError(f"cannot compute {fmt(left)} {op} {fmt(right)}", span=span,
                                hint="the result is too large to represent") from None
    if isinstance(result, complex):
        raise MechSemanticError(f"cannot compute {fmt(left)} {op} {fmt(right)}", span=span,
                                hint="a negative number to a fractional power is not a real number")
    if isinstance(result, bool):
        return result
    if not math.isfinite(result):
        raise MechSemanticError(f"cannot compute {fmt(left)} {op} {fmt(right)}", span=span,
                                hint="the result is too large to represent; rescale the numbers of this spec")
    return float(result)


_ARITH = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": lambda a, b: a**b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _if(e: s.IfExpr, env: ConstEnv) -> Value:
    cond = evaluate(e.cond, env)
    if not isinstance(cond, bool):
        raise MechSemanticError(f"'if' needs a bool condition, got {describe(cond)}", span=e.cond.span,
                                hint="write a comparison, e.g. if n > 2 then ... else ...")
    return evaluate(e.then if cond else e.orelse, env)


def _call(e: s.Call, env: ConstEnv) -> Value:
    func = FUNCTIONS.get(e.func.name)
    if func is None:
        if e.func.name in RUNTIME_FUNCTIONS:
            raise MechSemanticError(f"'{e.func.name}(...)' is not a constant", span=e.span,
                                    hint=f"{e.func.name}() is an outcome of the rounds: use it in a utility or objective")
        raise MechSemanticError(
            f"unknown function '{e.func.name}'", span=e.func.span,
            hint=did_you_mean(e.func.name, FUNCTIONS, "constant functions are: " + ", ".join(FUNCTIONS)),
        )
    if e.func.name == "support":
        result = _support(e, env)
        env.budget.charge(len(result), e.span)
        return result
    result = _checked(func(e, [evaluate(a, env) for a in e.args], env), e.span)
    if isinstance(result, list):
        env.budget.charge(len(result), e.span)
    return result


def _not_constant(e, env: ConstEnv) -> Value:
    raise MechSemanticError(
        "this is not a constant", span=e.span, hint="only numbers, params and lists may appear here"
    )


_EVAL = {
    s.Num: _num, s.BoolLit: _bool, s.StrLit: _str, s.Name: _name, s.ListLit: _list, s.TupleLit: _tuple,
    s.UnaryOp: _unary, s.BinOp: _binary, s.IfExpr: _if, s.Call: _call,
    s.Attr: _not_constant, s.Index: _not_constant, s.AggExpr: _not_constant,
}


# ---- built-in functions --------------------------------------------------------


def _args(e: s.Call, args: list, counts: tuple[int, ...]) -> None:
    if len(args) not in counts:
        want = " or ".join(str(c) for c in counts)
        raise MechSemanticError(
            f"{e.func.name}() takes {want} argument{'s' if counts != (1,) else ''}, got {len(args)}", span=e.span,
            hint=USAGE.get(e.func.name, ""),
        )


def _arg_number(e: s.Call, args: list, i: int) -> float:
    if not _is_number(args[i]):
        raise MechSemanticError(f"{e.func.name}() needs a number here, got {describe(args[i])}", span=e.args[i].span,
                                hint=USAGE.get(e.func.name, ""))
    return args[i]


def _arg_whole(e: s.Call, args: list, i: int) -> int:
    return as_whole(_arg_number(e, args, i), e.args[i].span, f"a whole number in {e.func.name}()")


def _arg_numbers(e: s.Call, args: list, i: int) -> list[float]:
    v = args[i]
    if not isinstance(v, list) or not all(_is_number(x) for x in v):
        raise MechSemanticError(f"{e.func.name}() needs a list of numbers, got {describe(v)}", span=e.args[i].span,
                                hint=USAGE.get(e.func.name, ""))
    return v


def _range(e: s.Call, args: list, env: ConstEnv) -> list[float]:
    _args(e, args, (1, 2))
    bounds = [_arg_whole(e, args, i) for i in range(len(args))]
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds
    sized(max(0, high - low), "range()", e.span)
    return [float(v) for v in range(low, high)]


def _linspace(e: s.Call, args: list, env: ConstEnv) -> list[float]:
    _args(e, args, (3,))
    low, high, n = _arg_number(e, args, 0), _arg_number(e, args, 1), _arg_whole(e, args, 2)
    if n < 1:
        raise MechSemanticError(f"linspace() needs at least 1 point, got {n}", span=e.args[2].span,
                                hint=USAGE["linspace"])
    sized(n, "linspace()", e.span)
    if n == 1:
        return [low]
    return [(low * (n - 1 - k) + high * k) / (n - 1) for k in range(n)]


def _midpoints(e: s.Call, args: list, env: ConstEnv) -> list[float]:
    _args(e, args, (1,))
    xs = _arg_numbers(e, args, 0)
    return [a / 2 + b / 2 for a, b in zip(xs, xs[1:])]


def _sorted(e: s.Call, args: list, env: ConstEnv) -> list[float]:
    _args(e, args, (1,))
    return sorted(_arg_numbers(e, args, 0))


def _unique(e: s.Call, args: list, env: ConstEnv) -> list:
    _args(e, args, (1,))
    if not isinstance(args[0], list):
        raise MechSemanticError(f"unique() needs a list, got {describe(args[0])}", span=e.args[0].span,
                                hint=USAGE["unique"])
    return unique(args[0])


def unique(values: list) -> list:
    """`values` without repeats (first occurrence kept), in linear time."""
    seen: set = set()
    out = []
    for v in values:
        key = hashable(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def hashable(value: Value):
    """A key equal for equal constants (lists and tuples kept apart), usable in a set."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(hashable(v) for v in value))
    return value


def _len(e: s.Call, args: list, env: ConstEnv) -> float:
    _args(e, args, (1,))
    if not isinstance(args[0], (list, tuple)):
        raise MechSemanticError(f"len() needs a list, got {describe(args[0])}", span=e.args[0].span,
                                hint=USAGE["len"])
    return float(len(args[0]))


def _abs(e: s.Call, args: list, env: ConstEnv) -> float:
    _args(e, args, (1,))
    return abs(_arg_number(e, args, 0))


def _extreme(pick):
    def func(e: s.Call, args: list, env: ConstEnv) -> float:
        if len(args) == 1 and isinstance(args[0], list):
            xs = _arg_numbers(e, args, 0)
            if not xs:
                raise MechSemanticError(f"{e.func.name}() of an empty list", span=e.span,
                                        hint="give it at least one number")
            return pick(xs)
        if not args:
            _args(e, args, (1, 2))
        return pick(_arg_number(e, args, i) for i in range(len(args)))

    return func


def _sum(e: s.Call, args: list, env: ConstEnv) -> float:
    _args(e, args, (1,))
    return float(sum(_arg_numbers(e, args, 0)))


def _support(e: s.Call, env: ConstEnv) -> list[float]:
    if len(e.args) != 1 or not isinstance(e.args[0], s.Name):
        raise MechSemanticError("support() takes the name of a type field, e.g. support(value)", span=e.span,
                                hint=USAGE["support"])
    if env.support is None:
        raise MechSemanticError(
            "support() is not available here", span=e.span, hint="use it after the agents are declared: in price grids"
        )
    return env.support(e.args[0])


FUNCTIONS: dict[str, Callable] = {
    "range": _range,
    "linspace": _linspace,
    "midpoints": _midpoints,
    "sorted": _sorted,
    "unique": _unique,
    "len": _len,
    "abs": _abs,
    "min": _extreme(min),
    "max": _extreme(max),
    "sum": _sum,
    "support": _support,
}
USAGE = {
    "range": "write range(n) for 0..n-1 or range(a, b) for a..b-1",
    "linspace": "write linspace(low, high, n) for n evenly spaced points",
    "midpoints": "write midpoints([0, 1, 2]) for the points halfway between neighbours",
    "sorted": "write sorted([2, 0, 1])",
    "unique": "write unique([1, 1, 2])",
    "len": "write len([a, b, c])",
    "abs": "write abs(x)",
    "min": "write min(a, b, ...) or min([a, b, ...])",
    "max": "write max(a, b, ...) or max([a, b, ...])",
    "sum": "write sum([a, b, ...]); in a payoff, sum(i in agents: ...)",
    "support": "write support(value) with the name of a number type field",
}
RUNTIME_FUNCTIONS = ("units", "paid", "worth")
