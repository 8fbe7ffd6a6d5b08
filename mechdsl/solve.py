"""Exact solver for small mechanisms: the leader's optimal policy against followers
who learn by multiplicative weights (`mw`) or who play the leader-favourable pure
Bayes-Nash equilibrium (`favourable`).

How it works
------------
A pure leader policy is one action per information set.  Information sets belong to
observation classes (what the leader saw of the followers' actions, `ir.obs_class`),
and a class's payoffs -- U and V restricted to the action profiles of that class --
depend only on the policy's actions inside that class.  So:

1. per class, enumerate the sub-policies over the information sets reachable from the
   class's root (every legal action, every response of the visited agent); the
   others keep their first legal action;
2. evaluate all of them in batches (`mechdsl.evaluate`) and merge sub-policies whose
   payoff slices are identical: they are the same mechanism for everybody;
3. a full policy is one distinct sub-policy per class; its U and V are assembled from
   the slices without simulating again.

`mw`: every product of distinct sub-policies is run through the deterministic expected
MW dynamics (batched; the same update as `mechdsl.dynamics.expected_mw`), the
followers then play the argmax of their weights, and the best leader value wins (ties:
lower regret, then the first in enumeration order).  A policy is skipped only when a
sound upper bound on its value -- the best pure follower profile that avoids actions
which lose to another action by a margin in every round of MW (so they can never be
the argmax) -- is below the best value already found.  The winner is re-checked with
the reference `expected_mw` / `regret` / `leader_value`.

`favourable`: per pure follower strategy profile, a MILP (scipy's HiGHS) picks one
distinct sub-policy per class (binary variables) to maximize the leader's value
subject to that profile having zero regret; the best profile wins.

Mixed choose sets (`choose ... mixed`): the multiple-LP method (Conitzer & Sandholm
2006) over the class-wise mixtures, per pure follower profile; when rounds follow the
mixed choice, binary variables pick one round sub-policy per choice.  Under
`favourable` the best LP value is attained.  Under `mw` it is the supremum over
policies whose followers respond strictly (ties break against the leader in the
limit): the solver reports it as such (`exact = False`) with a policy moved slightly
into the interior, where the followers' response is strict, and that policy's actual
value under MW.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from pydantic import BaseModel

from compiler.errors import MechSizeError, MechUsageError
from compiler.ir import GameIR
from mechdsl.dynamics import (
    TIE_TOL,
    MWConfig,
    argmax_strategy,
    expected_mw,
    leader_value,
    normalized,
    pure,
    regret,
)
from mechdsl.evaluate import Policy, Tables, evaluate

DEFAULT_LIMIT = 1_000_000  # leader policies to enumerate (after merging equivalent ones)
PROFILE_BOUND_MAX = 256  # use the per-profile value bound up to this many follower profiles
MAX_PROFILES = 20_000  # pure follower strategy profiles (one LP / MILP each)
VALUE_TOL = 1e-9  # values this close are ties
INTERIOR_STEP = 1e-3  # how far a supremum policy is moved toward the interior
EVAL_CHUNK = 4096  # at most this many sub-policies per evaluate() call
MW_CHUNK = 4096  # at most this many full policies per batched MW run
CHUNK_ELEMENTS = 2_000_000  # and at most about this many payoff entries per batch


def _chunk(cap: int, per_item: int) -> int:
    return max(1, min(cap, CHUNK_ELEMENTS // max(1, per_item)))

FOLLOWER_MODELS = ("mw", "favourable")


# ---------------------------------------------------------------------------
# the answer
# ---------------------------------------------------------------------------


class Solution(BaseModel):
    """The solver's answer.  `value` is the optimum (or, when `supremum`, the least upper
    bound, approached by `policy` whose own value is `policy_value`)."""

    spec: str
    follower_model: str
    objective: str
    value: Optional[float]
    policy_value: Optional[float]
    exact: bool
    supremum: bool = False
    # info-set label -> action label (pure) or {action label: probability} (mixed);
    # only the information sets the policy can reach
    policy: dict[str, Any]
    actions: list[int]  # [S] action per information set (argmax of probs where mixed)
    probs: Optional[list[list[float]]] = None  # [S][K] where the policy mixes
    follower_strategies: dict[str, dict[str, str]]  # follower -> type label -> action label
    follower_profile: list[list[int]]  # per follower, action index per type
    regret: dict[str, dict[str, float]]  # follower -> type label -> regret (spec units)
    reached_classes: list[str]
    unreached_classes: list[str]
    policies_enumerated: int = 0
    policies_total: int = 0  # size of the (merged) policy space
    distinct_subpolicies: list[int] = []  # per observation class
    profiles_solved: int = 0  # LPs / MILPs
    seconds: float = 0.0
    note: str = ""


# ---------------------------------------------------------------------------
# structure: reachable information sets and sub-policies per class
# ---------------------------------------------------------------------------


def _legal(ir: GameIR, s: int) -> list[int]:
    return [k for k, ok in enumerate(ir.legal[s]) if ok]


def _children(ir: GameIR, s: int, k: int) -> list[int]:
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


def _count_subpolicies(ir: GameIR, root: int, cap: float) -> float:
    """Number of sub-policies below `root` (exact on trees, an upper bound on DAGs)."""
    memo: dict[int, float] = {}

    def count(s: int) -> float:
        if s in memo:
            return memo[s]
        total = 0.0
        for k in _legal(ir, s):
            prod = 1.0
            for ch in _children(ir, s, k):
                prod *= count(ch)
                if prod > cap:
                    break
            total += prod
            if total > cap:
                break
        memo[s] = total
        return total

    return count(root)


def _enumerate_subpolicies(ir: GameIR, root: int, limit: int) -> list[dict[int, int]]:
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
        for k in _legal(ir, s):
            assign[s] = k
            kids = [c for c in reversed(_children(ir, s, k)) if c not in assign]
            rec(rest + tuple(kids))
            del assign[s]

    rec((root,))
    return out


class _TooMany(Exception):
    pass


def _fmt_count(x: float) -> str:
    if x < 1e5:
        return f"{int(round(x))}"
    exp = int(math.floor(math.log10(x)))
    man = x / 10**exp
    if round(man, 1) >= 10:
        man, exp = man / 10, exp + 1
    text = f"{man:.1f}"
    return f"{text[:-2] if text.endswith('.0') else text}e{exp}"


@dataclass
class _Space:
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
        act = [(_legal(ir, s) or [0])[0] for s in range(ir.n_infosets)]
        for c, j in enumerate(idx):
            for s, k in self.subs[c][j].items():
                act[s] = k
        return act


def _build_space(ir: GameIR, tb: Tables, limit: int) -> _Space:
    C = len(ir.class_labels)
    profiles = [[a for a in range(ir.n_action_profiles) if ir.obs_class[a] == c] for c in range(C)]
    all_subs = []
    for c in range(C):
        est = _count_subpolicies(ir, ir.root[c], float(limit) * 10)
        if est > limit:
            raise MechSizeError(
                f"{_fmt_count(est)} leader sub-policies in observation class "
                f"'{ir.class_labels[c]}', limit {_fmt_count(limit)}",
                hint="use a coarser price grid, fewer agents, items or messages (or raise --limit)",
            )
        try:
            all_subs.append(_enumerate_subpolicies(ir, ir.root[c], limit))
        except _TooMany:
            raise MechSizeError(
                f"more than {_fmt_count(limit)} leader sub-policies in observation class "
                f"'{ir.class_labels[c]}', limit {_fmt_count(limit)}",
                hint="use a coarser price grid, fewer agents, items or messages (or raise --limit)",
            ) from None
    default = [(_legal(ir, s) or [0])[0] for s in range(ir.n_infosets)]
    width = max(len(s) for s in all_subs)
    keys: list[dict[bytes, int]] = [{} for _ in range(C)]
    subs: list[list[dict[int, int]]] = [[] for _ in range(C)]
    Us: list[list[torch.Tensor]] = [[] for _ in range(C)]
    Vs: list[list[torch.Tensor]] = [[] for _ in range(C)]
    pidx = [torch.tensor(p, dtype=torch.long) for p in profiles]
    step = _chunk(EVAL_CHUNK, (ir.n_followers + 1) * ir.n_type_profiles * ir.n_action_profiles)
    for start in range(0, width, step):
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
    space = _Space(
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


def _unrank(flat: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Mixed-radix digits (class 0 most significant) of policy numbers: [B] -> [B, C]."""
    out = []
    x = flat.clone()
    for c in reversed(counts):
        out.append(x % c)
        x = x // c
    return torch.stack(list(reversed(out)), dim=1)


