"""Evaluate leader maps at chosen cells instead of the whole grid (sampled mode).

A *cell* is one (policy row, type profile, action profile): the mechanism rolled out
once.  `mechdsl.evaluate` fills U[B, n, T, A] for every cell; here the caller names the
cells -- e.g. the sampled type profile and each follower's alternative actions against
the others' sampled actions (Algorithm 2) -- and nothing indexed by type or action
profile is built: per-agent types and actions come with the cells, the observation
class is the mixed radix of the observed followers' actions.  The rounds and the
payoff expressions are `mechdsl.evaluate`'s own code, on a flat list, so a cell's
payoff equals the grid's bit for bit (tests/test_sampled.py).

>>> tb = Tables(ir, profiles=False)                                 # doctest: +SKIP
>>> out = evaluate_cells(tb, policy, Cells(row, types, actions))   # doctest: +SKIP
>>> out.U[:, i], out.V                                               # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from mechdsl.evaluate import Policy, Tables, _Ctx, _eval, _finite, _rounds, _t

CHUNK = 1 << 13  # cells simulated at once: bounds the rollout temporaries (about 1 kB a cell at 5 agents)


@dataclass
class Cells:
    """N cells: the policy row playing, each agent's type and action index."""

    row: torch.Tensor  # [N] long
    types: torch.Tensor  # [N, n] long
    actions: torch.Tensor  # [N, n] long

    def __len__(self) -> int:
        return self.row.shape[0]

    def part(self, sl: slice) -> "Cells":
        return Cells(self.row[sl], self.types[sl], self.actions[sl])


@dataclass
class CellPayoffs:
    U: Optional[torch.Tensor]  # [N, n] every follower's utility (or None when not asked)
    own: Optional[torch.Tensor]  # [N] the utility of each cell's own follower (`who`)
    V: Optional[torch.Tensor]  # [N] the leader's objective
    branches: list[tuple[Optional[torch.Tensor], torch.Tensor]]  # (weight [N] or None, path [N, D])


def observation_class(tb: Tables, actions: torch.Tensor) -> torch.Tensor:
    """[N] the leader's observation class of each action profile: the observed followers'
    actions in mixed radix (the order `compiler.build` numbers classes in)."""
    observed = sorted(set(tb.ir.model.leader.observe))
    cls = torch.zeros(actions.shape[0], dtype=torch.long, device=actions.device)
    for j in observed:
        cls = cls * tb.ir.action_counts[j] + actions[:, j]
    return cls


def _simulate(tb: Tables, policy: Policy, cells: Cells, forced_choice: Optional[int] = None):
    """The leader's part at each cell: choice [N] (or None), alloc [N, n, m], paid [N, n],
    path [N, D] -- `mechdsl.evaluate._simulate` with each cell as a batch of one."""
    N, dev = len(cells), tb.device
    root = tb.root[observation_class(tb, cells.actions)]  # [N]
    state = root.view(N, 1, 1).clone()
    paths: list[torch.Tensor] = []
    choice = None
    if tb.has_choose:
        paths.append(state.clone())
        if forced_choice is not None:
            k = torch.full((N,), forced_choice, dtype=torch.long, device=dev)
        else:
            k = policy.action[cells.row, root]
        choice = k
        state = tb.choose_next[root, k].view(N, 1, 1).clone()
    alloc, paid = _rounds(tb, policy, state, cells.row.view(N, 1, 1), cells.types,
                          torch.arange(N, device=dev).view(N, 1, 1), paths)
    path = torch.stack(paths, -1).view(N, -1) if paths else torch.zeros(N, 0, dtype=torch.long, device=dev)
    return choice, alloc.view(N, tb.n, tb.m), paid.view(N, tb.n), path


