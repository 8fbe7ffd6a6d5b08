"""The search over pure leader policies under MW followers: bound every policy, then run
MW on policies by decreasing bound until the bound falls below the best value found."""
from __future__ import annotations

import math
from typing import Optional

import torch

from mechdsl.compiler.errors import MechSizeError
from mechdsl.dynamics import MWConfig
from mechdsl.solve import budget
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.profiles import all_profiles, profile_count, profile_table, Profiles
from mechdsl.solve.space import VALUE_TOL, chunk, fmt_count, PolicySpace, unrank
from mechdsl.ties import READINGS, play, profile_values

PROFILE_BOUND_MAX = 256  # use the per-profile value bound up to this many follower profiles
MW_CHUNK = 4096  # at most this many full policies per batched MW run


def upper_bounds(space: PolicySpace, mw: BatchMW, idx: torch.Tensor, U: torch.Tensor, V: torch.Tensor,
                  gtab: Optional[list[torch.Tensor]], prof: Optional[Profiles]) -> torch.Tensor:
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


def search_mw(space: PolicySpace, cfg: MWConfig, limit: int, prune: bool = True) -> tuple[list[int], float, int, str]:
    """Best full policy under MW.  Returns (idx per class, value, policies run, note).
    prune False runs every policy (for checking the bound)."""
    tb = space.tb
    total = space.total
    if total > limit:
        raise MechSizeError(
            f"{fmt_count(total)} leader policies (after merging equivalent sub-policies: "
            f"{' x '.join(str(c) for c in space.counts)} per class), limit {fmt_count(limit)}",
            hint="use fewer messages, agents or prices, --follower-model favourable, or raise --limit",
        )
    mw = BatchMW(tb, cfg)
    counts = space.counts
    use_profiles = profile_count(tb.ir) <= PROFILE_BOUND_MAX
    prof = all_profiles(tb) if use_profiles else None
    gtab = profile_table(space, prof) if use_profiles else None
    step = chunk(MW_CHUNK, 4 * (tb.n + 1) * tb.T * tb.A + (prof.count if prof is not None else 0))
    # 1. bounds for every policy
    ub = torch.empty(total, dtype=tb.dtype)
    for start in range(0, total, step):
        budget.check(f"bounding every leader policy ({start:,} of {total:,} done)")
        flat = torch.arange(start, min(total, start + step))
        idx = unrank(flat, counts)
        U, V = space.assemble(idx)
        if prune:
            ub[start:start + len(flat)] = upper_bounds(space, mw, idx, U, V, gtab, prof)
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
        budget.check(f"running MW on the leader policies ({ran:,} run)")
        ran += flat.numel()
        best = run_leaves(space, mw, cfg, unrank(flat, counts), flat.tolist(), best)
    assert best is not None
    return unrank(torch.tensor([best[4]]), counts)[0].tolist(), best[0], ran, ""


def run_leaves(space: PolicySpace, mw: BatchMW, cfg: MWConfig, idx: torch.Tensor, rank: list[int],
               best: Optional[tuple]) -> Optional[tuple]:
    """Run MW on full policies idx [B, C] (rank: each one's enumeration index) and return
    the preferred of `best` and theirs, as a (value, worst reading, -spread, regret,
    rank) key (see `better`)."""
    tb = space.tb
    U, V = space.assemble(idx)
    W = mw.matrices(U)
    logw = mw.run(W)
    strat, _ = play(tb, logw, V, cfg.ties)
    val = profile_values(tb, V, strat)
    reg = mw.regret(W, strat)
    # lexicographic: value (tolerant) desc; then, among equals, the value under the
    # worst tie reading desc and the spread of the readings asc (a policy whose value
    # does not hinge on ties); regret asc; index asc
    vmax = float(val.max())
    if best is not None and vmax < best[0] - VALUE_TOL:  # nothing here can be preferred
        return best
    cand = (val >= vmax - VALUE_TOL).nonzero().view(-1)
    others = [profile_values(tb, V[cand], play(tb, [w[cand] for w in logw], V[cand], r)[0])
              for r in READINGS if r != cfg.ties]
    readings = torch.stack([val[cand]] + others)
    worst = readings.min(0).values
    spread = readings.max(0).values - worst
    for q, j in enumerate(cand.tolist()):
        key = (float(val[j]), float(worst[q]), -float(spread[q]), float(reg[j]), int(rank[j]))
        best = key if best is None else better(key, best)
    return best


def better(a: tuple, b: tuple) -> tuple:
    """The preferred of two (value, worst reading, -spread of readings, regret, index)
    candidates: values compare with tolerance (higher first), then regret (lower
    first), then the enumeration index."""
    for k in range(3):
        if a[k] > b[k] + VALUE_TOL:
            return a
        if b[k] > a[k] + VALUE_TOL:
            return b
    if a[3] < b[3] - VALUE_TOL:
        return a
    if b[3] < a[3] - VALUE_TOL:
        return b
    return a if a[4] < b[4] else b
