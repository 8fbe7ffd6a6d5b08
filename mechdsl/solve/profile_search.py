"""The search over pure follower profiles, one LP each (`profile_lp`), best bound first:
the leader-favourable optimum, the candidates MW followers' tie reading may play, and
the starting points for branch and bound.  Each loop stops at the first profile whose
bound cannot beat what is already found, and checks the solve's time budget."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.model import DEFAULT_TIES
from mechdsl.solve import budget
from mechdsl.solve.profile_lp import ProfileBuilder, _lp, read_profile
from mechdsl.solve.profiles import all_profiles, profile_count, Profiles
from mechdsl.solve.space import VALUE_TOL, fmt_count, PolicySpace

MAX_PROFILES = 20_000  # pure follower strategy profiles (one LP / MILP each)


def _check_profiles(ir) -> None:
    """One LP per pure follower profile: refuse before building more than MAX_PROFILES."""
    P = profile_count(ir)
    if P > MAX_PROFILES:
        raise MechSizeError(
            f"{fmt_count(P)} pure follower strategy profiles (one linear program each), limit {fmt_count(MAX_PROFILES)}",
            hint="use fewer types or actions per follower",
        )


def solve_profiles(space: PolicySpace, groups: Optional[list[list[int]]], strict: bool, ties: str = DEFAULT_TIES):
    """Best (profile, weights) over all pure follower profiles.

    strict False: the leader-favourable optimum (ties in the followers' incentives
    allowed).  strict True: as MW followers whose ties are read `ties` play
    (`read_profile`): the best value, whether it is attained, and an interior policy
    when not (higher value first, then attained, then the earlier profile).
    Returns (dict or None, LPs solved)."""
    tb = space.tb
    _check_profiles(tb.ir)
    reading = ties if strict else "favourable"
    prof = all_profiles(tb)
    builder = ProfileBuilder(space, prof)
    bound = builder.bound()
    order = torch.argsort(-bound, stable=True).tolist()
    best = None
    solved = 0
    for p in order:
        if best is not None and float(bound[p]) < best["value"] - VALUE_TOL:
            break
        budget.check("solving one linear program per follower profile")
        prob = builder.build(p, leader=reading == "pessimistic")
        out = read_profile(prob, groups, reading)
        solved += 1
        if out is None:
            continue
        if best is not None:
            key = (out["value"] > best["value"] + VALUE_TOL, out["value"] >= best["value"] - VALUE_TOL)
            tie_key = (out["attained"], -p) > (best["attained"], -best["profile"])
            if not (key[0] or (key[1] and tie_key)):
                continue
        best = dict(out, profile=p, prob=prob)
    if best is not None and groups is None:
        again = _lp(best["prob"], None, "earliest", floor=best["value"])
        if again is not None and again.obj >= best["value"] - VALUE_TOL:
            best["xs"], best["value"] = again.xs, again.obj
    if best is not None:
        best["solved"] = solved
        best["strategies"] = [s[best["profile"]].tolist() for s in prof.strat]
    return best, solved


def ranked_profiles(space: PolicySpace, groups: list[list[int]], ties: str, floor: float) -> tuple[list[dict], int]:
    """Every pure follower profile's answer under the tie reading (`read_profile`) worth
    more than `floor`, best first (higher value, then attained, then the earlier
    profile): the candidates to verify when the best one's policy is not what the
    followers' dynamics play.  Returns (answers, LPs solved)."""
    tb = space.tb
    _check_profiles(tb.ir)
    prof = all_profiles(tb)
    builder = ProfileBuilder(space, prof)
    bound = builder.bound()
    out, solved = [], 0
    for p in torch.argsort(-bound, stable=True).tolist():
        if float(bound[p]) <= floor + VALUE_TOL:
            break
        budget.check("solving one linear program per follower profile")
        prob = builder.build(p, leader=ties == "pessimistic")
        res = read_profile(prob, groups, ties)
        solved += 1
        if res is not None and res["value"] > floor + VALUE_TOL:
            out.append(dict(res, profile=p, prob=prob, strategies=[s[p].tolist() for s in prof.strat]))
    out.sort(key=lambda r: (-round(r["value"] / VALUE_TOL), not r["attained"], r["profile"]))
    return out, solved


def favourable_starts(space: PolicySpace, prof: Profiles, count: int) -> list[list[np.ndarray]]:
    """The leader-favourable weights (`read_profile`) of the first `count` follower
    profiles, by decreasing bound, that some policy makes a Bayes-Nash equilibrium
    (trying at most 4 x count): starting points for branch.py's incumbent."""
    builder = ProfileBuilder(space, prof)
    out = []
    for p in torch.argsort(-builder.bound(), stable=True)[: 4 * count].tolist():
        if budget.expired():
            break
        res = read_profile(builder.build(p), None, "favourable")
        if res is not None:
            out.append(res["xs"])
            if len(out) >= count:
                break
    return out
