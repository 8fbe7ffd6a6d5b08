"""The leader's policy space for exact solving: the reachable information sets of each
observation class, the distinct sub-policies per class (merged by identical payoffs) and
their payoff slices, from which any full policy's payoffs are assembled."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.ir import GameIR
from mechdsl.cells import unravel
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.solve import budget

VALUE_TOL = 1e-9  # values this close are ties
EVAL_CHUNK = 4096  # at most this many sub-policies per evaluate() call
CHUNK_ELEMENTS = 2_000_000  # and at most about this many payoff entries per batch


def chunk(cap: int, per_item: int) -> int:
    return max(1, min(cap, CHUNK_ELEMENTS // max(1, per_item)))


def legal_actions(ir: GameIR, s: int) -> list[int]:
    return [k for k, ok in enumerate(ir.legal[s]) if ok]


def children(ir: GameIR, s: int, k: int) -> list[int]:
    """Information sets that can follow action k at s (every response of the agent)."""
    info = ir.infosets[s]
    if info.kind == "choose":
        row = ir.choose_next[s] if ir.choose_next else []
        nxt = row[k] if row else -1
        return [nxt] if nxt >= 0 else []
    agent = ir.round_actions[k][0]
    seen: list[int] = []
    for x in ir.round_next[s][agent]:
        if x >= 0 and x not in seen:
            seen.append(x)
    return seen


def count_subpolicies(ir: GameIR, root: int, cap: float) -> float:
    """Number of sub-policies below `root` (exact on trees, an upper bound on DAGs)."""
    memo: dict[int, float] = {}

    def count(s: int) -> float:
        if s in memo:
            return memo[s]
        total = 0.0
        for k in legal_actions(ir, s):
            prod = 1.0
            for ch in children(ir, s, k):
                prod *= count(ch)
                if prod > cap:
                    break
            total += prod
            if total > cap:
                break
        memo[s] = total
        return total

    return count(root)


def enumerate_subpolicies(ir: GameIR, root: int, limit: int) -> list[dict[int, int]]:
    """Every assignment of actions to the information sets reachable from `root`, in
    lexicographic order of actions (depth first); one action per information set even
    where two paths meet."""
    out: list[dict[int, int]] = []
    assign: dict[int, int] = {}

    def rec(pending: tuple[int, ...]) -> None:
        while pending and pending[-1] in assign:
            pending = pending[:-1]
        if not pending:
            out.append(dict(assign))
            if len(out) > limit:
                raise _TooMany()
            return
        s, rest = pending[-1], pending[:-1]
        for k in legal_actions(ir, s):
            assign[s] = k
            kids = [c for c in reversed(children(ir, s, k)) if c not in assign]
            rec(rest + tuple(kids))
            del assign[s]

    rec((root,))
    return out


class _TooMany(Exception):
    pass


def fmt_count(x: float) -> str:
    if x < 1e5:
        return f"{int(round(x))}"
    exp = int(math.floor(math.log10(x)))
    man = x / 10**exp
    if round(man, 1) >= 10:
        man, exp = man / 10, exp + 1
    text = f"{man:.1f}"
    return f"{text[:-2] if text.endswith('.0') else text}e{exp}"


@dataclass
class PolicySpace:
    """Distinct sub-policies per class and their payoff slices."""

    tb: Tables
    profiles: list[list[int]]  # per class: action profiles (ascending)
    subs: list[list[dict[int, int]]]  # per class: distinct sub-policies (representatives)
    U: list[torch.Tensor]  # per class [N_c, n, T, A_c]
    V: list[torch.Tensor]  # per class [N_c, T, A_c]
    raw: list[int]  # per class: sub-policies before merging
    perm: torch.Tensor = field(default=None)  # concatenated class columns -> action order

    @property
    def counts(self) -> list[int]:
        return [len(s) for s in self.subs]

    def root_groups(self) -> list[list[int]]:
        """Per class, the action each distinct sub-policy takes at the class's first
        information set (where a mixed choice mixes)."""
        root = self.tb.ir.root
        return [[sub[root[c]] for sub in subs] for c, subs in enumerate(self.subs)]

    @property
    def total(self) -> int:
        return math.prod(self.counts)

    def assemble(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx [B, C] distinct sub-policy per class -> U [B, n, T, A], V [B, T, A]."""
        Us = [self.U[c][idx[:, c]] for c in range(len(self.U))]
        Vs = [self.V[c][idx[:, c]] for c in range(len(self.V))]
        U = torch.cat(Us, dim=-1).index_select(-1, self.perm)
        V = torch.cat(Vs, dim=-1).index_select(-1, self.perm)
        return U, V

    def actions(self, idx: list[int]) -> list[int]:
        """The full action vector [S] of the policy with sub-policy idx[c] in class c."""
        ir = self.tb.ir
        act = [(legal_actions(ir, s) or [0])[0] for s in range(ir.n_infosets)]
        for c, j in enumerate(idx):
            for s, k in self.subs[c][j].items():
                act[s] = k
        return act


