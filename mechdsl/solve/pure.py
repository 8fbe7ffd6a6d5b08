"""Pure leader policies: the MW search and the leader-favourable MILP, each checked."""
from __future__ import annotations

import numpy as np

from mechdsl.dynamics import MWConfig
from mechdsl.solve.answer import Solution, check_policy, finish, none_found
from mechdsl.solve.mw_search import search_mw
from mechdsl.solve.profile_lp import solve_profiles
from mechdsl.solve.space import PolicySpace


def solve_pure_mw(space: PolicySpace, cfg: MWConfig, limit: int) -> Solution:
    idx, value, ran, note = search_mw(space, cfg, limit)
    actions = space.actions(idx)
    ref, strategies, reg = check_policy(space.tb, cfg, actions, None, None)
    if abs(ref - value) > 1e-7:
        note = (note + " " if note else "") + f"warning: batched MW gave {value:.10g}, reference {ref:.10g}"
    return finish(space, "mw", ref, ref, True, False, actions, None, strategies, reg, note, enumerated=ran)


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