# ---------------------------------------------------------------------------
# follower strategy profiles
# ---------------------------------------------------------------------------


@dataclass
class _Profiles:
    """All pure follower strategy profiles: s_i(t_i) per follower and type."""

    strat: list[torch.Tensor]  # per follower [P, T_i] action index
    act: torch.Tensor  # [P, T] action profile played at each type profile

    @property
    def count(self) -> int:
        return self.act.shape[0]


def _profile_count(ir: GameIR) -> int:
    return math.prod(a**t for a, t in zip(ir.action_counts, ir.type_counts))


def _all_profiles(tb: Tables) -> _Profiles:
    ir = tb.ir
    per = []
    for i in range(ir.n_followers):
        per.append(torch.tensor(list(itertools.product(range(ir.action_counts[i]), repeat=ir.type_counts[i])), dtype=torch.long))
    P = math.prod(p.shape[0] for p in per)
    grids = torch.meshgrid(*[torch.arange(p.shape[0]) for p in per], indexing="ij") if per else []
    strat = [per[i][grids[i].reshape(-1)] for i in range(len(per))]
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
    act = torch.zeros(P, tb.T, dtype=torch.long)
    for i in range(ir.n_followers):
        act += strat[i][:, tb.tidx[:, i]] * strides[i]
    return _Profiles(strat=strat, act=act)


def _profile_of(strategies: list[torch.Tensor], tb: Tables) -> torch.Tensor:
    """Pure strategies [B, T_i] per follower -> action profile per type profile [B, T]."""
    ir = tb.ir
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
    a = 0
    for i, s in enumerate(strategies):
        a = a + s[:, tb.tidx[:, i]] * strides[i]
    return a


# ---------------------------------------------------------------------------
# batched multiplicative weights on assembled payoffs
# ---------------------------------------------------------------------------


