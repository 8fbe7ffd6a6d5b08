"""The resolved model: a spec with every name bound and every constant evaluated.

This is the contract between the front end (text -> parse tree -> `Spec` -> `Model`)
and the back end (`Model` -> `GameIR` -> evaluator, solver, POMDP).  Nothing here
refers to source syntax except the `span` kept for error messages.

Conventions
-----------
* Followers are numbered 0..n-1 in declaration order; items 0..m-1.
* A follower's type is one of `len(type_labels)` alternatives; each field gives one
  value per alternative (a float, an item index, or a list of floats per item).
* The prior is dense over type profiles, flattened in C order (follower 0 slowest).
* Every follower has exactly one strategic action set (size >= 1).

The compiler builds these models (and the syntax models of `compiler.spec`) with `make`,
pydantic's `model_construct`: from values it has already checked and given the declared
types, without validation.  Their schemas are built only when something validates or
dumps through pydantic: calling a class directly (a model made by hand), reading JSON,
`--format json`.  So `mechdsl check` never pays for pydantic's schema building, most of
its start-up otherwise.  tests/test_resolve.py checks that every shipped spec's models are what
validation would make of them, types included.
"""
# No `from __future__ import annotations`: pydantic reads these annotations as objects
# rather than evaluating each from a string: a quarter of the time it takes to create them.

import math
from typing import Annotated, Any, ClassVar, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer

_T = TypeVar("_T", bound="Trusted")


class Trusted(BaseModel):
    """A model the compiler builds unvalidated (`make`); calling the class validates as usual."""

    model_config = ConfigDict(defer_build=True)
    # Fields the language gained after IR hashes were first given out: a dump leaves them out
    # while they hold their default, so a model that does not use them keeps its hash.
    _quiet_defaults: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def make(cls: "type[_T]", /, **fields: Any) -> "_T":
        """The model of `fields`, which must already have the declared types (a float where
        a float is declared: validation would have turned 1 into 1.0)."""
        return cls.model_construct(**fields)

    def plain(self) -> dict[str, Any]:
        """What `model_dump(mode="json")` gives, read straight off the fields: dumping through
        pydantic first builds the schema of every model inside, most of `mechdsl compile`'s
        start-up (it prints the IR's hash).  tests/test_ir.py checks that the two agree."""
        data = {name: _plain(value) for name, value in self.__dict__.items()}
        for name in self._unwritten():
            del data[name]
        return data

    def _unwritten(self) -> list[str]:
        fields = type(self).model_fields
        return [name for name in self._quiet_defaults if getattr(self, name) == fields[name].default]


def _plain(x: Any) -> Any:
    if isinstance(x, Trusted):
        return x.plain()
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None  # pydantic writes inf and nan as null in JSON
    return x


def _leave_out_quiet_defaults(self: Trusted, handler) -> dict[str, Any]:
    data = handler(self)
    for name in self._unwritten():
        data.pop(name, None)
    return data


class Span(Trusted):
    """Where a construct stands in its source file (1-based line and column)."""

    model_config = ConfigDict(frozen=True)
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0


# ---------------------------------------------------------------------------
# Resolved expressions.  Every node evaluates, for each (type profile, action
# profile, leader outcome), to a number (bools are 0/1; items, agents and labels
# are their indices).  `kind` is the discriminator.
# ---------------------------------------------------------------------------


class _E(Trusted):
    model_config = ConfigDict(frozen=True)
    span: Optional[Span] = None


class Const(_E):
    kind: Literal["const"] = "const"
    value: float

    @classmethod
    def make(cls, value: float, span: Optional[Span] = None) -> "Const":  # type: ignore[override]
        """A constant; an item, agent or label index (an int) becomes its float."""
        return cls.model_construct(value=float(value), span=span)


class Var(_E):
    """A variable bound by an aggregate (`sum(i in agents: ...)`); its value is an index."""

    kind: Literal["var"] = "var"
    name: str


class TypeRef(_E):
    """Field `field` of follower `agent`'s type; `item` indexes a per-item field."""

    kind: Literal["type"] = "type"
    agent: "Expr"
    field: str
    item: Optional["Expr"] = None


class ActionRef(_E):
    """Follower `agent`'s strategic action: its index, or its numeric value if `numeric`."""

    kind: Literal["action"] = "action"
    agent: "Expr"
    numeric: bool = False


class ChoiceRef(_E):
    """The leader's one-shot choice `name`: its index, or its numeric value if `numeric`."""

    kind: Literal["choice"] = "choice"
    name: str
    numeric: bool = False


class Outcome(_E):
    """What the sequential rounds produced for `agent`.

    `units`: units received (of `item`, or in all); `paid`: total payment;
    `worth`: value of the bundle under the declared valuation.
    """

    kind: Literal["outcome"] = "outcome"
    what: Literal["units", "paid", "worth"]
    agent: "Expr"
    item: Optional["Expr"] = None


class Table(_E):
    """A numeric table (nested lists, last axis may be a tuple component) indexed by exprs."""

    kind: Literal["table"] = "table"
    name: str
    values: list  # nested lists of floats; ndim == len(index)
    index: list["Expr"]


class Unary(_E):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "not", "abs"]
    operand: "Expr"


