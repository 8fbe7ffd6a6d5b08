"""Branch and bound over the leader's observation classes, for MW followers and policy
spaces too large to enumerate (`mw_search` enumerates; this never lists the product).

A node assigns distinct sub-policies to classes 0..k-1.  Its bound holds for every
completion: whatever the followers play at the end is some pure profile p, and the
policy is then worth sum_c g_c[j_c, p] (`profiles.profile_table`), so

    bound = max over p of ( sum over assigned classes of g_c[j_c, p]
                            + sum over open classes of max_j g_c[j, p] ).

MW-dominated actions depend on the whole policy, so none is excluded at a partial node.
With too many follower profiles for the table, the bound is the leader's best action
profile per type profile, each class taking its best sub-policy where it is open.
Leaves (full policies) are bounded once more with the dominated actions excluded
(`mw_search.upper_bounds`) and then run through batched MW and read exactly as
`mw_search` reads them (`run_leaves`: value under the tie reading first, then the
worst reading, the readings' spread, regret).

Order: depth first, children by decreasing bound (then index), so memory stays one
frame per class; a child is cut when its bound does not beat the incumbent.  The
incumbent comes first from a coordinate ascent on the exact MW value (one class at a
time, every sub-policy there), started from the leader-favourable policies of the
`STARTS` follower profiles with the highest bound (one LP each, `profile_lp`: policies
under which those profiles are equilibria, incentives a single-class move cannot build),
then from the root bound's best profile and from the first policy -- stopping as soon as
one meets the root bound, which proves it optimal.  Symmetries (`symmetry.py`) cut every
partial policy that is not the lexicographically least of its orbit.

Work is counted (nodes opened + policies run through MW) and capped by `limit`: when the
cap is hit the search stops and reports the best verified value with a proven upper
bound -- the largest bound left open on the stack -- instead of failing.  Deterministic:
no clocks, no randomness.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from mechdsl.dynamics import MWConfig
from mechdsl.solve import budget
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.mw_search import MW_CHUNK, better, run_leaves, upper_bounds
from mechdsl.solve.profile_search import favourable_starts
from mechdsl.solve.profiles import all_profiles, profile_count, profile_table
from mechdsl.solve.space import VALUE_TOL, chunk, PolicySpace
from mechdsl.solve.symmetry import LexLeader, generators, group

PROFILE_CELLS = 30_000_000  # table entries (sub-policies x follower profiles) the node bound may use
LEAF_PROFILES = 256  # follower profiles up to which leaves are bounded per profile (as mw_search)
SWEEPS = 10  # coordinate-ascent sweeps per start
STARTS = 8  # coordinate ascents from the favourable policies of this many follower profiles


@dataclass
class BranchResult:
    idx: list[int]  # distinct sub-policy per class of the best policy found
    value: float  # its value under MW (the tie reading asked for)
    bound: float  # proven upper bound on the optimum
    proven: bool  # the search finished: value is the optimum
    root_bound: float  # the bound before any branching
    incumbent: float  # the value the coordinate ascent found first
    nodes: int = 0  # partial policies opened
    leaves: int = 0  # full policies run through MW (the ascent's included)
    symmetries: int = 0  # group elements used to cut orbits
    generators: list[str] = field(default_factory=list)


class _Bound:
    """Node bounds: a state per partial policy and each child's bound from it."""

    def __init__(self, space: PolicySpace, use_profiles: bool):
        tb = space.tb
        self.prior = tb.prior.numpy()
        if use_profiles:
            self.prof = all_profiles(tb)
            self.g = [t.numpy() for t in profile_table(space, self.prof)]  # [N_c, P]
            best = [g.max(0) for g in self.g]
            self.combine = np.add
        else:
            self.prof = None
            self.g = [v.max(-1).values.numpy() for v in space.V]  # [N_c, T]: best action per type profile
            best = [g.max(0) for g in self.g]
            self.combine = np.maximum
        C = len(self.g)
        self.rest = [None] * (C + 1)  # rest[k]: the open classes k.. at their best
        self.rest[C] = np.zeros_like(best[0]) if self.prof is not None else np.full_like(best[0], -np.inf)
        for c in range(C - 1, -1, -1):
            self.rest[c] = self.combine(best[c], self.rest[c + 1])

    def start(self) -> np.ndarray:
        return np.zeros_like(self.rest[0]) if self.prof is not None else np.full_like(self.rest[0], -np.inf)

    def total(self, x: np.ndarray) -> np.ndarray:
        """State(s) with every class accounted for -> bound(s)."""
        return x.max(-1) if self.prof is not None else (x * self.prior).sum(-1)

    def children(self, state: np.ndarray, k: int) -> np.ndarray:
        """Bound of each sub-policy of class k after `state` (classes < k). [N_k]"""
        return self.total(self.combine(self.combine(state[None], self.g[k]), self.rest[k + 1][None]))

    def root(self) -> float:
        return float(self.total(self.rest[0]))


