"""Random small `.mech` specs over the language's families, for conformance testing.

    >>> import random
    >>> text = generate("normal_form", random.Random(3))      # doctest: +SKIP

`generate(family, rng)` draws one seed from `rng` and builds the spec from
`random.Random(seed)` alone (`generate_seeded(family, seed)`), so a spec is a pure function
of (family, seed) and its docstring names both: a failing spec can be rebuilt from its
first line.  Every spec uses only constructs documented in docs/language.md and is small
enough that `mechdsl solve` (default limit, `mw` followers) finishes in a few seconds.

Families (`FAMILIES`):

* `normal_form`   -- one follower, the leader commits to a row of a random integer
                     payoff table (2-4 rows), the follower answers with a column (2-4).
* `bayesian`      -- as normal_form, but the follower has 2-3 private types with a random
                     prior and a payoff table per type; the leader's payoff may depend on
                     the type too.
* `mixed`         -- `choose ... mixed` over 2-3 rows against 2-3 columns: either a
                     Stackelberg security game (per target: defender caught/uncovered,
                     attacker uncovered/caught) or a random bimatrix.
* `allocation`    -- allocation with messages (specs/paper/allocation.mech): 2-4 items,
                     1..items messages, a random prior over the item of interest,
                     optionally a random gain per item in the objective.
* `spm_messages`  -- sequential posted prices after messages (specs/paper/
                     spm_messages.mech): 1-2 agents, 1-2 items, small random value
                     supports and priors, small price grids, welfare or revenue.
* `matrix_design` -- two followers play a random 2x2 game; the leader promises a payment
                     tau (range(K)) in a cell (specs/paper/matrix_design.mech); it wants a
                     target outcome, optionally net of the payments it makes.
* `direct_fee`    -- a direct mechanism: 1-2 bidders report a bid from a small set, the
                     leader sees the bids and picks who is offered the item (or nobody)
                     and a fee from a small set; the winner buys when its value covers
                     the fee (ex-post individually rational); revenue or welfare.
"""
from __future__ import annotations

import random
from fractions import Fraction
from typing import Callable, Union

FAMILIES = ("normal_form", "bayesian", "mixed", "allocation", "spm_messages", "matrix_design", "direct_fee")


def generate(family: str, rng: random.Random) -> str:
    """A random spec of `family` as `.mech` text; deterministic for a given `rng` state."""
    return generate_seeded(family, rng.randrange(2**31))


def generate_seeded(family: str, seed: int) -> str:
    """The spec `generate` makes when it draws `seed` (what the spec's docstring names)."""
    if family not in _GENERATORS:
        raise ValueError(f"unknown family {family!r}; one of: {', '.join(FAMILIES)}")
    rng = random.Random(f"{family}:{seed}")
    summary, body = _GENERATORS[family](rng)
    head = f'"""Conformance spec: family {family}, seed {seed}.\n\n{summary}\n'
    head += f"Rebuild with tests.specgen.generate_seeded({family!r}, {seed}).\n\"\"\"\n\n"
    return head + body.strip() + "\n"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _num(x: Union[int, float, Fraction]) -> str:
    """A number as spec text: integers plain, fractions as p/q (exact), floats by repr."""
    if isinstance(x, Fraction):
        return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def _prior(rng: random.Random, n: int) -> list[Fraction]:
    """n random probabilities (whole-number weights 1..9 over their sum): exact, all > 0."""
    w = [rng.randint(1, 9) for _ in range(n)]
    return [Fraction(x, sum(w)) for x in w]


def _law(keys: list[str], probs: list[Fraction]) -> str:
    return "{" + ", ".join(f"{k}: {_num(p)}" for k, p in zip(keys, probs)) + "}"


def _labels(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k + 1}" for k in range(n)]


def _matrix(cells: list[list[tuple]], indent: str = "    ") -> str:
    rows = [indent + "[" + ", ".join("(" + ", ".join(_num(v) for v in c) + ")" if isinstance(c, tuple) else _num(c)
                                     for c in row) + "],"
            for row in cells]
    return "[\n" + "\n".join(rows) + "\n]"


# ---------------------------------------------------------------------------
# families
# ---------------------------------------------------------------------------


def _bimatrix(rng: random.Random, R: int, C: int, mixed: bool) -> str:
    """A random R x C normal-form game (integer payoffs 0..9) as spec text."""
    rows, cols = _labels("R", R), _labels("C", C)
    cells = [[(rng.randint(0, 9), rng.randint(0, 9)) for _ in cols] for _ in rows]
    return f"""
agent follower {{
    action col in {{{", ".join(cols)}}}
}}

leader {{
    choose row in {{{", ".join(rows)}}}{" mixed" if mixed else ""}
}}

# (leader, follower) payoffs; rows = leader, columns = follower.
table game[row, col] = {_matrix(cells)}

utility follower = game[row, col][1]
objective = game[row, col][0]
"""


