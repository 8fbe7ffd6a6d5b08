"""Random outcomes: `outcome success ~ {yes: p[effort], no: 1 - p[effort]}`, a draw whose
law may read types, follower actions and leader choices.

Payoffs are expected over outcomes (every player is risk neutral in its payoff): a
payoff that reads `success` becomes the sum over its values of the probability times
the payoff at that value (`lower_outcomes`), exact and written with existing nodes, so
the evaluators, the solver and the trainer need nothing new.  Each law is checked at
every combination of what it reads (`check_outcomes`): probabilities non-negative,
summing to 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import evaluate, fmt
from mechdsl.compiler.domain import MAX_DOMAIN_WORK, combinations, reads, scopes
from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.interpreter import value, weight
from mechdsl.compiler.lowering import balanced, nodes, substitute
from mechdsl.compiler.passes.prior import is_label, label_name_free
from mechdsl.compiler.passes.state import PROB_TOLERANCE, State, error, line_of
from mechdsl.compiler.typecheck import Scope, number_expr

PREFIX = "~"  # an outcome reads as the variable "~name" until it is summed out


@dataclass
class OutcomeInfo:
    name: str
    labels: list[str]  # a labelled outcome's labels ([] for numbers)
    values: list[float]  # what each value reads as: its number, or its label's position
    probs: list  # syntax, then resolved expressions
    decl: s.OutcomeDecl


def outcome_var(name: str) -> str:
    return PREFIX + name


def declare_outcomes(st: State) -> None:
    """Each outcome's values, labels or numbers (before tables: an axis may run over them)."""
    for decl in st.statements(s.OutcomeDecl):
        name = decl.name.name
        if name in st.outcomes:
            raise error(f"outcome '{name}' is declared twice", decl.name,
                        hint=f"first declared at line {line_of(st.outcomes[name].decl)}")
        taken = {**{t: "a table" for t in st.tables}, **{p: "a param" for p in st.params}, **st.non_constants()}
        if name in taken:
            raise error(f"outcome '{name}' has the name of {taken[name]}", decl.name, hint="pick another name")
        dist = decl.dist
        if isinstance(dist, s.DistTable):
            keys, probs = [e.key for e in dist.entries], [e.prob for e in dist.entries]
        elif isinstance(dist.over, s.LabelSet):
            keys, probs = list(dist.over.labels), None
        else:
            keys, probs = [dist.over] if dist.over is not None else [], None
        labels, values = _values(keys, decl, st)
        st.outcomes[name] = OutcomeInfo(name, labels, values, probs, decl)


def resolve_outcomes(st: State) -> None:
    """Each outcome's probabilities: payoff expressions (after tables: they may read them)."""
    for info in st.outcomes.values():
        if info.probs is None:
            info.probs = [m.Const.make(value=1.0 / len(info.values))] * len(info.values)
        else:
            where = Scope(self_agent=None, where=f"the law of outcome '{info.name}'")
            info.probs = [_probability(p, where, st) for p in info.probs]


def _values(keys, decl: s.OutcomeDecl, st: State) -> tuple[list[str], list[float]]:
    named = [isinstance(k, s.Ident) or is_label(k, st) for k in keys]
    if any(named) and not all(named):
        raise error(f"outcome '{decl.name.name}' mixes labels and numbers", keys[named.index(True)],
                    hint="an outcome's values are all labels ({yes: p, no: 1 - p}) or all numbers ({0: p, 10: 1 - p})")
    if keys and all(isinstance(k, (s.Name, s.Ident)) and (isinstance(k, s.Ident) or is_label(k, st)) for k in keys):
        labels = [k.name for k in keys]
        for k in keys:
            label_name_free(k, st)
        if len(set(labels)) < len(labels):
            raise error(f"outcome '{decl.name.name}' lists a value twice", decl.dist, hint="list each value once")
        return labels, [float(i) for i in range(len(labels))]
    values: list[float] = []
    for k in keys:
        v = evaluate(k, st.env())
        items = v if isinstance(v, list) and not isinstance(decl.dist, s.DistTable) else [v]
        for x in items:
            if not isinstance(x, float) or isinstance(x, bool) or not math.isfinite(x):
                raise error(f"an outcome's values are all labels or all numbers, got {fmt(x)}", k,
                            hint="write e.g. {yes: p, no: 1 - p} or {0: p, 10: 1 - p}")
            values.append(x)
    if not values:
        raise error(f"outcome '{decl.name.name}' has no value", decl.dist, hint="list at least one value")
    if len(set(values)) < len(values):
        raise error(f"outcome '{decl.name.name}' lists a value twice", decl.dist, hint="list each value once")
    return [], values


