"""Syntax models: one small pydantic model per grammar construct, each with its `span`.

A `Spec` is the file as written: names are still names and constants are still
expressions.  `compiler.resolve` turns it into the numeric `Model`.  The comment on
each class names the grammar rule (grammar/mech.lark) it comes from.
"""
# No `from __future__ import annotations`: pydantic reads these annotations as objects
# rather than evaluating each from a string: a quarter of the time it takes to create them.

from typing import Annotated, Literal, Optional, Union

from pydantic import ConfigDict, Field

from mechdsl.compiler.model import Span, Trusted


class Node(Trusted):
    """A syntax node; `compiler.transform` builds them with `make` (see compiler/model.py)."""

    model_config = ConfigDict(frozen=True)
    span: Span


class Ident(Node):
    """A name token where the grammar wants a name (NAME)."""

    name: str


# ---------------------------------------------------------------------------
# Expressions (rule `expr` and below).  `node` is the discriminator.
# ---------------------------------------------------------------------------


class Num(Node):  # number
    node: Literal["num"] = "num"
    value: float


class BoolLit(Node):  # true / false
    node: Literal["bool"] = "bool"
    value: bool


class StrLit(Node):  # STRING (only as a `training` setting value)
    node: Literal["str"] = "str"
    value: str


class Name(Node):  # name
    node: Literal["name"] = "name"
    name: str


class Attr(Node):  # attr: `a1.value`
    node: Literal["attr"] = "attr"
    obj: "SExpr"
    name: Ident


class Index(Node):  # index: `t[row, col]`, `value[j]`
    node: Literal["index"] = "index"
    obj: "SExpr"
    indices: list["SExpr"]


class Call(Node):  # call: `range(n)`, `paid(i)`, `max(a, b)`
    node: Literal["call"] = "call"
    func: Ident
    args: list["SExpr"]


class AggExpr(Node):  # aggregate: `sum(i in agents: e)`, `max(j in others: e)`, `... in others of i`
    node: Literal["agg"] = "agg"
    func: Ident
    var: Ident
    domain: Literal["agents", "items", "others"]
    body: "SExpr"
    of: Optional[Ident] = None  # `others of i`: every agent but i (default: but self)


class UnaryOp(Node):  # neg, not_
    node: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: "SExpr"