class _BatchMW:
    """`expected_mw` specialised for many policies at once.

    Follower i's normalized payoffs are pre-multiplied by the conditional prior
    P(t_-i | t_i) and laid out as a [T_i*A_i, X_i, B] tensor (X_i: the others'
    (type, action) pairs; the batch is the last, contiguous axis so every operation
    is a long vector operation).  A round is one softmax over every follower's weights
    (padded into one tensor) and one contraction per follower; the update is
    `expected_mw`'s: logw += log(1 + step) * Q, all followers at once."""

    def __init__(self, tb: Tables, cfg: MWConfig):
        self.tb = tb
        self.cfg = cfg
        ir = tb.ir
        self.n = ir.n_followers
        self.tc, self.ac = list(ir.type_counts), list(ir.action_counts)
        self.Tm, self.Am = max(self.tc), max(self.ac)
        prior = tb.prior.view(*self.tc)
        self.cond = []  # per follower: P(t_-i | t_i) as [T] (0 where t_i has no mass)
        for i in range(self.n):
            other = [d for d in range(self.n) if d != i]
            p_i = prior.sum(dim=other) if other else prior
            shape = [1] * self.n
            shape[i] = self.tc[i]
            safe = torch.where(p_i > 0, p_i, torch.ones_like(p_i))
            cond = torch.where(p_i.view(shape) > 0, prior / safe.view(shape), torch.zeros_like(prior))
            self.cond.append(cond.reshape(-1))
        self.rate = math.log1p(cfg.step)
        lo = [b[0] for b in ir.utility_bounds]
        hi = [b[1] for b in ir.utility_bounds]
        self.span = [((h - l) if (h - l) > 0 else 1.0) if cfg.normalize else 1.0 for l, h in zip(lo, hi)]
        pad = torch.zeros(self.n, self.Tm, self.Am, 1, dtype=tb.dtype)
        for i in range(self.n):
            pad[i, :, self.ac[i]:] = -float("inf")
        self.pad = pad  # initial log-weights: 0, and -inf on padding actions

    def matrices(self, U: torch.Tensor) -> list[torch.Tensor]:
        """U [B, n, T, A] -> per follower W_i [T_i*A_i, X_i, B]: normalized payoffs times
        the conditional prior, columns ordered (t_j, a_j) for each j != i."""
        B, n = U.shape[0], self.n
        Un = normalized(self.tb, U, self.cfg.normalize)
        out = []
        for i in range(n):
            Wi = (Un[:, i] * self.cond[i].view(1, -1, 1)).reshape(B, *self.tc, *self.ac)
            order = [1 + i, 1 + n + i]
            for j in range(n):
                if j != i:
                    order += [1 + j, 1 + n + j]
            Wi = Wi.permute(order + [0]).reshape(self.tc[i] * self.ac[i], -1, B).contiguous()
            out.append(Wi)
        return out

    def _q(self, W: list[torch.Tensor], strat: list[torch.Tensor]) -> list[torch.Tensor]:
        """Q_i [T_i, A_i, B]: each own action's expected payoff per type, against the
        others' strategies strat[j] [T_j, A_j, B]."""
        out = []
        for i in range(self.n):
            B = W[i].shape[-1]
            o = None
            for j in range(self.n):
                if j == i:
                    continue
                s = strat[j].reshape(-1, B)
                o = s if o is None else (o.unsqueeze(1) * s.unsqueeze(0)).reshape(-1, B)
            q = W[i][:, 0] if o is None else (W[i] * o.unsqueeze(0)).sum(1)
            out.append(q.view(self.tc[i], self.ac[i], B))
        return out

    def run(self, W: list[torch.Tensor]) -> list[torch.Tensor]:
        """Final log-weights [B, T_i, A_i] after cfg.rounds rounds of expected MW."""
        n, B = self.n, W[0].shape[-1]
        R = self.cfg.rounds
        if R <= 0:
            return [torch.zeros(B, self.tc[i], self.ac[i], dtype=W[i].dtype) for i in range(n)]
        if n == 1:  # nobody else moves: the same expected payoff every round
            q = self._q(W, [])[0]
            acc = torch.zeros_like(q)
            for _ in range(R):
                acc = acc + self.rate * q
            return [acc.permute(2, 0, 1).contiguous()]
        logw = self.pad.repeat(1, 1, 1, B)  # [n, Tm, Am, B]
        same = all(t == self.Tm for t in self.tc) and all(a == self.Am for a in self.ac)
        if n == 2 and same:
            # both followers in one product: Q_0 = W_0 s_1, Q_1 = W_1 s_0
            P = self.Tm * self.Am
            Ws = torch.stack(W, 0) * self.rate  # [2, P, P, B]
            for _ in range(R):
                e = torch.exp(logw - logw.amax(2, keepdim=True))
                s = e / e.sum(2, keepdim=True)
                logw += (Ws * s.flip(0).reshape(2, 1, P, B)).sum(2).view(2, self.Tm, self.Am, B)
        else:
            Ws = [w * self.rate for w in W]
            for _ in range(R):
                e = torch.exp(logw - logw.amax(2, keepdim=True))
                s = e / e.sum(2, keepdim=True)
                q = self._q(Ws, [s[i, : self.tc[i], : self.ac[i]] for i in range(n)])
                for i in range(n):
                    logw[i, : self.tc[i], : self.ac[i]] += q[i]
        return [logw[i, : self.tc[i], : self.ac[i]].permute(2, 0, 1).contiguous() for i in range(n)]

    def regret(self, W: list[torch.Tensor], strat_idx: list[torch.Tensor]) -> torch.Tensor:
        """Max over followers and types of the regret of pure strategies [B, T_i], in the
        spec's payoff units. [B]"""
        strat = [
            torch.nn.functional.one_hot(s, self.ac[i]).to(W[0].dtype).permute(1, 2, 0)
            for i, s in enumerate(strat_idx)
        ]
        q = self._q(W, strat)
        worst = torch.zeros(W[0].shape[-1], dtype=W[0].dtype)
        for i in range(self.n):
            now = (q[i] * strat[i]).sum(1)  # [T_i, B]
            gap = (q[i].max(1).values - now).clamp(min=0) * self.span[i]
            worst = torch.maximum(worst, gap.max(0).values)
        return worst

    def dominated(self, W: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per follower [B, T_i, A_i]: actions that do worse than another action by a
        margin against every play of the others -- so in every round of MW -- and hence
        can never be the argmax of the weights (even within argmax_strategy's tie band)."""
        out = []
        R = self.cfg.rounds
        for i in range(self.n):
            B = W[i].shape[-1]
            Ti, Ai = self.tc[i], self.ac[i]
            if R <= 0 or Ai < 2:
                out.append(torch.zeros(B, Ti, Ai, dtype=torch.bool))
                continue
            others = [j for j in range(self.n) if j != i]
            Tm = math.prod(self.tc[j] for j in others)
            Am = math.prod(self.ac[j] for j in others)
            k = len(others)
            shape = [Ti, Ai] + [x for j in others for x in (self.tc[j], self.ac[j])] + [B]
            order = [0, 1] + [2 + 2 * q for q in range(k)] + [3 + 2 * q for q in range(k)] + [2 + 2 * k]
            w = W[i].reshape(shape).permute(order).reshape(Ti, Ai, Tm, Am, B)
            # margin[t, a, a'] = sum over t_-i of min over a_-i of (w[a'] - w[a]) (w carries
            # the conditional prior): a lower bound on Q(a') - Q(a) whatever the others play
            margin = (w.unsqueeze(1) - w.unsqueeze(2)).min(4).values.sum(3)  # [Ti, a, a', B]
            # log-weights reach at most rate * R * max|Q|; argmax_strategy treats values
            # within TIE_TOL * max(1, |top|) of the top as ties
            top = float(W[i].abs().sum(1).max()) if W[i].numel() else 0.0
            thr = 10 * TIE_TOL * max(1.0 / (self.rate * R), top) + 1e-12
            out.append((margin > thr).any(2).permute(2, 0, 1))
        return out


# ---------------------------------------------------------------------------
# the mw search over pure policies
# ---------------------------------------------------------------------------


def _profile_table(space: _Space, prof: _Profiles) -> list[torch.Tensor]:
    """g_c[j, p]: class c's share of the leader's value when sub-policy j is used there
    and the followers play pure profile p."""
    tb = space.tb
    out = []
    for c in range(len(space.subs)):
        N = space.V[c].shape[0]
        Vfull = torch.zeros(N, tb.T, tb.A, dtype=tb.dtype)
        Vfull[:, :, torch.tensor(space.profiles[c], dtype=torch.long)] = space.V[c]
        parts = []
        step = _chunk(prof.count, N * tb.T)
        for start in range(0, prof.count, step):
            act = prof.act[start:start + step]
            g = Vfull[:, torch.arange(tb.T).view(1, -1), act]  # [N_c, p, T]
            parts.append((g * tb.prior.view(1, 1, -1)).sum(-1))
        out.append(torch.cat(parts, 1))
    return out


def _upper_bounds(space: _Space, mw: _BatchMW, idx: torch.Tensor, U: torch.Tensor, V: torch.Tensor,
                  gtab: Optional[list[torch.Tensor]], prof: Optional[_Profiles]) -> torch.Tensor:
    """A sound upper bound on each policy's value under MW: the best pure profile that
    avoids MW-dominated actions (or, with too many profiles, the best undominated action
    profile per type profile)."""
    tb = space.tb
    W = mw.matrices(U)
    dom = mw.dominated(W)
    B = idx.shape[0]
    if gtab is not None:
        vals = sum(gtab[c][idx[:, c]] for c in range(len(gtab)))  # [B, P]
        bad = torch.zeros_like(vals, dtype=torch.bool)
        for i, s in enumerate(prof.strat):
            for t in range(s.shape[1]):
                bad |= dom[i][:, t, :].gather(1, s[:, t].view(1, -1).expand(B, -1))
        vals = torch.where(bad, torch.full_like(vals, -float("inf")), vals)
        return vals.max(-1).values
    bad = torch.zeros(B, tb.T, tb.A, dtype=torch.bool)
    for i in range(tb.n):
        bad |= dom[i][:, tb.tidx[:, i]][:, :, tb.aidx[:, i]]
    best = torch.where(bad, torch.full_like(V, -float("inf")), V).max(-1).values
    return (best * tb.prior.view(1, -1)).sum(-1)


def _search_mw(space: _Space, cfg: MWConfig, limit: int, prune: bool = True) -> tuple[list[int], float, int, str]:
    """Best full policy under MW.  Returns (idx per class, value, policies run, note).
    prune False runs every policy (for checking the bound)."""
    tb = space.tb
    total = space.total
    if total > limit:
        raise MechSizeError(
            f"{_fmt_count(total)} leader policies (after merging equivalent sub-policies: "
            f"{' x '.join(str(c) for c in space.counts)} per class), limit {_fmt_count(limit)}",
            hint="use fewer messages, agents or prices, --follower-model favourable, or raise --limit",
        )
    mw = _BatchMW(tb, cfg)
    counts = space.counts
    use_profiles = _profile_count(tb.ir) <= PROFILE_BOUND_MAX
    prof = _all_profiles(tb) if use_profiles else None
    gtab = _profile_table(space, prof) if use_profiles else None
    step = _chunk(MW_CHUNK, 4 * (tb.n + 1) * tb.T * tb.A + (prof.count if prof is not None else 0))
    # 1. bounds for every policy
    ub = torch.empty(total, dtype=tb.dtype)
    for start in range(0, total, step):
        flat = torch.arange(start, min(total, start + step))
        idx = _unrank(flat, counts)
        U, V = space.assemble(idx)
        if prune:
            ub[start:start + len(flat)] = _upper_bounds(space, mw, idx, U, V, gtab, prof)
        else:
            ub[start:start + len(flat)] = math.inf
    order = torch.argsort(-ub, stable=True)
    # 2. MW on policies by decreasing bound, until the bound falls below the best
    best = None  # (value, regret, flat index)
    ran = 0
    for start in range(0, total, step):
        flat = order[start:start + step]
        if best is not None:
            keep = ub[flat] >= best[0] - VALUE_TOL
            flat = flat[keep]
            if flat.numel() == 0:
                break
        idx = _unrank(flat, counts)
        U, V = space.assemble(idx)
        W = mw.matrices(U)
        logw = mw.run(W)
        strat = argmax_strategy(logw)
        a = _profile_of(strat, tb)  # [B, T]
        val = (V.gather(2, a.unsqueeze(-1)).squeeze(-1) * tb.prior.view(1, -1)).sum(-1)
        reg = mw.regret(W, strat)
        ran += flat.numel()
        # lexicographic: value (tolerant) desc, regret asc, enumeration index asc
        vmax = float(val.max())
        cand = (val >= vmax - VALUE_TOL).nonzero().view(-1)
        for j in cand.tolist():
            key = (float(val[j]), float(reg[j]), int(flat[j]))
            best = key if best is None else _better(key, best)
    assert best is not None
    return _unrank(torch.tensor([best[2]]), counts)[0].tolist(), best[0], ran, ""


def _better(a: tuple, b: tuple) -> tuple:
    """The preferred of two (value, regret, index) candidates."""
    if a[0] > b[0] + VALUE_TOL:
        return a
    if b[0] > a[0] + VALUE_TOL:
        return b
    if a[1] < b[1] - VALUE_TOL:
        return a
    if b[1] < a[1] - VALUE_TOL:
        return b
    return a if a[2] < b[2] else b


# ---------------------------------------------------------------------------
# per-profile (MI)LPs: the favourable model and mixed choices
# ---------------------------------------------------------------------------


@dataclass
class _ProfileProblem:
    """Class-wise linear pieces of the leader's value and the followers' incentive
    constraints for one pure follower profile: with x_{c,j} the weight of distinct
    sub-policy j in class c, value = sum g[c] . x[c] and row r of IC = sum H[c][:, r] . x[c],
    which must be >= 0 (follower i of type t_i gains nothing by switching to a')."""

    g: list[np.ndarray]  # per class [N_c]
    H: list[np.ndarray]  # per class [N_c, R]
    rows: list[tuple[int, int, int]]  # (follower, type, deviation action)


class _ProfileBuilder:
    def __init__(self, space: _Space, prof: _Profiles):
        self.space = space
        self.prof = prof
        tb = space.tb
        ir = tb.ir
        self.tb = tb
        self.pos = []  # per class: [A] position of each action profile in the class, -1 outside
        for p in space.profiles:
            pos = torch.full((tb.A,), -1, dtype=torch.long)
            pos[torch.tensor(p, dtype=torch.long)] = torch.arange(len(p))
            self.pos.append(pos)
        self.strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
        prior = tb.prior
        self.cond = _BatchMW(tb, MWConfig()).cond  # P(t_-i | t_i) per follower, [T]
        self.tmass = []  # per follower: which types have positive mass
        for i in range(ir.n_followers):
            mass = torch.zeros(ir.type_counts[i], dtype=tb.dtype).index_add_(0, tb.tidx[:, i], prior)
            self.tmass.append(mass > 0)
        self.gtab = _profile_table(space, prof)

    def bound(self) -> torch.Tensor:
        """Per profile: the leader's best value ignoring incentives. [P]"""
        return sum(g.max(0).values for g in self.gtab)

    def build(self, p: int) -> _ProfileProblem:
        tb, space = self.tb, self.space
        n = tb.n
        act = self.prof.act[p]  # [T]
        rows: list[tuple[int, int, int]] = []
        devs = []  # (i, t_i, a') -> dev action profile per t [T] and weight [T]
        for i in range(n):
            s_i = self.prof.strat[i][p]  # [T_i]
            own = s_i[tb.tidx[:, i]]  # [T]
            for ti in range(tb.ir.type_counts[i]):
                if not bool(self.tmass[i][ti]):
                    continue
                for a2 in range(tb.ir.action_counts[i]):
                    if a2 == int(s_i[ti]):
                        continue
                    rows.append((i, ti, a2))
                    dev = act + (a2 - own) * self.strides[i]
                    w = torch.where(tb.tidx[:, i] == ti, self.cond[i], torch.zeros_like(self.cond[i]))
                    devs.append((i, dev, w))
        g, H = [], []
        tix = torch.arange(tb.T)
        for c in range(len(space.subs)):
            Uc, Vc, pos = space.U[c], space.V[c], self.pos[c]
            N = Uc.shape[0]
            pa = pos[act]  # [T]
            inside = pa >= 0
            vals = Vc[:, tix, pa.clamp(min=0)] * inside  # [N, T]
            g.append((vals * tb.prior.view(1, -1)).sum(1).numpy())
            Hc = np.zeros((N, len(rows)))
            for r, (i, dev, w) in enumerate(devs):
                here = Uc[:, i, tix, pa.clamp(min=0)] * inside
                pd = pos[dev]
                there = Uc[:, i, tix, pd.clamp(min=0)] * (pd >= 0)
                Hc[:, r] = ((here - there) * w.view(1, -1)).sum(1).numpy()
            H.append(Hc)
        return _ProfileProblem(g=g, H=H, rows=rows)


def _milp(prob: _ProfileProblem, groups: Optional[list[list[int]]], slack: bool = False,
          allowed: Optional[list[np.ndarray]] = None, at_least: Optional[float] = None):
    """Maximize the leader's value for one profile.

    groups None: pure policy, one binary per distinct sub-policy per class.
    groups given (per class, a group id per sub-policy): a mixture per class; where a
    group has several members, binaries allow at most one of them.
    slack: instead maximize the smallest incentive margin (for interior points), over
    the sub-policies `allowed` (per class, bool mask).
    at_least: instead, among solutions worth at least this much, prefer the earliest
    sub-policies (smallest sum of indices) -- a deterministic tie-break.
    Returns (x per class, objective) or None when infeasible."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    sizes = [len(g) for g in prob.g]
    nx = sum(sizes)
    offs = np.cumsum([0] + sizes)
    R = len(prob.rows)
    nz = 0
    zmap: list[tuple[int, int, int]] = []  # (class, member j, z column)
    if groups is not None and not slack:
        for c, gr in enumerate(groups):
            ids, counts = np.unique(gr, return_counts=True)
            for gid, cnt in zip(ids, counts):
                if cnt > 1:
                    for j in np.nonzero(np.asarray(gr) == gid)[0]:
                        zmap.append((c, int(j), nx + nz))
                        nz += 1
    nvar = nx + nz + (1 if slack else 0)
    cvec = np.zeros(nvar)
    if slack:
        cvec[-1] = -1.0
    elif at_least is not None:
        cvec[:nx] = np.concatenate([np.arange(s, dtype=float) for s in sizes])
    else:
        cvec[:nx] = -np.concatenate(prob.g)
    A_rows, lo, hi = [], [], []
    for c in range(len(sizes)):  # one unit of weight per class
        row = np.zeros(nvar)
        row[offs[c]:offs[c + 1]] = 1.0
        A_rows.append(row)
        lo.append(1.0)
        hi.append(1.0)
    if at_least is not None:
        row = np.zeros(nvar)
        row[:nx] = np.concatenate(prob.g)
        A_rows.append(row)
        lo.append(at_least - VALUE_TOL * max(1.0, abs(at_least)))
        hi.append(np.inf)
    if R:
        Hall = np.concatenate(prob.H, axis=0)  # [nx, R]
        scale = np.maximum(np.abs(Hall).max(0), 1e-12)
        for r in range(R):
            row = np.zeros(nvar)
            row[:nx] = Hall[:, r] / scale[r]
            if slack:
                row[-1] = -1.0
            A_rows.append(row)
            lo.append(-1e-9 if not slack else 0.0)
            hi.append(np.inf)
    if nz:
        for c, j, zc in zmap:  # y <= z
            row = np.zeros(nvar)
            row[offs[c] + j] = 1.0
            row[zc] = -1.0
            A_rows.append(row)
            lo.append(-np.inf)
            hi.append(0.0)
        for c, gr in enumerate(groups):
            ids = {}
            for (cc, j, zc) in zmap:
                if cc == c:
                    ids.setdefault(gr[j], []).append(zc)
            for cols in ids.values():
                row = np.zeros(nvar)
                row[cols] = 1.0
                A_rows.append(row)
                lo.append(-np.inf)
                hi.append(1.0)
    integ = np.zeros(nvar)
    if groups is None and not slack:
        integ[:nx] = 1
    integ[nx:nx + nz] = 1
    lb = np.zeros(nvar)
    ub = np.ones(nvar)
    if allowed is not None:
        ub[:nx] = np.concatenate([a.astype(float) for a in allowed])
    if slack:
        lb[-1], ub[-1] = -1.0, 1.0
    res = milp(
        cvec,
        constraints=[LinearConstraint(np.array(A_rows), np.array(lo), np.array(hi))],
        integrality=integ,
        bounds=Bounds(lb, ub),
        options={"mip_rel_gap": 1e-12, "presolve": True},
    )
    if res.status != 0 or res.x is None:
        return None
    x = res.x
    xs = [np.clip(x[offs[c]:offs[c + 1]], 0.0, 1.0) for c in range(len(sizes))]
    if slack:
        return xs, float(x[-1])
    if groups is None:  # binaries: snap
        xs = [(np.arange(len(v)) == int(np.argmax(v))).astype(float) for v in xs]
    else:
        xs = _polish(prob, [v / v.sum() for v in xs])
    value = float(sum(g @ v for g, v in zip(prob.g, xs)))
    return xs, value


def _polish(prob: _ProfileProblem, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Snap an LP optimum onto its vertex: solve the active constraints (class sums and
    incentive rows within the solver's tolerance of 0) exactly for the positive weights,
    so a follower left indifferent is indifferent to the last digit."""
    flat = np.concatenate(xs)
    sizes = [len(x) for x in xs]
    offs = np.cumsum([0] + sizes)
    free = np.nonzero(flat > 1e-9)[0]
    if not len(free) or not prob.rows:
        return xs
    Hall = np.concatenate(prob.H, axis=0)  # [nx, R]
    rowval = flat @ Hall
    scale = np.maximum(np.abs(Hall).max(0), 1e-12)
    active = np.nonzero(np.abs(rowval) <= 1e-6 * scale)[0]
    eqs, rhs = [], []
    for c in range(len(sizes)):
        e = np.zeros(len(flat))
        e[offs[c]:offs[c + 1]] = 1.0
        eqs.append(e[free])
        rhs.append(1.0)
    for r in active:
        eqs.append(Hall[free, r] / scale[r])
        rhs.append(0.0)
    sol, *_ = np.linalg.lstsq(np.array(eqs), np.array(rhs), rcond=None)
    cand = np.zeros(len(flat))
    cand[free] = sol
    if (cand < -1e-12).any() or np.abs(np.array(eqs) @ sol - np.array(rhs)).max() > 1e-12:
        return xs
    cand = np.clip(cand, 0.0, None)
    if ((cand @ Hall) < -1e-12 * scale).any():
        return xs
    return [cand[offs[c]:offs[c + 1]] / cand[offs[c]:offs[c + 1]].sum() for c in range(len(sizes))]


def _ic_margin(prob: _ProfileProblem, xs: list[np.ndarray]) -> float:
    if not prob.rows:
        return math.inf
    tot = sum(x @ H for x, H in zip(xs, prob.H))
    return float(tot.min())


def _solve_profiles(space: _Space, groups: Optional[list[list[int]]], strict: bool):
    """Best (profile, weights) over all pure follower profiles.

    strict False: the leader-favourable optimum (ties in the followers' incentives
    allowed).  strict True: only profiles that some policy makes a strict best
    response; returns also an interior policy.  Returns dict or None."""
    tb = space.tb
    P = _profile_count(tb.ir)
    if P > MAX_PROFILES:
        raise MechSizeError(
            f"{_fmt_count(P)} pure follower strategy profiles (one linear program each), limit {_fmt_count(MAX_PROFILES)}",
            hint="use fewer types or actions per follower",
        )
    prof = _all_profiles(tb)
    builder = _ProfileBuilder(space, prof)
    bound = builder.bound()
    order = torch.argsort(-bound, stable=True).tolist()
    best = None
    solved = 0
    skipped_nonstrict = 0
    for p in order:
        if best is not None and float(bound[p]) < best["value"] - VALUE_TOL:
            break
        prob = builder.build(p)
        out = _milp(prob, groups)
        solved += 1
        if out is None:
            continue
        xs, value = out
        if best is not None and not (value > best["value"] + VALUE_TOL or (value >= best["value"] - VALUE_TOL and p < best["profile"])):
            continue
        cand = {"profile": p, "xs": xs, "value": value, "prob": prob}
        if strict:
            allowed = [(x > 1e-12) | _single_member(groups, c, x) for c, x in enumerate(xs)] if groups is not None else None
            sl = _milp(prob, groups, slack=True, allowed=allowed)
            if sl is None or sl[1] <= 1e-6:
                skipped_nonstrict += 1
                continue
            inner = [(1 - INTERIOR_STEP) * x + INTERIOR_STEP * y for x, y in zip(xs, sl[0])]
            cand["interior"] = [v / v.sum() for v in inner]
            cand["strict_at_optimum"] = _ic_margin(prob, xs) > 1e-9
        best = cand
    if best is not None and groups is None:
        again = _milp(best["prob"], None, at_least=best["value"])
        if again is not None and again[1] >= best["value"] - VALUE_TOL:
            best["xs"], best["value"] = again
    if best is not None:
        best["solved"] = solved
        best["strategies"] = [s[best["profile"]].tolist() for s in prof.strat]
        best["skipped_nonstrict"] = skipped_nonstrict
    return best, solved


def _single_member(groups, c: int, x: np.ndarray) -> np.ndarray:
    """Sub-policies whose group has one member (free to enter an interior mixture), plus
    the chosen member of each multi-member group."""
    gr = np.asarray(groups[c])
    out = np.zeros(len(gr), dtype=bool)
    for gid in np.unique(gr):
        members = np.nonzero(gr == gid)[0]
        if len(members) == 1:
            out[members] = True
        else:
            out[members[np.argmax(x[members])]] = True
    return out


# ---------------------------------------------------------------------------
# reference check and the public API
# ---------------------------------------------------------------------------


class _threads:
    """Run with one intra-op thread: the solver's tensors are small and many, and
    OpenMP threads only contend (badly so on a busy machine)."""

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def _policy_tensor(ir: GameIR, actions: list[int], probs: Optional[list[list[float]]]) -> Policy:
    act = torch.tensor([actions], dtype=torch.long)
    pr = torch.tensor([probs], dtype=torch.float64) if probs is not None else None
    return Policy(action=act, probs=pr)


def _check(tb: Tables, cfg: MWConfig, actions, probs, strategies: Optional[list[list[int]]]):
    """Reference numbers for one policy: (value, strategies, regret [n, Tmax]).
    strategies None: the followers run `expected_mw` and play the argmax."""
    pay = evaluate(tb, _policy_tensor(tb.ir, actions, probs))
    if strategies is None:
        idx = argmax_strategy(expected_mw(tb, pay.U, cfg))
    else:
        idx = [torch.tensor([s], dtype=torch.long) for s in strategies]
    S = pure(idx, tb)
    value = float(leader_value(tb, pay.V, S)[0])
    reg = regret(tb, pay.U, S)[0]
    return value, [s[0].tolist() for s in idx], reg


def _mixed_policy(space: _Space, xs: list[np.ndarray]) -> tuple[list[int], list[list[float]]]:
    """Class-wise mixtures over distinct sub-policies -> actions [S] and probs [S][K]."""
    ir = space.tb.ir
    K = ir.n_actions
    actions = space.actions([0] * len(xs))
    probs = [[1.0 if k == a else 0.0 for k in range(K)] for a in actions]
    for c, x in enumerate(xs):
        root = ir.root[c]
        row = [0.0] * K
        x = np.where(x > 1e-12, x, 0.0)
        x = x / x.sum()
        for j, w in enumerate(x):
            if w <= 0:
                continue
            sub = space.subs[c][j]
            row[sub[root]] += float(w)
            for s, k in sub.items():
                if s != root:
                    actions[s] = k
                    probs[s] = [1.0 if q == k else 0.0 for q in range(K)]
        tot = sum(row)
        row = [r / tot for r in row]
        probs[root] = row
        actions[root] = int(np.argmax(row))
    return actions, probs


def solve(ir: GameIR, follower_model: str = "mw", limit: int = DEFAULT_LIMIT) -> Solution:
    """The leader's optimal policy for a compiled spec (see the module docstring).

    Raises MechSizeError when the spec is too large for exact solving (`limit`: the
    most leader policies to enumerate, and the most sub-policies in one class)."""
    if follower_model not in FOLLOWER_MODELS:
        raise MechUsageError(
            f"unknown follower model {follower_model!r}", hint="use one of: " + ", ".join(FOLLOWER_MODELS)
        )
    if ir.interval is not None:
        raise MechSizeError(
            "continuous (interval) prices give infinitely many leader policies; exact solving needs a finite grid",
            hint="write `price each item in [...]` with a list of prices",
        )
    t0 = time.perf_counter()
    with _threads():
        tb = Tables(ir)
        cfg = MWConfig.from_ir(ir)
        space = _build_space(ir, tb, limit)
        if ir.mixed:
            sol = _solve_mixed(space, cfg, follower_model, limit)
        elif follower_model == "mw":
            sol = _solve_pure_mw(space, cfg, limit)
        else:
            sol = _solve_pure_favourable(space, cfg)
    sol.distinct_subpolicies = space.counts
    sol.policies_total = space.total
    sol.seconds = round(time.perf_counter() - t0, 3)
    return sol


def _finish(space: _Space, follower_model: str, value, policy_value, exact, supremum, actions, probs,
            strategies, reg, note, enumerated=0, profiles=0) -> Solution:
    ir = space.tb.ir
    model = ir.model
    fs, rg = {}, {}
    for i, f in enumerate(model.followers):
        fs[f.name] = {lab: f.action_labels[strategies[i][t]] for t, lab in enumerate(f.type_labels)}
        rg[f.name] = {lab: round(float(reg[i, t]), 12) for t, lab in enumerate(f.type_labels)}
    reached = _reached_classes(space.tb, strategies)
    return Solution(
        spec=model.name,
        follower_model=follower_model,
        objective=model.objective_name,
        value=None if value is None else round(value, 12),
        policy_value=None if policy_value is None else round(policy_value, 12),
        exact=exact,
        supremum=supremum,
        policy=_policy_map(ir, actions, probs),
        actions=actions,
        probs=probs,
        follower_strategies=fs,
        follower_profile=strategies,
        regret=rg,
        reached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c in reached],
        unreached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c not in reached],
        policies_enumerated=enumerated,
        profiles_solved=profiles,
        note=note,
    )


