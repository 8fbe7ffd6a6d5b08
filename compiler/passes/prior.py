"""Follower types: each type field's support and law, `joint` laws, and the dense prior
over type profiles."""
from __future__ import annotations

import itertools
import math

from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import did_you_mean, evaluate, fmt, hashable, number, number_list
from mechdsl.compiler.limits import MAX_LIST, MAX_TYPE_PROFILES, too_big
from mechdsl.compiler.passes.state import (
    PROB_TOLERANCE, FieldInfo, State, agent_ref, check_finite, error, line_of, listing,
)


def resolve_types(st: State) -> None:
    """Each type field's support and (unless a joint gives it) its probabilities."""
    items = st.item_index()
    total = 1
    for agent in st.agents:
        fields: dict[str, FieldInfo] = {}
        for decl in agent.decl.body:
            if isinstance(decl, s.TypeDecl):
                fields[decl.name.name] = type_field(decl, items, st)
        st.fields.append(fields)
        total *= math.prod(max(1, len(f.support)) for f in fields.values())
        if total > MAX_TYPE_PROFILES:  # as soon as the agents so far are too many, before the next one
            check_type_profiles(st)


def check_type_profiles(st: State) -> list[int]:
    """Type alternatives per follower resolved so far (fields whose support a joint
    block still has to give count as one value); too many profiles is a size error.
    Agents not resolved yet count as the resolved members of their family (the same
    declaration), so the error quotes the whole spec's count, not where it stopped."""
    counts = [math.prod(max(1, len(f.support)) for f in fields.values()) for fields in st.fields]
    total = math.prod(counts)
    if total > MAX_TYPE_PROFILES:
        family = {id(a.decl): c for a, c in zip(st.agents, counts)}
        rest = [family.get(id(a.decl)) for a in st.agents[len(counts):]]
        whole = total * math.prod(c for c in rest if c is not None)
        k = max(range(len(counts)), key=lambda i: counts[i])
        shown = ", ".join(f"{a.name}: {c}" for a, c in zip(st.agents[:6], counts + rest) if c is not None)
        more = f", ... ({len(st.agents)} agents)" if len(st.agents) > 6 else ""
        what = "at least " if None in rest else ""
        raise too_big(f"too many type profiles (types per agent: {shown}{more})", whole, MAX_TYPE_PROFILES,
                      st.agents[k].decl.name, "use fewer type values or fewer agents: the type profiles multiply",
                      prefix=what)
    return counts


def type_field(decl: s.TypeDecl, items: dict[str, int], st: State) -> FieldInfo:
    if decl.kind != "scalar" and not items:
        raise error(f"'{decl.name.name}' is an item field but the spec declares no items", decl, hint="add `item name`")
    law = decl.law
    info = FieldInfo(name=decl.name.name, kind=decl.kind, support=[], probs=None, decl=decl)
    if law is None:
        return info  # support and law come from a `joint` block
    if decl.kind == "scalar" and labelled_law(law, st):
        return label_field(info, law, st)
    if isinstance(law, s.Support):
        info.support = support_values(law.over, decl.kind, items, st)
    elif isinstance(law, s.Uniform):
        info.support = support_values(law.over, decl.kind, items, st, where=law)
        info.probs = [1.0 / len(info.support)] * len(info.support)
    else:
        keyed = [(field_value(e.key, decl.kind, items, st), e) for e in law.entries]
        info.support = [v for v, _ in keyed]
        _no_repeats([(v, e.key) for v, e in keyed], info, st)
        info.probs = probabilities(law, st)
    return info


def labelled_law(law, st: State) -> bool:
    """Whether a number-looking field's law names labels: `{low, high}`, `{low: 0.6, ...}`."""
    if isinstance(law, s.DistTable):
        return any(is_label(e.key, st) for e in law.entries)
    return isinstance(law.over, s.LabelSet)


def is_label(key, st: State) -> bool:
    """A distribution key that is a bare name but not a param names a label."""
    return isinstance(key, s.Name) and key.name not in st.params


