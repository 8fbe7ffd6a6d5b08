"""Model -> GameIR: enumerate observation classes, leader information sets and transitions.

Sizes are estimated before anything is enumerated (`compiler.limits`); an error raised
here points at the declaration responsible, in the spec's file.
"""
from __future__ import annotations

import itertools
import math

from mechdsl.compiler.bounds import expr_bounds
from mechdsl.compiler.domain import check_payoffs
from mechdsl.compiler.errors import MechError, MechSemanticError, MechSizeError
from mechdsl.compiler.ir import GameIR, InfoSet
from mechdsl.compiler.limits import BuildMeter, check_game_size, feature_width
from mechdsl.compiler.model import Model


def _profiles(counts: list[int]) -> list[tuple[int, ...]]:
    return list(itertools.product(*[range(c) for c in counts]))


def _bundles(n_items: int, unit_demand: bool) -> list[list[int]]:
    """Every bundle an agent may take (at most one unit of each item), empty first,
    then by size, then lexicographically -- the order that breaks ties."""
    if unit_demand:
        return [[0] * n_items] + [[1 if j == i else 0 for j in range(n_items)] for i in range(n_items)]
    out = [list(b) for b in itertools.product((0, 1), repeat=n_items)]
    out.sort(key=lambda b: (sum(b), [-x for x in b]))
    return out


def _class_labels(model: Model, observed: list[int], keys: list[tuple[int, ...]]) -> list[str]:
    if not observed:
        return ["(nothing observed)"]
    labels = []
    for key in keys:
        parts = []
        for j, a in zip(observed, key):
            f = model.followers[j]
            parts.append(f"{f.name}.{f.action_name}={f.action_labels[a]}")
        labels.append(", ".join(parts))
    return labels


def build_ir(model: Model) -> GameIR:
    """Compile a resolved model into the dense game IR (errors located in the model's file)."""
    try:
        check_game_size(model)
        return _build(model)
    except MechError as e:
        raise e.located(model.path, None) from None


