"""Pure leader policies under the follower models with no solver of their own (`swap`,
`qlearning`, `pessimistic`): every policy's induced game gets the model's exact
response (`mechdsl.followers.respond`: the expected dynamics and the argmax, or the
leader-adverse pure BNE), policies by decreasing upper bound until no policy left can
beat the best value found (among equal values, the first in that order wins).  The bound -- the best action profile per type profile,
incentives ignored -- holds for every model.

Under `pessimistic` a policy whose induced game has no pure Bayes-Nash equilibrium is
not a candidate (as under `favourable`); when no policy has one, the answer says so.
Mixed commitments are solved exactly only under `mw` and `favourable`
(`mechdsl.solve.mixed`); for the other models `solve` says why (`mixed_unsupported`)
and stops.
"""
from __future__ import annotations

import torch

from mechdsl.compiler.errors import MechSizeError, MechUsageError
from mechdsl.dynamics import MWConfig
from mechdsl.followers import EQUILIBRIUM, NOTION, respond
from mechdsl.solve import budget
from mechdsl.solve.answer import Solution, check_policy, finish, none_found
from mechdsl.solve.space import VALUE_TOL, chunk, fmt_count, PolicySpace, unrank
from mechdsl.ties import profile_values

CHUNK = 16384  # policies per batched response (the rounds loop is Python: fewer, larger batches)


def mixed_unsupported(model: str) -> MechUsageError:
    why = ("the worst pure equilibrium changes as equilibria appear and vanish across mixtures (a max-min over "
           "profile regions whose optimum is a supremum), which the solver does not implement"
           if model == "pessimistic" else
           f"the {model} followers' response to a mixture is not piecewise linear over finitely many follower "
           f"profiles, so no finite method is exact")
    return MechUsageError(
        f"mixed commitments are solved exactly only for the follower models mw and favourable, not {model}",
        hint=f"{why}; use `mechdsl train --follower-model {model}`, or solve with --follower-model mw or favourable")


def solve_pure_model(space: PolicySpace, cfg: MWConfig, limit: int) -> Solution:
    """The best pure policy when the followers respond as `cfg.model` says."""
    tb = space.tb
    total, counts = space.total, space.counts
    if total > limit:
        raise MechSizeError(
            f"{fmt_count(total)} leader policies (after merging equivalent sub-policies: "
            f"{' x '.join(str(c) for c in counts)} per class), limit {fmt_count(limit)}",
            hint="use fewer messages, agents or prices, or raise --limit")
    step = chunk(CHUNK, 4 * (tb.n + 1) * tb.T * tb.A)
    ub = torch.empty(total, dtype=tb.dtype)
    for start in range(0, total, step):
        flat = torch.arange(start, min(total, start + step))
        _, V = space.assemble(unrank(flat, counts))
        ub[start:start + len(flat)] = (V.max(-1).values * tb.prior.view(1, -1)).sum(-1)
    order = torch.argsort(-ub, stable=True)
    best, ran = None, 0  # best: (value, flat index, strategies)
    for start in range(0, total, step):
        flat = order[start:start + step]
        if best is not None:  # only a policy that could beat the best is run
            flat = flat[ub[flat] > best[0] + VALUE_TOL]
            if flat.numel() == 0:
                break
        budget.check(f"running the followers' response on the leader policies ({ran:,} run)")
        U, V = space.assemble(unrank(flat, counts))
        got = respond(tb, U, V, cfg)
        val = profile_values(tb, V, got.strat)
        if got.found is not None:
            val = torch.where(got.found, val, torch.full_like(val, -float("inf")))
        ran += flat.numel()
        for j in range(flat.numel()):
            v, k = float(val[j]), int(flat[j])
            if v == -float("inf"):
                continue
            if best is None or v > best[0] + VALUE_TOL:  # among equals, the first by bound, then index
                best = (v, k, [s[j].tolist() for s in got.strat])
    if best is None:
        return none_found(space, cfg.model, 0)
    actions = space.actions(unrank(torch.tensor([best[1]]), counts)[0].tolist())
    ref, strategies, reg = check_policy(space.tb, cfg, actions, None, best[2])
    note = NOTION[cfg.model] if cfg.model in EQUILIBRIUM else ""
    if abs(ref - best[0]) > 1e-7:
        note += f"; warning: batched response gave {best[0]:.10g}, reference {ref:.10g}"
    return finish(space, cfg.model, ref, ref, True, False, actions, None, strategies, reg, note, enumerated=ran)