def label_field(info: FieldInfo, law, st: State) -> FieldInfo:
    """`type kind ~ {low: 0.6, high: 0.4}`, `~ uniform {low, high}`, `in {low, high}`:
    the values are labels, in the order written; the model holds their positions."""
    info.kind = "label"
    names = [e.key for e in law.entries] if isinstance(law, s.DistTable) else law.over.labels
    if not names:
        raise error("a type field needs at least one value", law, hint="list at least one label")
    for key in names:
        if isinstance(law, s.DistTable) and not is_label(key, st):
            raise error(f"field '{info.name}' mixes labels and numbers", key,
                        hint="a type field's values are all numbers or all labels, e.g. {low: 0.6, high: 0.4}")
        label_name_free(key, st)
    info.labels = [key.name for key in names]
    info.support = list(range(len(names)))
    _no_repeats([(i, key) for i, key in enumerate(names)], info, st)
    if isinstance(law, s.DistTable):
        info.probs = probabilities(law, st)
    elif isinstance(law, s.Uniform):
        info.probs = [1.0 / len(names)] * len(names)
    return info


def label_name_free(key, st: State) -> None:
    """A label must not be the name of an item or an agent: a payoff could not tell them apart."""
    for what, names in (("an item", st.item_index()), ("an agent", st.agent_index()), ("an agent group", st.groups)):
        if key.name in names:
            raise error(f"label '{key.name}' is already {what}", key,
                        hint="rename the label" + ("; for an item-valued field write `type name: item ~ ...`"
                                                   if what == "an item" else ""))


def support_values(over, kind: str, items: dict[str, int], st: State, where=None) -> list:
    """The values a field can take: numbers, item indices, or per-item vectors."""
    node = over if over is not None else where
    if kind == "item":
        if over is None or isinstance(over, s.AllItems):
            values, nodes = list(range(len(items))), [node] * len(items)
        elif isinstance(over, s.LabelSet):
            values, nodes = [_item_name(n, items) for n in over.labels], over.labels
        elif isinstance(over, s.ListLit):
            values, nodes = [field_value(x, kind, items, st) for x in over.items], over.items
        else:
            raise error("an item field's values are item names: [a, b] or `items`", node,
                        hint="write e.g. `type fav: item ~ uniform [a, b]` or `~ uniform` for all items")
    else:
        if over is None:
            raise error("uniform needs the list of values, e.g. `uniform [0, 1]`", node,
                        hint="only an item field (`type name: item ~ uniform`) may omit the list")
        if isinstance(over, (s.LabelSet, s.AllItems, s.AllAgents)):
            raise error("a number field's values are numbers, e.g. [0, 0.5, 1]", over,
                        hint="for an item-valued field write `type name: item ~ uniform`")
        named = [x for x in getattr(over, "items", []) if is_label(x, st)] if kind == "scalar" else []
        elsewhere = st.env().elsewhere if named else {}
        named = [x for x in named if x.name not in elsewhere]
        if isinstance(over, s.ListLit) and named:
            raise error(f"'{named[0].name}' is not a number: labels are listed in braces", named[0],
                        hint="write the labels in braces: {" + ", ".join(getattr(x, "name", "?") for x in over.items) + "}")
        raw = evaluate(over, st.env())
        if not isinstance(raw, list):
            raise error(f"expected a list of values, got {fmt(raw)}", over, hint="write a list such as [0, 0.5, 1]")
        if kind == "scalar":
            values = number_list(over, st.env(), "a list of numbers")
        elif all(isinstance(v, float) and not isinstance(v, bool) for v in raw):
            # a per-item field over a list of numbers: each item independently
            count = len(raw) ** len(items) if len(raw) > 1 else len(raw)
            if count > MAX_LIST:
                raise too_big(f"'{decl_name(over, st)}' takes {len(raw)} values for each of {len(items)} items: "
                              "too many value vectors", count, MAX_LIST, over,
                              "use fewer values or fewer items, or list the vectors: ~ {[1, 0]: 0.5, [0, 1]: 0.5}")
            values = [list(v) for v in itertools.product(raw, repeat=len(items))]
        else:
            values = [_vector(v, over, len(items)) for v in raw]
        nodes = [over] * len(values)
        for v in values:
            check_finite(v, over)
    if not values:
        raise error("a type field needs at least one value", node, hint="list at least one value")
    _no_repeats(list(zip(values, nodes)), FieldInfo("", kind, [], None, None), st)
    return values