def _probability(p: s.SExpr, where: Scope, st: State) -> m.Expr:
    expr = number_expr(p, where, st, "a probability")
    for node in nodes(expr):
        if isinstance(node, m.Var) and node.name.startswith(PREFIX):
            raise error(f"the law of an outcome reads the outcome '{node.name[1:]}'", p,
                        hint="an outcome's law reads types, actions and choices; draw one outcome per law")
        if isinstance(node, m.Outcome):
            raise error("the law of an outcome reads what the rounds produced", p,
                        hint="an outcome's law reads types, actions and choices")
    return expr


def lower_outcomes(st: State) -> None:
    """Every payoff that reads an outcome becomes its expectation over that outcome."""
    if not st.outcomes:
        return
    st.utilities = [expected(u, st) for u in st.utilities]
    st.objective = expected(st.objective, st)


def expected(e: m.Expr, st: State) -> m.Expr:
    for info in st.outcomes.values():
        var = outcome_var(info.name)
        if not any(isinstance(x, m.Var) and x.name == var for x in nodes(e)):
            continue
        parts = [m.Binary.make(op="*", left=p, right=substitute(e, var, m.Const.make(value=v)), span=e.span)
                 for p, v in zip(info.probs, info.values)]
        e = balanced("+", parts, e.span)
    return e


def check_outcomes(st: State) -> None:
    """Each law at every combination of the types, actions and choices it reads."""
    if not st.outcomes:
        return
    model = m.Model.make(name="spec", followers=st.followers, prior=st.prior, leader=st.leader,
                         utilities=st.utilities, objective=st.objective)
    for info in st.outcomes.values():
        probs = info.probs
        total = balanced("+", list(probs))
        found = reads(total, model)
        types, actions, choices = found
        if combinations(model, found) * weight(total, model) > MAX_DOMAIN_WORK:
            raise MechSizeError(f"the law of outcome '{info.name}' reads too much to be checked", span=info.decl.span,
                                hint="let it read fewer types, actions and choices")
        for combo, sc in scopes(model, found):
            ps = [value(p, sc) for p in probs]
            bad = min(ps) < -PROB_TOLERANCE or abs(sum(ps) - 1.0) > 1e-6
            if bad:
                shown = ", ".join(fmt(x) for x in ps)
                raise error(f"the law of outcome '{info.name}' gives probabilities {shown} "
                            f"(they must be non-negative and sum to 1) {_when(model, types, actions, choices, combo)}",
                            info.decl.dist, hint="make each probability between 0 and 1 and their sum 1 in every case")


def _when(model: m.Model, types, actions, choices, combo) -> str:
    parts = [f"{model.followers[i].name} has type {model.followers[i].type_labels[x]}" for i, x in zip(types, combo)]
    rest = combo[len(types):]
    parts += [f"{model.followers[i].name} plays {model.followers[i].action_labels[x]}" for i, x in zip(actions, rest)]
    parts += [f"{model.leader.choices[q].name}={model.leader.choices[q].labels[x]}"
              for q, x in zip(choices, rest[len(actions):])]
    return "when " + ", ".join(parts) if parts else "always"