class BinOp(Node):  # add sub mul div pow eq ne lt le gt ge and_ or_
    node: Literal["binary"] = "binary"
    op: Literal["+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
    left: "SExpr"
    right: "SExpr"


class IfExpr(Node):  # if_expr: `if c then a else b`
    node: Literal["if"] = "if"
    cond: "SExpr"
    then: "SExpr"
    orelse: "SExpr"


class ListLit(Node):  # list: `[a, b]`
    node: Literal["list"] = "list"
    items: list["SExpr"]


class TupleLit(Node):  # tuple: `(a, b)`
    node: Literal["tuple"] = "tuple"
    items: list["SExpr"]


SExpr = Annotated[
    Union[Num, BoolLit, StrLit, Name, Attr, Index, Call, AggExpr, UnaryOp, BinOp, IfExpr, ListLit, TupleLit],
    Field(discriminator="node"),
]


# ---------------------------------------------------------------------------
# Sets, distributions and supports.
# ---------------------------------------------------------------------------


class LabelSet(Node):  # labelset: `{A, B, C}`
    node: Literal["labelset"] = "labelset"
    labels: list[Ident]


class AllItems(Node):  # all_items: `in items`
    node: Literal["all_items"] = "all_items"


class AllAgents(Node):  # all_agents: `in agents`
    node: Literal["all_agents"] = "all_agents"


Domain = Annotated[
    Union[
        LabelSet, AllItems, AllAgents,
        Num, BoolLit, StrLit, Name, Attr, Index, Call, AggExpr, UnaryOp, BinOp, IfExpr, ListLit, TupleLit,
    ],
    Field(discriminator="node"),
]


class Uniform(Node):  # uniform: `~ uniform [0, 1]`, `~ uniform {low, high}` (nothing: all items)
    node: Literal["uniform"] = "uniform"
    over: Optional[Domain] = None


class DistEntry(Node):  # dist_entry: `value: probability`
    key: SExpr
    prob: SExpr


class DistTable(Node):  # dist_table: `~ {1/2: 1 - eps, 1/(2*eps): eps}`
    node: Literal["dist_table"] = "dist_table"
    entries: list[DistEntry]


class Support(Node):  # support: `in [0, 1]` (the law comes from a `joint` block)
    node: Literal["support"] = "support"
    over: Domain


Dist = Annotated[Union[Uniform, DistTable], Field(discriminator="node")]
Law = Annotated[Union[Uniform, DistTable, Support], Field(discriminator="node")]


# ---------------------------------------------------------------------------
# Statements.
# ---------------------------------------------------------------------------


class ParamDecl(Node):  # param
    node: Literal["param"] = "param"
    name: Ident
    value: SExpr


class ItemDecl(Node):  # item: `item apple units 2`
    node: Literal["item"] = "item"
    name: Ident
    units: Optional[SExpr] = None


class ItemsDecl(Node):  # items: `items a, b, c`; items_count: `items slot[n]` (slot1..slotn)
    node: Literal["items"] = "items"
    names: list[Ident]
    count: Optional[SExpr] = None


class TypeDecl(Node):  # type_decl: `type value[item] ~ uniform [0, 1]`
    node: Literal["type"] = "type"
    name: Ident
    kind: Literal["scalar", "item", "per_item"] = "scalar"
    law: Optional[Law] = None


class ActionDecl(Node):  # action: `action message in range(messages)`
    node: Literal["action"] = "action"
    name: Ident
    domain: Domain


class ParticipationDecl(Node):  # participation: `participation optional` (may stay out for utility 0)
    node: Literal["participation"] = "participation"
    mode: Ident


class ObserveTarget(Node):  # observe_target: `message` or `a1.message`
    agent: Optional[Ident] = None
    action: Ident


class ObserveDecl(Node):  # observe
    node: Literal["observe"] = "observe"
    targets: list[ObserveTarget]


class NatureDecl(Node):  # nature: `nature guilt ~ {guilty: 0.3, innocent: 0.7}` (a chance state)
    node: Literal["nature"] = "nature"
    field: TypeDecl


class OutcomeDecl(Node):  # outcome: `outcome success ~ {yes: p[effort], no: 1 - p[effort]}`
    node: Literal["outcome"] = "outcome"
    name: Ident
    dist: Dist


AgentStmt = Annotated[Union[TypeDecl, ActionDecl, ParticipationDecl, ObserveDecl], Field(discriminator="node")]


class AgentDecl(Node):  # agent: `agent bidder1 { ... }`
    node: Literal["agent"] = "agent"
    name: Ident
    body: list[AgentStmt]


class AgentsDecl(Node):  # agents: `agents bidder[3] { ... }`
    node: Literal["agents"] = "agents"
    name: Ident
    count: SExpr
    body: list[AgentStmt]


class FieldRef(Node):  # field_ref: `a1.value`, or `quality` (a chance state)
    agent: Optional[Ident]
    field: Ident


class JointDecl(Node):  # joint: `joint (a1.value, a2.value) ~ {...}`
    node: Literal["joint"] = "joint"
    fields: list[FieldRef]
    dist: Dist


class ChooseDecl(Node):  # choose: `choose row in {A, B, C} mixed`, `... mixed if commit`
    node: Literal["choose"] = "choose"
    name: Ident
    domain: Domain
    mixed: bool = False
    mixed_if: Optional[SExpr] = None  # a constant bool: mixed only when it holds
    per_agent: bool = False  # `choose pay[agents] in ...`: one choice per agent
    interval: bool = False  # choose_interval: `choose tau in interval [0, 10]` (domain holds [low, high])


class VisitDecl(Node):  # visit: `visit remaining agent`; visit_order: `visit in order a2, a1`
    node: Literal["visit"] = "visit"
    order: Optional[list[Ident]] = None  # a fixed order ([] : the agents' declared order)


class PriceGrid(Node):  # price_grid: `price each item in [0, 0.5, 1]`
    node: Literal["price_grid"] = "price_grid"
    grid: SExpr
    per: Literal["item", "bundle"] = "item"  # price_bundle: `price each bundle in [...]`


class PriceInterval(Node):  # price_interval: `price each item in interval [0, 3]`
    node: Literal["price_interval"] = "price_interval"
    low: SExpr
    high: SExpr
    per: Literal["item", "bundle"] = "item"  # price_bundle_interval: `price each bundle in interval [0, 3]`


class RoundsObserve(Node):  # rounds_observe: `observe remaining` / `observe allocation`
    node: Literal["rounds_observe"] = "rounds_observe"
    what: Literal["remaining", "allocation"]


RoundsStmt = Annotated[Union[VisitDecl, PriceGrid, PriceInterval, RoundsObserve], Field(discriminator="node")]


class RoundsDecl(Node):  # rounds: `rounds { ... }`
    node: Literal["rounds"] = "rounds"
    body: list[RoundsStmt]


LeaderStmt = Annotated[Union[ObserveDecl, ChooseDecl, RoundsDecl], Field(discriminator="node")]


class LeaderDecl(Node):  # leader: `leader { ... }`
    node: Literal["leader"] = "leader"
    body: list[LeaderStmt]


class ValuationDecl(Node):  # valuation: `valuation unit-demand of value`
    node: Literal["valuation"] = "valuation"
    kind: Literal["unit", "additive"]
    field: Ident


class TiesDecl(Node):  # ties: `ties buy` / `ties pass`
    node: Literal["ties"] = "ties"
    buy: bool


class TableDecl(Node):  # table: `table maintain[row, col] = [...]`
    node: Literal["table"] = "table"
    name: Ident
    axes: list[Ident]
    value: SExpr


class UtilityDecl(Node):  # utility: `utility follower = e` (agent None: every other agent)
    node: Literal["utility"] = "utility"
    agent: Optional[Ident] = None
    expr: SExpr


class ObjectiveDecl(Node):  # objective_expr / objective_named
    node: Literal["objective"] = "objective"
    expr: Optional[SExpr] = None
    named: Optional[Ident] = None


class Setting(Node):  # setting: `step = 0.1`
    name: Ident
    value: SExpr


class DynamicsDecl(Node):  # dynamics: `dynamics { ... }`
    node: Literal["dynamics"] = "dynamics"
    settings: list[Setting]


class TrainingDecl(Node):  # training: `training { ... }`
    node: Literal["training"] = "training"
    settings: list[Setting]


Statement = Annotated[
    Union[
        ParamDecl, ItemDecl, ItemsDecl, AgentDecl, AgentsDecl, JointDecl, NatureDecl, OutcomeDecl, LeaderDecl, ValuationDecl,
        TiesDecl, TableDecl, UtilityDecl, ObjectiveDecl, DynamicsDecl, TrainingDecl,
    ],
    Field(discriminator="node"),
]


class Spec(Node):  # start: the whole file
    doc: str = ""
    path: str = ""
    statements: list[Statement] = []
