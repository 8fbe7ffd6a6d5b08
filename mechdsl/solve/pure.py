"""Pure leader policies: the MW search and the leader-favourable MILP, each checked."""
from __future__ import annotations

import numpy as np

from mechdsl.dynamics import MWConfig
from mechdsl.solve import budget
from mechdsl.solve.answer import Solution, check_policy, finish, none_found
from mechdsl.solve.branch import branch_mw
from mechdsl.solve.mw_search import search_mw
from mechdsl.solve.profile_search import solve_profiles
from mechdsl.solve.space import PolicySpace


def solve_pure_mw(space: PolicySpace, cfg: MWConfig, limit: int, branch: bool = True) -> Solution:
    """Every policy enumerated (with bounds) when there are at most `limit`; beyond,
    branch and bound over the classes with `limit` as its budget of work (branch False:
    a size error instead)."""
    if space.total <= limit or not branch:
        idx, value, ran, note = search_mw(space, cfg, limit)
        bound, proven, nodes, syms = value, True, 0, 0
    else:
        res = branch_mw(space, cfg, limit)
        idx, value, ran, nodes, syms = res.idx, res.value, res.leaves, res.nodes, res.symmetries
        bound, proven = res.bound, res.proven
        stop = (f"its time budget of {budget.seconds():g} s" if budget.expired() else
                f"--limit {limit:g} (partial policies opened + policies run)")
        note = "branch and bound: proven optimal" if proven else f"branch and bound stopped at {stop} before closing the gap"
        if res.generators:
            note += "; symmetries used: " + ", ".join(res.generators)
    actions = space.actions(idx)
    ref, strategies, reg = check_policy(space.tb, cfg, actions, None, None)
    if abs(ref - value) > 1e-7:
        note = (note + " " if note else "") + f"warning: batched MW gave {value:.10g}, reference {ref:.10g}"
    sol = finish(space, "mw", ref, ref, proven, False, actions, None, strategies, reg, note, enumerated=ran)
    sol.bound, sol.gap = round(max(bound, ref), 12), round(max(0.0, bound - ref), 12)
    sol.nodes_explored, sol.symmetries = nodes, syms
    return sol


def solve_pure_favourable(space: PolicySpace, cfg: MWConfig) -> Solution:
    best, solved = solve_profiles(space, None, strict=False)
    if best is None:
        return none_found(space, "favourable", solved)
    idx = [int(np.argmax(x)) for x in best["xs"]]
    actions = space.actions(idx)
    ref, strategies, reg = check_policy(space.tb, cfg, actions, None, best["strategies"])
    note = "leader-favourable pure Bayes-Nash equilibrium"
    if float(reg.max()) > 1e-7:
        note += f"; warning: regret {float(reg.max()):.3g} at the reported profile"
    return finish(space, "favourable", ref, ref, True, False, actions, None, strategies, reg, note, profiles=solved)