def branch_mw(space: PolicySpace, cfg: MWConfig, limit: int, symmetric: bool = True) -> BranchResult:
    """The best policy under MW by branch and bound, or the best found and a proven bound
    when `limit` (nodes + policies run) runs out.  symmetric False: no orbit cuts."""
    tb = space.tb
    counts = space.counts
    C = len(counts)
    mw = BatchMW(tb, cfg)
    P = profile_count(tb.ir)
    bnd = _Bound(space, P * sum(counts) <= PROFILE_CELLS)
    leaf_prof = bnd.prof if P <= LEAF_PROFILES else None
    leaf_gtab = [torch.from_numpy(g) for g in bnd.g] if leaf_prof is not None else None
    batch = chunk(MW_CHUNK, 4 * (tb.n + 1) * tb.T * tb.A + (P if leaf_prof is not None else 0))
    gens = generators(space, cfg) if symmetric else []
    elems = group(gens)
    lex = LexLeader(elems, counts)
    strides = [math.prod(counts[c + 1:]) for c in range(C)]

    def rank(x) -> int:
        return sum(int(j) * s for j, s in zip(x, strides))

    work = {"leaves": 0, "nodes": 0}

    def run(rows: np.ndarray, best):
        """MW on full policies rows [B, C] (after the leaf bound), in batches."""
        for s in range(0, len(rows), batch):
            idx = torch.as_tensor(rows[s:s + batch], dtype=torch.long)
            if best is not None:
                U, V = space.assemble(idx)
                ub = upper_bounds(space, mw, idx, U, V, leaf_gtab, leaf_prof)
                idx = idx[ub > best[0] + VALUE_TOL]
                if idx.shape[0] == 0:
                    continue
            work["leaves"] += idx.shape[0]
            best = run_leaves(space, mw, cfg, idx, [rank(r) for r in idx.tolist()], best)
        return best

    # 1. incumbent: coordinate ascent from several starts, until one meets the root bound
    root = bnd.root()
    best = None
    starts = []
    if bnd.prof is not None:  # policies that make the best profiles equilibria: incentives built in
        for xs in favourable_starts(space, bnd.prof, STARTS):
            starts.append(np.asarray([int(np.argmax(x)) for x in xs], dtype=np.int64))
        p = int(np.argmax(bnd.rest[0]))
        starts.append(np.asarray([int(np.argmax(g[:, p])) for g in bnd.g], dtype=np.int64))
    starts.append(np.zeros(C, dtype=np.int64))
    def spent() -> bool:
        return work["nodes"] + work["leaves"] >= limit or budget.expired()

    for x in starts:
        found = _ascend(x, counts, run, spent)
        best = found if best is None else better(found, best)
        if best[0] >= root - VALUE_TOL or spent():  # the bound is met: nothing can do better
            break
    incumbent = best[0]
    # 2. depth-first branch and bound
    stack: list[list] = []  # frames [k, prefix, state, order, bounds, next position]
    state0 = bnd.start()

    def open_frame(k: int, prefix: np.ndarray, state: np.ndarray) -> None:
        work["nodes"] += 1
        b = bnd.children(state, k)
        xs = np.concatenate([np.broadcast_to(prefix, (len(b), k)), np.arange(len(b))[:, None]], 1)
        keep = lex.canonical(xs)
        order = np.argsort(-b, kind="stable")
        order = order[keep[order]]
        stack.append([k, prefix, state, order, b, 0])

    leaves: list[np.ndarray] = []
    open_frame(0, np.zeros(0, dtype=np.int64), state0)
    budget_hit = False
    while stack:
        if spent():
            budget_hit = True
            break
        fr = stack[-1]
        k, prefix, state, order, b, pos = fr
        if pos >= len(order) or b[order[pos]] <= best[0] + VALUE_TOL:
            stack.pop()
            continue
        if k == C - 1:  # every remaining child is a leaf: queue them
            live = order[pos:][b[order[pos:]] > best[0] + VALUE_TOL]
            leaves.append(np.concatenate([np.broadcast_to(prefix, (len(live), k)), live[:, None]], 1))
            stack.pop()
            if sum(len(x) for x in leaves) >= batch:
                best = run(np.concatenate(leaves), best)
                leaves = []
            continue
        j = int(order[pos])
        fr[5] = pos + 1
        child = np.append(prefix, j)
        open_frame(k + 1, child, bnd.combine(state, bnd.g[k][j]))
    if leaves:
        best = run(np.concatenate(leaves), best)
    open_bound = -math.inf
    if budget_hit:
        for k, prefix, state, order, b, pos in stack:
            if pos < len(order):
                open_bound = max(open_bound, float(b[order[pos:]].max()))
    proven = open_bound <= best[0] + VALUE_TOL
    x = best[4]
    idx = [(x // s) % n for s, n in zip(strides, counts)]
    return BranchResult(idx=idx, value=best[0], bound=best[0] if proven else min(open_bound, root),
                        proven=proven, root_bound=root,
                        incumbent=incumbent, nodes=work["nodes"], leaves=work["leaves"],
                        symmetries=len(elems), generators=[g.name for g in gens])


def _ascend(x: np.ndarray, counts: list[int], run, spent) -> tuple:
    """Coordinate ascent on the exact value: per class in turn, the best sub-policy there
    with the others fixed; until a sweep changes nothing (at most SWEEPS) or the budget
    is spent."""
    strides = [math.prod(counts[c + 1:]) for c in range(len(counts))]
    best = run(x[None], None)
    for _ in range(SWEEPS):
        before = best
        for c, n in enumerate(counts):
            if spent():
                return best
            rows = np.repeat(x[None], n, 0)
            rows[:, c] = np.arange(n)
            best = run(rows, best)
            x = np.asarray([(best[4] // s) % m for s, m in zip(strides, counts)], dtype=np.int64)
        if best[0] <= before[0] + VALUE_TOL:
            break
    return best
