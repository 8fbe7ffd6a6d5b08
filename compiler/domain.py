"""Payoffs checked over the values they read, for games too large to walk.

`compiler.tree.payoff_range` evaluates every payoff at every terminal of the game when
the tree is small enough.  When it is not, a payoff that reads only a few things (its
agent's type and action, a leader choice) can still be evaluated at every combination
of those: a division by zero or an overflow there is an error at compile time instead
of a NaN in the evaluator.  Payoffs that read the rounds' outcomes depend on the play
and are left to the walk.
"""
from __future__ import annotations

import itertools
import math

from mechdsl.compiler.interpreter import Scope, checked_payoff, weight
from mechdsl.compiler.model import Model

MAX_DOMAIN_WORK = 2_000_000  # expression nodes evaluated per payoff, at most


def check_payoffs(model: Model) -> None:
    """Evaluate the objective and each utility at every combination of what it reads;
    raise `MechSemanticError` at the first that is not a finite number."""
    for k, e in enumerate([model.objective, *model.utilities]):
        found = reads(e, model)
        if found is None:
            continue
        types, actions, choices = found
        if combinations(model, found) * weight(e, model) > MAX_DOMAIN_WORK:
            continue
        for combo, sc in scopes(model, found):
            checked_payoff(model, k, e, sc, lambda: _describe(model, types, actions, choices, combo))


def combinations(model: Model, found) -> int:
    """How many combinations of the read types, actions and choices there are."""
    return math.prod(len(a) for a in _axes(model, found))


def scopes(model: Model, found):
    """(combo, Scope) for every combination of the types, actions and choices `found` by
    `reads`; everything not read is 0 and no item is allocated."""
    types, actions, choices = found
    n = len(model.followers)
    alloc = tuple((0,) * len(model.items) for _ in range(n))
    for combo in itertools.product(*_axes(model, found)):
        t, a, c = [0] * n, [0] * n, [0] * len(model.leader.choices)
        for i, x in zip(types, combo):
            t[i] = x
        for i, x in zip(actions, combo[len(types):]):
            a[i] = x
        for q, x in zip(choices, combo[len(types) + len(actions):]):
            c[q] = x
        yield combo, Scope(model, tuple(t), tuple(a), tuple(c) if c else None, alloc, (0.0,) * n)


def _axes(model: Model, found) -> list[range]:
    types, actions, choices = found
    return ([range(len(model.followers[i].type_labels)) for i in types]
            + [range(len(model.followers[i].action_labels)) for i in actions]
            + [range(len(model.leader.choices[q].labels)) for q in choices])


def reads(e, model: Model):
    """(followers whose type it reads, followers whose action it reads, choice positions),
    or None when it reads the rounds' outcomes or a continuous choice."""
    n = len(model.followers)
    types: set[int] = set()
    actions: set[int] = set()
    choices: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        k = x.kind
        if k == "outcome":
            return None
        if k in ("type", "action"):
            who = {int(x.agent.value)} if x.agent.kind == "const" else set(range(n))
            (types if k == "type" else actions).update(who)
        if k == "choice":
            if any(c.name == x.name and c.interval is not None for c in model.leader.choices):
                return None  # a continuous choice: left to the evaluator's finiteness check
            choices.add(next(q for q, c in enumerate(model.leader.choices) if c.name == x.name))
        for name in ("agent", "item", "operand", "left", "right", "cond", "then", "orelse", "body"):
            child = getattr(x, name, None)
            if child is not None:
                stack.append(child)
        if k == "table":
            stack.extend(x.index)
    return sorted(types), sorted(actions), sorted(choices)


def _describe(model: Model, types, actions, choices, combo) -> str:
    parts = [f"{model.followers[i].name} has type {model.followers[i].type_labels[x]}" for i, x in zip(types, combo)]
    rest = combo[len(types):]
    parts += [f"{model.followers[i].name}.{model.followers[i].action_name}={model.followers[i].action_labels[x]}"
              for i, x in zip(actions, rest)]
    parts += [f"{model.leader.choices[q].name}={model.leader.choices[q].labels[x]}"
              for q, x in zip(choices, rest[len(actions):])]
    text = "when " + ", ".join(parts) if parts else "whatever is played"
    return text if len(text) <= 300 else text[:297] + "..."