def _build(model: Model) -> GameIR:
    n = len(model.followers)
    m = len(model.items)
    tcounts = model.type_counts
    acounts = model.action_counts
    leader = model.leader

    # -- observation classes -------------------------------------------------
    observed = sorted(set(leader.observe))
    class_index: dict[tuple[int, ...], int] = {}
    obs_class = []
    for a in itertools.product(*[range(c) for c in acounts]):
        key = tuple(a[j] for j in observed)
        obs_class.append(class_index.setdefault(key, len(class_index)))
    class_keys = list(class_index)
    class_labels = _class_labels(model, observed, class_keys)

    # -- action tables -----------------------------------------------------------
    choices = leader.choices
    choose_actions = [list(k) for k in _profiles([len(c.labels) for c in choices])] if choices else []
    rounds = leader.rounds
    interval = None
    round_actions: list[tuple[int, list[int]]] = []
    grid: list[float] = []
    bundles = _bundles(m, rounds is not None and rounds.valuation == "unit") if rounds else []
    visiting = (rounds.order or list(range(n))) if rounds is not None else []
    if rounds is not None:
        if rounds.price_kind == "grid":
            grid = list(rounds.grid)
            slots = len(bundles) - 1 if rounds.bundle_prices else m  # a price per bundle, or per item
            for i in visiting:
                for p in itertools.product(range(len(grid)), repeat=slots):
                    round_actions.append((i, list(p)))
        else:
            interval = (rounds.low, rounds.high)
            round_actions = [(i, [0] * m) for i in visiting]
    n_actions = max(len(choose_actions), len(round_actions), 1)
    meter = BuildMeter(n_actions, feature_width(model, len(choose_actions)), n * len(bundles) + n * m + n + m,
                       rounds.span if rounds is not None else choices[0].span if choices else None)

    # -- information sets (breadth first) -------------------------------------------
    infosets: list[InfoSet] = []
    legal: list[list[bool]] = []
    labels: list[list[str]] = []
    round_next: list[list[list[int]]] = []
    choose_next: list[list[int]] = []
    index: dict[tuple, int] = {}
    units = [it.units for it in model.items]

    choose_labels = [", ".join(f"{c.name}={c.labels[v]}" for c, v in zip(choices, row)) for row in choose_actions]

    def choose_label(k: int) -> str:
        return choose_labels[k]

    def round_label(k: int) -> str:
        i, p = round_actions[k]
        text = f"visit {model.followers[i].name}"
        if interval is None and m:
            text += " at " + ", ".join(f"{name}={grid[p[j]]:g}" for j, name in enumerate(slot_names))
        return text

    bundle_prices = rounds is not None and rounds.bundle_prices
    slot_names = ["+".join(model.items[j].name for j in range(m) if b[j]) for b in bundles[1:]] if bundle_prices \
        else [it.name for it in model.items]
    round_labels = [round_label(k) for k in range(len(round_actions))]
    # items (bundles) given a nonzero price: legal only while in stock, so prices of what is gone are index 0
    slot_items = [[j for j in range(m) if b[j]] for b in bundles[1:]] if bundle_prices else [[j] for j in range(m)]
    priced = [sorted({j for q, x in enumerate(p) if x != 0 for j in slot_items[q]}) if not bundle_prices
              else [q for q, x in enumerate(p) if x != 0] for _, p in round_actions]

    def blocked(k: int, stock: tuple) -> bool:
        if bundle_prices:
            return any(any(stock[j] == 0 for j in slot_items[q]) for q in priced[k])
        return any(stock[j] == 0 for j in priced[k])

    def add(key: tuple, info: InfoSet) -> int:
        if key in index:
            return index[key]
        meter.infoset(info.kind)
        info.id = len(infosets)
        index[key] = info.id
        infosets.append(info)
        legal.append([False] * n_actions)
        labels.append([""] * n_actions)
        round_next.append([])
        choose_next.append([])
        return info.id

    def round_key(c: int, k: int, visited: tuple, alloc: tuple, stock: tuple) -> tuple:
        obs = alloc if (rounds and rounds.observe_allocation) else ()
        return ("round", c, k, visited, obs, stock)

    def round_state(c: int, k: int, visited: tuple, alloc: tuple, stock: tuple) -> int:
        """The info set for this round state, or -1 when play is over."""
        if all(visited) or not any(stock):
            return -1
        key = round_key(c, k, visited, alloc, stock)
        if key in index:
            return index[key]
        vis_txt = ",".join(model.followers[i].name for i in range(n) if not visited[i])
        left = ",".join(model.items[j].name + (f" x{stock[j]}" if stock[j] > 1 else "") for j in range(m) if stock[j])
        label = f"[{class_labels[c]}]"
        if k >= 0:
            label += f" [{choose_label(k)}]"
        label += f" agents left: {vis_txt}; items left: {left}"
        if rounds.observe_allocation and any(any(r) for r in alloc):
            got = "; ".join(
                f"{model.followers[i].name} has "
                + ",".join(model.items[j].name for j in range(m) if alloc[i][j])
                for i in range(n)
                if any(alloc[i])
            )
            label += f"; {got}"
        return add(
            key,
            _infoset(kind="round", cls=c, choice=k, visited=list(visited), alloc=[list(r) for r in alloc],
                     stock=list(stock), label=label),
        )

    zero_alloc = tuple(tuple(0 for _ in range(m)) for _ in range(n))
    start = tuple(0 if i in visiting else 1 for i in range(n))  # agents left out of an order count as visited
    root: list[int] = []
    for c in range(len(class_keys)):
        if choices:
            s = add(("choose", c), _infoset(kind="choose", cls=c, visited=[], alloc=[], stock=[],
                                            label=f"[{class_labels[c]}] choose"))
            root.append(s)
        elif rounds is not None:
            root.append(round_state(c, -1, start, zero_alloc, tuple(units)))
        else:
            raise MechSizeError("the leader has nothing to decide", span=model.followers[0].span if n else None,
                                hint="add a `choose` line or `rounds` block")

    frontier = 0
    while frontier < len(infosets):
        info = infosets[frontier]
        s = info.id
        frontier += 1
        if info.kind == "choose":
            kc = len(choose_actions)
            legal[s][:kc] = [True] * kc
            labels[s][:kc] = choose_labels
            if rounds is not None:
                choose_next[s] = [round_state(info.cls, k, start, zero_alloc, tuple(units)) for k in range(kc)]
            else:
                choose_next[s] = [-1] * kc
            continue
        visited, stock = tuple(info.visited), tuple(info.stock)
        alloc = tuple(tuple(r) for r in info.alloc)
        nxt_agent = next((i for i in visiting if not visited[i]), -1) if rounds.order else -1
        for k, (i, _) in enumerate(round_actions):
            if visited[i] or (rounds.order and i != nxt_agent):
                continue
            # prices of items already gone are irrelevant: only index 0 is legal
            if blocked(k, stock):
                continue
            legal[s][k] = True
            labels[s][k] = round_labels[k]
        feasible = [all(x <= left for x, left in zip(b, stock)) for b in bundles]
        table = []
        for i in range(n):
            row = []
            for b, ok in zip(bundles, feasible):
                if visited[i] or not ok:
                    row.append(-1)
                    continue
                v2 = visited[:i] + (1,) + visited[i + 1:]
                a2 = alloc[:i] + (tuple(h + x for h, x in zip(alloc[i], b)),) + alloc[i + 1:]
                s2 = tuple(left - x for left, x in zip(stock, b))
                row.append(round_state(info.cls, info.choice, v2, a2, s2))
            table.append(row)
        round_next[s] = table

    for s, row in enumerate(legal):
        if not any(row):  # cannot happen for well-formed models; guard against NaN softmax
            raise MechSizeError(f"information set {infosets[s].label} has no legal action", span=meter.span,
                                hint="this is a compiler bug; please report the spec")

    features, names = _obs_features(model, infosets, class_keys, observed, len(choose_actions))
    bounds = [_floats(expr_bounds(u, model)) for u in model.utilities]
    # built field by field with the declared types: validating millions of cells again would
    # cost more than building them (tests round-trip the IR through JSON to keep this honest)
    ir = GameIR.make(
        model=model,
        n_followers=n,
        type_counts=tcounts,
        action_counts=acounts,
        n_type_profiles=math.prod(tcounts),
        n_action_profiles=math.prod(acounts),
        prior=list(model.prior),
        utility_bounds=bounds,
        objective_bounds=_floats(expr_bounds(model.objective, model)),
        obs_class=obs_class,
        class_labels=class_labels,
        root=root,
        infosets=infosets,
        n_actions=n_actions,
        legal=legal,
        action_labels=labels,
        mixed=any(c.mixed for c in choices),
        choose_actions=choose_actions,
        round_actions=round_actions,
        price_grid=grid,
        interval=interval,
        bundles=bundles,
        round_next=round_next,
        choose_next=choose_next,
        max_rounds=n if rounds is not None else 0,
        obs_features=features,
        obs_feature_names=names,
    )
    return _tighten_bounds(ir)


