"""Lark parse tree -> `Spec` (compiler/spec.py), keeping every position as a `Span`.

One method per grammar rule (or alias), named after it.  Lark wraps exceptions raised
inside callbacks in `VisitError`; `to_spec` unwraps them.  The nodes are built with
`make`, unvalidated (see compiler/model.py): the grammar gives every field its type, and
the one word it hands over as a choice of names (an aggregate's domain) is checked here.
"""
from __future__ import annotations

import inspect
import math

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import VisitError

from mechdsl.compiler import spec as s
from mechdsl.compiler.errors import MechError, MechSemanticError
from mechdsl.compiler.model import Span


AGGREGATE_DOMAINS = ("agents", "items", "others")  # spec.AggExpr.domain


def to_spec(tree: lark.Tree, path: str = "") -> s.Spec:
    """Build the syntax model of a parsed file (or of a `value` parse: an expression)."""
    try:
        result = ToSpec().transform(tree)
    except VisitError as e:
        orig = e.orig_exc
        if isinstance(orig, MechError):
            raise orig from None
        raise
    if isinstance(result, s.Spec):
        result = result.model_copy(update={"path": path})
    return result


def span_of(meta) -> Span:
    return Span.make(line=meta.line, column=meta.column, end_line=meta.end_line, end_column=meta.end_column)


def tok_span(tok: Token) -> Span:
    return Span.make(line=tok.line, column=tok.column, end_line=tok.end_line, end_column=tok.end_column)


def ident(tok: Token) -> s.Ident:
    return s.Ident.make(name=str(tok), span=tok_span(tok))


def _binary(op: str):
    def method(self, meta, children):
        left, right = children
        return s.BinOp.make(op=op, left=left, right=right, span=span_of(meta))

    return method