def build_space(ir: GameIR, tb: Tables, limit: int) -> PolicySpace:
    C = len(ir.class_labels)
    profiles = [[a for a in range(ir.n_action_profiles) if ir.obs_class[a] == c] for c in range(C)]
    all_subs = []
    for c in range(C):
        est = count_subpolicies(ir, ir.root[c], float(limit) * 10)
        if est > limit:
            raise MechSizeError(
                f"{fmt_count(est)} leader sub-policies in observation class "
                f"'{ir.class_labels[c]}', limit {fmt_count(limit)}",
                hint="use a coarser price grid, fewer agents, items or messages (or raise --limit)",
            )
        try:
            all_subs.append(enumerate_subpolicies(ir, ir.root[c], limit))
        except _TooMany:
            raise MechSizeError(
                f"more than {fmt_count(limit)} leader sub-policies in observation class "
                f"'{ir.class_labels[c]}', limit {fmt_count(limit)}",
                hint="use a coarser price grid, fewer agents, items or messages (or raise --limit)",
            ) from None
    default = [(legal_actions(ir, s) or [0])[0] for s in range(ir.n_infosets)]
    width = max(len(s) for s in all_subs)
    keys: list[dict[bytes, int]] = [{} for _ in range(C)]
    subs: list[list[dict[int, int]]] = [[] for _ in range(C)]
    Us: list[list[torch.Tensor]] = [[] for _ in range(C)]
    Vs: list[list[torch.Tensor]] = [[] for _ in range(C)]
    pidx = [torch.tensor(p, dtype=torch.long) for p in profiles]
    step = chunk(EVAL_CHUNK, (ir.n_followers + 1) * ir.n_type_profiles * ir.n_action_profiles)
    for start in range(0, width, step):
        budget.check(f"evaluating the sub-policies of each observation class ({start:,} of {width:,} done)")
        stop = min(width, start + step)
        act = torch.tensor(default, dtype=torch.long).repeat(stop - start, 1)
        for b in range(start, stop):
            for c in range(C):
                sub = all_subs[c][b] if b < len(all_subs[c]) else all_subs[c][0]
                for s, k in sub.items():
                    act[b - start, s] = k
        pay = evaluate(tb, Policy(action=act))
        for c in range(C):
            Uc = pay.U.index_select(-1, pidx[c])
            Vc = pay.V.index_select(-1, pidx[c])
            flat = torch.cat([Uc.reshape(stop - start, -1), Vc.reshape(stop - start, -1)], 1).numpy()
            flat = np.round(flat, 10) + 0.0  # merge float noise and -0.0
            for b in range(start, min(stop, len(all_subs[c]))):
                key = flat[b - start].tobytes()
                if key in keys[c]:
                    continue
                keys[c][key] = len(subs[c])
                subs[c].append(all_subs[c][b])
                Us[c].append(Uc[b - start])
                Vs[c].append(Vc[b - start])
    space = PolicySpace(
        tb=tb,
        profiles=profiles,
        subs=subs,
        U=[torch.stack(u) for u in Us],
        V=[torch.stack(v) for v in Vs],
        raw=[len(s) for s in all_subs],
    )
    order = [a for p in profiles for a in p]
    perm = torch.empty(len(order), dtype=torch.long)
    perm[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    space.perm = perm
    return space


def unrank(flat: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Mixed-radix digits (class 0 most significant) of policy numbers: [B] -> [B, C]."""
    return unravel(flat, counts)