def _solve_pure_mw(space: _Space, cfg: MWConfig, limit: int) -> Solution:
    idx, value, ran, note = _search_mw(space, cfg, limit)
    actions = space.actions(idx)
    ref, strategies, reg = _check(space.tb, cfg, actions, None, None)
    if abs(ref - value) > 1e-7:
        note = (note + " " if note else "") + f"warning: batched MW gave {value:.10g}, reference {ref:.10g}"
    return _finish(space, "mw", ref, ref, True, False, actions, None, strategies, reg, note, enumerated=ran)


def _solve_pure_favourable(space: _Space, cfg: MWConfig) -> Solution:
    best, solved = _solve_profiles(space, None, strict=False)
    if best is None:
        return _none_found(space, "favourable", solved)
    idx = [int(np.argmax(x)) for x in best["xs"]]
    actions = space.actions(idx)
    ref, strategies, reg = _check(space.tb, cfg, actions, None, best["strategies"])
    note = "leader-favourable pure Bayes-Nash equilibrium"
    if float(reg.max()) > 1e-7:
        note += f"; warning: regret {float(reg.max()):.3g} at the reported profile"
    return _finish(space, "favourable", ref, ref, True, False, actions, None, strategies, reg, note, profiles=solved)


def _none_found(space: _Space, model: str, solved: int) -> Solution:
    ir = space.tb.ir
    actions = space.actions([0] * len(space.subs))
    strategies = [[0] * t for t in ir.type_counts]
    reg = torch.zeros(ir.n_followers, max(ir.type_counts), dtype=torch.float64)
    return _finish(space, model, None, None, True, False, actions, None, strategies, reg,
                   "no leader policy admits a pure Bayes-Nash equilibrium of the followers", profiles=solved)