@v_args(meta=True)
class ToSpec(Transformer):
    """Tree -> spec models; each method is named after its rule in grammar/mech.lark."""

    # ---- file -------------------------------------------------------------
    def start(self, meta, children):
        doc = ""
        if children and isinstance(children[0], Token) and children[0].type == "DOCSTRING":
            doc = inspect.cleandoc(str(children[0])[3:-3]).strip()
            children = children[1:]
        span = span_of(meta) if not meta.empty else Span.make(line=1, column=1)
        return s.Spec.make(doc=doc, statements=children, span=span)

    def value(self, meta, children):
        return children[0]

    # ---- parameters and items ---------------------------------------------
    def param(self, meta, children):
        name, value = children
        return s.ParamDecl.make(name=ident(name), value=value, span=span_of(meta))

    def item(self, meta, children):
        units = children[1] if len(children) > 1 else None
        return s.ItemDecl.make(name=ident(children[0]), units=units, span=span_of(meta))

    def items(self, meta, children):
        return s.ItemsDecl.make(names=[ident(t) for t in children], span=span_of(meta))

    def items_count(self, meta, children):
        name, count = children
        return s.ItemsDecl.make(names=[ident(name)], count=count, span=span_of(meta))

    # ---- followers ---------------------------------------------------------
    def agent(self, meta, children):
        return s.AgentDecl.make(name=ident(children[0]), body=children[1:], span=span_of(meta))

    def agents(self, meta, children):
        name, count, *body = children
        return s.AgentsDecl.make(name=ident(name), count=count, body=body, span=span_of(meta))

    def type_decl(self, meta, children):
        name, *rest = children
        kind = "scalar"
        if rest and isinstance(rest[0], str):
            kind = rest.pop(0)
        law = rest[0] if rest else None
        return s.TypeDecl.make(name=ident(name), kind=kind, law=law, span=span_of(meta))

    def item_mark(self, meta, children):
        return "item"

    def per_item_mark(self, meta, children):
        return "per_item"

    def support(self, meta, children):
        return s.Support.make(over=children[0], span=span_of(meta))

    def uniform(self, meta, children):
        return s.Uniform.make(over=children[0] if children else None, span=span_of(meta))

    def dist_table(self, meta, children):
        return s.DistTable.make(entries=children, span=span_of(meta))

    def dist_entry(self, meta, children):
        key, prob = children
        return s.DistEntry.make(key=key, prob=prob, span=span_of(meta))

    def action(self, meta, children):
        name, domain = children
        return s.ActionDecl.make(name=ident(name), domain=domain, span=span_of(meta))

    def participation(self, meta, children):
        return s.ParticipationDecl.make(mode=ident(children[0]), span=span_of(meta))

    def labelset(self, meta, children):
        return s.LabelSet.make(labels=[ident(t) for t in children], span=span_of(meta))

    def all_items(self, meta, children):
        return s.AllItems.make(span=span_of(meta))

    def all_agents(self, meta, children):
        return s.AllAgents.make(span=span_of(meta))

    def nature(self, meta, children):
        name, law = (children + [None])[:2]
        field = s.TypeDecl.make(name=ident(name), law=law, span=span_of(meta))
        return s.NatureDecl.make(field=field, span=span_of(meta))

    def outcome(self, meta, children):
        name, dist = children
        return s.OutcomeDecl.make(name=ident(name), dist=dist, span=span_of(meta))

    def joint(self, meta, children):
        *fields, dist = children
        return s.JointDecl.make(fields=fields, dist=dist, span=span_of(meta))

    def field_ref(self, meta, children):
        if len(children) == 1:  # a chance state: `joint (quality, buyer.value) ~ ...`
            return s.FieldRef.make(agent=None, field=ident(children[0]), span=span_of(meta))
        agent, field = children
        return s.FieldRef.make(agent=ident(agent), field=ident(field), span=span_of(meta))

    # ---- the leader --------------------------------------------------------
    def leader(self, meta, children):
        return s.LeaderDecl.make(body=children, span=span_of(meta))

    def observe(self, meta, children):
        return s.ObserveDecl.make(targets=children, span=span_of(meta))

    def observe_target(self, meta, children):
        if len(children) == 2:
            return s.ObserveTarget.make(agent=ident(children[0]), action=ident(children[1]), span=span_of(meta))
        return s.ObserveTarget.make(action=ident(children[0]), span=span_of(meta))

    def choose(self, meta, children):
        name, *rest = children
        per_agent = bool(rest) and rest[0] == "per_agent"
        domain, *mixed = rest[1:] if per_agent else rest
        when = mixed[0] if mixed and mixed[0] is not True else None
        return s.ChooseDecl.make(name=ident(name), domain=domain, mixed=bool(mixed), mixed_if=when, per_agent=per_agent,
                                 span=span_of(meta))

    def choose_interval(self, meta, children):
        name, *rest = children
        per_agent = bool(rest) and rest[0] == "per_agent"
        low, high, *mixed = rest[1:] if per_agent else rest
        span = span_of(meta)
        domain = s.ListLit.make(items=[low, high], span=span)
        return s.ChooseDecl.make(name=ident(name), domain=domain, mixed=bool(mixed), per_agent=per_agent, interval=True,
                                 span=span)

    def per_agent(self, meta, children):
        return "per_agent"

    def mixed(self, meta, children):
        return children[0] if children else True

    def rounds(self, meta, children):
        return s.RoundsDecl.make(body=children, span=span_of(meta))

    def visit(self, meta, children):
        return s.VisitDecl.make(span=span_of(meta))

    def visit_order(self, meta, children):
        return s.VisitDecl.make(order=[ident(t) for t in children], span=span_of(meta))

    def price_bundle(self, meta, children):
        return s.PriceGrid.make(grid=children[0], per="bundle", span=span_of(meta))

    def price_grid(self, meta, children):
        return s.PriceGrid.make(grid=children[0], span=span_of(meta))

    def price_interval(self, meta, children):
        low, high = children
        return s.PriceInterval.make(low=low, high=high, span=span_of(meta))

    def price_bundle_interval(self, meta, children):
        low, high = children
        return s.PriceInterval.make(low=low, high=high, per="bundle", span=span_of(meta))

    def observe_remaining(self, meta, children):
        return s.RoundsObserve.make(what="remaining", span=span_of(meta))

    def observe_allocation(self, meta, children):
        return s.RoundsObserve.make(what="allocation", span=span_of(meta))

    def valuation_unit(self, meta, children):
        return s.ValuationDecl.make(kind="unit", field=ident(children[-1]), span=span_of(meta))

    def valuation_additive(self, meta, children):
        return s.ValuationDecl.make(kind="additive", field=ident(children[-1]), span=span_of(meta))

    def ties_buy(self, meta, children):
        return s.TiesDecl.make(buy=True, span=span_of(meta))

    def ties_pass(self, meta, children):
        return s.TiesDecl.make(buy=False, span=span_of(meta))

    # ---- payoffs -----------------------------------------------------------
    def table(self, meta, children):
        name, *axes, value = children
        return s.TableDecl.make(name=ident(name), axes=axes, value=value, span=span_of(meta))

    def table_axis(self, meta, children):
        return ident(children[0])

    def items_axis(self, meta, children):
        return s.Ident.make(name="items", span=span_of(meta))

    def agents_axis(self, meta, children):
        return s.Ident.make(name="agents", span=span_of(meta))

    def utility(self, meta, children):
        agent = ident(children[0]) if len(children) == 2 else None
        return s.UtilityDecl.make(agent=agent, expr=children[-1], span=span_of(meta))

    def objective_expr(self, meta, children):
        return s.ObjectiveDecl.make(expr=children[0], span=span_of(meta))

    def objective_named(self, meta, children):
        return s.ObjectiveDecl.make(named=ident(children[0]), span=span_of(meta))

    def dynamics(self, meta, children):
        return s.DynamicsDecl.make(settings=children, span=span_of(meta))

    def training(self, meta, children):
        return s.TrainingDecl.make(settings=children, span=span_of(meta))

    def tie_key(self, meta, children):
        return children[0]

    def setting(self, meta, children):
        name, value = children
        if isinstance(value, Token):  # STRING
            value = s.StrLit.make(value=str(value)[1:-1], span=tok_span(value))
        return s.Setting.make(name=ident(name), value=value, span=span_of(meta))

    # ---- expressions -------------------------------------------------------
    def number(self, meta, children):
        value = float(children[0])
        if not math.isfinite(value):
            text = str(children[0])
            shown = text if len(text) <= 20 else text[:10] + "..." + text[-6:]
            raise MechSemanticError(
                f"the number {shown} is too large: it overflows to infinity", span=span_of(meta),
                hint="numbers must stay below about 1.8e308 in size; rescale the units of this spec",
            )
        return s.Num.make(value=value, span=span_of(meta))

    def name(self, meta, children):
        return s.Name.make(name=str(children[0]), span=span_of(meta))

    def true(self, meta, children):
        return s.BoolLit.make(value=True, span=span_of(meta))

    def false(self, meta, children):
        return s.BoolLit.make(value=False, span=span_of(meta))

    def tuple(self, meta, children):
        return s.TupleLit.make(items=children, span=span_of(meta))

    def list(self, meta, children):
        return s.ListLit.make(items=children, span=span_of(meta))

    def call(self, meta, children):
        func, *args = children
        return s.Call.make(func=ident(func), args=args, span=span_of(meta))

    def units_call(self, meta, children):
        func = s.Ident.make(
            name="units",
            span=Span.make(line=meta.line, column=meta.column, end_line=meta.line, end_column=meta.column + 5),
        )
        return s.Call.make(func=func, args=children, span=span_of(meta))

    def agg_domain(self, meta, children):
        # `agents`, `items`, `others`, or `others of NAME`
        return str(children[0]), (ident(children[-1]) if len(children) == 3 else None)

    def aggregate(self, meta, children):
        func, var, (domain, of), body = children
        if domain not in AGGREGATE_DOMAINS:  # a tree the grammar cannot make
            raise MechSemanticError(
                f"malformed aggregate: the domain is {domain!r}, not one of {', '.join(AGGREGATE_DOMAINS)}",
                span=span_of(meta),
                hint="this construct is not one the language knows; see docs/language.md for its forms",
            )
        return s.AggExpr.make(func=ident(func), var=ident(var), domain=domain, of=of, body=body, span=span_of(meta))

    def index(self, meta, children):
        obj, *indices = children
        return s.Index.make(obj=obj, indices=indices, span=span_of(meta))

    def attr(self, meta, children):
        obj, name = children
        return s.Attr.make(obj=obj, name=ident(name), span=span_of(meta))

    def if_expr(self, meta, children):
        cond, then, orelse = children
        return s.IfExpr.make(cond=cond, then=then, orelse=orelse, span=span_of(meta))

    def neg(self, meta, children):
        return s.UnaryOp.make(op="-", operand=children[0], span=span_of(meta))

    def not_(self, meta, children):
        return s.UnaryOp.make(op="not", operand=children[0], span=span_of(meta))

    or_ = _binary("or")
    and_ = _binary("and")
    eq = _binary("==")
    ne = _binary("!=")
    lt = _binary("<")
    le = _binary("<=")
    gt = _binary(">")
    ge = _binary(">=")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    div = _binary("/")
    pow = _binary("^")