def decl_name(node, st: State) -> str:
    """The type field whose law contains `node` (for a message)."""
    for agent in st.agents:
        for decl in agent.decl.body:
            if isinstance(decl, s.TypeDecl) and decl.law is not None and node in (decl.law, getattr(decl.law, "over", None)):
                return decl.name.name
    return "this field"


def field_value(expr: s.SExpr, kind: str, items: dict[str, int], st: State, labels=()):
    """One value of a field of `kind`, written as an expression (a distribution key)."""
    if kind == "label":
        if not isinstance(expr, s.Name) or expr.name not in labels:
            shown = f"'{expr.name}'" if isinstance(expr, s.Name) else "this"
            raise error(f"{shown} is not a label of this field {{{', '.join(labels)}}}", expr,
                        hint=did_you_mean(getattr(expr, "name", ""), labels, f"write one of: {', '.join(labels)}"))
        return labels.index(expr.name)
    if kind == "item":
        if not isinstance(expr, s.Name):
            raise error("an item field's values are item names", expr, hint=f"items are: {listing(items)}")
        return _item_name(expr, items)
    value = evaluate(expr, st.env())
    if kind == "scalar":
        if not isinstance(value, float) or isinstance(value, bool):
            raise error(f"a number field's values are numbers, got {fmt(value)}", expr,
                        hint="for an item-valued field write `type name: item ~ ...`")
        check_finite(value, expr)
        return value
    vec = _vector(value, expr, len(items))
    check_finite(vec, expr)
    return vec


def _vector(value, node, n_items: int) -> list[float]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, float) and not isinstance(v, bool) for v in value):
        raise error(f"a per-item value is a list of {n_items} numbers, got {fmt(value)}", node,
                    hint="write one number per item, in the order the items are declared, e.g. [1, 0]")
    if len(value) != n_items:
        raise error(f"a per-item value needs one number per item ({n_items}), got {len(value)}", node,
                    hint="write one number per item, in the order the items are declared")
    return list(value)


def _item_name(name, items: dict[str, int]) -> int:
    text = name.name
    if text not in items:
        raise error(f"unknown item '{text}'", name,
                    hint=did_you_mean(text, items) or f"items are: {listing(items)}" if items else "declare it: `item name`")
    return items[text]


def _no_repeats(values: list[tuple], info: FieldInfo, st: State) -> None:
    seen = set()
    for v, node in values:
        key = hashable(v) if info.kind != "label" else node.name
        if key in seen:
            shown = node.name if info.kind == "label" else info.show(v, st)
            raise error(f"value {shown} is listed twice", node, hint="list each value once")
        seen.add(key)


def probabilities(dist: s.DistTable, st: State) -> list[float]:
    """Evaluate a table's probabilities: each non-negative, summing to 1."""
    probs = []
    for entry in dist.entries:
        p = number(entry.prob, st.env(), "a probability")
        if p < 0:
            raise error(f"probability {fmt(p)} is negative", entry.prob, hint="probabilities are between 0 and 1")
        probs.append(p)
    total = sum(probs)
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise error(f"probabilities sum to {total:.12g}, not 1", dist, hint="make the probabilities add up to 1")
    return probs