def _normal_form(rng: random.Random) -> tuple[str, str]:
    R, C = rng.randint(2, 4), rng.randint(2, 4)
    body = _bimatrix(rng, R, C, mixed=False)
    return (f"A random {R}x{C} normal-form Stackelberg game: the leader commits to a row, the\n"
            f"follower answers with a column.", body)


def _bayesian(rng: random.Random) -> tuple[str, str]:
    K = rng.randint(2, 3)
    R, C = rng.randint(2, 3), rng.randint(2, 3)
    rows, cols = _labels("R", R), _labels("C", C)
    prior = _prior(rng, K)
    typed_leader = rng.random() < 0.5
    tables = []
    for k in range(K):
        cells = [[(rng.randint(0, 9), rng.randint(0, 9)) if typed_leader else rng.randint(0, 9) for _ in cols]
                 for _ in rows]
        tables.append(cells)
    lines = []
    if typed_leader:
        for k in range(K):
            lines.append(f"# type kind = {k}: (leader, follower) payoffs\ntable pay{k}[row, col] = {_matrix(tables[k])}")
        fol = [f"pay{k}[row, col][1]" for k in range(K)]
        lead = [f"pay{k}[row, col][0]" for k in range(K)]
        objective = "objective = " + _by_type(lead, "follower.kind")
    else:
        lead_cells = [[rng.randint(0, 9) for _ in cols] for _ in rows]
        lines.append(f"# the leader's payoff (the same for every type)\ntable lead[row, col] = {_matrix(lead_cells)}")
        for k in range(K):
            lines.append(f"# type kind = {k}: the follower's payoff\ntable pay{k}[row, col] = {_matrix(tables[k])}")
        fol = [f"pay{k}[row, col]" for k in range(K)]
        objective = "objective = lead[row, col]"
    whose = "the leader's too" if typed_leader else "the follower's only"
    body = f"""
agent follower {{
    type kind ~ {_law([str(k) for k in range(K)], prior)}
    action col in {{{", ".join(cols)}}}
}}

leader {{
    choose row in {{{", ".join(rows)}}}
}}

{chr(10).join(lines)}

utility follower = {_by_type(fol, "kind")}
{objective}
"""
    return (f"A Bayesian Stackelberg game: the follower has {K} private types (random prior);\n"
            f"the leader commits to one of {R} rows without seeing the type, the follower\n"
            f"answers with one of {C} columns.  Payoffs depend on the type ({whose}).", body)


def _by_type(exprs: list[str], field: str) -> str:
    """if field == 0 then e0 else if field == 1 then e1 else e2"""
    out = exprs[-1]
    for k in range(len(exprs) - 2, -1, -1):
        out = f"if {field} == {k} then {exprs[k]} else {out}"
    return out