class _CellCtx(_Ctx):
    """`mechdsl.evaluate`'s expression context on a flat list of N cells."""

    def __init__(self, tb: Tables, choice, alloc, paid, cells: Cells):
        self.tb, self.B, self.cells = tb, len(cells), cells
        self.alloc, self.paid = alloc, paid
        self.choice = tb.choose_actions[choice] if choice is not None else None  # [N, n_choices]
        self.env: dict[str, int] = {}

    def types(self, agent: int) -> torch.Tensor:
        return self.cells.types[:, agent]

    def by_type(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def actions(self, agent: int) -> torch.Tensor:
        return self.cells.actions[:, agent]

    def by_action(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def choice_col(self, q: int) -> torch.Tensor:
        return self.choice[:, q]

    def pick(self, idx: torch.Tensor) -> "_CellCtx":
        """The same context on the cells `idx` only."""
        sub = _CellCtx.__new__(_CellCtx)
        sub.tb, sub.B, sub.env = self.tb, idx.numel(), {}
        sub.cells = Cells(self.cells.row[idx], self.cells.types[idx], self.cells.actions[idx])
        sub.alloc, sub.paid = self.alloc[idx], self.paid[idx]
        sub.choice = None if self.choice is None else self.choice[idx]
        return sub

    def full(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(self.B) if x.dim() == 0 else x


def _payoffs(tb: Tables, cx: _CellCtx, who: Optional[torch.Tensor], utilities: bool, objective: bool):
    model = tb.ir.model
    U = own = V = None

    def util(i: int, ctx) -> torch.Tensor:
        u, f = model.utilities[i], model.followers[i]
        return _finite(ctx.full(_t(_eval(u, ctx), tb).to(tb.dtype)), u, f"{f.name}'s utility", model.path)

    if utilities and model.utilities:
        U = torch.stack([util(i, cx) for i in range(tb.n)], 1)
    if who is not None:
        own = torch.zeros(cx.B, dtype=tb.dtype, device=tb.device)
        for i in range(tb.n):
            pick = (who == i).nonzero().view(-1)
            if pick.numel():
                own[pick] = util(i, cx.pick(pick))
    if objective:
        V = _finite(cx.full(_t(_eval(model.objective, cx), tb).to(tb.dtype)), model.objective,
                    f"the {model.objective_name}", model.path)
    return U, own, V


def _simulated(tb: Tables, policy: Policy, cells: Cells, same, forced_choice: Optional[int] = None):
    """`_simulate` at `cells`, rolling out only `same = (distinct cells, index)` when given."""
    if same is None:
        return _simulate(tb, policy, cells, forced_choice)
    distinct, index = same
    out = _simulate(tb, policy, distinct, forced_choice)
    return tuple(None if x is None else x[index] for x in out)


def _one(tb: Tables, policy: Policy, cells: Cells, who, utilities: bool, objective: bool, same=None) -> CellPayoffs:
    if tb.mixed and policy.probs is not None:
        # expectation over the choose action, as `mechdsl.evaluate.evaluate` takes it
        Kc = len(tb.ir.choose_actions)
        w = policy.probs[cells.row, tb.root[observation_class(tb, cells.actions)], :Kc]  # [N, Kc]
        acc: list[Optional[torch.Tensor]] = [None, None, None]
        branches = []
        for k in range(Kc):
            choice, alloc, paid, path = _simulated(tb, policy, cells, same, forced_choice=k)
            parts = _payoffs(tb, _CellCtx(tb, choice, alloc, paid, cells), who, utilities, objective)
            wk = w[:, k]
            for j, x in enumerate(parts):
                if x is not None:
                    y = x * (wk.view(-1, 1) if x.dim() == 2 else wk)
                    acc[j] = y if acc[j] is None else acc[j] + y
            branches.append((wk, path))
        if not tb.has_rounds:  # one decision, the choose set: its path is the same for every row
            branches = [(None, branches[0][1])]
        return CellPayoffs(acc[0], acc[1], acc[2], branches)
    choice, alloc, paid, path = _simulated(tb, policy, cells, same)
    U, own, V = _payoffs(tb, _CellCtx(tb, choice, alloc, paid, cells), who, utilities, objective)
    return CellPayoffs(U, own, V, [(None, path)])


def evaluate_cells(tb: Tables, policy: Policy, cells: Cells, who: Optional[torch.Tensor] = None,
                   utilities: bool = True, objective: bool = True, same=None) -> CellPayoffs:
    """Payoffs at each cell under policy row `cells.row`: every follower's utility U [N, n]
    (when `utilities`), the utility of follower `who[c]` at cell c (when `who` is given:
    each utility is then evaluated only on its own follower's cells) and the objective V [N].
    Cells are simulated `CHUNK` at a time.  ``same = (distinct, index)``: cell c is
    ``distinct[index[c]]``, and only the distinct cells are rolled out (Algorithm 2's
    cells repeat the sampled profile once per follower)."""
    N = len(cells)
    if N <= CHUNK:
        return _one(tb, policy, cells, who, utilities, objective, same)
    parts = [_one(tb, policy, cells.part(slice(s, s + CHUNK)), None if who is None else who[s:s + CHUNK],
                  utilities, objective) for s in range(0, N, CHUNK)]
    cat = lambda xs: None if xs[0] is None else torch.cat(xs, 0)  # noqa: E731
    D = max(p.branches[0][1].shape[1] for p in parts)
    branches = []
    for b in range(len(parts[0].branches)):
        w = cat([p.branches[b][0] for p in parts])
        path = torch.cat([torch.nn.functional.pad(p.branches[b][1], (0, D - p.branches[b][1].shape[1]), value=-1)
                          for p in parts], 0)
        branches.append((w, path))
    return CellPayoffs(cat([p.U for p in parts]), cat([p.own for p in parts]), cat([p.V for p in parts]), branches)


def unravel(index: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Flat profile indices [N] (C order, agent 0 slowest) -> per-agent indices [N, n]."""
    out = []
    idx = index.clone()
    for c in reversed(counts):
        out.append(idx % c)
        idx = idx // c
    return torch.stack(list(reversed(out)), 1) if counts else torch.zeros(index.shape[0], 0, dtype=torch.long)