def _solve_mixed(space: _Space, cfg: MWConfig, follower_model: str, limit: int) -> Solution:
    ir = space.tb.ir
    groups = [[sub[ir.root[c]] for sub in space.subs[c]] for c in range(len(space.subs))]
    strict = follower_model == "mw"
    best, solved = _solve_profiles(space, groups, strict=strict)
    if not strict:
        if best is None:
            return _none_found(space, follower_model, solved)
        actions, probs = _mixed_policy(space, best["xs"])
        ref, strategies, reg = _check(space.tb, cfg, actions, probs, best["strategies"])
        note = "leader-favourable equilibrium; mixed leader choices (one linear program per follower profile)"
        return _finish(space, follower_model, ref, ref, True, False, actions, probs, strategies, reg, note, profiles=solved)
    # mw: the LP optimum is a supremum, approached from the interior
    pure_sol = None
    if space.total <= limit:
        pure_sol = _solve_pure_mw(space, cfg, limit)
    if best is None:
        if pure_sol is None:
            raise MechSizeError(f"{_fmt_count(space.total)} leader policies, limit {_fmt_count(limit)}")
        pure_sol.note = "no follower profile can be made a strict best response; best pure policy"
        return pure_sol
    actions, probs = _mixed_policy(space, best["interior"])
    ref, strategies, reg = _check(space.tb, cfg, actions, probs, None)
    sup = best["value"]
    if pure_sol is not None and pure_sol.value is not None and pure_sol.value >= sup - VALUE_TOL:
        pure_sol.note = "no mixture does better than this pure policy"
        pure_sol.profiles_solved = solved
        return pure_sol
    exact = bool(best.get("strict_at_optimum")) and abs(ref - sup) <= 1e-7
    if exact:
        actions, probs = _mixed_policy(space, best["xs"])
        ref, strategies, reg = _check(space.tb, cfg, actions, probs, None)
        exact = abs(ref - sup) <= 1e-7
    note = (
        "optimum attained" if exact else
        f"supremum; attained in the limit (the optimal mixture leaves a follower indifferent; "
        f"this policy moves {INTERIOR_STEP:g} of probability toward the interior so the response is strict)"
    )
    if strategies != best["strategies"]:
        note += "; warning: MW did not settle on the profile the supremum assumes"
    return _finish(space, "mw", sup, ref, exact, not exact, actions, probs, strategies, reg, note,
                   enumerated=pure_sol.policies_enumerated if pure_sol else 0, profiles=solved)