class Binary(_E):
    kind: Literal["binary"] = "binary"
    op: Literal["+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "and", "or", "min", "max"]
    left: "Expr"
    right: "Expr"


class If(_E):
    kind: Literal["if"] = "if"
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"


class Aggregate(_E):
    """`func(var in domain: body)` over all agents or all items."""

    kind: Literal["aggregate"] = "aggregate"
    func: Literal["sum", "max", "min"]
    var: str
    domain: Literal["agents", "items"]
    body: "Expr"


Expr = Annotated[
    Union[Const, Var, TypeRef, ActionRef, ChoiceRef, Outcome, Table, Unary, Binary, If, Aggregate],
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------------
# Declarations.
# ---------------------------------------------------------------------------


class Item(Trusted):
    name: str
    units: int = 1
    span: Optional[Span] = None


class TypeField(Trusted):
    """A type field; a `label` field's values are positions in `labels` (`{low, high}`)."""

    name: str
    kind: Literal["scalar", "item", "per_item", "label"]
    labels: list[str] = []

    _quiet_defaults: ClassVar[tuple[str, ...]] = ("labels",)
    _dump = model_serializer(mode="wrap")(_leave_out_quiet_defaults)


class Follower(Trusted):
    name: str
    fields: list[TypeField]
    type_labels: list[str]  # one display label per type alternative, e.g. "value=0.5"
    type_values: dict[str, list]  # field -> one value per type alternative
    action_name: str  # e.g. "message"; "none" when the agent has no strategic choice
    action_labels: list[str]
    action_values: list[Optional[float]]  # numeric value of each action, None for plain labels
    span: Optional[Span] = None


class Choice(Trusted):
    """A one-shot leader decision from a finite set; `mixed` lets it randomize."""

    name: str
    kind: Literal["label", "number", "item", "agent"]
    labels: list[str]
    values: list[Optional[float]]
    mixed: bool = False
    interval: Optional[tuple[float, float]] = None  # a continuous choice in [low, high] (one placeholder label)
    span: Optional[Span] = None

    _quiet_defaults: ClassVar[tuple[str, ...]] = ("interval",)
    _dump = model_serializer(mode="wrap")(_leave_out_quiet_defaults)


class Rounds(Trusted):
    """Sequential rounds: visit a remaining agent, post a price per remaining item,
    the agent takes its utility-maximizing bundle; repeat until no agent or no item remains."""

    price_kind: Literal["grid", "interval"]
    grid: list[float] = []  # for "grid": the candidate prices (same for every item)
    low: float = 0.0  # for "interval"
    high: float = 0.0
    valuation: Literal["unit", "additive"] = "unit"
    value_field: str = "value"  # scalar (same value for every item) or per_item field
    tie_buy: bool = True  # buy when utility >= 0 (else only when > 0)
    observe_allocation: bool = True  # leader sees who bought what, not only what remains
    order: list[int] = []  # a fixed visiting order (agents not listed are never visited); [] : any
    bundle_prices: bool = False  # a grid price per bundle instead of per item
    span: Optional[Span] = None

    _quiet_defaults: ClassVar[tuple[str, ...]] = ("order", "bundle_prices")
    _dump = model_serializer(mode="wrap")(_leave_out_quiet_defaults)


class Leader(Trusted):
    observe: list[int] = []  # followers whose strategic action the leader observes
    choices: list[Choice] = []
    rounds: Optional[Rounds] = None


# The chance player's name (`nature` is a keyword, so no agent can take it).
CHANCE = "nature"
# How exact ties in the followers' final weights are read (mechdsl.ties says what each means);
# the one list the language, the CLI and the trainer share.
TIE_READINGS = ("pessimistic", "first", "favourable")
DEFAULT_TIES = TIE_READINGS[0]
# The followers' response model (docs/followers.md says what each converges to); `mw` is
# the paper's.  The one list the language, the CLI, the solver and the trainer share.
FOLLOWER_MODELS = ("mw", "swap", "qlearning", "favourable", "pessimistic")
DEFAULT_FOLLOWER_MODEL = FOLLOWER_MODELS[0]


class Dynamics(Trusted):
    """Follower no-regret dynamics and POMDP sizes (paper defaults filled by the resolver)."""

    step: float = 0.1  # multiplicative-weights epsilon: w *= (1+step)^payoff
    equilibrium: int = 100  # T equilibrium sub-episodes
    reward: int = 10  # R reward sub-episodes
    normalize: bool = True  # scale each follower's payoffs to [0, 1] by its range
    ties: str = DEFAULT_TIES  # how exact ties in the final weights are read (mechdsl.ties)
    model: str = DEFAULT_FOLLOWER_MODEL  # the followers' response model (FOLLOWER_MODELS)
    learning_rate: float = 0.1  # qlearning: Q += learning_rate * (payoff - Q)
    epsilon: float = 0.1  # qlearning: exploration probability of epsilon-greedy play


class Model(Trusted):
    name: str
    doc: str = ""
    path: str = ""
    params: dict[str, float] = {}
    items: list[Item] = []
    followers: list[Follower]
    prior: list[float]
    leader: Leader
    utilities: list[Expr]  # one per follower
    objective: Expr
    objective_name: str = "objective"
    dynamics: Dynamics = Dynamics.model_construct()
    training: dict[str, Union[float, int, str, bool]] = {}

    @property
    def type_counts(self) -> list[int]:
        return [len(f.type_labels) for f in self.followers]

    @property
    def chance(self) -> Optional[int]:
        """The chance player's index (`nature` lines; always the last follower), None
        without one.  A follower of the compiled game only: its type is the state, it has
        one action and no utility, and no report shows it as a follower."""
        last = len(self.followers) - 1
        return last if last >= 0 and self.followers[last].name == CHANCE else None

    @property
    def people(self) -> list[int]:
        """The followers proper: every follower but the chance player."""
        return [i for i in range(len(self.followers)) if i != self.chance]

    @property
    def action_counts(self) -> list[int]:
        return [len(f.action_labels) for f in self.followers]