def resolve_joint_priors(st: State) -> None:
    """Attach each `joint` law to its fields, then build every follower's type table and the prior."""
    agents = st.agent_index()
    items = st.item_index()
    factors: list[tuple[list[tuple[int, str]], dict[tuple, float]]] = []
    for joint in st.statements(s.JointDecl):
        refs = []
        for ref in joint.fields:
            k, info = _joint_field(ref, agents, st)
            shown = ref.field.name if ref.agent is None else f"{ref.agent.name}.{ref.field.name}"
            if info.probs is not None:
                again = (f"`nature {info.name} in {{...}}` (or a bare `nature {info.name}`)" if ref.agent is None
                         else f"`type {info.name} in [...]`")
                raise error(f"{shown} already has its own distribution", ref,
                            hint=f"declare it as {again} to give its law here")
            if info.joint is not None:
                where = line_of(info.joint)
                raise error(f"{shown} is already in the joint at line {where}", ref,
                            hint="a field's law comes from one joint block; list all the correlated fields there")
            if (k, info.name) in refs:
                raise error(f"{shown} is listed twice", ref, hint="list each field once")
            info.joint = joint
            refs.append((k, info.name))
        factors.append((refs, joint_table(joint, refs, st, items)))
    for k, (agent, fields) in enumerate(zip(st.agents, st.fields)):
        for info in fields.values():
            if info.probs is None and info.joint is None and k == st.nature:
                raise error(f"the chance state '{info.name}' needs a law", info.decl,
                            hint=f"write e.g. `nature {info.name} ~ {{low: 0.5, high: 0.5}}`, or give its law "
                                 f"with the agents' types: `joint ({info.name}, agent.field) ~ {{...}}`")
            if info.probs is None and info.joint is None:
                raise error(f"type field '{info.name}' of agent '{agent.name}' has no distribution", info.decl,
                            hint=f"write `type {info.name} ~ ...` or give its law in a `joint` block")
    build_followers_types(st, factors)


def _joint_field(ref: s.FieldRef, agents: dict[str, int], st: State):
    """The follower and field a joint lists: `agent.field`, or a chance state by its bare name."""
    if ref.agent is None:
        chance = st.fields[st.nature] if st.nature >= 0 else {}
        if ref.field.name not in chance:
            owners = [a.name for a, fields in zip(st.agents[:st.people], st.fields) if ref.field.name in fields]
            hint = (f"an agent's field is written with its agent: {owners[0]}.{ref.field.name}" if owners else
                    did_you_mean(ref.field.name, chance, "a bare name in a joint is a chance state: "
                                 f"declare it with `nature {ref.field.name} in {{...}}`"))
            raise error(f"'{ref.field.name}' is not a chance state", ref.field, hint=hint)
        return st.nature, chance[ref.field.name]
    k = agent_ref(ref.agent, agents, st)
    info = st.fields[k].get(ref.field.name)
    if info is None:
        raise error(f"agent '{ref.agent.name}' has no type field '{ref.field.name}'", ref.field,
                    hint=did_you_mean(ref.field.name, st.fields[k],
                                      f"declare it in the agent: `type {ref.field.name} in [...]`"))
    return k, info