# ---------------------------------------------------------------------------
# reading the answer
# ---------------------------------------------------------------------------


def _reached_classes(tb: Tables, strategies: list[list[int]]) -> set[int]:
    ir = tb.ir
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
    out = set()
    for t in range(tb.T):
        if ir.prior[t] <= 0:
            continue
        a = sum(strategies[i][int(tb.tidx[t, i])] * strides[i] for i in range(ir.n_followers))
        out.add(ir.obs_class[a])
    return out


def _reachable(ir: GameIR, actions: list[int], probs) -> list[int]:
    """Information sets the policy can reach (any response), in depth-first order."""
    out: list[int] = []
    seen: set[int] = set()

    def visit(s: int) -> None:
        if s in seen:
            return
        seen.add(s)
        out.append(s)
        ks = [actions[s]]
        if probs is not None and ir.infosets[s].kind == "choose":
            ks = [k for k, p in enumerate(probs[s]) if p > 0] or ks
        for k in ks:
            for ch in _children(ir, s, k):
                visit(ch)

    for r in ir.root:
        visit(r)
    return out


def _policy_map(ir: GameIR, actions: list[int], probs) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in _reachable(ir, actions, probs):
        label = ir.infosets[s].label or f"#{s}"
        if label in out:
            label = f"{label} #{s}"
        if probs is not None and ir.infosets[s].kind == "choose" and ir.mixed:
            out[label] = {ir.action_labels[s][k]: round(p, 12) for k, p in enumerate(probs[s]) if p > 0}
        else:
            out[label] = ir.action_labels[s][actions[s]]
    return out


