"""Exact, batched evaluation of leader policies.

Given a batch of leader policies, `evaluate` returns every player's payoff for every
type profile and every follower action profile -- the tensors the follower dynamics,
the equilibrium check, the solver and the POMDP all read:

    U[b, i, t, a]  follower i's payoff,   V[b, t, a]  the leader's objective.

The sequential rounds are simulated for all (policy, observation class, type profile)
at once; a round is a handful of gathers, so the cost grows with the batch, not with
the depth of the game tree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch

from mechdsl.compiler.errors import MechSemanticError, MechSizeError
from mechdsl.compiler.ir import GameIR

Value = Union[float, int, torch.Tensor]


MAX_DIMS = 64  # torch's limit on tensor dimensions


@dataclass
class Policy:
    """A batch of leader policies over the IR's information sets.

    action: [B, S] action index per information set (legal ones only).
    probs:  [B, S, K] mixed choose sets: probability of each choose action (else None).
    prices: [B, S, m] posted prices per information set when prices are continuous.
    """

    action: torch.Tensor
    probs: Optional[torch.Tensor] = None
    prices: Optional[torch.Tensor] = None

    @property
    def batch(self) -> int:
        return self.action.shape[0]


@dataclass
class Payoffs:
    U: torch.Tensor  # [B, n, T, A]
    V: torch.Tensor  # [B, T, A]
    path: torch.Tensor  # [B, C, T, D] info sets visited (-1 padding), for the first choose action


class Tables:
    """The IR's arrays as tensors on one device, built once and reused.

    ``profiles=False`` (sampled mode, `mechdsl.cells`): nothing indexed by type or action
    profile is built (tidx, aidx, prior, obs_class are None): cells compute them from indices."""

    def __init__(self, ir: GameIR, device: Union[str, torch.device] = "cpu", dtype=torch.float64,
                 profiles: bool = True):
        self.ir = ir
        if profiles and 2 * ir.n_followers + 1 > MAX_DIMS:  # the dynamics view payoffs as [B, T_1..T_n, A_1..A_n]
            raise MechSizeError(
                f"{ir.n_followers} followers: exact evaluation and the followers' dynamics index payoffs by "
                f"every follower's type and action ({2 * ir.n_followers + 1} tensor dimensions, at most {MAX_DIMS})",
                span=ir.model.followers[0].span, path=ir.model.path,
                hint=f"use at most {(MAX_DIMS - 1) // 2} followers")
        self.device = torch.device(device)
        self.dtype = dtype
        model = ir.model
        n, m = ir.n_followers, ir.n_items
        dev = self.device
        self.n, self.m = n, m
        self.T, self.A = ir.n_type_profiles, ir.n_action_profiles
        self.C = len(ir.class_labels)
        self.S = ir.n_infosets
        self.K = ir.n_actions
        self.prior = self.tidx = self.aidx = self.obs_class = None
        if profiles:
            self.prior = torch.tensor(ir.prior, dtype=dtype, device=dev)
            # per-profile indices: tidx[t, i], aidx[a, i]
            self.tidx = _unravel(self.T, ir.type_counts, dev)
            self.aidx = _unravel(self.A, ir.action_counts, dev)
            self.obs_class = torch.tensor(ir.obs_class, dtype=torch.long, device=dev)
        self.root = torch.tensor(ir.root, dtype=torch.long, device=dev)
        self.legal = torch.tensor(ir.legal, dtype=torch.bool, device=dev)
        self.is_choose = torch.tensor([s.kind == "choose" for s in ir.infosets], dtype=torch.bool, device=dev)
        # type fields as tensors: field -> list per agent of [Ti] or [Ti, m] values
        self.fields: dict[str, list[Optional[torch.Tensor]]] = {}
        for i, f in enumerate(model.followers):
            for tf in f.fields:
                vals = f.type_values[tf.name]
                t = torch.tensor(vals, dtype=dtype if tf.kind != "item" else torch.long, device=dev)
                self.fields.setdefault(tf.name, [None] * n)[i] = t
        self.action_values = [
            torch.tensor([v if v is not None else float(k) for k, v in enumerate(f.action_values)], dtype=dtype, device=dev)
            for f in model.followers
        ]
        self.choice_values = {
            c.name: torch.tensor([v if v is not None else float(k) for k, v in enumerate(c.values)], dtype=dtype, device=dev)
            for c in model.leader.choices
        }
        self.choice_pos = {c.name: q for q, c in enumerate(model.leader.choices)}
        # continuous choices: values in the policy's `prices` at each choose set, one slot each
        self.cont = {name: q for q, name in enumerate(ir.choice_intervals)}
        self.has_choose = bool(ir.choose_actions)
        if self.has_choose:
            self.choose_actions = torch.tensor(ir.choose_actions, dtype=torch.long, device=dev)
            cn = [row if row else [-1] * len(ir.choose_actions) for row in ir.choose_next]
            self.choose_next = torch.tensor(cn, dtype=torch.long, device=dev)
        rounds = model.leader.rounds
        self.has_rounds = rounds is not None
        if self.has_rounds:
            self.rounds = rounds
            self.bundles = torch.tensor(ir.bundles, dtype=dtype, device=dev)  # [NB, m]
            NB = len(ir.bundles)
            rn = [row if row else [[-1] * NB for _ in range(n)] for row in ir.round_next]
            self.round_next = torch.tensor(rn, dtype=torch.long, device=dev)  # [S, n, NB]
            self.round_agent = torch.tensor([a for a, _ in ir.round_actions], dtype=torch.long, device=dev)
            grid = ir.price_grid or [0.0]
            self.grid = torch.tensor(grid, dtype=dtype, device=dev)
            self.round_price_idx = torch.tensor([p for _, p in ir.round_actions], dtype=torch.long, device=dev)
            self.stock = torch.tensor([s.stock or [0] * m for s in ir.infosets], dtype=dtype, device=dev)
            tmax = max(ir.type_counts)
            vt = torch.zeros(n, tmax, m, dtype=dtype, device=dev)
            for i, f in enumerate(model.followers):
                kind = next(x.kind for x in f.fields if x.name == rounds.value_field)
                for ti, v in enumerate(f.type_values[rounds.value_field]):
                    vt[i, ti] = torch.tensor(v if kind == "per_item" else [v] * m, dtype=dtype)
            self.valtab = vt  # [n, Tmax, m]
        self.mixed = ir.mixed


def _unravel(total: int, counts: list[int], dev) -> torch.Tensor:
    idx = torch.arange(total, device=dev)
    out = []
    for c in reversed(counts):
        out.append(idx % c)
        idx = idx // c
    return torch.stack(list(reversed(out)), dim=1) if counts else torch.zeros(total, 0, dtype=torch.long, device=dev)


# ---------------------------------------------------------------------------
# simulation of the leader's mechanism
# ---------------------------------------------------------------------------


def _simulate(tb: Tables, policy: Policy, forced_choice: Optional[int] = None):
    """Play the leader's part for every (policy, class, type profile).

    Returns choice index [B, C] (or None), alloc [B, C, T, n, m], paid [B, C, T, n],
    path [B, C, T, D]."""
    B = policy.batch
    C, T = tb.C, tb.T
    dev = tb.device
    act = policy.action
    state = tb.root.view(1, C, 1).expand(B, C, T).clone()
    paths = []
    choice = None
    if tb.has_choose:
        paths.append(state.clone())
        if forced_choice is not None:
            k = torch.full((B, C), forced_choice, dtype=torch.long, device=dev)
        else:
            k = act.gather(1, tb.root.view(1, C).expand(B, C))
        choice = k
        nxt = tb.choose_next[tb.root.view(1, C).expand(B, C), k]  # [B, C]
        state = nxt.view(B, C, 1).expand(B, C, T).clone()
    alloc, paid = _rounds(tb, policy, state, torch.arange(B, device=dev).view(B, 1, 1).expand(B, C, T), tb.tidx,
                          torch.arange(T, device=dev).view(1, 1, T).expand(B, C, T), paths)
    path = torch.stack(paths, dim=-1) if paths else torch.zeros(B, C, T, 0, dtype=torch.long, device=dev)
    return choice, alloc, paid, path


def _rounds(tb: Tables, policy: Policy, state: torch.Tensor, bidx: torch.Tensor, types: torch.Tensor,
            tix: torch.Tensor, paths: list) -> tuple[torch.Tensor, torch.Tensor]:
    """The sequential rounds from `state` (any shape X) on: policy row `bidx` [X] plays,
    the visited agent's type is `types[tix, agent]`; appends each round's info sets to
    `paths` and returns alloc [X, n, m], paid [X, n].  (The grid and `mechdsl.cells` share it.)"""
    n, m, dev = tb.n, tb.m, tb.device
    act = policy.action
    alloc = torch.zeros(*state.shape, n, m, dtype=tb.dtype, device=dev)
    paid = torch.zeros(*state.shape, n, dtype=tb.dtype, device=dev)
    if tb.has_rounds:
        eps = 1e-9
        for _ in range(tb.ir.max_rounds):
            paths.append(torch.where(state >= 0, state, torch.full_like(state, -1)))
            active = state >= 0
            if not bool(active.any()):
                break
            s = state.clamp(min=0)
            k = act[bidx, s]  # [B, C, T]
            k = torch.where(active, k, torch.zeros_like(k))  # finished plays: any round action
            agent = tb.round_agent[k]
            if tb.ir.interval is not None:
                prices = policy.prices[bidx, s]  # [B, C, T, m]
            else:
                prices = tb.grid[tb.round_price_idx[k]]  # [B, C, T, m] (bundle prices: [B, C, T, NB - 1])
            ti = types[tix, agent]
            vals = tb.valtab[agent, ti]  # [B, C, T, m]
            stock = tb.stock[s]  # [B, C, T, m]
            bund = tb.bundles  # [NB, m]
            feasible = (bund.view(1, 1, 1, -1, m) <= stock.unsqueeze(3)).all(-1)
            if tb.rounds.valuation == "additive":
                worth = torch.einsum("bctm,nm->bctn", vals, bund)
            else:
                masked = torch.where(bund.view(1, 1, 1, -1, m) > 0, vals.unsqueeze(3), torch.full_like(vals.unsqueeze(3), -float("inf")))
                worth = masked.max(-1).values
                worth = torch.where(torch.isinf(worth), torch.zeros_like(worth), worth)
            bundle_prices = tb.rounds.bundle_prices
            if bundle_prices:  # a price per non-empty bundle; the empty one costs 0
                cost = torch.nn.functional.pad(prices, (1, 0))
            else:
                cost = torch.einsum("bctm,nm->bctn", prices, bund)
            util = worth - cost
            util = torch.where(feasible, util, torch.full_like(util, -float("inf")))
            util[..., 0] = -float("inf")  # the empty bundle is the fallback, not a candidate
            best_u, best = util.max(-1)
            buy = best_u >= -eps if tb.rounds.tie_buy else best_u > eps
            bundle = torch.where(buy & active, best, torch.zeros_like(best))
            chosen = bund[bundle]  # [B, C, T, m]
            onehot = torch.nn.functional.one_hot(agent, n).to(tb.dtype)  # [B, C, T, n]
            alloc = alloc + onehot.unsqueeze(-1) * chosen.unsqueeze(3)
            spent = cost.gather(-1, bundle.unsqueeze(-1)).squeeze(-1) if bundle_prices else (prices * chosen).sum(-1)
            paid = paid + onehot * spent.unsqueeze(-1)
            nxt = tb.round_next[s, agent, bundle]
            state = torch.where(active, nxt, state)
    return alloc, paid


# ---------------------------------------------------------------------------
# payoff expressions, evaluated on [B, T, A] grids
# ---------------------------------------------------------------------------


class _Ctx:
    def __init__(self, tb: Tables, choice, alloc, paid, B: int, prices=None):
        self.tb = tb
        self.B = B
        cls = tb.obs_class
        # expand class-indexed outcomes to action profiles: [B, T, A, ...]
        self.alloc = alloc[:, cls].permute(0, 2, 1, 3, 4) if alloc is not None else None
        self.paid = paid[:, cls].permute(0, 2, 1, 3) if paid is not None else None
        # choose-action index -> one index per declared choice: [B, 1, A, n_choices]
        self.choice = tb.choose_actions[choice[:, cls]].view(B, 1, tb.A, -1) if choice is not None else None
        self.env: dict[str, int] = {}
        # continuous choices, read at each class's choose set: [B, A, slots]
        self.cont = prices[:, tb.root][:, cls] if prices is not None and tb.cont else None

    # where a profile's parts sit: on the grid, types on axis 1 and actions on axis 2
    # (`mechdsl.cells` overrides these for a flat list of cells)
    def types(self, agent: int) -> torch.Tensor:
        """The agent's type index for every type profile."""
        return self.tb.tidx[:, agent]

    def by_type(self, x: torch.Tensor) -> torch.Tensor:
        """Per-type-profile values [T, ...] placed on the type axis."""
        return x.view(1, self.tb.T, 1, *x.shape[1:])

    def actions(self, agent: int) -> torch.Tensor:
        return self.tb.aidx[:, agent]

    def by_action(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(1, 1, self.tb.A)

    def choice_col(self, q: int) -> torch.Tensor:
        return self.choice[..., q].view(self.B, 1, self.tb.A)

    def full(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(self.B, self.tb.T, self.tb.A) if x.dim() <= 3 else x


def _idx(v: Value) -> Union[int, torch.Tensor]:
    if isinstance(v, torch.Tensor):
        return v.round().long()
    return int(round(v))


def _select(fn, idx: Union[int, torch.Tensor], count: int) -> Value:
    """fn(k) for a constant index; a gather over all k for an index that varies."""
    if isinstance(idx, int):
        return fn(idx)
    parts = [fn(k) for k in range(count)]
    shape = torch.broadcast_shapes(*[p.shape if isinstance(p, torch.Tensor) else () for p in parts], idx.shape)
    ref = next((p for p in parts if isinstance(p, torch.Tensor) and p.is_floating_point()), None)
    dtype = ref.dtype if ref is not None else torch.float64
    parts = [p.to(dtype) if isinstance(p, torch.Tensor) else torch.full(shape, float(p), dtype=dtype, device=idx.device) for p in parts]
    stacked = torch.stack([p.expand(shape) for p in parts], -1)
    return stacked.gather(-1, idx.expand(shape).unsqueeze(-1).clamp(0, count - 1)).squeeze(-1)


def _eval(e, cx: _Ctx) -> Value:
    tb = cx.tb
    k = e.kind
    if k == "const":
        return e.value
    if k == "var":
        return cx.env[e.name]
    if k == "type":
        def field_of(agent: int):
            vals = tb.fields[e.field][agent]
            per_t = vals[cx.types(agent)]  # [T] or [T, m]
            if per_t.dim() == 2:
                per_t = cx.by_type(per_t)
                return _select(lambda j: per_t[..., j], _idx(_eval(e.item, cx)), tb.m) if e.item is not None else per_t
            return cx.by_type(per_t).to(tb.dtype)
        return _select(field_of, _idx(_eval(e.agent, cx)), tb.n)
    if k == "action":
        def act_of(agent: int):
            a = cx.actions(agent)
            if e.numeric:
                return cx.by_action(tb.action_values[agent][a])
            return cx.by_action(a).to(tb.dtype)
        return _select(act_of, _idx(_eval(e.agent, cx)), tb.n)
    if k == "choice":
        if e.name in tb.cont:
            if cx.cont is None:
                raise ValueError(f"the continuous choice {e.name} needs the policy's values (Policy.prices)")
            return cx.cont[..., tb.cont[e.name]].reshape(cx.B, 1, tb.A).to(tb.dtype)
        q = tb.choice_pos[e.name]
        col = cx.choice_col(q)  # choose-action component index
        if e.numeric:
            return tb.choice_values[e.name][col]
        return col.to(tb.dtype)
    if k == "outcome":
        def out_of(agent: int):
            if e.what == "paid":
                return cx.paid[..., agent]
            held = cx.alloc[..., agent, :]  # [B, T, A, m]
            if e.what == "units":
                if e.item is None:
                    return held.sum(-1)
                return _select(lambda j: held[..., j], _idx(_eval(e.item, cx)), tb.m)
            r = tb.rounds
            vals = cx.by_type(tb.valtab[agent][cx.types(agent)])
            if r.valuation == "additive":
                return (held * vals).sum(-1)
            got = torch.where(held > 0, vals.expand_as(held), torch.full_like(held, -float("inf"))).max(-1).values
            return torch.where(torch.isinf(got), torch.zeros_like(got), got)
        return _select(out_of, _idx(_eval(e.agent, cx)), tb.n)
    if k == "table":
        arr = torch.tensor(e.values, dtype=tb.dtype, device=tb.device)
        idx = [_idx(_eval(ix, cx)) for ix in e.index]
        tens = [i for i in idx if isinstance(i, torch.Tensor)]
        if not tens:
            return float(arr[tuple(idx)])
        shape = torch.broadcast_shapes(*[t.shape for t in tens])
        full = tuple(i.expand(shape) if isinstance(i, torch.Tensor) else torch.full(shape, i, dtype=torch.long, device=tb.device) for i in idx)
        return arr[full]
    if k == "unary":
        x = _eval(e.operand, cx)
        if e.op == "-":
            return -x
        if e.op == "abs":
            return x.abs() if isinstance(x, torch.Tensor) else abs(x)
        return 1.0 - _truth(x)
    if k == "binary":
        a, b = _eval(e.left, cx), _eval(e.right, cx)
        return _binary(e.op, a, b)
    if k == "if":
        c = _truth(_eval(e.cond, cx))
        a, b = _eval(e.then, cx), _eval(e.orelse, cx)
        if not isinstance(c, torch.Tensor):
            return a if c else b
        return torch.where(c > 0, _t(a, tb), _t(b, tb))
    if k == "aggregate":
        count = tb.n if e.domain == "agents" else tb.m
        acc: Value = 0.0
        saved = cx.env.get(e.var)
        for i in range(count):
            cx.env[e.var] = i
            v = _eval(e.body, cx)
            if i == 0:
                acc = v
            elif e.func == "sum":
                acc = acc + v
            else:
                acc = _binary(e.func, acc, v)
        if saved is None:
            cx.env.pop(e.var, None)
        else:
            cx.env[e.var] = saved
        return acc
    raise ValueError(f"unknown expression kind {k}")


def _t(x: Value, tb: Tables) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=tb.dtype, device=tb.device)


def _truth(x: Value) -> Value:
    if isinstance(x, torch.Tensor):
        return (x != 0).to(x.dtype if x.is_floating_point() else torch.float64)
    return 1.0 if x else 0.0


def _binary(op: str, a: Value, b: Value) -> Value:
    both_const = not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "^":
        return a**b
    if op in ("min", "max"):
        if both_const:
            return min(a, b) if op == "min" else max(a, b)
        ta, tb_ = (a if isinstance(a, torch.Tensor) else torch.tensor(float(a), dtype=b.dtype, device=b.device)), (
            b if isinstance(b, torch.Tensor) else torch.tensor(float(b), dtype=a.dtype, device=a.device)
        )
        return torch.minimum(ta, tb_) if op == "min" else torch.maximum(ta, tb_)
    if op in ("and", "or"):
        x, y = _truth(a), _truth(b)
        return x * y if op == "and" else x + y - x * y
    tol = 1e-9
    if op == "==":
        r = abs(a - b) <= tol
    elif op == "!=":
        r = abs(a - b) > tol
    elif op == "<":
        r = a < b - tol
    elif op == "<=":
        r = a <= b + tol
    elif op == ">":
        r = a > b + tol
    elif op == ">=":
        r = a >= b - tol
    else:
        raise ValueError(op)
    if isinstance(r, torch.Tensor):
        return r.to(a.dtype if isinstance(a, torch.Tensor) else b.dtype)
    return 1.0 if r else 0.0


def _grid(x: Value, cx: _Ctx) -> torch.Tensor:
    tb = cx.tb
    return cx.full(_t(x, tb).to(tb.dtype))


def _payoffs(tb: Tables, choice, alloc, paid, B: int, prices=None) -> tuple[torch.Tensor, torch.Tensor]:
    cx = _Ctx(tb, choice, alloc, paid, B, prices)
    model = tb.ir.model
    U = torch.stack([_finite(_grid(_eval(u, cx), cx), u, f"{f.name}'s utility", model.path)
                     for u, f in zip(model.utilities, model.followers)], dim=1) \
        if model.utilities else torch.zeros(B, 0, tb.T, tb.A, dtype=tb.dtype)
    V = _finite(_grid(_eval(model.objective, cx), cx), model.objective, f"the {model.objective_name}", model.path)
    return U, V


def _finite(x: torch.Tensor, expr, what: str, path: Optional[str]) -> torch.Tensor:
    """A payoff that is infinite or NaN somewhere (division by zero, overflow) is an
    error at the expression, never a number that poisons every later result."""
    if not bool(torch.isfinite(x).all()):
        raise MechSemanticError(f"{what} is not a finite number for some types and actions "
                                "(division by zero or overflow)", span=expr.span, path=path or "",
                                hint="guard the division (e.g. `if x > 0 then y / x else 0`) or use smaller numbers")
    return x


class single_thread:
    """Run with one intra-op thread: exact evaluation and MW work on small tensors, many
    of them, and OpenMP threads only contend (badly so on a busy machine: 3-4x slower)."""

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def evaluate(tb: Tables, policy: Policy) -> Payoffs:
    """Every player's payoff for every type and action profile under each policy."""
    B = policy.batch
    if tb.mixed and policy.probs is not None:
        # expectation over the choose action, drawn independently at each class's choose set
        Kc = len(tb.ir.choose_actions)
        U = V = None
        path = None
        w_root = policy.probs[:, tb.root, :Kc]  # [B, C, Kc]
        w = w_root[:, tb.obs_class, :]  # [B, A, Kc]
        for k in range(Kc):
            choice, alloc, paid, p = _simulate(tb, policy, forced_choice=k)
            Uk, Vk = _payoffs(tb, choice, alloc, paid, B, policy.prices)
            wk = w[:, :, k].view(B, 1, tb.A)
            U = Uk * wk.unsqueeze(1) if U is None else U + Uk * wk.unsqueeze(1)
            V = Vk * wk if V is None else V + Vk * wk
            path = p if path is None else path
        return Payoffs(U, V, path)
    choice, alloc, paid, path = _simulate(tb, policy)
    U, V = _payoffs(tb, choice, alloc, paid, B, policy.prices)
    return Payoffs(U, V, path)
