"""What payoff expressions carry while `compiler.typecheck` checks them: the `Scope` a
name is read in, the `Typed` result, and the lookups that need no recursion."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from mechdsl.compiler import model as m
from mechdsl.compiler.passes.state import FiniteSet, State


@dataclass
class Scope:
    """Where an expression is read: `self_agent` is bound in utilities (None in the objective)."""

    self_agent: Optional[int]
    where: str
    vars: dict[str, str] = field(default_factory=dict)  # aggregate variable -> "agent" | "item"


@dataclass
class Typed:
    """A resolved expression and its type.

    `ty`: number, bool, item, agent, label (of `labels`), per_item (a field still to be
    indexed by an item: `field` of `agent`), bare (a label name not yet placed in a set).
    `index`: for references to a numeric set, the position form (used by tables).
    """

    expr: Optional[m.Expr]
    ty: str
    labels: tuple = ()
    index: Optional[m.Expr] = None
    size: int = 0
    name: str = ""
    agent: Optional[m.Expr] = None

    def describe(self) -> str:
        if self.ty == "label":
            return "a label of {" + ", ".join(self.labels) + "}"
        if self.ty == "bare":
            return f"the label {self.name}"
        if self.ty == "per_item":
            return f"the per-item field '{self.name}'"
        return {"number": "a number", "bool": "a bool", "item": "an item", "agent": "an agent"}[self.ty]


NUMERIC = ("number", "bool")
NUMBER_HINT = "numbers, params, type fields, numeric actions and choices, and comparisons (as 0/1) make numbers"
AXIS_HINT = "index an axis with one of its values, or the action/choice it is named after"
COMPARE_HINT = "compare values of one kind: items with items, agents with agents, labels of the same set"


def has(st: State, k: int, name: str, kind: str) -> bool:
    """Whether follower `k` has a type field (kind "field") or an action named `name`."""
    if kind == "field":
        return name in st.fields[k]
    action = st.actions[k]
    return action is not None and action.name == name


def label_sets(st: State) -> list[list[str]]:
    """Every set of labels a bare label may belong to: choices, actions, labelled type fields."""
    sets = [values.labels for values, _ in st.choices.values() if values.kind == "label"]
    sets += [a.values.labels for a in st.actions if a is not None and a.values.kind == "label"]
    sets += [info.labels for fields in st.fields for info in fields.values() if info.kind == "label"]
    sets += [info.labels for info in st.outcomes.values() if info.labels]
    return sets


def set_ref(expr_index: m.Expr, expr_value: m.Expr, values: FiniteSet) -> Typed:
    """A reference to a member of a finite set, typed by the set's kind."""
    if values.kind == "number":
        return Typed(expr_value, "number", index=expr_index, size=len(values.labels))
    if values.kind == "label":
        return Typed(expr_index, "label", labels=tuple(values.labels), size=len(values.labels))
    return Typed(expr_index, values.kind, size=len(values.labels))


def set_member(values: FiniteSet) -> str:
    return {"label": f"a label of {values.describe()}", "item": "an item", "agent": "an agent",
            "number": f"a value of {values.describe()}"}[values.kind]


def kind_word(t: Typed) -> str:
    return {"number": "number", "bool": "bool", "item": "item", "agent": "agent", "label": "label",
            "bare": f"label {t.name}", "per_item": "per-item field"}[t.ty]


def known(name: str, scope: Scope, st: State) -> bool:
    """Whether `name` means something other than a label."""
    if name in scope.vars or name == "self" or name in st.params or name in st.choices or name in st.tables \
            or name in st.outcomes or name in st.choice_groups:
        return True
    if name in st.item_index() or name in st.agent_index() or name in st.groups:
        return True
    return any(name in fields for fields in st.fields) or any(a is not None and a.name == name for a in st.actions)