def _choice_text(ir: GameIR, k: int) -> str:
    choices = ir.model.leader.choices
    return ", ".join(f"{c.name} = {c.labels[v]}" for c, v in zip(choices, ir.choose_actions[k]))


def _mix_text(ir: GameIR, row: list[float]) -> str:
    choices = ir.model.leader.choices
    parts = []
    for k, p in enumerate(row):
        if p <= 0:
            continue
        if len(choices) == 1:
            lab = choices[0].labels[ir.choose_actions[k][0]]
        else:
            lab = "(" + ", ".join(f"{c.name}={c.labels[v]}" for c, v in zip(choices, ir.choose_actions[k])) + ")"
        parts.append(f"{lab} {p:.6g}")
    head = choices[0].name if len(choices) == 1 else "choice"
    return f"{head}: " + ", ".join(parts)


def _response_text(ir: GameIR, agent: int, bundles: list[int]) -> str:
    name = ir.model.followers[agent].name
    items = ir.model.items
    parts = []
    for b in bundles:
        got = [items[j].name for j, x in enumerate(ir.bundles[b]) if x]
        parts.append("passes" if not got else "buys " + ", ".join(got))
    return f"{name} " + " or ".join(parts)


def _round_text(ir: GameIR, s: int, k: int) -> str:
    """'visit a2 at good=0.25', listing only the items still in stock."""
    agent, prices = ir.round_actions[k]
    text = f"visit {ir.model.followers[agent].name}"
    stock = ir.infosets[s].stock
    if ir.interval is None and ir.price_grid:
        shown = [f"{it.name}={ir.price_grid[prices[j]]:g}" for j, it in enumerate(ir.model.items) if not stock or stock[j] > 0]
        if shown:
            text += " at " + ", ".join(shown)
    return text