def joint_table(joint: s.JointDecl, refs: list[tuple[int, str]], st: State, items) -> dict[tuple, float]:
    """Map (support index per listed field) -> probability, filling supports left open."""
    infos = [st.fields[k][f] for k, f in refs]
    dist = joint.dist
    if isinstance(dist, s.Uniform):
        if dist.over is None or not isinstance(dist.over, s.ListLit):
            raise error("a uniform joint law lists its value tuples: uniform [(0, 1), (1, 0)]", dist,
                        hint="one tuple per combination, one value per listed field")
        keys = dist.over.items
        probs = [1.0 / len(keys)] * len(keys) if keys else []
    else:
        keys = [e.key for e in dist.entries]
        probs = probabilities(dist, st)
    if not keys:
        raise error("a joint law needs at least one entry", dist, hint="write e.g. ~ {(0, 1): 0.5, (1, 0): 0.5}")
    rows = []
    for key in keys:
        parts = key.items if isinstance(key, s.TupleLit) else [key]
        if len(parts) != len(infos):
            raise error(f"each key of this joint law lists {len(infos)} value(s), one per field; got {len(parts)}", key,
                        hint="write a tuple with one value per field, in the order the fields are listed")
        for part, info in zip(parts, infos):  # a bare `type kind` whose joint names labels
            if info.kind == "scalar" and not info.support and is_label(part, st):
                info.kind = "label"  # with the labels of a same-named field declared elsewhere, if any
                info.labels = next((list(f.labels) for fields in st.fields for f in fields.values()
                                    if f.name == info.name and f.kind == "label" and f.labels), [])
            if info.kind == "label" and not info.support and isinstance(part, s.Name) and part.name not in info.labels:
                label_name_free(part, st)
                info.labels.append(part.name)
        rows.append([field_value(part, info.kind, items, st, info.labels) for part, info in zip(parts, infos)])
    for col, info in enumerate(infos):
        if not info.support:  # `type value` with no support: take the values the joint uses
            values = list({hashable(row[col]): row[col] for row in rows}.values())
            info.support = sorted(values) if info.kind != "per_item" else values
            if info.kind == "label":
                info.support = list(range(len(info.labels)))
    positions = [{hashable(v): i for i, v in enumerate(info.support)} for info in infos]
    table: dict[tuple, float] = {}
    for key, row, p in zip(keys, rows, probs):
        index = []
        for part, value, info, (k, f), where in zip(key.items if isinstance(key, s.TupleLit) else [key], row, infos,
                                                    refs, positions):
            if hashable(value) not in where:
                shown = info.show(value, st)
                owner = f if k == st.nature else f"{st.agents[k].name}.{f}"
                raise error(f"{shown} is not a value of {owner}", part,
                            hint=f"its values are {_show_support(info, st)}")
            index.append(where[hashable(value)])
        if tuple(index) in table:
            raise error("this combination is listed twice", key, hint="list each combination once")
        table[tuple(index)] = p
    return table


def _show_support(info: FieldInfo, st: State) -> str:
    return "[" + listing([info.show(v, st) for v in info.support]) + "]"


def build_followers_types(st: State, factors) -> None:
    """Type alternatives (product of field supports, first field slowest) and the dense prior.

    Sizes are checked before anything is enumerated; the prior is built flat (C order,
    follower 0 slowest), so any number of followers works.
    """
    counts = check_type_profiles(st)  # every support is known now
    alt_index = [list(itertools.product(*[range(len(f.support)) for f in fields.values()])) for fields in st.fields]
    # Plain lists (numpy is not imported to compile): each profile's probability is the
    # product of its factors taken in declaration order, so the floats are those of a
    # vectorised product.
    prior = [1.0]
    for k, fields in enumerate(st.fields):
        prior = [p for p in prior for _ in range(counts[k])]  # follower k's alternative varies fastest
        for pos, info in enumerate(fields.values()):
            if info.probs is None:
                continue
            marginal = [info.probs[combo[pos]] for combo in alt_index[k]]
            prior = [p * marginal[t % counts[k]] for t, p in enumerate(prior)]
    for refs, table in factors:
        involved = sorted({k for k, _ in refs})
        positions = [list(st.fields[k]).index(f) for k, f in refs]
        sub = [0.0] * math.prod(counts[k] for k in involved)
        for flat_sub, alts in enumerate(itertools.product(*[range(counts[k]) for k in involved])):
            chosen = dict(zip(involved, alts))
            key = tuple(alt_index[k][chosen[k]][pos] for (k, _), pos in zip(refs, positions))
            sub[flat_sub] = float(table.get(key, 0.0))
        where = [0]  # per profile, its involved followers' alternatives as one mixed-radix index
        for k, count in enumerate(counts):
            where = [w * count + a if k in involved else w for w in where for a in range(count)]
        prior = [p * sub[w] for p, w in zip(prior, where)]
    st.prior = [float(p) for p in prior]
    st.alt_index = alt_index