def _blank() -> InfoSet:
    """The `InfoSet` every set is copied from.  Its field `cls` shares its name with
    `model_construct`'s first parameter, so it is put in afterwards, in its declared
    place (fields are written to JSON in the order they are held)."""
    blank = InfoSet.make(id=0, kind="choose")
    held = {name: 0 if name == "cls" else getattr(blank, name) for name in InfoSet.model_fields}
    blank.__dict__.clear()
    blank.__dict__.update(held)
    blank.model_fields_set.add("cls")
    return blank


_BLANK = _blank()


def _infoset(**fields) -> InfoSet:
    """An `InfoSet` of fields already of the declared types (no validation: there may be 200,000)."""
    return _BLANK.model_copy(update=fields)


def _floats(bounds) -> tuple[float, float]:
    return float(bounds[0]), float(bounds[1])


def _tighten_bounds(ir: GameIR) -> GameIR:
    """Replace interval-arithmetic bounds by the exact payoff range when the game is
    small enough to walk (see `compiler.tree.payoff_range`)."""
    from mechdsl.compiler.tree import payoff_range

    exact = payoff_range(ir)
    if exact is None:  # too large to walk: check each payoff over what it reads, keep interval bounds
        model = ir.model
        check_payoffs(model)
        for k, (e, (lo, hi)) in enumerate(zip([model.objective, *model.utilities],
                                              [ir.objective_bounds, *ir.utility_bounds])):
            if not (math.isfinite(lo) and math.isfinite(hi)):
                whose = "the objective" if k == 0 else f"the utility of '{model.followers[k - 1].name}'"
                raise MechSemanticError(
                    f"{whose} may be too large to represent (its range is [{lo:g}, {hi:g}])",
                    span=e.span or (model.followers[k - 1].span if k else None),
                    hint="a sum, product or power of large numbers overflows; rescale the numbers in this payoff",
                )
        return ir
    return ir.model_copy(update={"objective_bounds": exact[0], "utility_bounds": exact[1:]})


def _obs_features(
    model: Model,
    infosets: list[InfoSet],
    class_keys: list[tuple[int, ...]],
    observed: list[int],
    n_choose: int,
) -> tuple[list[list[float]], list[str]]:
    """What the actor sees at each information set: the observed actions (one-hot), the
    stage, the one-shot choice made, the agents still to visit and the allocation so far."""
    n, m = len(model.followers), len(model.items)
    names: list[str] = []
    for j in observed:
        f = model.followers[j]
        names += [f"{f.name}.{f.action_name}={lab}" for lab in f.action_labels]
    names.append("stage=choose")
    names += [f"chose#{k}" for k in range(n_choose if model.leader.rounds else 0)]
    has_rounds = model.leader.rounds is not None
    if has_rounds:
        names += [f"left:{f.name}" for f in model.followers]
        names += [f"stock:{it.name}" for it in model.items]
        names += [f"has:{f.name}:{it.name}" for f in model.followers for it in model.items]
    feats = []
    for info in infosets:
        row: list[float] = []
        key = class_keys[info.cls]
        for j, a in zip(observed, key):
            onehot = [0.0] * len(model.followers[j].action_labels)
            onehot[a] = 1.0
            row += onehot
        row.append(1.0 if info.kind == "choose" else 0.0)
        if has_rounds:
            chose = [0.0] * n_choose
            if info.choice >= 0:
                chose[info.choice] = 1.0
            row += chose
            if info.kind == "round":
                row += [1.0 - v for v in info.visited]
                row += [info.stock[j] / model.items[j].units for j in range(m)]
                row += [info.alloc[i][j] / model.items[j].units for i in range(n) for j in range(m)]
            else:
                row += [1.0] * n + [1.0] * m + [0.0] * (n * m)
        feats.append(row)
    return feats, names
