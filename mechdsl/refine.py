"""Exact refinement of a learned mixed commitment: the mixture re-solved by linear
programming for the followers' learned responses and their neighbours.

Why it exists.  A mixed choice is learned as logits through a Gaussian head, and the
best mixtures sit on a knife edge: in Bayesian persuasion the optimal signalling scheme
leaves the receiver exactly indifferent, and one step past it the receiver's answer flips
and the value collapses.
Policy gradient on sampled dynamics keeps a safety margin from that cliff and stops a
few percent short.  For a fixed pure follower profile, though, the leader's best mixture
that keeps the profile a best response is a linear program (`mechdsl.solve.profile_lp`,
the multiple-LP method; under `mw` read as the tie reading reads ties, with the policy
moved `INTERIOR_STEP` inside when the supremum is not attained).

So each seed with a mixed map ends here instead of `mechdsl.polish`: solve that LP for
the profile the followers play at the learned map and for every profile one type's
action away from it, value each resulting policy exactly (`StackelbergPOMDP.exact`:
the followers' own dynamics, not the LP's assumption), keep the best by `rank`
(certified first, then value) when it beats the learned map, and repeat from the new
profile.  Deterministic and capped (`TrainConfig.polish` profiles, `MAX_STEPS` steps).  It runs on
the exact POMDP under the `mw` and `favourable` models, for specs whose sub-policies can
be enumerated; otherwise the map is returned unchanged and the report says why.
"""
from __future__ import annotations

import time

import torch

from mechdsl.compiler.errors import MechSizeError
from mechdsl.evaluate import Policy, single_thread, Tables
from mechdsl.polish import better, fits_chunk, PolishReport, Rank
from mechdsl.pomdp import Exact, StackelbergPOMDP
from mechdsl.solve.mixed import answer_policy
from mechdsl.solve.profile_lp import ProfileBuilder, read_profile
from mechdsl.solve.profiles import profiles_of
from mechdsl.solve.space import build_space

SPACE_LIMIT = 4096  # distinct sub-policies per observation class the LPs may range over
MAX_STEPS = 20  # improvements taken at most (each one a new neighbourhood of LPs)
METHOD = "linear programs"  # how the report names this step
MODELS = ("mw", "favourable")  # follower models whose response to a mixture the LP describes


def refine(pomdp: StackelbergPOMDP, gmap: Policy, start: Exact, rank: Rank,
           budget: int) -> tuple[Policy, Exact, PolishReport]:
    """Re-solve a one-row mixed map (`start`: its `pomdp.exact`) exactly around the
    followers' learned profile; returns the map, its `Exact` and the report."""
    report = PolishReport(learned=float(start.value[0]), value=float(start.value[0]), method=METHOD)
    t0 = time.perf_counter()
    why = _skip(pomdp, gmap, budget) or _too_big(pomdp.ir)
    if why:
        report.stopped = why
        return gmap, start, report
    with single_thread():
        try:
            space = build_space(pomdp.ir, Tables(pomdp.ir), SPACE_LIMIT)
        except MechSizeError as err:
            report.stopped = f"not run: {err.message}"
            return gmap, start, report
        out = _climb(pomdp, space, gmap, start, rank, budget, report)
    report.seconds = time.perf_counter() - t0
    return out


def _too_big(ir) -> str:
    return "" if fits_chunk(ir) else "not run: one map's exact evaluation is over the memory share"


def _skip(pomdp: StackelbergPOMDP, gmap: Policy, budget: int) -> str:
    if gmap.probs is None or gmap.prices is not None:
        return "not run: the map has no mixed rows, or has continuous prices"
    if budget <= 0:
        return "off"
    if type(pomdp) is not StackelbergPOMDP:
        return "not run: the map's worth is estimated on samples, not exact"
    if pomdp.mw.model not in MODELS:
        return f"not run: the {pomdp.mw.model} followers' response to a mixture is not a linear program's"
    return ""


def _climb(pomdp, space, gmap, start, rank, budget, report):
    ir = pomdp.ir
    reading = pomdp.mw.ties if pomdp.mw.model == "mw" else "favourable"
    groups = space.root_groups()
    best_map, best = gmap, start
    seen: set[tuple] = set()
    report.stopped = "local optimum"
    while True:
        here = [s[0].tolist() for s in best.strategies]
        cands = [p for p in _neighbourhood(here, ir.action_counts) if _key(p) not in seen]
        if not cands or report.steps >= MAX_STEPS:
            break
        if report.evaluated + len(cands) > budget:
            report.stopped = "budget"
            break
        report.evaluated += len(cands)
        seen.update(_key(p) for p in cands)
        maps = _solved_maps(pomdp, space, cands, groups, reading, float(best.value[0]))
        found = None
        for label, m in maps:
            ex = pomdp.exact(m)
            if better(rank(ex), rank(found[2] if found else best), pomdp.span):
                found = (label, m, ex)
        if found is None:
            break
        best_map, best = found[1], found[2]
        report.steps += 1
        report.moves.append(f"mixture re-solved for {found[0]}: {float(best.value[0]):.6g}")
    report.value = float(best.value[0])
    return best_map, best, report


def _neighbourhood(here: list[list[int]], action_counts: list[int]) -> list[list[list[int]]]:
    """The profile `here` (per follower, an action per type) and every profile that
    changes one type's action."""
    out = [[list(s) for s in here]]
    for i, s in enumerate(here):
        for t, a in enumerate(s):
            for b in range(action_counts[i]):
                if b != a:
                    p = [list(x) for x in here]
                    p[i][t] = b
                    out.append(p)
    return out


def _key(p: list[list[int]]) -> tuple:
    return tuple(tuple(s) for s in p)


def _solved_maps(pomdp, space, cands, groups, reading, floor) -> list[tuple[str, Policy]]:
    """Per candidate profile whose LP promises more than `floor`: the LP's policy (the
    interior one where the supremum is not attained), as a one-row `Policy`.  A profile
    whose value bound (incentives ignored) is no higher needs no LP."""
    ir = space.tb.ir
    strat = [torch.tensor([p[i] for p in cands], dtype=torch.long) for i in range(ir.n_followers)]
    builder = ProfileBuilder(space, profiles_of(space.tb, strat))
    bound = builder.bound()
    tol = 1e-9 * pomdp.span
    out = []
    for p, prof in enumerate(cands):
        if float(bound[p]) <= floor + tol:
            continue
        res = read_profile(builder.build(p, leader=reading == "pessimistic"), groups, reading)
        if res is None or res["value"] <= floor + tol:
            continue
        _, actions, probs = answer_policy(space, res)
        m = Policy(action=torch.tensor([actions], dtype=torch.long, device=pomdp.device),
                   probs=torch.tensor([probs], dtype=pomdp.dtype, device=pomdp.device))
        out.append((_describe(ir, prof), m))
    return out


def _describe(ir, prof: list[list[int]]) -> str:
    """The profile in words: each strategic follower's action per type."""
    parts = []
    for f, s, k in zip(ir.model.followers, prof, ir.action_counts):
        if k > 1:
            acts = [f.action_labels[a] for a in s]
            parts.append(f"{f.name} " + (acts[0] if len(s) == 1 else
                                         ", ".join(f"{f.type_labels[t]}: {a}" for t, a in enumerate(acts))))
    return "; ".join(parts)