def _tree_lines(ir: GameIR, s: int, actions, probs, indent: str) -> list[str]:
    info = ir.infosets[s]
    if info.kind == "choose":
        if probs is not None and ir.mixed:
            row = probs[s]
            lines = [indent + _mix_text(ir, row)]
            for k, p in enumerate(row):
                if p <= 0:
                    continue
                kids = _children(ir, s, k)
                if kids:
                    lines.append(f"{indent}if {_choice_text(ir, k)}:")
                    for ch in kids:
                        lines += _tree_lines(ir, ch, actions, probs, indent + "    ")
            return lines
        k = actions[s]
        lines = [indent + _choice_text(ir, k)]
        for ch in _children(ir, s, k):
            lines += _tree_lines(ir, ch, actions, probs, indent)
        return lines
    k = actions[s]
    lines = [indent + _round_text(ir, s, k)]
    agent = ir.round_actions[k][0]
    by_next: dict[int, list[int]] = {}
    for b, nxt in enumerate(ir.round_next[s][agent]):
        if nxt >= 0:
            by_next.setdefault(nxt, []).append(b)
    for nxt, bundles in by_next.items():
        sub = _tree_lines(ir, nxt, actions, probs, indent + "    ")
        head = f"{indent}if {_response_text(ir, agent, bundles)}: "
        lines.append(head + sub[0].strip())
        lines += sub[1:]
    return lines


def describe(ir: GameIR, solution: Solution) -> str:
    """The optimal mechanism in words: per observation class the leader's decision tree
    (or choice / mixture), marking classes the followers never reach, then the
    followers' strategies per type."""
    model = ir.model
    sol = solution
    out = []
    who = {"mw": "followers learn by multiplicative weights", "favourable": "leader-favourable equilibrium"}[sol.follower_model]
    if sol.value is None:
        out.append(f"{model.name}: no solution ({who})")
        if sol.note:
            out.append(f"  {sol.note}")
        return "\n".join(out)
    kind = "optimum" if sol.exact else ("supremum" if sol.supremum else "value")
    out.append(f"{model.name}: {sol.objective} = {sol.value:.6g} ({kind}; {who})")
    if not sol.exact:
        out.append(f"  this policy achieves {sol.policy_value:.6g}")
    if sol.note:
        out.append(f"  note: {sol.note}")
    out.append("")
    out.append("Leader policy:")
    reached = set(sol.reached_classes)
    for c, label in enumerate(ir.class_labels):
        mark = "" if label in reached else "  (not reached)"
        out.append(f"  [{label}]{mark}")
        out += _tree_lines(ir, ir.root[c], sol.actions, sol.probs, "      ")
    out.append("")
    title = "argmax of the MW weights" if sol.follower_model == "mw" else "pure Bayes-Nash equilibrium"
    out.append(f"Followers ({title}):")
    for i, f in enumerate(model.followers):
        strat = sol.follower_strategies[f.name]
        if len(f.action_labels) == 1:
            what = "no strategic action" if f.action_name == "none" else f"{f.action_name} = {f.action_labels[0]} (its only action)"
            out.append(f"  {f.name}: {what}")
            continue
        if len(strat) == 1:
            line = f"  {f.name} ({f.action_name}): " + next(iter(strat.values()))
        else:
            line = f"  {f.name} ({f.action_name}): " + "; ".join(f"{t} -> {a}" for t, a in strat.items())
        regs = sol.regret[f.name]
        worst = max(regs.values()) if regs else 0.0
        line += f"   regret {worst:.3g}" if worst > 1e-9 else "   regret 0"
        out.append(line)
    return "\n".join(out)