def _mixed(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        n = rng.randint(2, 3)
        targets = _labels("t", n)
        cells = []
        for _ in targets:
            dc, du = rng.randint(1, 9), -rng.randint(1, 9)
            au, ac = rng.randint(1, 9), -rng.randint(0, 9)
            cells.append((dc, du, au, ac))
        table = "[\n" + "\n".join("    (" + ", ".join(map(str, c)) + ")," for c in cells) + "\n]"
        body = f"""
agent attacker {{
    action attack in {{{", ".join(targets)}}}
}}

leader {{
    choose cover in {{{", ".join(targets)}}} mixed     # a probability of covering each target
}}

# Per target: (defender caught, defender uncovered, attacker uncovered, attacker caught)
table payoff[attack] = {table}

utility attacker = if cover == attack then payoff[attack][3] else payoff[attack][2]
objective = if cover == attack then payoff[attack][0] else payoff[attack][1]
"""
        return (f"A Stackelberg security game: one defender resource, {n} targets; the defender\n"
                f"commits to a mixed coverage, the attacker sees it and attacks a target.", body)
    R, C = rng.randint(2, 3), rng.randint(2, 3)
    body = _bimatrix(rng, R, C, mixed=True)
    return (f"A random {R}x{C} bimatrix game with a mixed commitment: the leader commits to a\n"
            f"distribution over rows, the follower sees it and answers with a column.", body)


ITEM_NAMES = ("a", "b", "c", "d")


def _allocation(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(2, 4)
    items = list(ITEM_NAMES[:n])
    m = rng.randint(1, n)
    prior = _prior(rng, n)
    gains = rng.random() < 0.5
    if gains:
        g = [rng.randint(1, 5) for _ in items]
        extra = f"\n# the leader's gain when the follower gets the item it wants\ntable gain[items] = [{', '.join(map(str, g))}]\n"
        objective = "objective = if give == buyer.interest then gain[give] else 0"
    else:
        extra = ""
        objective = "objective = if give == buyer.interest then 1 else 0"
    body = f"""
param messages = {m}

items {", ".join(items)}

agent buyer {{
    type interest: item ~ {_law(items, prior)}
    action message in range(messages)
}}

leader {{
    observe message
    choose give in items
}}
{extra}
utility buyer = if give == interest then 1 else 0
{objective}
"""
    return (f"Allocation with messages: one follower wants one of {n} items (random prior), sends\n"
            f"one of {m} messages, and the leader, seeing the message, allocates an item.", body)


VALUES = (0, 0.25, 0.5, 0.75, 1, 1.5, 2)


def _spm_messages(rng: random.Random) -> tuple[str, str]:
    # shapes whose policy spaces stay small: (agents, items, messages per agent, grid size)
    n_agents, n_items = rng.choice([(1, 1), (2, 1), (2, 1), (1, 2), (2, 2)])
    if (n_agents, n_items) == (1, 1):
        msgs, grid_n = [rng.randint(1, 3)], rng.randint(2, 4)
    elif (n_agents, n_items) == (2, 1):
        msgs, grid_n = [rng.randint(1, 2), rng.randint(1, 2)], rng.randint(2, 3)
    elif (n_agents, n_items) == (1, 2):
        msgs, grid_n = [rng.randint(1, 2)], rng.randint(2, 3)
    else:
        msgs, grid_n = [rng.randint(1, 2), 1], 2
        rng.shuffle(msgs)
    items = ["good"] if n_items == 1 else ["left", "right"]
    agents = []
    supports = set()
    for i in range(n_agents):
        if n_items == 1:
            vals = sorted(rng.sample(VALUES, rng.randint(2, 3)))
            supports.update(vals)
            law = _law([_num(v) for v in vals], _prior(rng, len(vals)))
            typ = f"type value ~ {law}"
        else:
            vecs = sorted(rng.sample([(x, y) for x in (0, 0.5, 1) for y in (0, 0.5, 1)], rng.randint(2, 3)))
            supports.update(v for vec in vecs for v in vec)
            law = _law(["[" + ", ".join(_num(v) for v in vec) + "]" for vec in vecs], _prior(rng, len(vecs)))
            typ = f"type value[item] ~ {law}"
        act = f"\n    action message in range({msgs[i]})" if msgs[i] > 1 else ""
        agents.append(f"agent bidder{i + 1} {{\n    {typ}{act}\n}}")
    sup = sorted(supports)
    cand = sorted(set([0.0] + [(a + b) / 2 for a, b in zip(sup, sup[1:])]))
    if len(cand) <= grid_n:
        grid, grid_text = cand, "[0] + midpoints(support(value))"
    else:
        grid = sorted(rng.sample(cand, grid_n))
        grid_text = "[" + ", ".join(_num(p) for p in grid) + "]"
    valuation = "unit-demand" if n_items == 1 or rng.random() < 0.5 else "additive"
    ties = rng.choice(["buy", "pass"])
    objective = rng.choice(["welfare", "revenue"])
    observe = "    observe message\n" if max(msgs) > 1 else ""
    body = f"""
{"items " + ", ".join(items) if n_items > 1 else "item good"}

{chr(10).join(agents)}

leader {{
{observe}    rounds {{
        visit remaining agent
        price each item in {grid_text}
    }}
}}

valuation {valuation} of value
ties {ties}

objective {objective}
"""
    return (f"Sequential posted prices after messages: {n_agents} agent(s), {n_items} item(s), messages\n"
            f"{'/'.join(map(str, msgs))}, a {len(grid)}-point price grid, {valuation} values, ties {ties};\n"
            f"the leader maximizes {objective}.", body)


def _matrix_design(rng: random.Random) -> tuple[str, str]:
    names = ("A", "B")
    targets = {"row != col": [(0, 1), (1, 0)], "row == col": [(0, 0), (1, 1)]}
    targets.update({f"row == {names[r]} and col == {names[c]}": [(r, c)] for r in range(2) for c in range(2)})
    for _ in range(1000):  # redraw until the promise changes what the leader gets at equilibrium
        cells = [[(rng.randint(0, 5), rng.randint(0, 5)) for _ in range(2)] for _ in range(2)]
        K = rng.randint(3, 8)
        target = rng.choice(sorted(targets))
        # The promise usually rewards a target cell (r*, c*) itself (each player's payment
        # is there with probability 1/2), else a cell where that player plays its target
        # move, else anywhere.
        r_star, c_star = rng.choice(targets[target])
        r_cell = _payment_cell(rng, r_star, c_star, 0)
        c_cell = _payment_cell(rng, r_star, c_star, 1)
        pays = rng.random() < 0.5

        def outcomes(tau: int) -> set[float]:
            """The leader's objective at the pure equilibria under promise tau."""
            return {(K if pays else 1) * ((r, c) in targets[target])
                    - (tau * (((r, c) == r_cell) + ((r, c) == c_cell)) if pays else 0)
                    for r, c in _pure_nash(cells, r_cell, c_cell, tau)}

        if outcomes(0) != outcomes(K - 1):
            break
    cond = lambda c: f"row == {names[c[0]]} and col == {names[c[1]]}"  # noqa: E731
    if pays:
        objective = (f"objective = (if {target} then {K} else 0) - (if {cond(r_cell)} then tau else 0)\n"
                     f"    - (if {cond(c_cell)} then tau else 0)")
    else:
        objective = f"objective = if {target} then 1 else 0"
    body = f"""
agent row_player {{
    action row in {{A, B}}
}}
agent col_player {{
    action col in {{A, B}}
}}

leader {{
    choose tau in range({K})          # the promised payment
}}

# Base payoffs (row player, column player) before any payment.
table base[row, col] = {_matrix(cells)}

utility row_player = base[row, col][0] + (if {cond(r_cell)} then tau else 0)
utility col_player = base[row, col][1] + (if {cond(c_cell)} then tau else 0)

{objective}
"""
    return (f"Matrix design: two followers play a random 2x2 game; the leader promises tau in\n"
            f"range({K}) to the row player in cell {names[r_cell[0]]}{names[r_cell[1]]} and to the column "
            f"player in cell\n{names[c_cell[0]]}{names[c_cell[1]]}.  It wants `{target}`"
            f"{', net of the payments it makes' if pays else ''}.", body)


def _pure_nash(cells, r_cell, c_cell, tau) -> set[tuple[int, int]]:
    """The pure Nash equilibria of the 2x2 game with `tau` paid in the promised cells."""
    u = {(r, c): (cells[r][c][0] + tau * ((r, c) == r_cell), cells[r][c][1] + tau * ((r, c) == c_cell))
         for r in range(2) for c in range(2)}
    return {(r, c) for (r, c) in u if u[r, c][0] >= u[1 - r, c][0] and u[r, c][1] >= u[r, 1 - c][1]}


def _payment_cell(rng: random.Random, r_star: int, c_star: int, player: int) -> tuple[int, int]:
    u = rng.random()
    if u < 0.5:
        return (r_star, c_star)
    if u < 0.8:  # the player's own target move, the other's move at random
        return (r_star, rng.randrange(2)) if player == 0 else (rng.randrange(2), c_star)
    return (rng.randrange(2), rng.randrange(2))


def _direct_fee(rng: random.Random) -> tuple[str, str]:
    n = rng.choice([1, 1, 2, 2, 2])
    n_vals = rng.randint(2, 3) if n == 1 else 2
    fees_n = rng.randint(2, 3)
    values = sorted(rng.sample(range(0, 5), n_vals))
    fees = sorted(rng.sample(range(0, 5), fees_n))
    awards = ["nobody"] + [f"to{i + 1}" for i in range(n)]
    agents, utils = [], []
    for i in range(n):
        law = _law([str(v) for v in values], _prior(rng, n_vals))
        agents.append(f"agent bidder{i + 1} {{\n    type value ~ {law}\n    action bid in [{', '.join(map(str, values))}]\n}}")
        utils.append(f"utility bidder{i + 1} = if award == to{i + 1} and value >= fee then value - fee else 0")
    objective = rng.choice(["revenue", "welfare"])
    # the winner buys only when the item is worth the fee (ex-post individually rational)
    sale = lambda i: f"award == to{i + 1} and bidder{i + 1}.value >= fee"  # noqa: E731
    what = lambda i: "fee" if objective == "revenue" else f"bidder{i + 1}.value"  # noqa: E731
    obj = "objective = " + "\n    + ".join(f"(if {sale(i)} then {what(i)} else 0)" for i in range(n))
    body = f"""
{chr(10).join(agents)}

leader {{
    observe bid                       # the leader sees every bid
    choose award in {{{", ".join(awards)}}}
    choose fee in [{", ".join(map(str, fees))}]
}}

{chr(10).join(utils)}
{obj}
"""
    return (f"A direct mechanism: {n} bidder(s) report a bid from {values}; seeing the bids, the\n"
            f"leader offers the item to one of them (or to nobody) at a fee from {fees}; the\n"
            f"winner buys when its value covers the fee.  The leader maximizes {objective}.", body)


_GENERATORS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "normal_form": _normal_form,
    "bayesian": _bayesian,
    "mixed": _mixed,
    "allocation": _allocation,
    "spm_messages": _spm_messages,
    "matrix_design": _matrix_design,
    "direct_fee": _direct_fee,
}
assert tuple(_GENERATORS) == FAMILIES
